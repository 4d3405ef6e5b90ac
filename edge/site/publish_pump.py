"""The publish pump: what waits for the broker, published in order, at most ``window`` in flight, marked on PUBACK.

It serves every source of messages the same way. A source has four verbs (``edge.store.outbox.Outbox``,
``edge.durable.memory_queue.MemoryQueue``):

    unsent(limit, skip)      the next messages to publish, in order, none of ``skip`` (in flight or waiting
                             to be marked), up to the first one held for its barrier pulse: dicts with
                             ``key``, ``topic``, ``payload`` (text), ``qos``, ``retain``
    mark_sent(keys)          the broker took them (PUBACK); marked in batches, one commit for many
    mark_failed(key, error)  the broker refused it (a PUBACK with a failure code, e.g. 0x87 not
                             authorised): published again after RETRY_REFUSED_S
    depth()                  how many wait for the broker

The outbox comes first (what the gate stored), then the memory queue (what it could not store: set
once the daemon has one, ``add_source``), sharing one window. A message handed to paho but never
acknowledged (a lost session) is published again after REPUBLISH_UNACKED_S. A refusal is told to
``on_refused(seq, reason)`` (an outbox row's seq; 0 for a message kept in memory). A source that cannot be
read or marked (``StorageFailure``) is told to ``on_storage_failure(exc, reading)``; the pump never dies
of it and the marks wait until they can be written.

The pump also routes every PUBACK of the link's client (``on_puback``): its own messages', and those of
``publish_direct`` (the console's commands, which go out at once, outside any source).
"""

from __future__ import annotations

import logging
import threading
import time

import paho.mqtt.client as mqtt

from edge.store import StorageFailure

_LOG = logging.getLogger(__name__)
RETRY_REFUSED_S = 30.0
FLUSH_BATCH = 200
FLUSH_EVERY_S = 0.05
REPUBLISH_UNACKED_S = 120.0
EARLY_KEPT = 256  # PUBACKs that beat publish() back (status messages never claim theirs): at most these


class PublishPump:
    def __init__(self, client: mqtt.Client, outbox, *, window: int, ready, stop: threading.Event,
                 on_refused=None, on_storage_failure=None, every_round=None):
        """``ready()``: whether publishing may happen now (connected, not held); ``stop``: the link's;
        ``every_round()``: the link's own work in the pump's thread, before each round (a takeover told, the
        status after a drain)."""
        self._client = client
        self.sources: list = [outbox]
        self.window = window
        self.ready = ready
        self.on_refused = on_refused
        self.on_storage_failure = on_storage_failure
        self.every_round = every_round or (lambda: None)
        self.published = 0
        self._stop = stop
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._inflight: dict[int, tuple[int, object, float]] = {}  # mid -> (source index, key, handed over at)
        self._acked: list[list] = [[]]  # per source: keys acknowledged, not yet marked
        self._refused: dict[tuple[int, object], float] = {}  # (source index, key) -> retry after
        self._early: dict[int, object] = {}  # mid -> reason code of a PUBACK that beat publish() back
        self._direct: dict[int, object] = {}  # mid -> f(reason_code) of publish_direct
        self._last_depth: list[int] = [0]  # per source: its depth when it could last be read
        self._thread: threading.Thread | None = None

    def add_source(self, source) -> None:
        """Another source, published after those before it (the memory queue)."""
        if source is None or source in self.sources:
            return
        with self._lock:
            self.sources.append(source)
            self._acked.append([])
            self._last_depth.append(0)
        self._wake.set()

    # -- the thread --------------------------------------------------------------------------
    def start(self) -> PublishPump:
        self._thread = threading.Thread(target=self._run, name="gate-edge-outbox", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 5) -> None:
        """After the link's stop is set: the thread ends; what was acknowledged is marked."""
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
        self.flush_acks()

    def wake(self) -> None:
        """Something new to publish: now rather than at the next poll."""
        self._wake.set()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def _run(self) -> None:
        last_flush = time.monotonic()
        while not self._stop.is_set():
            self._wake.wait(0.5)
            self._wake.clear()
            # Mark acknowledged messages sent in batches: one commit for many PUBACKs, not one each.
            with self._lock:
                waiting = sum(len(keys) for keys in self._acked)
            if waiting >= FLUSH_BATCH or time.monotonic() - last_flush >= FLUSH_EVERY_S or not self._inflight:
                self.flush_acks()
                last_flush = time.monotonic()
            try:
                self.every_round()
            except StorageFailure as exc:
                self._storage_failed(exc, reading=True)
            except Exception:  # never let the pump die
                _LOG.exception("mqtt: the link's work in the pump's thread failed")
            if self.ready():
                self.publish()

    # -- publishing --------------------------------------------------------------------------
    def publish(self) -> None:
        """One round: hand paho what fits in the window, source by source."""
        now = time.monotonic()
        with self._lock:
            # Messages paho was given but never acknowledged (a lost session): hand them over again.
            for mid in [mid for mid, (_, _, at) in self._inflight.items() if now - at > REPUBLISH_UNACKED_S]:
                del self._inflight[mid]
            for refused in [refused for refused, at in self._refused.items() if at <= now]:
                del self._refused[refused]
            room = self.window - len(self._inflight)
            busy = [set(keys) for keys in self._acked]
            for index, key, _ in self._inflight.values():
                busy[index].add(key)
            for index, key in self._refused:
                busy[index].add(key)
        if room <= 0:
            return
        for index, source in enumerate(list(self.sources)):
            if room <= 0:
                break
            try:
                room -= self._publish_from(index, source, room, busy[index])
            except StorageFailure as exc:  # cannot read it: the other sources still go
                self._storage_failed(exc, reading=True)
                self._stop.wait(1.0)
            except Exception:  # never let the pump die
                _LOG.exception("mqtt: publishing from %s failed", type(source).__name__)

    def _publish_from(self, index: int, source, room: int, busy: set) -> int:
        handed = 0
        for message in source.unsent(room, busy):
            if not self.ready():
                break
            info = self._client.publish(message["topic"], message["payload"], qos=message["qos"],
                                        retain=bool(message["retain"]))
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break  # not connected after all; the next round starts from here again
            with self._lock:
                early = self._early.pop(info.mid, None)
                if early is None:
                    self._inflight[info.mid] = (index, message["key"], time.monotonic())
            if early is not None:
                self._settle(index, message["key"], early)
            self.published += 1
            handed += 1
        return handed

    def publish_direct(self, topic: str, payload: str, on_ack) -> bool:
        """Publish now at QoS 1, outside the sources (the console's commands); ``on_ack(reason_code)`` on the
        PUBACK (paho's thread). False when paho did not take it: nothing was sent."""
        info = self._client.publish(topic, payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            return False
        with self._lock:
            early = self._early.pop(info.mid, None)  # the PUBACK beat us here
            if early is None:
                self._direct[info.mid] = on_ack
        if early is not None:
            on_ack(early)
        return True

    # -- PUBACKs (paho's thread) ---------------------------------------------------------------
    def on_puback(self, mid: int, reason_code) -> None:
        with self._lock:
            direct = self._direct.pop(mid, None)
            entry = self._inflight.pop(mid, None) if direct is None else None
            if direct is None and entry is None:
                # The PUBACK arrived before publish() returned (or it is a status message's).
                self._early[mid] = reason_code
                while len(self._early) > EARLY_KEPT:
                    self._early.pop(next(iter(self._early)))
                return
        if direct is not None:
            direct(reason_code)
            return
        self._settle(entry[0], entry[1], reason_code)

    def _settle(self, index: int, key, reason_code) -> None:
        if not reason_code.is_failure:
            with self._lock:
                self._acked[index].append(key)
            self._wake.set()
            return
        with self._lock:
            self._refused[(index, key)] = time.monotonic() + RETRY_REFUSED_S
        seq = key if isinstance(key, int) else 0  # an outbox row's seq; 0: kept in memory
        _LOG.error("mqtt: broker refused %s: %s", f"message {seq}" if seq else "a message kept in memory",
                   reason_code)
        try:
            self.sources[index].mark_failed(key, f"PUBACK {reason_code}")
        except StorageFailure as exc:
            self._storage_failed(exc)
        if self.on_refused:
            self.on_refused(seq, str(reason_code))
        self._wake.set()

    def flush_acks(self) -> None:
        """Mark what the broker acknowledged, one batch per source; kept (and not published again) while a
        source cannot be written."""
        for index, source in enumerate(list(self.sources)):
            with self._lock:
                acked, self._acked[index] = self._acked[index], []
            if not acked:
                continue
            try:
                source.mark_sent(acked)
            except StorageFailure as exc:
                with self._lock:
                    self._acked[index] = acked + self._acked[index]
                self._storage_failed(exc)

    # -- what waits ----------------------------------------------------------------------------
    def depth(self) -> int:
        """Messages waiting for the broker, over every source (a source's last count while it cannot be
        read)."""
        for index, source in enumerate(list(self.sources)):
            try:
                self._last_depth[index] = source.depth()
            except StorageFailure as exc:
                self._storage_failed(exc, reading=True)
        return sum(self._last_depth)

    def drained(self) -> bool:
        """Nothing in flight and nothing any source would publish now."""
        return not self._inflight and not any(source.unsent(1) for source in list(self.sources))

    def _storage_failed(self, exc: BaseException, *, reading: bool = False) -> None:
        if self.on_storage_failure is not None:
            self.on_storage_failure(exc, reading)
        else:
            _LOG.error("mqtt: storage failure: %s", exc)
