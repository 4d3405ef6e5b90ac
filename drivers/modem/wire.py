"""The AT conversation's lines on one serial port (``drivers.modem.at.Modem`` drives it, under its lock).

``AtWire`` owns the port's bytes: opening and closing it, writing a command, reading its answer up to the
final ``OK`` or error within a deadline (so a modem that answers nothing or garbage ends in a
``ModemError`` naming the command, never in a hang), the ``> `` prompt of AT+CMGS, and the unsolicited
lines a modem may send between or inside answers: those are set aside, and the storage index of each
``+CMTI: "SM",<index>`` (a new SMS) is kept in ``new_sms`` for the reader.
"""

from __future__ import annotations

import logging

import serial

_LOG = logging.getLogger(__name__)
CTRL_Z, ESC = b"\x1a", b"\x1b"
# Lines a modem may send on its own between (or inside) answers; never the answer to our command.
URC_PREFIXES = ("+CMTI:", "+CDSI:", "RING", "+CIEV:", "^", "+CREG:", "+CGREG:", "+CEREG:", "NO CARRIER")


class ModemError(Exception):
    """The modem did not do what was asked. ``retry``: trying again later may help (it almost always
    may: no answer, busy, no network); False for a message that can never be sent (too long)."""

    def __init__(self, reason: str, *, retry: bool = True):
        super().__init__(reason)
        self.reason = reason
        self.retry = retry


class AtWire:
    """``port`` and ``baudrate`` of the serial line; ``command_timeout_s`` bounds each plain command and
    the wait for a prompt; ``clock`` (monotonic) measures every deadline."""

    def __init__(self, port: str, *, baudrate: int, command_timeout_s: float, clock):
        self.port = port
        self.baudrate = baudrate
        self.command_timeout_s = command_timeout_s
        self._clock = clock
        self._serial: serial.SerialBase | None = None
        self._buffer = b""
        self.new_sms: list[int] = []  # +CMTI indexes not read yet

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        try:
            self._serial = serial.serial_for_url(self.port, baudrate=self.baudrate, timeout=0.05,
                                                 write_timeout=self.command_timeout_s)
        except (serial.SerialException, OSError) as exc:
            raise ModemError(f"cannot open the modem's port {self.port}: {exc}") from None

    def close(self) -> None:
        if self._serial is not None:
            try:
                self._serial.close()
            except (serial.SerialException, OSError):
                pass
            self._serial = None

    def settle(self) -> None:
        """ESC leaves a "> " prompt a previous conversation may have left open; then let it settle."""
        self.write(ESC + b"\r")
        self.discard(0.2)
        self._buffer = b""

    def write(self, data: bytes) -> None:
        if self._serial is None:
            raise ModemError(f"modem on {self.port}: port closed")
        try:
            self._serial.write(data)
        except serial.SerialTimeoutException:
            raise ModemError(f"modem on {self.port}: the port takes no bytes (flow control held?)") from None

    def command(self, command: str, *, timeout: float | None = None, shown: str | None = None) -> list[str]:
        """Send one command; its information lines (unsolicited ones set aside) once it ends OK."""
        _LOG.debug("modem on %s: %s", self.port, shown or command)
        self.write(command.encode() + b"\r")
        return self.final(shown or command, self.command_timeout_s if timeout is None else timeout,
                          echo=command)

    def final(self, shown: str, timeout: float, echo: str | None = None) -> list[str]:
        """The information lines up to the final OK within ``timeout``; an error or silence: ModemError."""
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

    def prompt(self, shown: str) -> None:
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

    def discard(self, wait_s: float) -> None:
        """Take in what arrives for ``wait_s``, keeping only unsolicited reports (+CMTI)."""
        deadline = self._clock() + wait_s
        while self._fill(deadline):
            pass
        for sep in (b"\r\n", b"\n", b"\r"):
            self._buffer = self._buffer.replace(sep, b"\n")
        *whole, self._buffer = self._buffer.split(b"\n")
        for raw in whole:
            self._unsolicited(raw.decode("ascii", errors="replace").strip())

    def _unsolicited(self, line: str) -> bool:
        if not line.startswith(URC_PREFIXES):
            return False
        if line.startswith("+CMTI:"):
            try:
                index = int(line.rsplit(",", 1)[1])
            except (IndexError, ValueError):
                return True
            if index not in self.new_sms:
                self.new_sms.append(index)
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

