"""The gate's event numbers (``seq``: 1, 2, 3 … per gate), never reused, also while storage fails.

An event stored normally moves the database's counter inside its own transaction (no gaps). The
database also keeps numbers reserved ahead (``sequences.event_reserved``: at least AHEAD of them,
topped up to twice that, one write per AHEAD events), so when storage fails the events kept in
memory (``edge.durable.memory_queue``) take the next numbers of that reserved block, which no later run reuses:

    where a run starts numbering
    - the RAM copy of the queue (this boot's last run): where that run had got to, exactly;
    - else a clean stop (the last run stopped with nothing in memory and wrote where it was);
    - else (a power cut or a reboot after a crash: the last run may have numbered events it could not
      store) after the whole reserved block. The numbers skipped are kept in the database and named in
      the status (``seq_skipped``), so peers and the office do not wait for them (``edge.site.peers``).

Beyond the reserved block (more than AHEAD events without storage) numbers go on, protected by the RAM
copy only; the status's ``storage`` part says so.
"""

from __future__ import annotations

import logging
import threading

from edge.locks import ordered_lock

_LOG = logging.getLogger(__name__)
AHEAD = 1000  # numbers always reserved beyond the next one (= the memory queue's bound)


class Seqs:
    def __init__(self, store, memory_queue):
        self._store = store
        self._memory_queue = memory_queue
        self._lock = ordered_lock("seqs")
        self._next = 1
        self._reserved = 0  # durably reserved up to here (as committed)
        self._local = threading.local()  # .reserve_to: written in this thread's transaction, not committed
        self._skip: list[int] | None = None  # a skip decided at start, not yet written
        self.skipped: list[list[int]] = []
        self.beyond = False  # numbering went past the reserved block while storage failed

    # -- start -----------------------------------------------------------------------------
    def start(self, *, trust_counter: bool = False) -> str:
        """Decide where numbering continues (reads only); returns how, for the log. ``trust_counter``: a
        gate without a memory queue (tests, tools) continues from the stored counter."""
        events = self._store.events
        stored_next, self._reserved = events.next_free_seq(), events.reserved_seq()
        self.skipped = events.skipped_seqs()
        ram = self._memory_queue.next_seq
        if trust_counter:
            self._next, how = stored_next, "from the stored counter"
        elif ram is not None:
            self._next, how = max(stored_next, ram), "continued from this boot's last run"
        elif events.clean_stop() == stored_next:
            self._next, how = stored_next, "after a clean stop"
        else:
            self._next = max(stored_next, self._reserved + 1)
            how = "after an unclean stop (no record of this boot)"
            if self._next > stored_next:
                self._skip = [stored_next, self._next - 1]
                self.skipped = [*self.skipped, self._skip]
                how += f": seq {stored_next}..{self._next - 1} skipped, they may have been used in memory"
        self._memory_queue.note_seq(self._next)
        return f"events numbered from seq {self._next} ({how})"

    def settle(self) -> None:
        """Write what numbering needs durably (at start, and when storage returns): the skip decided at
        start, the reservation ahead, and no clean-stop mark (a crash from now on leaves none)."""
        events = self._store.events
        with self._store.transaction():
            if self._skip is not None:
                events.add_skipped(*self._skip)
            events.set_clean_stop(None)
            want = self._next + AHEAD
            if self._reserved < want:
                events.reserve_seqs(want + AHEAD)
        self._skip = None
        self._reserved = max(self._reserved, self._store.events.reserved_seq())

    # -- numbering (under the gate's decision lock) ------------------------------------------
    def take(self) -> int:
        with self._lock:
            seq = self._next
            self._next += 1
            return seq

    def give_back(self, seqs: list[int]) -> None:
        """Numbers taken for events that were neither stored nor kept (an error that is not storage's)."""
        with self._lock:
            if seqs and max(seqs) == self._next - 1:
                self._next = min(seqs)

    def stored(self, seq: int) -> None:
        """Inside the transaction storing event ``seq``: move the counter, and top up the reservation."""
        self._store.events.use_seq(seq)
        reserving = getattr(self._local, "reserve_to", None) or 0
        if self._reserved < seq + AHEAD and reserving < seq + AHEAD:
            self._local.reserve_to = seq + 2 * AHEAD
            self._store.events.reserve_seqs(self._local.reserve_to)

    def committed(self) -> None:
        """The transaction that called ``stored`` committed."""
        reserve_to = getattr(self._local, "reserve_to", None)
        if reserve_to is not None:
            self._reserved = max(self._reserved, reserve_to)
        self._local.reserve_to = None

    def rolled_back(self) -> None:
        self._local.reserve_to = None

    def kept_in_memory(self, seqs: list[int]) -> None:
        """Events numbered ``seqs`` wait in memory: the RAM copy knows where numbering is."""
        self._memory_queue.note_seq(self._next)
        if seqs and max(seqs) > self._reserved and not self.beyond:
            self.beyond = True
            _LOG.error("storage: more events kept in memory than seqs reserved (up to %d): numbering goes on, "
                       "protected by the RAM copy only (a reboot before storage returns could reuse seqs)",
                       self._reserved)

    # -- stop and status -------------------------------------------------------------------
    def clean_stop(self) -> None:
        """At a clean stop with nothing in memory: where numbering is, so the next run needs no skip (and
        needs no RAM copy either)."""
        if len(self._memory_queue) == 0:
            with self._store.transaction():
                self._store.events.set_clean_stop(self._next)
            self._memory_queue.forget_file()

    @property
    def next(self) -> int:
        return self._next

    @property
    def reserved(self) -> int:
        return self._reserved
