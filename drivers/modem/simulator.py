"""A GSM modem on a serial port (a pty for demos and tests) speaking the AT commands ``at.Modem`` uses.

It is a checker as much as a stand-in: it reads every SMS-SUBMIT with its OWN decoder (bit strings,
written apart from ``pdu``'s encoder, sharing only the 23.038 alphabet table), refuses a PDU whose
length, user data length or size is wrong (+CMS ERROR: 304, as a real modem does), puts the parts of a
long SMS back together, and hands each whole SMS to ``on_sent(to, text)``. ``receive(sender, text)``
stores an SMS-DELIVER (built by its own encoder, split into parts when long) and reports it with
``+CMTI: "SM",<index>`` once the host asked for that (AT+CNMI), to be read with AT+CMGR / AT+CMGL.

    commands  AT ATZ ATE0/1 AT+CMEE=n AT+CPIN? AT+CPIN="pin" AT+CMGF=0 AT+CNMI=… AT+CMGS=n AT+CMGR=i
              AT+CMGL=stat AT+CMGD=i AT+CGMI AT+CGMM AT+CGSN AT+CSQ AT+CREG? AT+CSCA?; anything else: ERROR
    faults    silent (answers nothing)   garbage (answers noise)   error (ERROR to everything)
              no_network (every AT+CMGS ends +CMS ERROR: 331)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import serial

from drivers.modem.gsm7 import BASIC, ESCAPE, EXTENSION

_LOG = logging.getLogger(__name__)
FAULTS = ("silent", "garbage", "error", "no_network")
SMSC = "+8613800100500"  # the SMS centre named in each stored SMS-DELIVER (China Mobile's form)
UD_OCTETS = 140  # 23.040: the user data of one SMS, header included, is at most 140 octets


# Questions a modem answers the same way every time (identity, signal, registration, SMS centre).
_IDENTITY = {"AT+CGMI": "gate-edge", "AT+CGMM": "simulated modem", "AT+CGSN": "860000000000001",
             "AT+CSQ": "+CSQ: 20,99", "AT+CREG?": "+CREG: 0,1", "AT+CSCA?": f'+CSCA: "{SMSC}",145'}


class SubmitRefused(ValueError):
    """A PDU a real modem would refuse; the host gets +CMS ERROR: 304 (invalid PDU mode parameter)."""


@dataclass
class Stored:
    pdu: str
    read: bool = False


@dataclass
class ModemState:
    echo: bool = True
    cmee: int = 0
    pdu_mode: bool = True
    report_new: bool = False  # +CMTI wanted (AT+CNMI with <mt> 1)
    sim_locked: bool = False
    storage: dict[int, Stored] = field(default_factory=dict)
    next_mr: int = 1


# -- an SMS-SUBMIT, read bit by bit (independent of drivers.modem.pdu) -------------------------------------
def _bits(octets: bytes) -> str:
    """The user data as one bit string, least significant bit of the first octet LAST: septet k of the
    text is then the k-th group of 7 counted from the right."""
    return "".join(format(b, "08b") for b in reversed(octets))


def _gsm_text(septets: list[int]) -> str:
    chars, escaped = [], False
    for s in septets:
        if escaped:
            chars.append(EXTENSION.get(s, BASIC[s]))
            escaped = False
        elif s == ESCAPE:
            escaped = True
        else:
            chars.append(BASIC[s])
    return "".join(chars)


def read_submit(pdu_hex: str, declared_octets: int) -> tuple[str, str, tuple[int, int, int] | None]:
    """(to, text, (reference, count, seq) or None) of one SMS-SUBMIT as AT+CMGS sends it."""
    try:
        data = bytes.fromhex(pdu_hex)
    except ValueError:
        raise SubmitRefused("not hexadecimal") from None
    try:
        at = 1 + data[0]
        if len(data) - at != declared_octets:
            raise SubmitRefused(f"AT+CMGS={declared_octets} but the TPDU has {len(data) - at} octets")
        first = data[at]
        if first & 0x03 != 0x01:
            raise SubmitRefused(f"first octet {first:02X} is not an SMS-SUBMIT")
        digits, toa = data[at + 2], data[at + 3]
        raw = data[at + 4:at + 4 + (digits + 1) // 2].hex().upper()
        number = "".join(raw[i + 1] + raw[i] for i in range(0, len(raw), 2))[:digits]
        to = ("+" if toa == 0x91 else "") + number
        at += 4 + (digits + 1) // 2
        dcs = data[at + 1]
        at += 2 + {0: 0, 2: 1, 1: 7, 3: 7}[(first >> 3) & 0x03]  # the validity period's form
        udl, ud = data[at], data[at + 1:]
    except IndexError:
        raise SubmitRefused("PDU ends too early") from None
    if len(ud) > UD_OCTETS:
        raise SubmitRefused(f"user data of {len(ud)} octets (at most {UD_OCTETS})")
    header = ud[:ud[0] + 1] if first & 0x40 else b""
    concat = None
    if header:
        ies = header[1:]
        while len(ies) >= 2:
            if ies[0] == 0x00 and ies[1] == 3:
                concat = (ies[2], ies[3], ies[4])
            ies = ies[2 + ies[1]:]
    if dcs & 0x0C == 0x00:  # 7-bit default alphabet
        skip = -(-len(header) * 8 // 7)  # septets the header (with its fill bits) takes
        bits = _bits(ud)
        if len(bits) < udl * 7 or len(ud) != -(-udl * 7 // 8):
            raise SubmitRefused(f"UDL {udl} septets but {len(ud)} octets of user data")
        septets = [int(bits[len(bits) - 7 * (k + 1):len(bits) - 7 * k], 2) for k in range(skip, udl)]
        return to, _gsm_text(septets), concat
    if dcs & 0x0C == 0x08:  # UCS-2
        if udl != len(ud):
            raise SubmitRefused(f"UDL {udl} octets but {len(ud)} octets of user data")
        return to, ud[len(header):].decode("utf-16-be", errors="replace"), concat
    raise SubmitRefused(f"DCS {dcs:02X} not simulated")


# -- an SMS-DELIVER, built bit by bit -----------------------------------------------------------------------
def _semi(number: str) -> str:
    digits = number.lstrip("+")
    padded = digits + "F" * (len(digits) % 2)
    return "".join(padded[i + 1] + padded[i] for i in range(0, len(padded), 2))


def _address(number: str) -> str:
    return f"{len(number.lstrip('+')):02X}{0x91 if number.startswith('+') else 0x81:02X}{_semi(number)}"


def _septets(text: str) -> list[int] | None:
    table = {ch: [i] for i, ch in enumerate(BASIC) if i != ESCAPE}
    table.update({ch: [ESCAPE, code] for code, ch in EXTENSION.items()})
    out: list[int] = []
    for ch in text:
        if ch not in table:
            return None
        out += table[ch]
    return out


def _pack(septets: list[int], fill: int) -> bytes:
    bits = "".join(format(s, "07b") for s in reversed(septets)) + "0" * fill
    bits = bits.zfill(-(-len(bits) // 8) * 8)
    return bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))[::-1]


def deliver_pdus(sender: str, text: str, when: time.struct_time, reference: int) -> list[tuple[str, int]]:
    """(PDU hex, TPDU octets) of each part of an SMS from ``sender``, time-stamped ``when`` (UTC+8)."""
    stamp = "".join(f"{v % 100:02d}"[::-1] for v in (when.tm_year, when.tm_mon, when.tm_mday, when.tm_hour,
                                                       when.tm_min, when.tm_sec)) + "23"  # +32 quarters
    septets = _septets(text)
    udh_octets = 6
    if septets is not None:
        per_part = (UD_OCTETS - udh_octets) * 8 // 7
        chunks, current = [], []
        for ch in text:
            s = _septets(ch)
            if len(current) + len(s) > per_part:
                chunks.append(current)
                current = []
            current += s
        chunks.append(current)
        if len(septets) * 7 <= UD_OCTETS * 8:
            chunks = [septets]
    else:
        units = text.encode("utf-16-be")
        per_part = (UD_OCTETS - udh_octets) // 2 * 2
        chunks = [units] if len(units) <= UD_OCTETS else [units[i:i + per_part]
                                                          for i in range(0, len(units), per_part)]
    out = []
    for seq, chunk in enumerate(chunks, 1):
        udh = bytes([5, 0x00, 3, reference, len(chunks), seq]) if len(chunks) > 1 else b""
        if septets is not None:
            fill = (7 - len(udh) * 8 % 7) % 7
            ud = udh + _pack(chunk, fill)
            udl = (len(udh) * 8 + fill) // 7 + len(chunk)
            dcs = 0x00
        else:
            ud, udl, dcs = udh + chunk, len(udh) + len(chunk), 0x08
        tpdu = f"{0x44 if udh else 0x04:02X}{_address(sender)}00{dcs:02X}{stamp}{udl:02X}{ud.hex().upper()}"
        sca = f"91{_semi(SMSC)}"
        out.append((f"{len(sca) // 2:02X}{sca}{tpdu}", len(tpdu) // 2))
    return out


class ModemSimulator:
    """Serve on ``port`` with ``start()``; ``close()`` stops. ``pin``: the SIM asks for it when set.
    ``on_sent(to, text)`` is called for every whole SMS the host sends; ``sent`` keeps them too."""

    def __init__(self, port: str, *, baudrate: int = 115200, pin: str | None = None, fault: str | None = None,
                 on_sent: Callable[[str, str], None] | None = None):
        if fault not in (None, *FAULTS):
            raise ValueError(f"fault {fault!r}: one of {', '.join(FAULTS)}")
        self.port = port
        self.baudrate = baudrate
        self.pin = pin
        self.fault = fault
        self.on_sent = on_sent
        self.sent: list[tuple[str, str]] = []
        self.commands: list[str] = []  # every command line received, the PIN masked
        self.state = ModemState(sim_locked=pin is not None)
        self._parts: dict[tuple[str, int, int], dict[int, str]] = {}
        self._serial: serial.SerialBase | None = None
        self._lock = threading.Lock()  # one writer at a time: an answer and a +CMTI never interleave
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._reference = random.randrange(256)

    def start(self) -> ModemSimulator:
        self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05)
        self._thread = threading.Thread(target=self._run, name="gate-edge-modem-sim", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._serial is not None:
            self._serial.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- what arrives from the network -------------------------------------------------------------------
    def receive(self, sender: str, text: str) -> list[int]:
        """Store an SMS from ``sender`` (in parts when long) and report each part; their indexes."""
        self._reference = (self._reference + 1) % 256
        indexes = []
        with self._lock:
            for pdu, _ in deliver_pdus(sender, text, time.gmtime(time.time() + 8 * 3600), self._reference):
                index = next(i for i in range(1, 256) if i not in self.state.storage)
                self.state.storage[index] = Stored(pdu)
                indexes.append(index)
                if self.state.report_new and self.fault != "silent":
                    self._write(f'\r\n+CMTI: "SM",{index}\r\n')
        return indexes

    # -- the serial line ---------------------------------------------------------------------------------
    def _write(self, text: str | bytes) -> None:
        try:
            self._serial.write(text.encode() if isinstance(text, str) else text)
        except (serial.SerialException, OSError):
            pass  # nobody on the other end: as a modem, say it anyway

    def _run(self) -> None:
        buffer = b""
        pdu_for: int | None = None  # AT+CMGS=<n> awaiting its PDU
        while not self._stop.is_set():
            try:
                chunk = self._serial.read(max(1, self._serial.in_waiting))
            except (serial.SerialException, OSError):
                self._stop.wait(0.05)
                continue
            buffer += chunk
            while True:
                if pdu_for is not None:
                    end = min((i for i in (buffer.find(b"\x1a"), buffer.find(b"\x1b")) if i >= 0), default=-1)
                    if end < 0:
                        break
                    body, cancelled, buffer = buffer[:end], buffer[end:end + 1] == b"\x1b", buffer[end + 1:]
                    octets, pdu_for = pdu_for, None
                    if not cancelled:
                        self._answer(lambda body=body, octets=octets: self._submit(body, octets))
                    continue
                if b"\r" not in buffer:
                    break
                line, buffer = buffer.split(b"\r", 1)
                text = line.decode("ascii", errors="replace").strip().lstrip("\x1b").strip()
                if not text:
                    continue
                if self.state.echo and self.fault != "silent":
                    with self._lock:
                        self._write(line + b"\r")
                self.commands.append(text if not text.upper().startswith("AT+CPIN=") else "AT+CPIN=<pin>")
                if text.upper().startswith("AT+CMGS=") and self.fault not in ("silent", "garbage", "error"):
                    try:
                        octets = int(text.split("=", 1)[1])
                    except ValueError:
                        self._answer(lambda: self._error("cms", 304))
                        continue
                    pdu_for = octets
                    with self._lock:
                        self._write("\r\n> ")
                    continue
                self._answer(lambda text=text: self._command(text))

    def _answer(self, work: Callable[[], str]) -> None:
        if self.fault == "silent":
            return
        if self.fault == "garbage":
            noise = bytes(random.randrange(0x80, 0x100) for _ in range(random.randrange(3, 30)))
            with self._lock:
                self._write(b"\r\n" + noise + b"\r\n")
            return
        try:
            reply = "\r\nERROR\r\n" if self.fault == "error" else work()
        except (ValueError, IndexError):  # a malformed argument: what a modem says to it
            reply = "\r\nERROR\r\n"
        with self._lock:
            self._write(reply)

    def _error(self, kind: str, code: int) -> str:
        if self.state.cmee == 0:
            return "\r\nERROR\r\n"
        return f"\r\n+{'CMS' if kind == 'cms' else 'CME'} ERROR: {code}\r\n"

    def _ok(self, *lines: str) -> str:
        return "".join(f"\r\n{line}" for line in lines) + ("\r\n" if lines else "") + "\r\nOK\r\n"

    def _command(self, text: str) -> str:
        state = self.state
        upper = text.upper()
        arg = text.split("=", 1)[1].strip() if "=" in text else ""
        if upper in ("AT", "ATZ", "AT&F"):
            return self._ok()
        if upper in ("ATE0", "ATE1"):
            state.echo = upper == "ATE1"
            return self._ok()
        if upper.startswith("AT+CMEE="):
            state.cmee = int(arg) if arg.isdigit() else 0
            return self._ok()
        if upper == "AT+CPIN?":
            return self._ok(f"+CPIN: {'SIM PIN' if state.sim_locked else 'READY'}")
        if upper.startswith("AT+CPIN="):
            if arg.strip('"') == self.pin:
                state.sim_locked = False
                return self._ok()
            return self._error("cme", 16)  # incorrect password
        if upper in _IDENTITY:
            return self._ok(_IDENTITY[upper])
        if state.sim_locked and upper.startswith(("AT+CMG", "AT+CNMI")):
            return self._error("cms", 311)  # SIM PIN required
        if upper.startswith("AT+CMGF="):
            if arg != "0":
                return self._error("cms", 303)  # only PDU mode is simulated
            return self._ok()
        if upper.startswith("AT+CNMI="):
            fields = arg.split(",")
            state.report_new = len(fields) > 1 and fields[1].strip() == "1"
            return self._ok()
        if upper.startswith("AT+CMGR="):
            stored = state.storage.get(int(arg)) if arg.isdigit() else None
            if stored is None:
                return self._error("cms", 321)  # invalid memory index
            status = 1 if stored.read else 0
            stored.read = True
            return self._ok(f"+CMGR: {status},,{self._octets(stored.pdu)}", stored.pdu)
        if upper.startswith("AT+CMGL"):
            wanted = int(arg) if arg.isdigit() else 0
            lines = []
            for index, stored in sorted(state.storage.items()):
                status = 1 if stored.read else 0
                if wanted == 4 or wanted == status:
                    lines += [f"+CMGL: {index},{status},,{self._octets(stored.pdu)}", stored.pdu]
                    stored.read = True
            return self._ok(*lines)
        if upper.startswith("AT+CMGD="):
            index = arg.split(",")[0]
            if index.isdigit():
                state.storage.pop(int(index), None)
                return self._ok()
            return self._error("cms", 321)
        return self._error("cme", 4) if state.cmee else "\r\nERROR\r\n"

    @staticmethod
    def _octets(pdu: str) -> int:
        return len(pdu) // 2 - 1 - int(pdu[:2], 16)

    def _submit(self, body: bytes, octets: int) -> str:
        if self.state.sim_locked:
            return self._error("cms", 311)
        try:
            to, text, concat = read_submit(body.decode("ascii", errors="replace").strip(), octets)
        except SubmitRefused as exc:
            _LOG.warning("simulated modem refused a PDU: %s", exc)
            return self._error("cms", 304)
        if self.fault == "no_network":
            return self._error("cms", 331)
        mr = self.state.next_mr
        self.state.next_mr = mr % 255 + 1
        if concat is None or concat[1] <= 1:
            self._deliver(to, text)
        else:
            reference, count, seq = concat
            parts = self._parts.setdefault((to, reference, count), {})
            parts[seq] = text
            if len(parts) == count:
                del self._parts[(to, reference, count)]
                self._deliver(to, "".join(parts[i] for i in sorted(parts)))
        return self._ok(f"+CMGS: {mr}")

    def _deliver(self, to: str, text: str) -> None:
        self.sent.append((to, text))
        if self.on_sent is not None:
            self.on_sent(to, text)
