"""The ``modbus_rtu`` barrier: a controller on RS-485 spoken to in Modbus RTU (pymodbus over pyserial)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from drivers.barriers import Barrier as BarrierBase
from drivers.barriers.common import BarrierBaseConfig, Lane

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
    timeout_s: float = Field(0.3, gt=0, le=10, description="reply timeout per try")
    retries: int = Field(2, ge=0, le=10, description="extra tries after a timeout or bad reply")
    reopen_max_s: float = Field(30, gt=0, description="cap of the back-off when reopening a vanished port")

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


class Barrier(BarrierBase):
    """Placeholder until the Modbus RTU driver lands (issue 5)."""
