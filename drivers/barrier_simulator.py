"""A barrier controller that speaks Modbus RTU: pymodbus's own server on a serial port or a pty.

Its memory map is that of the ``modbus_rtu`` driver's defaults:

    coils             0 open lane "in", 1 open lane "out" (a rising edge = one open pulse)
    discrete inputs   0 arm is up, 1 vehicle on loop "in", 2 vehicle on loop "out"

An open pulse raises the arm for ``arm_up_s`` seconds. The loop detectors are driven with
``set_loop()``. It can be told to misbehave, as real controllers and wires do:

    silent      never answer            bad_crc    answer with a corrupted checksum
    garbage     answer with noise       exception  refuse with a Modbus exception code
    latency_s   answer late             drop_replies=N  do the work but lose the next N replies
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass, field

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer
from pymodbus.simulator import DataType, SimData, SimDevice
from pymodbus.simulator.simutils import SimUtils

_LOG = logging.getLogger(__name__)
COILS = 16
ARM_INPUT = 0
LOOP_INPUTS = {"in": 1, "out": 2}
FAULTS = ("silent", "bad_crc", "garbage", "exception")


@dataclass
class Faults:
    mode: str | None = None  # None or one of FAULTS
    exception_code: int = 0x04  # device failure
    latency_s: float = 0.0
    drop_replies: int = 0


@dataclass
class Pulse:
    coil: int
    ts: float


@dataclass
class ControllerState:
    coils: list[bool] = field(default_factory=lambda: [False] * COILS)
    pulses: list[Pulse] = field(default_factory=list)
    arm_up_until: float = 0.0
    loops: dict[str, bool] = field(default_factory=lambda: {"in": False, "out": False})


class BarrierSimulator:
    """Run with ``start()`` (a thread with its own asyncio loop); stop with ``close()``."""

    def __init__(self, port: str, *, unit: int = 1, baudrate: int = 9600, arm_up_s: float = 3.0,
                 faults: Faults | None = None, clock=time.monotonic):
        self.port = port
        self.unit = unit
        self.baudrate = baudrate
        self.arm_up_s = arm_up_s
        self.faults = faults or Faults()
        self.state = ControllerState()
        self._clock = clock
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self.requests = 0

    # -- device behaviour --------------------------------------------------------------------
    @property
    def arm_up(self) -> bool:
        return self._clock() < self.state.arm_up_until

    def pulses(self, coil: int | None = None) -> list[Pulse]:
        with self._lock:
            return [p for p in self.state.pulses if coil is None or p.coil == coil]

    def set_loop(self, lane: str, present: bool) -> None:
        with self._lock:
            self.state.loops[lane] = present

    async def _action(self, function_code, start, address, count, registers, set_values):
        self.requests += 1
        if self.faults.mode == "exception":
            return ExcCodes(self.faults.exception_code)
        with self._lock:
            if function_code in (5, 15) and set_values is not None:
                for offset, value in enumerate(set_values):
                    coil = address + offset
                    if 0 <= coil < COILS:
                        if value and not self.state.coils[coil]:  # rising edge: the arm goes up once
                            self.state.pulses.append(Pulse(coil, time.time()))
                            self.state.arm_up_until = self._clock() + self.arm_up_s
                        self.state.coils[coil] = bool(value)
            elif function_code == 2:
                # Inputs are live: the arm and the loops. pymodbus packs 16 bits per register.
                live = {ARM_INPUT: self.arm_up, **{LOOP_INPUTS[k]: v for k, v in self.state.loops.items()}}
                bits = [bool(live.get(i, False)) for i in range(16)]
                registers[0] = SimUtils.bitsToRegisters(bits)[0]
        return None

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            return data
        faults = self.faults
        if faults.latency_s:
            time.sleep(faults.latency_s)  # runs in the simulator's own loop: it *is* the latency
        if faults.drop_replies > 0:
            faults.drop_replies -= 1
            return b""
        if faults.mode == "silent":
            return b""
        if faults.mode == "bad_crc" and data:
            return data[:-1] + bytes([data[-1] ^ 0xFF])
        if faults.mode == "garbage" and data:
            return os.urandom(len(data))
        return data

    # -- lifecycle ---------------------------------------------------------------------------
    def _device(self) -> SimDevice:
        bits = DataType.BITS
        return SimDevice(
            self.unit,
            simdata=(
                [SimData(0, count=COILS, values=False, datatype=bits)],
                [SimData(0, count=COILS, values=False, datatype=bits)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
            ),
            action=self._action,
        )

    def start(self) -> BarrierSimulator:
        self._thread = threading.Thread(target=self._run, name="gate-edge-barrier-sim", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"barrier simulator did not start on {self.port}")
        return self

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self._loop)

        async def serve():
            self._server = ModbusSerialServer(
                self._device(), framer=FramerType.RTU, port=self.port, baudrate=self.baudrate,
                trace_packet=self._trace_packet,
            )
            self._loop.call_soon(self._ready.set)
            await self._server.serve_forever()

        try:
            self._loop.run_until_complete(serve())
        except Exception:
            _LOG.exception("barrier simulator stopped")
        finally:
            self._ready.set()
            self._loop.close()

    def close(self) -> None:
        if self._loop is not None and self._server is not None and self._loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)
            except Exception:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
