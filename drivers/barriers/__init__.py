"""Barrier controllers: the base class every driver implements, its error type, and the registry.

A driver module defines ``TYPE`` (the YAML ``type:`` key), a pydantic ``Config`` with
``type: Literal[TYPE]`` and a ``Barrier`` subclass. Adding a driver is adding one file and one line
to ``_DRIVERS`` below. ``Barrier`` (an abc) declares everything the gate, the jobs and the daemon call;
``make_barriers`` builds a gate's barriers, those on one RS-485 port sharing one ``Rs485Bus``.
"""

from __future__ import annotations

import abc
import importlib
from dataclasses import asdict, dataclass, field
from typing import Annotated, Union

from pydantic import Field


class BarrierError(Exception):
    """Any failure talking to a barrier controller, with a message a technician can act on."""


@dataclass
class BarrierStatus:
    """What the controller reports: reachability, arm position and vehicle loop detectors."""

    reachable: bool
    arm: str = "unknown"  # "up" | "down" | "unknown"
    loops: dict[str, bool] = field(default_factory=dict)
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class Barrier(abc.ABC):
    """One barrier controller serving one or more lanes: what every caller may use, and nothing else."""

    def __init__(self, config):
        self.config = config
        self.id = config.id

    @property
    def lanes(self) -> list[str]:
        return list(self.config.lanes)

    @abc.abstractmethod
    def open(self, lane: str) -> None:
        """One opening pulse for ``lane``; BarrierError on any fault (the arm state is then unknown)."""

    @abc.abstractmethod
    def status(self) -> BarrierStatus:
        """Read the controller (reachability, arm, loops); never raises: unreachable is a status."""

    @abc.abstractmethod
    def health(self) -> dict:
        """Cheap summary for the status topic (no bus traffic)."""

    @abc.abstractmethod
    def release_all(self) -> None:
        """Put every open contact OFF (at start: a pulse cut short by a crash); BarrierError on a fault."""

    @property
    @abc.abstractmethod
    def failing(self) -> bool:
        """True after ``fail_alert_after`` consecutive failures: the device alert is raised."""

    def close(self) -> None:  # noqa: B027 - optional: a driver without a device to release keeps it
        """Release the device; safe to call more than once."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_DRIVERS = {
    "modbus_rtu": "drivers.barriers.modbus_rtu",
    "simulated": "drivers.barriers.simulated",
}


def _config_classes():
    return tuple(importlib.import_module(module).Config for module in _DRIVERS.values())


# The `type:` key selects both the schema (here) and the class (make_barrier).
BarrierConfig = Annotated[Union[_config_classes()], Field(discriminator="type")]  # noqa: UP007


def make_barrier(config, **kwargs) -> Barrier:
    """Instantiate the driver named by ``config.type``."""
    try:
        module = importlib.import_module(_DRIVERS[config.type])
    except KeyError:
        raise BarrierError(f"unknown barrier type {config.type!r}; known: {', '.join(_DRIVERS)}") from None
    return module.Barrier(config, **kwargs)


def make_barriers(configs, **kwargs) -> dict[str, Barrier]:
    """{id: barrier} for a gate's barrier configs; barriers on one RS-485 port share one bus (one
    client, one lock, one back-off). BarrierError when they disagree on the port's settings."""
    from drivers.barriers.rs485_bus import make_buses

    configs = list(configs)
    buses = make_buses(configs)
    made: dict[str, Barrier] = {}
    try:
        for config in configs:
            extra = {"bus": buses[config.id]} if config.id in buses else {}
            made[config.id] = make_barrier(config, **extra, **kwargs)
    except Exception:
        for barrier in made.values():
            barrier.close()
        raise
    return made
