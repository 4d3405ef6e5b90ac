"""Request ids already accepted (signed commands): the ``seen_requests`` table, the replay guard.

Kept in the database so a restart does not reopen the window; pruned after a month (``REMEMBER_S``).
"""

from __future__ import annotations

# How long a command's request id is remembered: a few commands a day, so a month costs nothing.
REMEMBER_S = 30 * 86400


class SeenRequests:
    def __init__(self, store):
        self._store = store

    def remember(self, request_id: str, now: float, window_s: float) -> bool:
        """Record ``request_id``; True when it had been seen before (a replay). Kept for REMEMBER_S (or
        twice the window, if longer): a command is judged on the office's clock, which may stand far
        from this gate's, so "too old to be fresh" by this gate's clock is no guard against a replay."""
        with self._store.transaction():
            self._store.execute("DELETE FROM seen_requests WHERE ts_epoch < ?",
                                [now - max(2 * window_s, REMEMBER_S)])
            cursor = self._store.execute("INSERT OR IGNORE INTO seen_requests(request_id, ts_epoch) VALUES (?, ?)",
                                         [request_id, now])
            return cursor.rowcount == 0
