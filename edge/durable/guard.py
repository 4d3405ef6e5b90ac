"""The storage guard: notices that the database cannot be written, says so loudly, brings it back.

    failed(exc)   every part that could not write (or read) tells the guard (writes through the journal,
                  ``edge.durable.journal``, which keeps them in memory first). The first time: one clear
                  log line, the ``storage`` device alert (it cannot be written either: it waits in memory
                  and is published directly, ``edge.alerts``) and the status's ``storage`` part says
                  ``"state": "degraded"`` (writes fail, the registry is still read) or ``"unavailable"``
                  (reads fail too: nothing can be decided from the registry)
    its thread    every PROBE_S while degraded or while anything waits in memory: one small write; once it
                  works, what waited in memory is stored (``edge.durable.backfill``), the alert is cleared, the
                  status says ``"ok"``; just before, ``on_recovered`` runs (the MQTT link opens its own
                  connection again and reconnects, so messages it could not acknowledge are delivered
                  again). A full disk first gets ``make_room`` (retention deletes the oldest sent events
                  and snapshots).

The status part: ``{"state", "since", "error", "queued", "unpublished", "dropped", "lost", "seq_next",
"seq_reserved", "beyond_reserved", "free_mb", "min_free_mb"}``.
"""

from __future__ import annotations

import logging
import threading
import time

from edge.durable.disk import DiskRoom
from edge.locks import ordered_lock
from edge.schemas.phrases import Phrase, say
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
PROBE_S = 2.0


class StorageGuard:
    def __init__(self, config, store, alerts, memory_queue, backfill, seqs, *, clock=time.time, on_change=None,
                 on_recovered=None, disk: DiskRoom | None = None):
        self.config = config
        self.store = store
        self.disk = disk or DiskRoom(config.database, store)
        self.alerts = alerts
        self.memory_queue = memory_queue
        self.backfill = backfill
        self.seqs = seqs
        self.clock = clock
        self.on_change = on_change or (lambda: None)
        self.on_recovered = on_recovered or (lambda: None)
        self.make_room = None  # set by the daemon: Jobs.make_room (a full disk)
        self.probe_bytes = 0  # room for new rows the probe also takes (edge.office.storage_guard)
        self.state = "ok"
        self.since: float | None = None
        self.error: str | None = None
        self._since_mono = 0.0
        self._lock = threading.Lock()
        self._storing = ordered_lock("storing")  # one writer of what waits in memory: the thread or catch_up
        self._kick = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    # -- what the parts tell ---------------------------------------------------------------
    def failed(self, exc: BaseException, *, reading: bool = False) -> None:
        """A write (``reading``: a read) failed with ``exc``."""
        state = "unavailable" if reading else "degraded"
        with self._lock:
            self.error = str(exc)
            first = self.state == "ok"
            if not first and not (reading and self.state == "degraded"):
                return
            self.state = state
            if first:
                self.since, self._since_mono = self.clock(), time.monotonic()
        if first:
            _LOG.error("storage: cannot %s the database %s (%s): %s (tried every %.0f s)",
                       "read" if reading else "write", self.config.database, exc, self._meanwhile(), PROBE_S)
        else:
            _LOG.error("storage: the database %s cannot be read either (%s): recognised people cannot be "
                       "looked up; the office's signed open still works", self.config.database, exc)
        self.alerts.device("storage", False, self._detail())
        self.on_change()
        self._kick.set()

    def resume(self, since: float, error: str) -> None:
        """The database could not be opened at start (``edge.gate.waiting`` said so and raised the alert):
        not "ok" until it has been written, then the alert is cleared."""
        with self._lock:
            if self.state == "ok":
                self.state, self.since, self._since_mono = "degraded", since, time.monotonic()
                self.error = error
        self._kick.set()

    def wrote(self) -> None:
        """A write worked: if anything waits, store it now rather than at the next probe."""
        if not self.ok or len(self.memory_queue):
            self._kick.set()

    def catch_up(self) -> None:
        """Before a decision reads the registry (under the gate's decision lock): store what waits in memory
        now, so the decision sees the events made before it (a visitor's exit must find the session their
        entry opened). Only the storing: the log, the alert and the link's reconnection are the thread's,
        kicked here. Nothing happens but one failed write while storage still fails."""
        if not len(self.memory_queue):
            return
        try:
            self._store_waiting(make_room=False)
        except StorageFailure as exc:
            with self._lock:
                self.error = str(exc)
        self._kick.set()

    def _store_waiting(self, *, make_room: bool) -> int:
        """One writer at a time: probe, settle the seqs, store what waits; how many items were stored."""
        with self._storing:
            if make_room and self.make_room is not None and self.error and "full" in self.error:
                self.make_room()
            self.store.probe_write(self.clock(), self.probe_bytes)
            if self.seqs is not None:  # the office numbers no events
                self.seqs.settle()
            return self.backfill.run(self.memory_queue)

    def _meanwhile(self) -> str:
        """What goes on while the database cannot be written (the first log line)."""
        return (f"the gate goes on deciding and lets residents in; its events are kept in memory (up to "
                f"{self.memory_queue.max_items}) and published directly, and stored as soon as it can write again")

    def _detail(self) -> Phrase:
        return say("storage_cannot_read" if self.state == "unavailable" else "storage_cannot_write",
                   database=str(self.config.database), error=self.error, max_items=self.memory_queue.max_items)

    # -- the probe thread --------------------------------------------------------------------
    def start(self) -> StorageGuard:
        self._thread = threading.Thread(target=self._run, name="gate-edge-storage", daemon=True)
        self._thread.start()
        if len(self.memory_queue):
            self._kick.set()
        return self

    def close(self) -> None:
        self._stop.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(PROBE_S)
            self._kick.clear()
            if self._stop.is_set():
                return
            if self.ok and not len(self.memory_queue):
                continue
            try:
                self.recover()
            except Exception:  # never let the guard die
                _LOG.exception("storage: recovery attempt failed")

    def recover(self) -> bool:
        """Try to write; store what waited; back to "ok" when nothing waits any more. True when ok."""
        try:
            written = self._store_waiting(make_room=True)
        except StorageFailure as exc:
            with self._lock:
                self.error = str(exc)
            return False
        if len(self.memory_queue):  # an event still held for its pulse: the rest follows it shortly
            self._kick.set()
            return False
        if not self.ok:
            self.on_recovered()  # first: the link's connection is fresh before anyone says "ok"
        with self._lock:
            already = self.state == "ok"
            if not already:
                self.state, was = "ok", time.monotonic() - self._since_mono
                self.since = self.error = None
        if already:
            if written:  # what a restart found in RAM: its storage alert, if any, is over too
                self.alerts.device("storage", True, say("storage_stored_from_memory", written=written))
            return True
        dropped = self.memory_queue.take_dropped_seqs()
        # Events dropped from memory at its bound were published (the office and the peers have them) but
        # are not in this gate's database: said once, with their seqs, where a technician looks.
        again = say("storage_writing_again", seconds=was, written=written, dropped=len(dropped) if dropped else None,
                    dropped_seqs=_ranges(dropped) if dropped else None)
        _LOG.warning("storage: the database %s can be written again: %s", self.config.database, again)
        self.alerts.device("storage", True, again)
        self.on_change()
        return True

    # -- room and status ---------------------------------------------------------------------
    def status(self) -> dict:
        zone = self.config.zone
        try:
            room = round(self.disk.room_mb(), 1)
        except OSError:
            room = None
        return {"state": self.state, "since": iso(self.since, zone) if self.since else None, "error": self.error,
                "queued": len(self.memory_queue), "unpublished": self.memory_queue.depth(),
                "dropped": self.memory_queue.dropped, "lost": self.memory_queue.lost, "seq_next": self.seqs.next,
                "seq_reserved": self.seqs.reserved, "beyond_reserved": self.seqs.beyond,
                "free_mb": room, "min_free_mb": self.config.retention.min_free_mb}


def _ranges(numbers: list[int]) -> str:
    """1, 2, 3, 7 -> "1-3, 7"."""
    parts, numbers = [], sorted(numbers)
    start = previous = numbers[0]
    for n in numbers[1:] + [None]:
        if n is not None and n == previous + 1:
            previous = n
            continue
        parts.append(f"{start}-{previous}" if previous != start else f"{start}")
        if n is not None:
            start = previous = n
    return ", ".join(parts)
