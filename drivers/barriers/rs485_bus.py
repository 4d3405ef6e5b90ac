"""One RS-485 line: the serial port, its one Modbus RTU client, its one lock and its one reopen back-off.

Every ``modbus_rtu`` barrier on a port (each its own unit id, coils and inputs: a car barrier at unit 1
and a pedestrian gate at unit 2 on ``/dev/ttyUSB0``) talks through the same ``Rs485Bus``, so the port
is opened once and no two requests are ever on the wire together (RS-485 is half-duplex).
``make_buses`` builds one bus per distinct port; ``bus_conflicts`` finds barriers that share a port
but disagree on its serial settings (the config refuses them, naming both barriers).

Lock and back-off policy, so that a unit that stops answering does not take the other units down:

* the bus lock is held for **one try** (one request frame and the wait for its reply), never for a
  barrier's whole command: a pulse's hold time and the gap between a unit's retries leave the line
  free. The lock is first-come first-served, so while one unit is silent another unit's request
  waits for at most one reply timeout before it goes on the wire;
* the **port back-off** (``reopen_max_s``) is the port's: it starts only when the port itself cannot
  be opened or vanishes (adapter unplugged), which every unit on it suffers alike. A unit that does not
  answer, answers garbage or refuses is that unit's failure: the port stays open, there is no back-off,
  and the other units' requests go on as before. Failures are counted per barrier (its alert), not
  per bus;
* ``timeout_s`` is the line's (one client, one read timeout); ``retries`` stays each barrier's own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from drivers.barriers import BarrierError

# A line has one speed, one frame format and one read timeout; one back-off cap since it has one back-off.
BUS_SETTINGS = ("baudrate", "parity", "bytesize", "stopbits", "timeout_s", "reopen_max_s")

# pymodbus logs every failed transaction with a byte dump; BarrierError already says what failed
# and what to check, once, so the library's own error lines are only noise in the journal.
logging.getLogger("pymodbus").setLevel(logging.CRITICAL)


def bus_key(port: str) -> str:
    """The device a port setting names: a symlink (/dev/serial/by-id/…) and its target are one line."""
    if "://" in port:  # a pyserial URL (rfc2217://, socket://, loop://) names itself
        return port
    return os.path.realpath(port)


def bus_conflicts(configs: Iterable) -> Iterator[tuple[int, str, str]]:
    """(index of the barrier, setting, message) for each barrier that shares a port with an earlier one
    but sets one of its serial settings differently. ``configs``: validated barrier configs, in order."""
    first: dict[str, tuple[int, object]] = {}
    for index, config in enumerate(configs):
        if getattr(config, "type", None) != "modbus_rtu":
            continue
        key = bus_key(config.port)
        if key not in first:
            first[key] = (index, config)
            continue
        other_index, other = first[key]
        for setting in BUS_SETTINGS:
            mine, theirs = getattr(config, setting), getattr(other, setting)
            if mine != theirs:
                yield (index, setting,
                       f"barrier {config.id!r} and barrier {other.id!r} (barriers.{other_index}) share the RS-485 "
                       f"port {config.port} but set {setting} {mine!r} and {theirs!r}; one line has one "
                       f"{setting}: set the same value on both (and on every controller wired to it)")


class FifoLock:
    """A lock granted in the order it was asked for. ``threading.Lock`` is not fair: a thread retrying a
    silent unit would take it back at once and keep another unit's request off the line."""

    def __init__(self):
        self._mutex = threading.Lock()
        self._locked = False
        self._waiters: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._mutex:
            if not self._locked and not self._waiters:
                self._locked = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        try:
            turn.wait()  # set by release(): the lock is handed over, still held
        except BaseException:
            with self._mutex:
                if turn in self._waiters:
                    self._waiters.remove(turn)
                    raise
            self.release()  # it was handed to us meanwhile: pass it on
            raise

    def release(self) -> None:
        with self._mutex:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._locked = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


@dataclass(frozen=True)
class BusSettings:
    port: str
    baudrate: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: int = 1
    timeout_s: float = 0.3
    reopen_max_s: float = 30.0

    @classmethod
    def of(cls, config) -> BusSettings:
        return cls(config.port, **{name: getattr(config, name) for name in BUS_SETTINGS})


class Rs485Bus:
    """One serial port and its Modbus RTU client, shared by every barrier wired to it.

    Barriers ``attach()`` when made and ``detach()`` when closed; the port closes with the last one.
    ``request()`` runs one Modbus request for one unit with its tries, one try per turn of the lock.
    """

    def __init__(self, settings: BusSettings, *, clock=time.monotonic):
        self.settings = settings
        self.port = settings.port
        self._clock = clock
        self._lock = FifoLock()
        self._client = None
        self._received = bytearray()
        self._next_open_try = 0.0
        self._backoff = 0.5
        self._users = 0
        self._guard = threading.Lock()  # attach/detach bookkeeping only
        self.last_port_error = ""
        self.opens = 0  # times the port was opened (once, unless the adapter went away)
        self.transactions = 0

    # -- users ---------------------------------------------------------------------------------
    def attach(self) -> Rs485Bus:
        with self._guard:
            self._users += 1
        return self

    def detach(self) -> None:
        with self._guard:
            self._users = max(0, self._users - 1)
            last = self._users == 0
        if last:
            self.close()

    def close(self) -> None:
        with self._lock:
            self._drop_client()

    # -- the port (bus lock held) ---------------------------------------------------------------
    def _trace(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self._received.extend(data)
        return data

    def _ensure_client(self, who: str):
        from pymodbus.client import ModbusSerialClient

        if self._client is not None and self._client.connected:
            return self._client
        now = self._clock()
        if now < self._next_open_try:
            raise BarrierError(f"{who}: port {self.port} unavailable ({self.last_port_error}); "
                               f"retrying in {self._next_open_try - now:.1f} s")
        if self._client is None:
            s = self.settings
            # retries=0: the tries are ours (request()), so the lock can be let go between them.
            self._client = ModbusSerialClient(
                s.port, baudrate=s.baudrate, parity=s.parity, stopbits=s.stopbits, bytesize=s.bytesize,
                timeout=s.timeout_s, retries=0, reconnect_delay=0, trace_packet=self._trace,
            )
        if not self._client.connect():
            self._drop_client()
            self._next_open_try = now + self._backoff
            self._backoff = min(self._backoff * 2, self.settings.reopen_max_s)
            self.last_port_error = f"cannot open {self.port}"
            raise BarrierError(f"{who}: cannot open {self.port} (adapter unplugged? permissions? another "
                               "program using it?); retrying with back-off")
        self._backoff = 0.5
        self.last_port_error = ""
        self.opens += 1
        return self._client

    def _drop_client(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:
                pass
            self._client = None

    # -- requests ------------------------------------------------------------------------------
    def request(self, unit: int, what: str, call, *, tries: int, who: str, refusals: dict | None = None):
        """``call(client)`` for ``unit``, up to ``tries`` times; the reply, or BarrierError saying why not.

        A port fault (cannot open, vanished) ends the request at once and is the port's (back-off). No
        reply or a garbled one is the unit's: tried again, each try in its own turn of the bus lock.
        A Modbus exception reply is an answer: not tried again.
        """
        from pymodbus.exceptions import ConnectionException, ModbusException

        started = self._clock()
        garbled = b""
        for _ in range(max(1, tries)):
            with self._lock:
                client = self._ensure_client(who)
                self._received.clear()
                try:
                    response = call(client)
                except ConnectionException as exc:
                    self._drop_client()
                    raise BarrierError(f"{who}: lost {self.port} during {what}: {exc}") from None
                except ModbusException:
                    garbled = garbled or bytes(self._received[:16])
                    continue  # the lock goes to whoever waits (another unit) before our next try
                except (OSError, ValueError) as exc:  # serial errors when the adapter vanishes mid-call
                    self._drop_client()
                    raise BarrierError(f"{who}: {self.port} failed during {what}: {exc}") from None
            if response.isError():
                code = getattr(response, "exception_code", None)
                meaning = (refusals or {}).get(code, "unknown exception")
                raise BarrierError(f"{who}: controller refused {what} with Modbus exception {code}: {meaning}")
            self.transactions += 1
            return response
        elapsed = self._clock() - started
        detail = f"invalid reply (bad CRC or garbage: {garbled.hex()})" if garbled else "no reply"
        raise BarrierError(f"{who}: {detail} from unit {unit} on {self.port} to {what} after {max(1, tries)} tries "
                           f"in {elapsed:.2f} s; check wiring, baudrate and unit id")

    def health(self) -> dict:
        """The line's own state, for a barrier's status entry (no bus traffic)."""
        state = "ok" if not self.last_port_error else "unavailable"
        return {"port": self.port, "state": state, "users": self._users}


def make_buses(configs: Iterable, *, clock=time.monotonic) -> dict[str, Rs485Bus]:
    """{barrier id: its bus} for the ``modbus_rtu`` barriers: one bus per distinct port. BarrierError
    when two barriers on one port disagree on its settings (the config check refuses that first)."""
    configs = list(configs)
    problems = [message for _, _, message in bus_conflicts(configs)]
    if problems:
        raise BarrierError("; ".join(problems))
    buses: dict[str, Rs485Bus] = {}
    by_barrier: dict[str, Rs485Bus] = {}
    for config in configs:
        if getattr(config, "type", None) != "modbus_rtu":
            continue
        key = bus_key(config.port)
        if key not in buses:
            buses[key] = Rs485Bus(BusSettings.of(config), clock=clock)
        by_barrier[config.id] = buses[key]
    return by_barrier
