"""What a link receives: handled on our threads, committed, and only then acknowledged to the broker.

Paho's thread only hands each message over (``arrived``, with the route paho matched it to:
``edge.site.router``); ``gate-edge-inbox`` takes what is waiting, up to ``INBOX_BATCH`` at a time, and calls
each message's handler. Runs of messages whose route is ``together`` (peer events) share one transaction
(``transaction``: the service's database); anything else (a command may pulse a barrier under the gate's
lock) is handled on its own, outside it: one lock order everywhere. Messages of a ``batched`` route (the
registry's records) go to ``gate-edge-registry`` instead, ``BATCH`` at a time, one transaction each.

A message is acknowledged (the link's ``ack(mid, qos)``: paho's manual acknowledgement) once its handler
returned and the transaction committed. A handler that fails otherwise is logged and its message
acknowledged: a bad message must never stop the inbox nor come back for ever. A ``StorageFailure``
acknowledges nothing: ``on_storage_failure(exc)`` is told and ``unacked`` set, so the link reconnects once
storage is back and the broker delivers them again. While the inbox is full, paho's thread waits (the
broker keeps the messages): back-pressure rather than loss.

``hold=True`` (the office's start): nothing is handled or acknowledged until ``release()``, which hands on
what arrived on the current connection (an earlier connection's messages come again from the broker);
``on_early(topic, payload)`` still sees each message as it arrives (paho's thread).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import threading

from edge.site.router import Received, Router
from edge.store import StorageFailure

_LOG = logging.getLogger(__name__)
INBOX_BATCH = 200
BATCH = 500  # a batched route's messages handled at a time (a full registry sync is thousands)


class Inbox:
    def __init__(self, router: Router, *, ack, stop: threading.Event, transaction=None, on_storage_failure=None,
                 hold: bool = False, on_early=None):
        """``ack(mid, qos)``: acknowledge to the broker; ``stop``: the link's."""
        self.router = router
        self._ack = ack
        self._stop = stop
        self.transaction = transaction or contextlib.nullcontext
        self.on_storage_failure = on_storage_failure or (lambda exc: _LOG.error("mqtt: storage failure: %s", exc))
        self.on_early = on_early
        self.unacked = False  # a received message was left unacknowledged by a storage failure
        self.released = threading.Event()
        if not hold:
            self.released.set()
        self._lock = threading.Lock()
        self._queue: queue.Queue = queue.Queue(maxsize=1000)
        self._batched: list[Received] = []
        self._batched_ready = threading.Event()
        self._held: list[tuple[int, Received]] = []  # (connection number, message) received while held
        self._connection = 0
        self._threads: list[threading.Thread] = []

    def start(self) -> Inbox:
        workers = [("gate-edge-inbox", self._drain)]
        if self.router.batches:
            workers.append(("gate-edge-registry", self._drain_batched))
        for name, target in workers:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)

    # -- paho's thread -------------------------------------------------------------------------
    def connected(self) -> None:
        """A new connection: what was held on an earlier one comes again from the broker."""
        self._connection += 1

    def arrived(self, message: Received) -> None:
        """Once per message, with its route (``Router.attach``)."""
        if self.on_early is not None:
            self.on_early(message.topic, message.payload)
        if not self.released.is_set():
            with self._lock:
                if not self.released.is_set():
                    self._held.append((self._connection, message))
                    return
        self._deliver(message)

    def release(self) -> None:
        """End the hold: handle what arrived meanwhile on this connection."""
        with self._lock:
            held, self._held = [m for n, m in self._held if n == self._connection], []
            self.released.set()
        for message in held:
            self._deliver(message)

    def _deliver(self, message: Received) -> None:
        if message.route is not None and message.route.batched:
            with self._lock:
                self._batched.append(message)
            self._batched_ready.set()
            return
        while not self._stop.is_set():  # back-pressure: paho stops reading, the broker keeps them
            try:
                self._queue.put(message, timeout=0.5)
                return
            except queue.Full:
                continue

    # -- our threads ---------------------------------------------------------------------------
    def _drain(self) -> None:
        while not self._stop.is_set():
            try:
                batch = [self._queue.get(timeout=0.5)]
            except queue.Empty:
                continue
            while len(batch) < INBOX_BATCH:  # what else is waiting: one commit for all of it
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            run: list[Received] = []
            for message in batch:
                if message.route is not None and message.route.together:
                    run.append(message)
                    continue
                self._handle_all(run, self.transaction)
                self._handle_all([message], contextlib.nullcontext)
                run = []
            self._handle_all(run, self.transaction)

    def _handle_all(self, messages: list[Received], transaction) -> None:
        """Handle, commit, then acknowledge; a storage failure acknowledges nothing (delivered again)."""
        if not messages:
            return
        try:
            with transaction():
                for message in messages:
                    try:
                        self.router.handle(message)
                    except StorageFailure:
                        raise
                    except Exception:  # a bad message must never stop the inbox (nor come back for ever)
                        _LOG.exception("mqtt: handling a message on %s failed", message.topic)
        except StorageFailure as exc:
            _LOG.error("mqtt: storing %d received messages failed (%s): not acknowledged; delivered again once "
                       "storage is back", len(messages), exc)
            self._not_acknowledged(exc)
            return
        for message in messages:
            self._ack(message.mid, message.qos)

    def _drain_batched(self) -> None:
        """A batched route's messages, ``BATCH`` at a time (its handler: one transaction each)."""
        while not self._stop.is_set():
            if not self._batched_ready.wait(0.5):
                continue
            with self._lock:
                batch, self._batched = self._batched[:BATCH], self._batched[BATCH:]
                if not self._batched:
                    self._batched_ready.clear()
            if not batch:
                continue
            try:
                for route, messages in itertools.groupby(batch, key=lambda m: m.route):
                    route.handle(list(messages))
            except StorageFailure as exc:
                _LOG.error("mqtt: storing %d registry records failed (%s): not acknowledged; delivered "
                           "again once storage is back", len(batch), exc)
                self._not_acknowledged(exc)
                continue
            except Exception:  # never let a bad record stop the replica
                _LOG.exception("mqtt: applying %d registry records failed", len(batch))
            for message in batch:
                self._ack(message.mid, message.qos)

    def _not_acknowledged(self, exc: BaseException) -> None:
        self.unacked = True
        self.on_storage_failure(exc)
