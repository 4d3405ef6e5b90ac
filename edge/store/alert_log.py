"""Numbered alert messages: the ``alert_log`` table (DESIGN 6.1: alerts have a ``seq`` of their own).

At a gate, the log holds the alerts it published itself, by its own alert ``seq`` (a counter in ``kv``,
moved inside the transaction that raises or clears, so the stream has no holes): a ``req/replay`` with
``"stream": "alerts"`` is answered from here. At the office it holds what arrived from each gate, once
per (gate, seq); a ``cleared`` that waits for the sighting it names has ``applied`` 0 until the office
holds that event. Old rows go with the events' retention.
"""

from __future__ import annotations

import json

from edge.contract import dumps

SEQ_KEY = "alert_seq_used"


class AlertLog:
    def __init__(self, store):
        self._store = store

    # -- a gate's own stream ----------------------------------------------------------------
    def last_seq(self) -> int:
        return int(self._store.kv_get(SEQ_KEY) or 0)

    def take_seq(self) -> int:
        """Inside the caller's transaction: the next alert seq (given back if the transaction rolls back)."""
        seq = self.last_seq() + 1
        self._store.kv_set(SEQ_KEY, str(seq))
        return seq

    # -- both ------------------------------------------------------------------------------
    def add(self, gate: str, seq: int, payload: dict, topic: str, now: float, *, applied: bool = True) -> None:
        self._store.execute(
            "INSERT INTO alert_log(gate, seq, alert_id, state, topic, payload, event_id, logged_epoch, applied) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [gate, seq, str(payload.get("alert_id")), str(payload.get("state")), topic,
             dumps(payload), payload.get("event_id"), now, int(applied)])

    def get(self, gate: str, seq: int) -> dict | None:
        row = self._store.row("SELECT * FROM alert_log WHERE gate = ? AND seq = ?", (gate, seq))
        return None if row is None else {**row, "payload": json.loads(row["payload"])}

    def by_seq(self, gate: str, from_seq: int, to_seq: int | None, limit: int) -> list[dict]:
        """(topic, payload) rows of ``gate``'s alerts from_seq..to_seq, in order."""
        rows = self._store.rows(
            "SELECT topic, payload FROM alert_log WHERE gate = ? AND seq >= ? AND seq <= ? ORDER BY seq LIMIT ?",
            (gate, from_seq, to_seq if to_seq is not None else 2**62, limit))
        return [{"topic": r["topic"], "payload": json.loads(r["payload"])} for r in rows]

    def waiting(self, event_id: str | None = None) -> list[dict]:
        """The ``cleared`` messages not applied yet (all, or those naming ``event_id``), oldest first."""
        sql = "SELECT * FROM alert_log WHERE applied = 0"
        rows = self._store.rows(sql + (" AND event_id = ?" if event_id else "") + " ORDER BY logged_epoch",
                                (event_id,) if event_id else ())
        return [{**r, "payload": json.loads(r["payload"])} for r in rows]

    def waiting_for_alert(self, alert_id: str) -> list[dict]:
        rows = self._store.rows("SELECT * FROM alert_log WHERE applied = 0 AND alert_id = ?", (alert_id,))
        return [{**r, "payload": json.loads(r["payload"])} for r in rows]

    def mark_applied(self, gate: str, seq: int) -> None:
        self._store.execute("UPDATE alert_log SET applied = 1 WHERE gate = ? AND seq = ?", [gate, seq])

    def delete_before(self, cutoff_epoch: float) -> int:
        return self._store.execute("DELETE FROM alert_log WHERE logged_epoch < ?", [cutoff_epoch]).rowcount
