"""One GSM/4G modem on one serial port, spoken to in AT commands (3GPP TS 27.005/27.007), PDU mode.

``Modem`` owns the conversation and its lock: one AT conversation at a time, whoever asks (the sending
worker, the thread reading incoming SMS), setting the modem up and unlocking its SIM, sending and reading
SMS. Every read has a deadline (``drivers.modem.wire.AtWire``, the lines on the port), so a modem that
answers nothing, garbage or ERROR ends in a ``ModemError`` naming the command, never in a hang. After such
an error the next call starts again from the beginning (``AT``, ``ATE0`` …), reopening the port if it went
away (a USB modem re-plugged), because a modem that stopped answering may still be waiting for the rest of
a PDU. A long incoming SMS is put together by ``drivers.modem.inbox.Inbox``.

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

import serial

from drivers.modem.inbox import Inbox, pairs
from drivers.modem.pdu import PduError, submit_pdus
from drivers.modem.wire import CTRL_Z, ESC, AtWire, ModemError

__all__ = ["Modem", "ModemError"]  # ModemError is the wire's: callers catch it from here
_LOG = logging.getLogger(__name__)


class Modem:
    """``pin``: a callable returning the SIM's PIN (read from its file when needed) or None.
    ``command_timeout_s`` bounds each plain command; ``send_timeout_s`` the network's answer to one part
    (tens of seconds on a weak signal)."""

    def __init__(self, port: str, *, baudrate: int = 115200, pin: Callable[[], str | None] | None = None,
                 command_timeout_s: float = 5.0, send_timeout_s: float = 60.0, clock=time.monotonic):
        self.baudrate = baudrate
        self.command_timeout_s = command_timeout_s
        self.send_timeout_s = send_timeout_s
        self._pin = pin or (lambda: None)
        self._refused_pin: str | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._wire = AtWire(port, baudrate=baudrate, command_timeout_s=command_timeout_s, clock=clock)
        self._inbox = Inbox(clock=clock)
        self._ready = False
        self._sweep_due = True  # read what the SIM stored while we were away

    @property
    def port(self) -> str:
        return self._wire.port

    @port.setter
    def port(self, value: str) -> None:  # takes effect when the port is next opened
        self._wire.port = value

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
                self._guarded(lambda indexes=indexes: [self._wire.command(f"AT+CMGD={i}") for i in sorted(indexes)])
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
        self._wire.close()

    def _init(self) -> None:
        wire = self._wire
        if not wire.is_open:
            wire.open()
            self._sweep_due = True
        wire.settle()
        tries = 3
        for attempt in range(tries):
            try:
                wire.command("AT", timeout=self.command_timeout_s / tries)
                break
            except ModemError:
                if attempt == tries - 1:
                    raise
        wire.command("ATE0")
        wire.command("AT+CMEE=1")
        self._unlock_sim()
        wire.command("AT+CMGF=0")
        try:
            wire.command("AT+CNMI=2,1,0,0,0")
        except ModemError:
            try:  # some modems take only mode 1; without either, the periodic sweep still finds each SMS
                wire.command("AT+CNMI=1,1,0,0,0")
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
            self._wire.command(f'AT+CPIN="{pin}"', shown="AT+CPIN=<pin>")
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
            lines = self._wire.command("AT+CPIN?")
        except ModemError as exc:
            return exc.reason.rsplit("answered ", 1)[-1]  # +CME ERROR: 10 = no SIM
        for line in lines:
            if line.startswith("+CPIN:"):
                return line.split(":", 1)[1].strip()
        return "no +CPIN answer"

    def _send_part(self, pdu_hex: str, octets: int) -> int:
        wire = self._wire
        wire.write(f"AT+CMGS={octets}\r".encode())
        try:
            wire.prompt(f"AT+CMGS={octets}")
            wire.write(pdu_hex.encode() + CTRL_Z)
            lines = wire.final("AT+CMGS", self.send_timeout_s)
        except ModemError:
            wire.write(ESC)  # the modem may still wait for the PDU's end
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
        wire = self._wire
        wire.discard(0)  # take in any +CMTI that came while nobody was talking
        listed: list[tuple[int, str]] = []
        if sweep or self._sweep_due:
            lines = wire.command("AT+CMGL=4", timeout=self.send_timeout_s)
            listed = [(int(header.split(":")[1].split(",")[0]), pdu)
                      for header, pdu in pairs(lines, "+CMGL:")]
            self._sweep_due = False
            seen = {index for index, _ in listed}  # a +CMTI that came during the list may be a newer one
            wire.new_sms[:] = [index for index in wire.new_sms if index not in seen]
        while wire.new_sms:
            index = wire.new_sms.pop(0)
            try:
                lines = wire.command(f"AT+CMGR={index}")
            except ModemError as exc:
                if "CMS ERROR" in exc.reason or "CME ERROR" in exc.reason:
                    continue  # nothing stored there (read and deleted by a sweep already)
                raise
            listed += [(index, pdu) for _, pdu in pairs(lines, "+CMGR:")]
        return self._inbox.assemble(listed, self._unreadable)

    def _unreadable(self, index: int, exc: PduError) -> None:
        _LOG.warning("modem on %s: SMS %d unreadable (%s); deleted", self.port, index, exc)
        self._wire.command(f"AT+CMGD={index}")
