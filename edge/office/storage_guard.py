"""The office's storage guard: the gate's (``edge.durable.guard``), for the archive (issue 26, finding 5).

While the office's database cannot be written (a full disk, a read-only file, I/O errors):

    messages from the broker   a batch that could not be stored is not acknowledged (``edge.site.mqtt_link``):
                               the broker keeps it, and delivers it again once the guard has seen a write
                               work (the link reconnects, its session kept). What the broker dropped
                               meanwhile (its queue for the office is bounded) shows as a gap in a gate's
                               seq, asked for again by ``req/replay`` as usual
    the office's own alerts    raised all the same: the journal (``edge.durable.journal``) keeps them in
                               memory (``edge.durable.memory_queue``, no RAM copy: an office restart
                               raises them again) and they are published from there; stored once the
                               database can be written (``edge.durable.backfill``)
    silent gates               a gate's message counts as heard before anything is written
                               (``Office._on_message``): a full archive never makes a gate "silent"
    status and /healthz        ``"storage": {"state": "ok" | "degraded" | "unavailable", "since", "error",
                               "queued", "free_mb"}`` in the office's status; /healthz says
                               ``"storage": state`` and ``ok`` is false unless the state is "ok"

Every PROBE_S the guard tries one small write; once it works the link reconnects (``on_recovered``), what
waited in memory is stored, the ``storage`` alert is cleared and the status says "ok" again.
"""

from __future__ import annotations

from edge.durable.backfill import Backfill
from edge.durable.guard import StorageGuard
from edge.durable.journal import Journal
from edge.durable.memory_queue import MemoryQueue
from edge.schemas.phrases import Phrase, say
from edge.timeutil import iso


class OfficeStorageGuard(StorageGuard):
    def __init__(self, config, store, alerts, *, clock, on_change=None, on_recovered=None):
        memory_queue = MemoryQueue(config.database, persist=False)
        backfill = Backfill(store, alerts, None, None, "office")
        super().__init__(config, store, alerts, memory_queue, backfill, None, clock=clock, on_change=on_change,
                         on_recovered=on_recovered)
        # Room for a batch of messages, not only a change in place (which a full database may still take):
        # "ok" again only once what waits at the broker can be stored.
        self.probe_bytes = 64 * 1024
        alerts.journal = Journal(store, memory_queue, guard=self)  # device alerts fall back to memory, and tell us

    def _meanwhile(self) -> str:
        return ("messages from the gates that cannot be stored are not acknowledged: the broker keeps them and "
                "delivers them again once the archive can be written; the office's alerts are published from memory")

    def _detail(self) -> Phrase:
        return say("archive_cannot_read" if self.state == "unavailable" else "archive_cannot_write",
                   database=str(self.config.database), error=self.error)

    def status(self) -> dict:
        try:
            free = round(self.disk.free_mb(), 1)
        except OSError:
            free = None
        return {"state": self.state, "since": iso(self.since, self.config.zone) if self.since else None,
                "error": self.error, "queued": len(self.memory_queue), "free_mb": free}
