"""One GSM/4G modem on one serial port, spoken to in AT commands (3GPP TS 27.005/27.007), PDU mode.

``Modem`` owns the port and its lock: one AT conversation at a time, whoever asks (the sending worker,
the thread reading incoming SMS). Every read has a deadline, so a modem that answers nothing, garbage
or ERROR ends in a ``ModemError`` naming the command, never in a hang. After such an error the next call
starts again from the beginning (``AT``, ``ATE0`` …), reopening the port if it went away (a USB modem
re-plugged), because a modem that stopped answering may still be waiting for the rest of a PDU.

    init     AT, ATE0 (no echo), AT+CMEE=1 (numbered errors), AT+CPIN? [AT+CPIN="<pin>"],
             AT+CMGF=0 (PDU mode), AT+CNMI=2,1,0,0,0 (report each stored SMS as +CMTI: "SM",<index>)
    send     AT+CMGS=<octets>  →  "> "  →  <PDU hex><Ctrl-Z>  →  +CMGS: <mr>, OK   (one per part)
    receive  +CMTI: "SM",<i> → AT+CMGR=<i>; at start and every sweep AT+CMGL=4 (all stored); each SMS
             handed to ``on_sms(sender, text)`` and only then deleted (AT+CMGD=<i>): at least once

A wrong PIN is sent once only: a SIM locks itself after three, and only its PUK opens it again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from drivers.modem.pdu import PduError, parse_deliver, submit_pdus

_LOG = logging.getLogger(__name__)
CTRL_Z, ESC = b"\x1a", b"\x1b"
# Lines a modem may send on its own between (or inside) answers; never the answer to our command.
URC_PREFIXES = ("+CMTI:", "+CDSI:", "RING", "+CIEV:", "^", "+CREG:", "+CGREG:", "+CEREG:", "NO CARRIER")
PARTS_WAIT_S = 600.0  # a long SMS whose missing part has not come in this long is handed over as it is


class ModemError(Exception):
    """The modem did not do what was asked. ``retry``: trying again later may help (it almost always
    may: no answer, busy, no network); False for a message that can never be sent (too long)."""

    def __init__(self, reason: str, *, retry: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


@dataclass
class _Partial:
    """The parts of a long incoming SMS seen so far: seq → text, and their storage indexes."""

    count: int
    first_seen: float
    texts: dict[int, str] = field(default_factory=dict)
    indexes: set[int] = field(default_factory=set)


class Modem:
    """``pin``: a callable returning the SIM's PIN (read from its file when needed) or None.
    ``command_timeout_s`` bounds each plain command; ``send_timeout_s`` the network's answer to one part
    (tens of seconds on a weak signal)."""

    def __init__(self, port: str, *, baudrate: int = 115200, pin: Callable[[], str | None] | None = None,
                 command_timeout_s: float = 5.0, send_timeout_s: float = 60.0, clock=time.monotonic):
        self.port = port
        self.baudrate = baudrate
        self.command_timeout_s = command_timeout_s
        self.send_timeout_s = send_timeout_s
        self._pin = pin or (lambda: None)
        self._refused_pin: str | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._serial: serial.SerialBase | None = None
        self._buffer = b""
        self._ready = False
        self._sweep_due = True  # read what the SIM stored while we were away
        self._indexes: list[int] = []  # +CMTI indexes not read yet
        self._partials: dict[tuple[str, int, int], _Partial] = {}

    # -- public ------------------------------------------------------------------------------------------
    def send(self, number: str, text: str, *, reference: int = 0) -> list[int]:
        """Send ``text`` to ``number`` (split into parts when long); the network's message reference of
        each part. ``reference`` ties the parts together on the phone (the same on a retry)."""
        try:
            parts = submit_pdus(number, text, reference=reference)
        except PduError as exc:
            raise ModemError(str(exc), retry=False) from None
        with self._lock:
            return self._guarded(lambda: [self._send_part(part.hex, part.tpdu_octets) for part in parts])

    def poll(self, on_sms: Callable[[str, str], None], *, sweep: bool = False) -> int:
        """Read the SMS the modem has received since the last poll (``sweep``: every stored one), hand
        each to ``on_sms(sender, text)``, then delete it. Returns how many were handed over."""
        with self._lock:
            ready = self._guarded(lambda: self._collect(sweep))
        handed = 0
        for sender, text, indexes in ready:
            try:
                on_sms(sender, text)
            except Exception:  # the SMS is deleted all the same: handing it again would fail again
                _LOG.exception("on_sms failed for an SMS from %s", sender)
            handed += 1
            with self._lock:
                self._guarded(lambda indexes=indexes: [self._command(f"AT+CMGD={i}") for i in sorted(indexes)])
        return handed

    def open(self) -> None:
        """Open the port and set the modem up now (otherwise done by the first send or poll)."""
        with self._lock:
            self._guarded(lambda: None)

    def close(self) -> None:
        with self._lock:
            self._drop()

    # -- the conversation --------------------------------------------------------------------------------
    def _guarded(self, work):
        """Run ``work`` on a set-up modem; any failure leaves it to be set up again on the next call."""
        try:
            if not self._ready:
                self._init()
            return work()
        except ModemError:
            self._ready = False
            raise
        except (serial.SerialException, OSError) as exc:
            self._drop()
            raise ModemError(f"modem on {self.port}: {exc}") from None

    def _drop(self) -> None:
        self._ready = False
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None

    def _init(self) -> None:
        if self._serial is None:
            try:
                self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05,
                                                     write_timeout=self.command_timeout_s)
            except (serial.SerialException, OSError) as exc:
                raise ModemError(f"cannot open the modem's port {self.port}: {exc}") from None
            self._sweep_due = True
        # ESC leaves a "> " prompt a previous conversation may have left open; then let it settle.
        self._write(ESC + b"\r")
        self._discard(0.2)
        self._buffer = b""
        tries = 3
        for attempt in range(tries):
            try:
                self._command("AT", timeout=self.command_timeout_s / tries)
                break
            except ModemError:
                if attempt == tries - 1:
                    raise
        self._command("ATE0")
        self._command("AT+CMEE=1")
        self._unlock_sim()
        self._command("AT+CMGF=0")
        try:
            self._command("AT+CNMI=2,1,0,0,0")
        except ModemError:
            try:  # some modems take only mode 1; without either, the periodic sweep still finds each SMS
                self._command("AT+CNMI=1,1,0,0,0")
            except ModemError as exc:
                _LOG.warning("modem on %s reports no new SMS (%s); they are read every sweep", self.port, exc)
        self._ready = True

    def _unlock_sim(self) -> None:
        state = self._sim_state()
        if state == "READY":
            return
        if state != "SIM PIN":
            raise ModemError(f"modem on {self.port}: the SIM is not ready ({state}); it needs a person")
        pin = self._pin()
        if not pin:
            raise ModemError(f"modem on {self.port}: the SIM asks for its PIN; set the channel's pin_file")
        if pin == self._refused_pin:
            raise ModemError(f"modem on {self.port}: the SIM refused the PIN in pin_file; not trying it again "
                             "(three wrong PINs lock the SIM): correct pin_file", retry=True)
        try:
            self._command(f'AT+CPIN="{pin}"', shown="AT+CPIN=<pin>")
        except ModemError:
            self._refused_pin = pin
            raise
        deadline = self._clock() + self.command_timeout_s
        while self._sim_state() != "READY":  # some modems take a moment after the PIN
            if self._clock() > deadline:
                raise ModemError(f"modem on {self.port}: the SIM took the PIN but is not ready")
            time.sleep(0.2)

    def _sim_state(self) -> str:
        try:
            lines = self._command("AT+CPIN?")
        except ModemError as exc:
            return exc.reason.rsplit("answered ", 1)[-1]  # +CME ERROR: 10 = no SIM
        for line in lines:
            if line.startswith("+CPIN:"):
                return line.split(":", 1)[1].strip()
        return "no +CPIN answer"

    def _send_part(self, pdu_hex: str, octets: int) -> int:
        self._write(f"AT+CMGS={octets}\r".encode())
        try:
            self._prompt(f"AT+CMGS={octets}")
            self._write(pdu_hex.encode() + CTRL_Z)
            lines = self._final("AT+CMGS", self.send_timeout_s)
        except ModemError:
            self._write(ESC)  # the modem may still wait for the PDU's end
            raise
        for line in lines:
            if line.startswith("+CMGS:"):
                try:
                    return int(line.split(":", 1)[1].split(",")[0])
                except ValueError:
                    break
        raise ModemError(f"modem on {self.port}: AT+CMGS ended OK without +CMGS: <mr>")

    def _collect(self, sweep: bool) -> list[tuple[str, str, set[int]]]:
        """Read stored SMS (new ones, or all on a sweep); complete ones are returned to hand over."""
        self._discard(0)  # take in any +CMTI that came while nobody was talking
        listed: list[tuple[int, str]] = []
        if sweep or self._sweep_due:
            lines = self._command("AT+CMGL=4", timeout=self.send_timeout_s)
            listed = [(int(header.split(":")[1].split(",")[0]), pdu)
                      for header, pdu in _pairs(lines, "+CMGL:")]
            self._sweep_due = False
            seen = {index for index, _ in listed}  # a +CMTI that came during the list may be a newer one
            self._indexes = [index for index in self._indexes if index not in seen]
        while self._indexes:
            index = self._indexes.pop(0)
            try:
                lines = self._command(f"AT+CMGR={index}")
            except ModemError as exc:
                if "CMS ERROR" in exc.reason or "CME ERROR" in exc.reason:
                    continue  # nothing stored there (read and deleted by a sweep already)
                raise
            listed += [(index, pdu) for _, pdu in _pairs(lines, "+CMGR:")]
        return self._assemble(listed)

    def _assemble(self, listed: list[tuple[int, str]]) -> list[tuple[str, str, set[int]]]:
        ready = []
        for index, pdu in listed:
            try:
                sms = parse_deliver(pdu)
            except PduError as exc:  # not something a person sent us (a status report, garbage)
                _LOG.warning("modem on %s: SMS %d unreadable (%s); deleted", self.port, index, exc)
                self._command(f"AT+CMGD={index}")
                continue
            if sms.concat is None or sms.concat[1] <= 1:
                ready.append((sms.sender, sms.text, {index}))
                continue
            reference, count, seq = sms.concat
            partial = self._partials.setdefault((sms.sender, reference, count), _Partial(count, self._clock()))
            partial.texts[seq] = sms.text
            partial.indexes.add(index)
        now = self._clock()
        for key, partial in list(self._partials.items()):
            if len(partial.texts) == partial.count or now - partial.first_seen > PARTS_WAIT_S:
                del self._partials[key]
                text = "".join(partial.texts[seq] for seq in sorted(partial.texts))
                ready.append((key[0], text, partial.indexes))
        return ready

    # -- lines on the wire -------------------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._serial is None:
            raise ModemError(f"modem on {self.port}: port closed")
        try:
            self._serial.write(data)
        except serial.SerialTimeoutException:
            raise ModemError(f"modem on {self.port}: the port takes no bytes (flow control held?)") from None

    def _command(self, command: str, *, timeout: float | None = None, shown: str | None = None) -> list[str]:
        """Send one command; its information lines (unsolicited ones set aside) once it ends OK."""
        _LOG.debug("modem on %s: %s", self.port, shown or command)
        self._write(command.encode() + b"\r")
        return self._final(shown or command, self.command_timeout_s if timeout is None else timeout,
                           echo=command)

    def _final(self, shown: str, timeout: float, echo: str | None = None) -> list[str]:
        deadline = self._clock() + timeout
        lines: list[str] = []
        while True:
            line = self._line(deadline)
            if line is None:
                said = f"; it said {'/'.join(lines)[-60:]!r}" if lines else ""
                raise ModemError(f"modem on {self.port}: no answer to {shown} within {timeout:g} s{said}")
            if not line or line == echo:
                continue
            if line == "OK":
                return lines
            if line == "ERROR" or line.startswith(("+CME ERROR", "+CMS ERROR")):
                raise ModemError(f"modem on {self.port}: {shown} answered {line}")
            if not self._unsolicited(line):
                lines.append(line)

    def _prompt(self, shown: str) -> None:
        """Wait for the "> " that asks for the PDU (no line end follows it)."""
        deadline = self._clock() + self.command_timeout_s
        while True:
            stripped = self._buffer.lstrip(b"\r\n")
            if stripped.startswith(b">"):
                self._buffer = stripped[1:].lstrip(b" ")
                return
            if b"\n" in stripped or b"\r" in stripped:
                line = self._line(deadline)
                if line == "ERROR" or (line or "").startswith(("+CME ERROR", "+CMS ERROR")):
                    raise ModemError(f"modem on {self.port}: {shown} answered {line}")
                if line and not self._unsolicited(line) and not line.startswith("AT+CMGS"):
                    raise ModemError(f"modem on {self.port}: {shown} answered {line[-40:]!r}, not the > prompt")
                continue
            if not self._fill(deadline):
                raise ModemError(f"modem on {self.port}: no > prompt after {shown} within "
                                 f"{self.command_timeout_s:g} s")

    def _unsolicited(self, line: str) -> bool:
        if not line.startswith(URC_PREFIXES):
            return False
        if line.startswith("+CMTI:"):
            try:
                index = int(line.rsplit(",", 1)[1])
            except (IndexError, ValueError):
                return True
            if index not in self._indexes:
                self._indexes.append(index)
        return True

    def _line(self, deadline: float) -> str | None:
        """The next whole line (without its end), or None at the deadline."""
        while True:
            ends = [i for i in (self._buffer.find(b"\r"), self._buffer.find(b"\n")) if i >= 0]
            if ends:  # "\r\n" ends a line and leaves an empty one, which every reader skips
                raw, self._buffer = self._buffer[:min(ends)], self._buffer[min(ends) + 1:]
                return raw.decode("ascii", errors="replace").strip()
            if not self._fill(deadline):
                return None

    def _fill(self, deadline: float) -> bool:
        """Read what the port has, waiting until ``deadline`` at most; False when nothing came."""
        while True:
            chunk = self._serial.read(max(1, self._serial.in_waiting))
            if chunk:
                self._buffer += chunk
                return True
            if self._clock() >= deadline:
                return False

    def _discard(self, wait_s: float) -> None:
        """Take in what arrives for ``wait_s``, keeping only unsolicited reports (+CMTI)."""
        deadline = self._clock() + wait_s
        while self._fill(deadline):
            pass
        for sep in (b"\r\n", b"\n", b"\r"):
            self._buffer = self._buffer.replace(sep, b"\n")
        *whole, self._buffer = self._buffer.split(b"\n")
        for raw in whole:
            self._unsolicited(raw.decode("ascii", errors="replace").strip())


def _pairs(lines: list[str], prefix: str):
    """(header, PDU) pairs of an AT+CMGL/AT+CMGR answer: each header line is followed by its PDU line."""
    for i, line in enumerate(lines):
        if line.startswith(prefix) and i + 1 < len(lines) and not lines[i + 1].startswith(prefix):
            yield line, lines[i + 1]
