"""A service's retained status on ``P/<name>/status``: a state, published directly (never an outbox row).

A gate's is ``contract.status_payload`` with what ``status_provider()`` says of its cameras, barriers,
registry, seqs, storage and clock; the office builds its own (``payload_fn(ts, outbox_depth)``). Both carry
``outbox``: how many messages wait for the broker (the pump's depth). Besides when the service asks
(a device changed, every minute), the status goes out again once a backlog has drained (``after_drain``),
so a peer that lost the last events of it sees the gap without waiting for the next event, and when the
count of waiting messages has changed since the last one (its ``outbox`` would otherwise stay wrong).
At a clean stop the service says ``offline`` itself (the last will says it after a crash).
"""

from __future__ import annotations

import time

from edge.contract import dumps, offline_will, status_payload
from edge.timeutil import iso

AFTER_DRAIN_EVERY_S = 1.0


class LinkStatus:
    def __init__(self, client, topics, pump, *, clock, zone, ready, provider=None, payload_fn=None):
        """``pump``: the link's (its depth and how much it published); ``ready()``: connected and not held;
        ``provider()``: a gate's parts; ``payload_fn(ts, depth)``: the whole payload instead (the office)."""
        self._client = client
        self.topics = topics
        self.pump = pump
        self.clock = clock
        self.zone = zone
        self.ready = ready
        self.provider = provider or (lambda: {})
        self.payload_fn = payload_fn
        self._published_at, self._at, self._depth = 0, 0.0, 0

    def publish(self) -> None:
        """The retained status, now (nothing while not connected or held)."""
        if not self.ready():
            return
        depth = self.pump.depth()
        if self.payload_fn is not None:
            payload = self.payload_fn(self._now_iso(), depth)
        else:
            extra = dict(self.provider())
            payload = status_payload("online", self._now_iso(), extra.pop("cameras", None),
                                     extra.pop("barriers", None), depth, **extra)
        self._published_at, self._at, self._depth = self.pump.published, time.monotonic(), depth
        self._client.publish(self.topics.status(), dumps(payload), qos=1, retain=True)

    def after_drain(self) -> None:
        """The pump's thread, each round: once what waited has gone out, say so (at most once a second)."""
        if not self.ready() or time.monotonic() - self._at <= AFTER_DRAIN_EVERY_S or not self.pump.drained():
            return
        if self.pump.published != self._published_at or self.pump.depth() != self._depth:
            self.publish()

    def offline(self, timeout: float) -> None:
        """At a clean stop: ``offline``, retained, waited for at most ``timeout`` seconds."""
        info = self._client.publish(self.topics.status(), dumps(offline_will(self._now_iso())), qos=1, retain=True)
        info.wait_for_publish(timeout=max(0.1, timeout))

    def _now_iso(self) -> str:
        return iso(self.clock(), self.zone)
