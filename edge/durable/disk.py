"""Room for the database to grow: the one owner of how much there is.

    free_mb       free space on the filesystem that holds the database
    reusable_mb   free pages inside the database file, which new rows reuse before the file grows
    room_mb       the two together: the room new rows have (retention's working reserve is measured in it)
    low()         the filesystem has less than ``min_free_mb`` free (retention.min_free_mb; 0: never),
                  looked at every few seconds: the store then checkpoints after every commit
                  (``Store.low_on_disk``), so the WAL never outgrows one transaction

The gate's jobs (the ``disk`` alert, making room), the storage guard's status and the office's, and the
store's checkpoints all ask this; nothing else calls ``shutil.disk_usage`` for the database.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from edge.store import StorageFailure

MB = 2**20
LOOK_EVERY_S = 5.0  # low() looks at the filesystem at most this often (it runs at every commit)


class DiskRoom:
    def __init__(self, database: str | Path, store=None, *, min_free_mb: float = 0):
        """``store``: the database whose free pages count as room (None: the filesystem only)."""
        self.folder = Path(database).parent
        self.store = store
        self.min_free_mb = min_free_mb
        self._looked_at, self._low = -1e9, False

    def free_mb(self) -> float:
        """Free space on the filesystem (``OSError`` when it cannot be looked at)."""
        return shutil.disk_usage(self.folder).free / MB

    def reusable_mb(self) -> float:
        """Free pages inside the database: a bonus, 0 while the database cannot be read."""
        if self.store is None:
            return 0.0
        try:
            return self.store.reusable_bytes() / MB
        except StorageFailure:
            return 0.0

    def room_mb(self) -> float:
        """Room for new rows: the filesystem's free space plus the free pages inside the database."""
        return self.free_mb() + self.reusable_mb()

    def low(self) -> bool:
        """Less than ``min_free_mb`` free on the filesystem (looked at every LOOK_EVERY_S; False when it
        cannot be looked at, or when no floor is set)."""
        if not self.min_free_mb:
            return False
        now = time.monotonic()
        if now - self._looked_at > LOOK_EVERY_S:
            self._looked_at = now
            try:
                self._low = self.free_mb() < self.min_free_mb
            except OSError:
                self._low = False
        return self._low
