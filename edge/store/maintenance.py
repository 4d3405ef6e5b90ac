"""Looking after the database file: can it be written now, how much room it has inside, folding the WAL back.

The storage guard and the office's health check ``probe_write``; the disk-room owner (``edge.durable.disk``)
counts ``reusable_bytes``; the hourly job and retention ``checkpoint``. Reached through the store's
methods of the same names.
"""

from __future__ import annotations


class Maintenance:
    """The store's maintenance; ``store`` gives it transactions, statements and the lock."""

    def __init__(self, store):
        self.store = store

    def probe_write(self, now: float, room_bytes: int = 0) -> None:
        """One small write and commit: raises ``StorageFailure`` while the database cannot be written.
        ``room_bytes``: also take (and give back, in the same transaction) that much room for new rows; a
        change in place may work in a full database, where no new row fits."""
        store = self.store
        with store.transaction():
            store.kv_set("storage_probe", repr(now))
            if room_bytes:
                store.execute("INSERT INTO kv(key, value) VALUES ('storage_probe_room', zeroblob(?))", [room_bytes])
                store.kv_delete("storage_probe_room")

    def reusable_bytes(self) -> int:
        """Space inside the database file that new rows reuse before the file grows (free pages)."""
        return self.store.scalar("PRAGMA freelist_count") * self.store.scalar("PRAGMA page_size")

    def checkpoint(self, *, truncate: bool = True) -> None:
        """Fold the WAL back into the database file (hourly job; keeps the WAL from growing). ``truncate``
        False keeps the WAL file's space, which the next writes reuse: on a nearly full disk that space is
        what lets rows be written into the pages retention freed. Not while a transaction is open."""
        with self.store.hold():
            if not self.store.in_transaction:
                self.store.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})")
