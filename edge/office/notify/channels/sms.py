"""The ``sms`` channel: text messages through the office's GSM/4G modem (``drivers.modem``).

One channel is one modem on one port (the config refuses two channels on one port): it owns the
``Modem`` and so its lock, and the sending worker and the reading thread take turns on the line.
``send`` sends one message to ``message.address`` (a phone number), split into parts when long; every
part shares a concatenation reference derived from the message id, so a retried message is put back
together the same way on the phone.

Incoming SMS (replies acknowledging an alert by its short code): set ``on_sms`` to a callable
``(sender, text)`` and the channel starts a thread that asks the modem for new SMS every ``poll_s``
seconds (and lists every stored one each ``sweep_s``), hands each over, then deletes it from the SIM.
What the text means is not the channel's business. ``close()`` stops the thread and frees the port.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable

from drivers.modem.at import Modem, ModemError
from edge.office.notify.channels.base import Channel, DeliveryFailed, Outgoing

_LOG = logging.getLogger(__name__)


class SmsChannel(Channel):
    type = "sms"
    RECEIVES = True
    poll_s = 1.0  # a +CMTI waits at most this long: an acknowledgement by SMS is read within a second
    sweep_s = 60.0  # every stored SMS listed (AT+CMGL=4) this often, for modems that report none

    def __init__(self, name: str, config, *, clock):
        super().__init__(name, config, clock=clock)
        self.modem = Modem(config.port, baudrate=config.baudrate, pin=self._read_pin,
                           command_timeout_s=min(5.0, config.timeout_s), send_timeout_s=config.timeout_s)
        self._on_sms: Callable[[str, str], None] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _read_pin(self) -> str | None:
        # Read when the SIM asks, not at start: a corrected pin_file is used without a restart.
        return self.config.pin_file.read_text().strip() if self.config.pin_file else None

    def send(self, message: Outgoing) -> None:
        if not message.address:
            raise DeliveryFailed(f"sms channel {self.name!r}: the message has no phone number", retry=False)
        reference = hashlib.sha256(message.message_id.encode()).digest()[0]
        try:
            self.modem.send(message.address, message.text, reference=reference)
        except ModemError as exc:
            raise DeliveryFailed(exc.reason, retry=exc.retry) from None

    # -- incoming ------------------------------------------------------------------------------------------
    @property
    def on_sms(self) -> Callable[[str, str], None] | None:
        return self._on_sms

    @on_sms.setter
    def on_sms(self, callback: Callable[[str, str], None] | None) -> None:
        """Hand each incoming SMS to ``callback(sender, text)``; the reading thread starts the first time."""
        self._on_sms = callback
        if callback is not None and self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=self._read_loop, name=f"gate-edge-sms-{self.name}", daemon=True)
            self._thread.start()

    def _hand(self, sender: str, text: str) -> None:
        if self._on_sms is not None:
            self._on_sms(sender, text)

    def _read_loop(self) -> None:
        failures = 0
        since_sweep = self.sweep_s  # the first poll lists what the SIM kept while the office was down
        wait = 0.0
        while not self._stop.wait(wait):
            sweep = since_sweep >= self.sweep_s
            try:
                self.modem.poll(self._hand, sweep=sweep)
            except ModemError as exc:
                failures += 1
                if failures == 1:  # said once; sending says it per message through the delivery worker
                    _LOG.warning("sms channel %r cannot read incoming SMS: %s", self.name, exc.reason)
                wait = min(60.0, self.poll_s * 2 ** failures)  # a dead modem is not asked every second
                since_sweep += wait
                continue
            if failures:
                _LOG.info("sms channel %r reads incoming SMS again", self.name)
            failures = 0
            since_sweep = 0.0 if sweep else since_sweep + self.poll_s
            wait = self.poll_s

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.modem.close()
