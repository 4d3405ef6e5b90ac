"""Request ids already accepted (signed commands): the ``seen_requests`` table, the replay guard.

Kept in the database so a restart does not reopen the window; pruned to twice the window.
"""

from __future__ import annotations


class SeenRequests:
    def __init__(self, store):
        self._store = store

    def remember(self, request_id: str, now: float, window_s: float) -> bool:
        """Record ``request_id``; True when it had been seen before (a replay)."""
        with self._store.transaction():
            self._store.execute("DELETE FROM seen_requests WHERE ts_epoch < ?", [now - 2 * window_s])
            cursor = self._store.execute("INSERT OR IGNORE INTO seen_requests(request_id, ts_epoch) VALUES (?, ?)",
                                         [request_id, now])
            return cursor.rowcount == 0
