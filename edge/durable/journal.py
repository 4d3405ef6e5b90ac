"""The one durable writer: store what happened in one transaction, or keep it in memory and tell the guard.

Everything a gate (or the office) must not lose goes through here: a decision's events, the barrier's
result of an event, a device alert raised or cleared, a command's result. ``write`` runs an entry's
rows (``Entry.write``) inside one transaction. When storage fails (``StorageFailure``: read-only, full,
I/O error, locked past its timeout) and a storage guard watches, each entry waits in the memory queue
instead (``edge.durable.memory_queue``: published straight from there, stored by ``edge.durable.backfill``
once the database can be written), the events among them with the seqs they were given (and
``edge.durable.seqs`` hears that they wait in memory), and the guard is told (``StorageGuard.failed``: the log, the
``storage`` alert, the status). Without a guard (tests, tools, the command line) the failure is raised
to the caller, as any database error. A write that works tells the guard too (``StorageGuard.wrote``):
whatever waits in memory is stored now rather than at its next probe.

An event's seq is taken before its transaction (``Seqs.take``); the journal settles the numbering after
it: committed (the reserved block moves with it), kept in memory, or given back when the write failed
for another reason than storage (nothing was stored or kept: the number is free again).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from edge.store import StorageFailure


@dataclass
class Entry:
    """One thing to write: its rows, and the memory queue item that stands for it while storage fails."""

    kind: str  # event, release, alert or message: how edge.durable.backfill stores it later
    topic: str
    payload: dict
    msg_id: str
    ts: float
    write: Callable[[], None] | None = None  # its rows, inside the journal's transaction (None: only kept)
    held: bool = False  # an event whose barrier pulse is under way: not published before its result
    extra: dict = field(default_factory=dict)  # what backfill needs besides the payload (sightings, an alert's op)


class Journal:
    """Writes entries in one transaction, or keeps them in memory and tells the guard (see the module)."""

    def __init__(self, store, memory_queue=None, *, seqs=None, guard=None):
        """``memory_queue``, ``seqs``: where entries wait and how events are numbered (a gate; the office
        numbers no events); ``guard``: the storage guard to tell, set once it exists (it raises its alert
        through the alerts, which write through this journal). No guard: storage failures are raised."""
        self.store = store
        self.memory_queue = memory_queue
        self.seqs = seqs
        self.guard = guard

    @property
    def keeps(self) -> bool:
        """Whether a storage failure is kept in memory (else it is raised)."""
        return self.guard is not None and self.memory_queue is not None

    def waiting(self) -> int:
        """How many entries wait in memory for the database."""
        return len(self.memory_queue) if self.keeps else 0

    def catch_up(self) -> None:
        """Before a decision reads the registry: what waits in memory is stored now, so the decision sees
        the events made before it (``StorageGuard.catch_up``)."""
        if self.waiting():
            self.guard.catch_up()

    def failed_reading(self, exc: BaseException) -> bool:
        """A read failed with ``exc``: the guard hears of it (the status says "unavailable"). False when no
        guard watches (the caller raises)."""
        if self.guard is None:
            return False
        self.guard.failed(exc, reading=True)
        return True

    def write(self, entries: list[Entry], *, after_waiting: bool = False) -> bool:
        """Store ``entries`` in one transaction: True. When storage fails (and a guard watches): each kept in
        memory, the guard told: False. ``after_waiting``: while anything waits in memory, these wait behind
        it, in order, without trying the database (a car's exit is stored after the entry that opened its
        session; the guard stores them all at once)."""
        seqs = [e.payload["seq"] for e in entries if e.kind == "event"]

        def keep() -> bool:
            self.keep(entries)
            return False

        if after_waiting and self.waiting():
            keep()
            self.guard.wrote()
            return False
        return self.attempt(lambda: _write_all(entries), keep, seqs=seqs)

    def attempt(self, write: Callable[[], object], keep: Callable[[], object], *, seqs: list[int] = ()):
        """``write()`` in one transaction, and its result. When storage fails and the journal keeps:
        ``keep()``'s result (it puts in memory what stands for the write), then the guard is told; else
        the failure is raised. ``seqs``: the events' numbers among what is written (settled here)."""
        try:
            with self.store.transaction():
                result = write()
        except StorageFailure as exc:
            if seqs:
                self.seqs.rolled_back()
            if not self.keeps:
                if seqs:
                    self.seqs.give_back(seqs)
                raise
            result = keep()
            self.guard.failed(exc)
            return result
        except BaseException:
            if seqs:
                self.seqs.rolled_back()
                self.seqs.give_back(seqs)
            raise
        if seqs:
            self.seqs.committed()
        if self.guard is not None:
            self.guard.wrote()
        return result

    def release(self, entry: Entry) -> bool:
        """A held event's final payload (its barrier's result): into its item when the event waits in
        memory, else written (``entry.write``), or kept in memory as a ``release`` entry. True: stored."""
        if self.memory_queue is not None and self.memory_queue.release(entry.msg_id, entry.payload):
            return False
        return self.write([entry])

    def keep(self, entries: list[Entry]) -> None:
        """Put ``entries`` in memory without trying the database (storage failed, or what they follow
        waits there); the events among them keep their seqs."""
        seqs = [e.payload["seq"] for e in entries if e.kind == "event"]
        for entry in entries:
            self.memory_queue.add(entry.kind, entry.topic, entry.payload, entry.msg_id, ts=entry.ts,
                                  held=entry.held, extra=entry.extra,
                                  next_seq=self.seqs.next if entry.kind == "event" else None)
        if seqs:
            self.seqs.kept_in_memory(seqs)


def _write_all(entries: list[Entry]) -> bool:
    for entry in entries:
        entry.write()
    return True
