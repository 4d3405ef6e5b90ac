"""What arrived from each peer gate, and what was refused: the ``peer_progress`` and ``quarantine`` tables.

For each peer, ``contiguous`` is the seq up to which nothing is missing and ``highest`` the highest seq
seen; a gap between them is asked for again (``req/replay``). Tracking starts at the first event seen
from a gate: nothing before it is asked for. Seqs a gate says it skipped (its status's ``seq_skipped``:
numbers it never used, ``edge.durable.seqs``) count as arrived (kept in ``kv`` as ``peer_skipped:<gate>``).
Events refused as implausible are kept in ``quarantine`` as a bounded summary with the reason, never applied.
"""

from __future__ import annotations

import json

KEEP_SKIPS = 20


class PeerProgress:
    """One stream's progress per peer: ``events`` (``peer_progress``, seqs looked up in ``events``) or
    ``alerts`` (``alert_progress``, seqs in ``alert_log``; DESIGN 6.1)."""

    STREAMS = {"events": ("peer_progress", "events", "peer_skipped"),
               "alerts": ("alert_progress", "alert_log", "alert_skipped")}

    def __init__(self, store, stream: str = "events"):
        self._store = store
        self.stream = stream
        self._table, self._seqs, self._skip_key = self.STREAMS[stream]

    def arrived(self, gate: str, seq: int, now: float) -> dict:
        """Note that ``seq`` from ``gate`` is stored; returns the gate's progress after it."""
        store = self._store
        row = self.get(gate)
        if row is None:
            store.execute(f"INSERT INTO {self._table}(gate, contiguous, highest) VALUES (?, ?, ?)", [gate, seq, seq])
            return self.get(gate)
        contiguous, highest = row["contiguous"], max(row["highest"], seq)
        if seq > contiguous:
            contiguous = self._walk(gate, contiguous)
        gap_since = None if contiguous >= highest else (row["gap_since_epoch"] or now)
        store.execute(f"UPDATE {self._table} SET contiguous = ?, highest = ?, gap_since_epoch = ? WHERE gate = ?",
                      [contiguous, highest, gap_since, gate])
        return self.get(gate)

    def _walk(self, gate: str, contiguous: int) -> int:
        """Up through what is stored or was skipped (events arrive out of order, a replay fills the middle)."""
        skipped = self.skipped(gate)
        while True:
            step = next((last for first, last in skipped if first <= contiguous + 1 <= last), None)
            if step is not None:
                contiguous = step
            elif self._store.row(f"SELECT 1 FROM {self._seqs} WHERE gate = ? AND seq = ?", (gate, contiguous + 1)):
                contiguous += 1
            else:
                return contiguous

    def skipped(self, gate: str) -> list[list[int]]:
        return json.loads(self._store.kv_get(f"{self._skip_key}:{gate}") or "[]")

    def skip(self, gate: str, ranges: list, now: float) -> None:
        """``gate`` says it never used these seqs ([first, last] each): nobody waits for them."""
        known = self.skipped(gate)
        new = [[int(a), int(b)] for a, b in ranges if [int(a), int(b)] not in known]
        if not new:
            return
        self._store.kv_set(f"{self._skip_key}:{gate}", json.dumps((known + new)[-KEEP_SKIPS:]))
        row = self.get(gate)
        if row is not None:
            contiguous = self._walk(gate, row["contiguous"])
            highest = max(row["highest"], contiguous)
            gap_since = None if contiguous >= highest else (row["gap_since_epoch"] or now)
            self._store.execute(f"UPDATE {self._table} SET contiguous = ?, highest = ?, gap_since_epoch = ? "
                                "WHERE gate = ?", [contiguous, highest, gap_since, gate])

    def announced(self, gate: str, seq: int, now: float) -> None:
        """The peer says (in its status) that its newest event is ``seq``: events lost at the end of a
        stream show up as a gap even though no later event arrives."""
        row = self.get(gate)
        if row is None or seq <= row["highest"]:
            return
        self._store.execute(
            f"UPDATE {self._table} SET highest = ?, gap_since_epoch = coalesce(gap_since_epoch, ?) WHERE gate = ?",
            [seq + 1, now, gate])  # one past it: the gap reaches up to and including seq

    def baseline(self, gate: str, seq: int) -> None:
        """Start tracking ``gate`` at ``seq`` (its status names it before anything arrived): what comes
        after it is waited for, what came before is not asked for."""
        if self.get(gate) is None:
            self._store.execute(f"INSERT INTO {self._table}(gate, contiguous, highest) VALUES (?, ?, ?)",
                                [gate, seq, seq])

    def get(self, gate: str) -> dict | None:
        return self._store.row(f"SELECT * FROM {self._table} WHERE gate = ?", (gate,))

    def all(self) -> list[dict]:
        return self._store.rows(f"SELECT * FROM {self._table} ORDER BY gate")

    def missing(self, gate: str, limit: int = 1000) -> list[int]:
        """The seqs between contiguous and highest that have not arrived (at most ``limit``)."""
        row = self.get(gate)
        if row is None or row["contiguous"] >= row["highest"]:
            return []
        have = {r["seq"] for r in self._store.rows(
            f"SELECT seq FROM {self._seqs} WHERE gate = ? AND seq > ? AND seq < ?",
            (gate, row["contiguous"], row["highest"]))}
        skipped = self.skipped(gate)
        out = []
        for seq in range(row["contiguous"] + 1, row["highest"]):
            if seq not in have and not any(first <= seq <= last for first, last in skipped):
                out.append(seq)
                if len(out) >= limit:
                    break
        return out

    def asked(self, gate: str, now: float) -> None:
        self._store.execute(f"UPDATE {self._table} SET asked_epoch = ? WHERE gate = ?", [now, gate])


class Quarantine:
    """Refused peer events, each as a bounded summary: the first HEAD_BYTES of the payload (as text), its
    length and the sha256 of the whole of it, with the gate, topic and reason. Pruned by retention
    (``prune``: older than a cutoff, and never more than MAX_ROWS)."""

    HEAD_BYTES = 512
    MAX_ROWS = 10000  # about 11 MB at most (a row is at most about 1.1 KB)
    KEEP_DAYS = 30  # or the events' retention, when shorter

    def __init__(self, store):
        self._store = store

    def add(self, gate: str | None, topic: str | None, reason: str, payload: bytes | str, now: float) -> None:
        import hashlib

        raw = payload.encode("utf-8", errors="replace") if isinstance(payload, str) else bytes(payload)
        head = raw[:self.HEAD_BYTES].decode("utf-8", errors="replace")
        self._store.execute("INSERT INTO quarantine(received_epoch, gate, topic, reason, payload, length, sha256) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)", [now, gate, (topic or "")[:200] or None, reason[:500],
                                                             head, len(raw), hashlib.sha256(raw).hexdigest()])

    def all(self, limit: int = 100) -> list[dict]:
        return self._store.rows("SELECT * FROM quarantine ORDER BY id DESC LIMIT ?", (limit,))

    def count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM quarantine")

    def prune(self, cutoff_epoch: float, max_rows: int | None = None) -> int:
        """Delete rows received before ``cutoff_epoch`` and all but the newest ``max_rows``; how many."""
        keep = self.MAX_ROWS if max_rows is None else max_rows
        old = self._store.execute("DELETE FROM quarantine WHERE received_epoch < ?", [cutoff_epoch]).rowcount
        over = self._store.execute("DELETE FROM quarantine WHERE id <= (SELECT id FROM quarantine ORDER BY id DESC "
                                   "LIMIT 1 OFFSET ?)", [keep]).rowcount
        return old + over
