"""Barrier controllers: the base class every driver implements, its error type, and the registry.

A driver module defines ``TYPE`` (the YAML ``type:`` key), a pydantic ``Config`` with
``type: Literal[TYPE]`` and a ``Barrier`` subclass. Adding a driver is adding one file and one line
to ``_DRIVERS`` below.

Subclasses must override:
    ``open(lane)``   one opening pulse for a lane; raises BarrierError on any wire fault
    ``status()``     a BarrierStatus read from the device; raises BarrierError
Subclasses may override:
    ``close()``      release the port (must be idempotent)
"""

from __future__ import annotations

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


class Barrier:
    """One barrier controller serving one or more lanes."""

    def __init__(self, config):
        self.config = config
        self.id = config.id

    @property
    def lanes(self) -> list[str]:
        return list(self.config.lanes)

    def open(self, lane: str) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def status(self) -> BarrierStatus:  # pragma: no cover - abstract
        raise NotImplementedError

    def health(self) -> dict:
        """Cheap summary for the status topic (no bus traffic)."""
        return {"state": "ok"}

    def close(self) -> None:
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
