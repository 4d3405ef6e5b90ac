"""Passage events, the gate's own and its peers': the ``events``, ``sequences`` and ``snapshots`` tables.

The gate's own events are numbered 1, 2, 3 … (``sequences``: ``event`` is the next number to use,
moved forward inside the transaction that stores each event, so a number is stored exactly when its
event is: no gaps, never reused; the counter is not derived from the events, which retention deletes).
``event_reserved`` is how far numbers are reserved ahead, durably, so that a gate whose storage fails
can still number events (kept in memory, ``edge.durable.seqs``) with numbers no restart will hand out again.
A peer's event is stored once under its ``event_id`` with the ``seq`` it came with; the same ``seq``
from the same gate with another ``event_id`` is a conflict and is not stored.
"""

from __future__ import annotations

import json

from edge.contract import dumps


class Events:
    def __init__(self, store):
        self._store = store

    # -- the gate's own --------------------------------------------------------------------
    def next_seq(self) -> int:
        """Reserve the next event number (call inside the transaction that stores the event)."""
        return self._store.next_number("event")

    def use_seq(self, seq: int) -> None:
        """``seq`` is stored (inside its event's transaction): the next number is beyond it."""
        self._store.execute("INSERT INTO sequences(name, next) VALUES ('event', ?) "
                            "ON CONFLICT(name) DO UPDATE SET next = max(next, excluded.next)", [seq + 1])

    def next_free_seq(self) -> int:
        """The next number no stored event has (1 before the first)."""
        row = self._store.row("SELECT next FROM sequences WHERE name = 'event'")
        return row["next"] if row else 1

    def reserved_seq(self) -> int:
        """Numbers up to this one are reserved (0: none)."""
        row = self._store.row("SELECT next FROM sequences WHERE name = 'event_reserved'")
        return row["next"] if row else 0

    def reserve_seqs(self, up_to: int) -> None:
        """Reserve numbers up to ``up_to`` (never less than already reserved)."""
        self._store.execute("INSERT INTO sequences(name, next) VALUES ('event_reserved', ?) "
                            "ON CONFLICT(name) DO UPDATE SET next = max(next, excluded.next)", [up_to])

    def clean_stop(self) -> int | None:
        """The next number as a clean stop left it (None: the last run did not stop cleanly)."""
        value = self._store.kv_get("event_seq_clean_stop")
        return int(value) if value is not None else None

    def set_clean_stop(self, next_seq: int | None) -> None:
        """Written by a clean stop with nothing kept in memory; removed at start (a crash leaves none)."""
        if next_seq is None:
            self._store.kv_delete("event_seq_clean_stop")
        else:
            self._store.kv_set("event_seq_clean_stop", str(next_seq))

    def skipped_seqs(self) -> list[list[int]]:
        """Ranges [first, last] of numbers this gate skipped (never used), newest last."""
        return json.loads(self._store.kv_get("event_seq_skipped") or "[]")

    def add_skipped(self, first: int, last: int, keep: int = 20) -> None:
        ranges = [r for r in self.skipped_seqs() if r != [first, last]] + [[first, last]]
        self._store.kv_set("event_seq_skipped", json.dumps(ranges[-keep:]))

    def sighting(self, event_id: str) -> dict | None:
        """Who an event let through, when (``person_id``, ``decision``, ``ts_epoch``, ``gate``), or None."""
        return self._store.row("SELECT person_id, decision, ts_epoch, gate FROM events WHERE event_id = ?",
                               (event_id,))

    def has(self, event_id: str) -> bool:
        return self._store.row("SELECT 1 FROM events WHERE event_id = ?", (event_id,)) is not None

    def last_seq(self) -> int:
        """The seq of this gate's newest event (0 before the first)."""
        row = self._store.row("SELECT next FROM sequences WHERE name = 'event'")
        return row["next"] - 1 if row else 0

    def announced_seq(self) -> int:
        """The seq a status may name as our newest: before the first event still held in the outbox for
        its barrier's result (peers would otherwise ask for an event that is about to leave)."""
        held = self._store.scalar("SELECT min(json_extract(payload, '$.seq')) FROM outbox "
                                  "WHERE held = 1 AND msg_id LIKE 'event:%'")
        return self.last_seq() if held is None else held - 1

    def add_local(self, payload: dict, ts_epoch: float) -> None:
        self._insert(payload, ts_epoch, "local")

    def set_payload(self, event_id: str, payload: dict) -> None:
        """The gate's own event, completed after it was stored (the barrier's result, added as a field)."""
        self._store.execute("UPDATE events SET payload = ? WHERE event_id = ? AND origin = 'local'",
                            [dumps(payload), event_id])

    def add_snapshot(self, event_id: str, ts_epoch: float, image: bytes) -> None:
        self._store.table("snapshots").insert({"event_id": event_id, "ts_epoch": ts_epoch, "image": image})

    # -- peers -----------------------------------------------------------------------------
    def add_peer(self, payload: dict, ts_epoch: float) -> str:
        """Store a peer's event: "new", "duplicate" (same event_id seen before) or "conflict"
        (its gate already sent another event under that seq: not stored)."""
        store = self._store
        with store.transaction():
            if store.row("SELECT 1 FROM events WHERE event_id = ?", (payload["event_id"],)):
                return "duplicate"
            seq = payload.get("seq")
            if seq is not None and store.row("SELECT 1 FROM events WHERE gate = ? AND seq = ?",
                                             (payload["gate"], seq)):
                return "conflict"
            self._insert(payload, ts_epoch, "peer")
            return "new"

    def _insert(self, payload: dict, ts_epoch: float, origin: str) -> None:
        subject = payload.get("subject") or {}
        reason = payload.get("reason")
        self._store.execute(
            "INSERT INTO events(event_id, seq, ts, ts_epoch, gate, lane, kind, credential, subject_type, person_id, "
            "plate, vehicle_class, decision, reason, fee_cents, session_id, origin, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [payload["event_id"], payload.get("seq"), payload["ts"], ts_epoch, payload["gate"], payload.get("lane"),
             payload["kind"], payload.get("credential"), subject.get("type"), subject.get("person_id"),
             subject.get("plate"), subject.get("class"), payload.get("decision"),
             None if reason is None else str(reason)[:500], payload.get("fee_cents"), payload.get("session_id"),
             origin, dumps(payload)],
        )

    # -- reading ---------------------------------------------------------------------------
    def payloads(self, *, origin: str | None = None, kind: str | None = None) -> list[dict]:
        """Stored events as their payloads, oldest first."""
        import json

        sql, params = "SELECT payload FROM events WHERE 1 = 1", []
        if origin:
            sql, params = sql + " AND origin = ?", [*params, origin]
        if kind:
            sql, params = sql + " AND kind = ?", [*params, kind]
        return [json.loads(r["payload"]) for r in self._store.rows(sql + " ORDER BY ts_epoch, rowid", params)]

    def ids(self, origin: str | None = None) -> set[str]:
        if origin is None:
            return {r["event_id"] for r in self._store.rows("SELECT event_id FROM events")}
        return {r["event_id"] for r in self._store.rows("SELECT event_id FROM events WHERE origin = ?", (origin,))}

    def seqs(self, gate: str) -> list[int]:
        """The seqs stored for ``gate``, ascending (the gate's own, or what arrived from a peer)."""
        return [r["seq"] for r in self._store.rows(
            "SELECT seq FROM events WHERE gate = ? AND seq IS NOT NULL ORDER BY seq", (gate,))]

    def by_seq(self, gate: str, from_seq: int, to_seq: int | None, limit: int) -> list[dict]:
        """``gate``'s stored events with seq in from_seq..to_seq (None: no upper bound), as payloads."""
        import json

        rows = self._store.rows(
            "SELECT payload FROM events WHERE gate = ? AND seq >= ? AND (? IS NULL OR seq <= ?) ORDER BY seq LIMIT ?",
            (gate, from_seq, to_seq, to_seq, limit))
        return [json.loads(r["payload"]) for r in rows]

    def get(self, event_id: str) -> dict | None:
        """One stored event's payload, or None."""
        row = self._store.row("SELECT payload FROM events WHERE event_id = ?", (event_id,))
        return json.loads(row["payload"]) if row else None

    def corrections(self, session_id: str) -> list[dict]:
        """The ``corrected`` session events stored for a parking session, as payloads (edge.rules.reconcile)."""
        rows = self._store.rows("SELECT payload FROM events WHERE session_id = ? AND kind = 'session' AND "
                                "json_extract(payload, '$.transition') = 'corrected'", (session_id,))
        return [json.loads(r["payload"]) for r in rows]

    def unmatched_holds(self, since_epoch: float, gate: str | None = None) -> list[dict]:
        """Exits held with no session since ``since_epoch`` (of ``gate``, or every gate), as payloads."""
        rows = self._store.rows(
            "SELECT payload FROM events WHERE ts_epoch >= ? AND kind = 'exit' AND decision = 'hold' AND "
            "session_id IS NULL AND (? IS NULL OR gate = ?) ORDER BY ts_epoch", (since_epoch, gate, gate))
        return [json.loads(r["payload"]) for r in rows]

    def exits_and_sessions_since(self, since_epoch: float, gates) -> list[dict]:
        """The exit and session events of ``gates`` since ``since_epoch`` (what ends a held exit's wait)."""
        gates = sorted(set(gates))
        if not gates:
            return []
        marks = ", ".join("?" * len(gates))
        rows = self._store.rows(
            f"SELECT payload FROM events WHERE ts_epoch >= ? AND kind IN ('exit', 'session') AND gate IN ({marks}) "
            "ORDER BY ts_epoch", (since_epoch, *gates))
        return [json.loads(r["payload"]) for r in rows]

    def snapshots(self) -> list[dict]:
        return self._store.rows("SELECT event_id, ts_epoch, length(image) AS size FROM snapshots ORDER BY ts_epoch")

    # -- retention -------------------------------------------------------------------------
    def delete_before(self, cutoff_epoch: float) -> int:
        """Delete events older than the cut-off, except those whose message the broker has not yet taken."""
        return self._store.execute(
            "DELETE FROM events WHERE ts_epoch < ? AND NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.msg_id = 'event:' || events.event_id AND o.sent_epoch IS NULL)", [cutoff_epoch]).rowcount

    def delete_snapshots_before(self, cutoff_epoch: float) -> int:
        return self._store.execute("DELETE FROM snapshots WHERE ts_epoch < ?", [cutoff_epoch]).rowcount

    def delete_oldest_snapshots(self, limit: int) -> int:
        """Make room: the oldest stranger snapshots first."""
        return self._store.execute("DELETE FROM snapshots WHERE rowid IN (SELECT rowid FROM snapshots "
                                   "ORDER BY ts_epoch LIMIT ?)", [limit]).rowcount

    def delete_oldest_sent(self, limit: int) -> int:
        """Make room: the oldest events the broker has taken (peers' events, and our own once sent), with
        their sent outbox rows; never an event whose message is still waiting."""
        store = self._store
        rows = store.rows(
            "SELECT event_id FROM events WHERE NOT EXISTS (SELECT 1 FROM outbox o "
            "WHERE o.msg_id = 'event:' || events.event_id AND o.sent_epoch IS NULL) "
            "ORDER BY ts_epoch, rowid LIMIT ?", (limit,))
        ids = [r["event_id"] for r in rows]
        if ids:
            marks = ", ".join("?" * len(ids))
            store.execute(f"DELETE FROM outbox WHERE sent_epoch IS NOT NULL AND msg_id IN ({marks})",
                          [f"event:{i}" for i in ids])
            store.execute(f"DELETE FROM events WHERE event_id IN ({marks})", ids)
        return len(ids)
