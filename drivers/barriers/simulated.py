"""The ``simulated`` barrier: an in-process controller a technician can select to run without hardware.

It records every command (for the demo and for bench checks), raises its arm for ``arm_up_s`` after
an open pulse, and its vehicle loops can be driven by code.
"""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import Field

from drivers.barriers import Barrier as BarrierBase
from drivers.barriers import BarrierError, BarrierStatus
from drivers.barriers.common import BarrierBaseConfig

TYPE = "simulated"


class Config(BarrierBaseConfig):
    type: Literal["simulated"] = Field(description="in-process simulated controller")
    arm_up_s: float = Field(3.0, ge=0, description="seconds the arm stays up after a pulse")
    pulse_ms: int = Field(50, ge=0, le=10000, description="simulated pulse length (short by default)")


class Barrier(BarrierBase):
    """Simulated controller: remembers commands, never touches hardware."""

    def __init__(self, config: Config, clock=time.monotonic):
        super().__init__(config)
        self._clock = clock
        self._lock = threading.Lock()
        self._arm_up_until = 0.0
        self.commands: list[tuple[float, str]] = []
        self.loops: dict[str, bool] = {lane: False for lane in config.lanes}

    def open(self, lane: str) -> None:
        if lane not in self.config.lanes:
            raise BarrierError(f"barrier {self.id!r} does not serve lane {lane!r} (lanes: {self.config.lanes})")
        with self._lock:
            self.commands.append((time.time(), lane))
            self._arm_up_until = self._clock() + self.config.arm_up_s

    def status(self) -> BarrierStatus:
        with self._lock:
            arm = "up" if self._clock() < self._arm_up_until else "down"
            return BarrierStatus(reachable=True, arm=arm, loops=dict(self.loops))

    def health(self) -> dict:
        return {"state": "ok", "type": TYPE, "opens": len(self.commands)}

    def release_all(self) -> None:
        """Nothing to release: a simulated pulse never leaves a contact closed."""

    @property
    def failing(self) -> bool:
        return False  # it never fails
