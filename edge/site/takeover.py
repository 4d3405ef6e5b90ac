"""Another client took our MQTT session: told plainly, and not fought over every second.

Another client connecting with our client id (the site's broker: with our login) takes our session over: the
broker disconnects us with reason 0x8E (Mosquitto from 2.0.15, EMQX). Mosquitto before 2.0.15 only closes the
connection, so a connection the broker closed without a word ``FLAP_COUNT`` times within ``FLAP_WINDOW_S``,
each within ``FLAP_AFTER_S`` of being accepted, is taken for the same. The link then says so (ERROR, naming
the client id and login), tells ``on_taken_over(detail)`` (a device alert, raised from the pump's thread,
never paho's: ``check``), and backs off (``TAKEOVER_BACKOFF_S``, doubling up to ``TAKEOVER_BACKOFF_MAX_S``)
instead of taking the session back a second later; ``on_taken_over(None)`` once it has kept a connection
``STABLE_S``.
"""

from __future__ import annotations

import logging
import time

_LOG = logging.getLogger(__name__)
SESSION_TAKEN_OVER = 0x8E  # MQTT v5 DISCONNECT reason: another client connected with our client id
TAKEOVER_BACKOFF_S = 30.0
TAKEOVER_BACKOFF_MAX_S = 600.0
STABLE_S = 120.0  # connected this long after a takeover: the other client has gone (the alert clears)
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 60
FLAP_COUNT, FLAP_WINDOW_S, FLAP_AFTER_S = 3, 60.0, 10.0  # a broker that closes a taken-over session silently


class TakeoverWatch:
    def __init__(self, config, *, on_taken_over=None, wake=lambda: None):
        """``on_taken_over(detail or None)``: the service's (a device alert); ``wake()``: the pump's."""
        self.config = config
        self.on_taken_over = on_taken_over
        self.wake = wake
        self.takeovers = 0  # takeovers in a row (the back-off doubles with each)
        self._news: str | None = None  # told to on_taken_over by the pump
        self._told = False
        self._connected_at = 0.0
        self._flaps: list[float] = []  # when the broker closed a young connection without a DISCONNECT

    def connected(self) -> None:
        self._connected_at = time.monotonic()

    def disconnected(self, client, flags, reason_code) -> None:
        """Paho's thread: a connection that was up ended, not by us. A takeover?"""
        if getattr(reason_code, "value", None) == SESSION_TAKEN_OVER:
            self._taken_over(client, "the broker closed this connection: session taken over, reason 0x8E")
        elif not getattr(flags, "is_disconnect_packet_from_server", True) and self._flapping():
            self._taken_over(client, f"the broker closed this connection {FLAP_COUNT} times within "
                                     f"{FLAP_WINDOW_S:.0f} s, each right after accepting it (most likely a "
                                     "session taken over; this broker does not send reason 0x8E)")

    def _flapping(self) -> bool:
        """A young connection closed by the broker without a word: the third within the window is a takeover."""
        now = time.monotonic()
        if now - self._connected_at > FLAP_AFTER_S:
            return False
        self._flaps = [t for t in self._flaps if now - t <= FLAP_WINDOW_S] + [now]
        if len(self._flaps) < FLAP_COUNT:
            return False
        self._flaps = []
        return True

    def _taken_over(self, client, how: str) -> None:
        self.takeovers += 1
        delay = min(TAKEOVER_BACKOFF_MAX_S, TAKEOVER_BACKOFF_S * 2 ** (self.takeovers - 1))
        login = self.config.mqtt.username or "(no login)"
        detail = (f"another client connected with this client's id {self.config.client_id!r} or login {login!r} "
                  f"and took its session over ({how}): two gates or services share one login or client id; "
                  "give each its own (mqtt.username, mqtt.client_id, gate)")
        _LOG.error("mqtt: %s; trying again in %.0f s (%d in a row)", detail, delay, self.takeovers)
        # Paho waits min_delay before the first reconnect after a connection that worked: take the session
        # back later, not every second (two clients with one id would otherwise throw each other off).
        client.reconnect_delay_set(min_delay=delay, max_delay=max(delay, RECONNECT_MAX_S))
        self._news = detail
        self.wake()

    def check(self, client, connected: bool) -> None:
        """In the pump's thread: tell ``on_taken_over``; after ``STABLE_S`` connected, the takeover is over."""
        news, self._news = self._news, None
        if news is not None and self.on_taken_over is not None:
            self._told = True
            self.on_taken_over(news)
        if self.takeovers and connected and time.monotonic() - self._connected_at >= STABLE_S:
            self.takeovers = 0
            client.reconnect_delay_set(min_delay=RECONNECT_MIN_S, max_delay=RECONNECT_MAX_S)
            if self._told and self.on_taken_over is not None:
                self._told = False
                self.on_taken_over(None)
