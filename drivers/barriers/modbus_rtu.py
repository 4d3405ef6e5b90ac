"""The ``modbus_rtu`` barrier: a controller on RS-485 spoken to in Modbus RTU (pymodbus over pyserial)."""

from __future__ import annotations

import threading
import time
from typing import Literal

from pydantic import Field, field_validator

from drivers.barriers import Barrier as BarrierBase
from drivers.barriers import BarrierError, BarrierStatus
from drivers.barriers.common import BarrierBaseConfig, Lane
from drivers.barriers.rs485_bus import BusSettings, Rs485Bus

TYPE = "modbus_rtu"


class Config(BarrierBaseConfig):
    type: Literal["modbus_rtu"] = Field(description="Modbus RTU controller on a serial port")
    port: str = Field(min_length=1, description="serial device (/dev/ttyUSB0) or a pyserial URL")
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = Field(
        9600, description="serial speed; must match the controller's DIP switches"
    )
    parity: Literal["N", "E", "O"] = Field("N", description="N none, E even, O odd")
    stopbits: Literal[1, 2] = Field(1, description="stop bits")
    bytesize: Literal[7, 8] = Field(8, description="data bits")
    unit: int = Field(1, ge=1, le=247, description="Modbus slave id of the controller")
    open_coil: int | dict[Lane, int] = Field(
        0, description="coil address pulsed to open; one number for all lanes or {in: 0, out: 1}"
    )
    arm_input: int | None = Field(0, ge=0, description="discrete input that is ON while the arm is up")
    loop_inputs: dict[Lane, int] = Field(
        default_factory=lambda: {"in": 1, "out": 2}, description="discrete input of each lane's loop detector"
    )
    timeout_s: float = Field(
        0.3, gt=0, le=10, description="reply timeout per try; the line's: equal on every barrier on the port"
    )
    retries: int = Field(2, ge=0, le=10, description="extra tries after a timeout or bad reply (this unit's own)")
    reopen_max_s: float = Field(
        30, gt=0, description="cap of the back-off when reopening a vanished port; the line's, like baudrate"
    )

    @field_validator("open_coil")
    @classmethod
    def _coil_addresses(cls, value):
        coils = value.values() if isinstance(value, dict) else [value]
        for coil in coils:
            if not 0 <= coil <= 65535:
                raise ValueError(f"coil address {coil} is outside 0..65535")
        return value

    def coil_for(self, lane: str) -> int:
        return self.open_coil[lane] if isinstance(self.open_coil, dict) else self.open_coil


_EXCEPTIONS = {
    1: "illegal function (the controller does not support this command)",
    2: "illegal data address (check open_coil / arm_input / loop_inputs)",
    3: "illegal data value",
    4: "device failure (the controller reports an internal fault)",
    5: "acknowledge (busy with a long command)",
    6: "device busy",
}


class Barrier(BarrierBase):
    """A barrier controller on RS-485 (one unit id on a line), spoken to through the line's ``Rs485Bus``.

    ``open(lane)`` writes the lane's coil ON, holds ``pulse_ms`` and writes it OFF. Both writes are
    absolute, so a retry after a lost reply never toggles the arm twice. Each try holds the bus lock
    (RS-485 is half-duplex); the pulse's hold time does not, so other units on the line work meanwhile.
    This barrier's own commands run one at a time. Any failure (timeout, bad CRC, garbage, exception
    reply, vanished port) raises BarrierError with a message naming the port, the unit and what to
    check; the arm state is then "unknown" until a status read succeeds.

    ``bus``: the line shared with the other barriers on the port (``make_barriers``); without one the
    barrier has a line of its own (the technician's ``gate-edge barrier`` commands, tests).
    """

    def __init__(self, config: Config, clock=time.monotonic, sleep=time.sleep, bus: Rs485Bus | None = None):
        super().__init__(config)
        self._clock = clock
        self._sleep = sleep
        self._bus = (bus or Rs485Bus(BusSettings.of(config), clock=clock)).attach()
        self._attached = True
        self._command = threading.Lock()  # one command of this barrier at a time (coil state, arm)
        self.arm = "unknown"
        self._coils_unsure = False
        self.consecutive_failures = 0
        self.last_error = ""
        self.transactions = 0

    @property
    def bus(self) -> Rs485Bus:
        return self._bus

    # -- transactions ------------------------------------------------------------------------
    def _transact(self, what: str, call):
        """Run one Modbus request on the bus, with this unit's tries; every failure is a BarrierError."""
        response = self._bus.request(self.config.unit, what, call, tries=self.config.retries + 1,
                                     who=f"barrier {self.id}", refusals=_EXCEPTIONS)
        self.transactions += 1
        return response

    def _guarded(self, what: str, work):
        with self._command:
            try:
                result = work()
            except BarrierError as exc:
                self.arm = "unknown"
                self.consecutive_failures += 1
                self.last_error = str(exc)
                raise
            self.consecutive_failures = 0
            self.last_error = ""
            return result

    def _write_coil(self, coil: int, value: bool):
        unit = self.config.unit
        return self._transact(
            f"write coil {coil} {'ON' if value else 'OFF'}", lambda c: c.write_coil(coil, value, device_id=unit)
        )

    # -- the Barrier interface ---------------------------------------------------------------
    def open(self, lane: str) -> None:
        if lane not in self.config.lanes:
            raise BarrierError(f"barrier {self.id} does not serve lane {lane!r} (lanes: {self.config.lanes})")
        coil = self.config.coil_for(lane)

        def pulse():
            if self._coils_unsure:
                self._release()
            error = None
            try:
                self._write_coil(coil, True)
                self._sleep(self.config.pulse_ms / 1000)
            except BarrierError as exc:
                error = exc  # the ON may have reached the controller even though its reply did not
            try:
                self._write_coil(coil, False)
            except BarrierError as exc:
                self._coils_unsure = True  # released at the next transaction that works
                error = error or exc
            if error is not None:
                raise error

        self._guarded(f"open lane {lane}", pulse)

    def _release(self) -> None:
        for coil in sorted({self.config.coil_for(lane) for lane in self.config.lanes}):
            self._write_coil(coil, False)
        self._coils_unsure = False

    def release_all(self) -> None:
        """Write every open coil OFF: the safe state after a restart (a pulse cut short by a crash)."""
        self._guarded("reset open coils", self._release)

    def status(self) -> BarrierStatus:
        config = self.config
        addresses = [a for a in [config.arm_input, *config.loop_inputs.values()] if a is not None]

        def read():
            if self._coils_unsure:
                self._release()
            if not addresses:
                return BarrierStatus(True, "unknown", {}, "no inputs configured")
            first, last = min(addresses), max(addresses)
            response = self._transact(
                "read inputs",
                lambda c: c.read_discrete_inputs(first, count=last - first + 1, device_id=config.unit),
            )
            bits = response.bits
            arm = "unknown" if config.arm_input is None else ("up" if bits[config.arm_input - first] else "down")
            loops = {lane: bool(bits[address - first]) for lane, address in config.loop_inputs.items()}
            self.arm = arm
            return BarrierStatus(True, arm, loops)

        try:
            return self._guarded("read status", read)
        except BarrierError as exc:
            return BarrierStatus(False, "unknown", {}, str(exc))

    def health(self) -> dict:
        return {
            "state": "ok" if self.consecutive_failures == 0 else "failing",
            "type": TYPE,
            "port": self.config.port,
            "unit": self.config.unit,
            "arm": self.arm,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error or None,
        }

    @property
    def failing(self) -> bool:
        return self.consecutive_failures >= self.config.fail_alert_after

    def close(self) -> None:
        with self._command:
            if self._attached:
                self._attached = False
                self._bus.detach()  # the port closes with the last barrier on it
