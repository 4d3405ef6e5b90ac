"""Barrier controllers that speak Modbus RTU: pymodbus's own server on a serial port or a pty.

One simulator is one RS-485 line with one or more controllers on it (``units=(1, 2)``: a car barrier
and a pedestrian gate on one pair of wires); a request for a unit nobody has goes unanswered, as on a
real line. Each controller's memory map is that of the ``modbus_rtu`` driver's defaults:

    coils             0 open lane "in", 1 open lane "out" (a rising edge = one open pulse)
    discrete inputs   0 arm is up, 1 vehicle on loop "in", 2 vehicle on loop "out"

An open pulse raises the arm for ``arm_up_s`` seconds. The loop detectors are driven with
``set_loop()``. Each controller can be told to misbehave (``controller(unit).faults``; ``faults`` is the
first unit's), as real controllers and wires do:

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


class Controller:
    """One unit on the line: its coils, pulses, arm, loops, faults and the requests it received."""

    def __init__(self, unit: int, arm_up_s: float, faults: Faults | None, clock):
        self.unit = unit
        self.arm_up_s = arm_up_s
        self.faults = faults or Faults()
        self.state = ControllerState()
        self.requests = 0
        self._clock = clock
        self._lock = threading.Lock()

    @property
    def arm_up(self) -> bool:
        return self._clock() < self.state.arm_up_until

    def pulses(self, coil: int | None = None) -> list[Pulse]:
        with self._lock:
            return [p for p in self.state.pulses if coil is None or p.coil == coil]

    def set_loop(self, lane: str, present: bool) -> None:
        with self._lock:
            self.state.loops[lane] = present

    async def action(self, function_code, start, address, count, registers, set_values):
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

    def reply(self, data: bytes) -> bytes:
        """What of its reply reaches the wire, given its faults."""
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


class BarrierSimulator:
    """Run with ``start()`` (a thread with its own asyncio loop); stop with ``close()``.

    ``units``: the controllers on the line (default: the one ``unit``). ``state``, ``faults``,
    ``requests``, ``pulses()`` and ``set_loop()`` are the first unit's; ``controller(unit)`` any unit's.
    """

    def __init__(self, port: str, *, unit: int = 1, units: tuple[int, ...] | list[int] | None = None,
                 baudrate: int = 9600, arm_up_s: float = 3.0, faults: Faults | None = None, clock=time.monotonic):
        self.port = port
        ids = list(dict.fromkeys(units)) if units else [unit]
        self.unit = ids[0]
        self.baudrate = baudrate
        self.arm_up_s = arm_up_s
        self.controllers = {u: Controller(u, arm_up_s, faults if u == self.unit else None, clock) for u in ids}
        self._clock = clock
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: ModbusSerialServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # -- device behaviour --------------------------------------------------------------------
    def controller(self, unit: int) -> Controller:
        return self.controllers[unit]

    @property
    def _first(self) -> Controller:
        return self.controllers[self.unit]

    @property
    def state(self) -> ControllerState:
        return self._first.state

    @property
    def faults(self) -> Faults:
        return self._first.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._first.faults = faults

    @property
    def requests(self) -> int:
        return self._first.requests

    @property
    def arm_up(self) -> bool:
        return self._first.arm_up

    def pulses(self, coil: int | None = None) -> list[Pulse]:
        return self._first.pulses(coil)

    def set_loop(self, lane: str, present: bool) -> None:
        self._first.set_loop(lane, present)

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or not data:
            return data
        controller = self.controllers.get(data[0])  # an RTU reply starts with the unit that sends it
        return controller.reply(data) if controller is not None else data

    # -- lifecycle ---------------------------------------------------------------------------
    def _devices(self) -> list[SimDevice]:
        bits = DataType.BITS
        return [
            SimDevice(
                unit,
                simdata=(
                    [SimData(0, count=COILS, values=False, datatype=bits)],
                    [SimData(0, count=COILS, values=False, datatype=bits)],
                    [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                    [SimData(0, count=1, values=0, datatype=DataType.REGISTERS)],
                ),
                action=controller.action,
            )
            for unit, controller in self.controllers.items()
        ]

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
                self._devices(), framer=FramerType.RTU, port=self.port, baudrate=self.baudrate,
                trace_packet=self._trace_packet, ignore_missing_devices=True,  # nobody at that address
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
