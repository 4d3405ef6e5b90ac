"""The daemon's storage parts, made and wired in one place (README "When the disk is full or the
database read-only"):

    memory_queue  what could not be stored: in memory and in RAM, published directly (edge.durable.memory_queue)
    journal       the one durable writer: stores, or keeps in memory and tells the guard (edge.durable.journal)
    seqs          event numbers from a durably reserved block (edge.durable.seqs)
    alerts        device alerts that fall back to memory (edge.alerts)
    guard         says so (log, ``storage`` alert, status) and stores what waited once it can (edge.durable.guard)
    disk          the room the database has to grow (edge.durable.disk), for the guard's status and the jobs

``send`` puts a message that is not an event or alert (a command's result, a request) in the outbox,
or in memory when the outbox cannot be written; ``replay_guard`` is the signed commands' "seen before"
check, in the database and in memory (all there is while the database cannot be written).
"""

from __future__ import annotations

import logging
import time
import uuid

from edge.alerts import Alerts
from edge.contract import device_alert_payload
from edge.durable.backfill import Backfill
from edge.durable.disk import DiskRoom
from edge.durable.guard import StorageGuard
from edge.durable.journal import Entry, Journal
from edge.durable.memory_queue import MemoryQueue
from edge.durable.seqs import Seqs
from edge.rules.parking import Parking
from edge.schemas.phrases import fields
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


class Storage:
    def __init__(self, config, store, rules, *, clock, wake, on_change, on_recovered, signer=None, topics=None):
        self.config = config
        self.store = store
        self.clock = clock
        self.wake = wake
        self.memory_queue = MemoryQueue(config.database, database_id=store.database_id())
        self.seqs = Seqs(store, self.memory_queue)
        _LOG.info("%s", self.seqs.start())
        self.journal = Journal(store, self.memory_queue, seqs=self.seqs)
        self.alerts = Alerts(config, store, clock=clock, wake=wake, rules=rules, signer=signer, numbered=True,
                             topics=topics, journal=self.journal)
        for device, alert_id in self.memory_queue.alerts().items():  # from the RAM copy: not raised twice
            self.alerts.adopt(device, alert_id)
        backfill = Backfill(store, self.alerts, Parking(store, rules, config.zone), self.seqs, config.gate)
        self.disk = DiskRoom(config.database, store, min_free_mb=config.retention.min_free_mb)
        self.guard = StorageGuard(config, store, self.alerts, self.memory_queue, backfill, self.seqs, clock=clock,
                                  on_change=on_change, on_recovered=on_recovered, disk=self.disk)
        self.journal.guard = self.guard  # from now on a storage failure is kept in memory and told
        self.seen_commands: dict[str, float] = {}  # request ids accepted, also while storage fails

    def check(self, waited: dict | None) -> None:
        """At start: take over what ``edge.gate.waiting`` said, and see at once whether we can write."""
        if waited is not None:
            self._adopt_wait_alert(waited)
        try:
            self.store.probe_write(self.clock())
            self.seqs.settle()
        except StorageFailure as exc:
            self.guard.failed(exc)

    def _adopt_wait_alert(self, waited: dict) -> None:
        """The storage alert published while the database could not be opened: kept as raised (in memory,
        then stored), so the guard clears it once it can write; the commands answered then are refused
        as replays if the broker delivers them again."""
        alert_id, ts = waited["alert_id"], waited["ts"]
        payload = self.alerts.unnumbered(device_alert_payload(alert_id, "storage", "raised", waited["detail"],
                                                              iso(ts, self.config.zone)))
        item = self.memory_queue.add("alert", self.alerts.topics.device_alert, payload, f"alert:{alert_id}:raised",
                                     ts=ts, extra={"op": "raise", "device": "storage", "alert_id": alert_id,
                                                   **fields("detail", waited["detail"])})
        if item is not None and waited.get("published"):
            self.memory_queue.mark_sent([item["id"]])
        self.alerts.adopt("storage", alert_id)
        self.guard.resume(waited["ts"], waited["error"])
        self.seen_commands.update(waited.get("answered") or {})

    def send(self, topic: str, payload: dict) -> None:
        """Through the outbox, or from memory when it cannot be written."""
        now = self.clock()
        self.journal.write([Entry("message", topic, payload, f"msg:{uuid.uuid4()}", now,
                                  write=lambda: self.store.outbox.enqueue(topic, payload, now=now))])
        self.wake()

    def replay_guard(self, remember, window_s: float):
        """``seen(request_id)`` for parse_command: the database's check (``remember``), and memory's."""

        def seen(request_id: str) -> bool:
            now = time.time()
            for old in [k for k, t in self.seen_commands.items() if now - t > 2 * window_s]:
                del self.seen_commands[old]
            if request_id in self.seen_commands:
                return True
            self.seen_commands[request_id] = now
            try:
                return remember(request_id)
            except StorageFailure as exc:
                self.guard.failed(exc)
                return False

        return seen

    def status(self) -> dict:
        """The status's parts: ``storage``, and ``seq_skipped`` when numbers were skipped."""
        parts = {"storage": self.guard.status()}
        if self.seqs.skipped:
            parts["seq_skipped"] = self.seqs.skipped[-10:]  # numbers never used: nobody waits for them
        return parts

    def announced_seq(self) -> int:
        """Our newest seq that has left (stored and released, or published from memory)."""
        events = self.store.events
        stored = events.announced_seq()
        if stored < events.last_seq():
            return stored  # an event held for its pulse: nothing after it is announced yet
        return self.memory_queue.announced(stored)

    def clean_stop(self) -> None:
        """At a clean stop with nothing in memory: say where numbering is (the next start skips nothing)."""
        if self.guard.ok:
            try:
                self.seqs.clean_stop()
            except StorageFailure:
                pass
