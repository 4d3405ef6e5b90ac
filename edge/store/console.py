"""The committee console's rows (DESIGN 6.5): ``console_sessions``, ``alert_acks``, ``console_audit``, and
the reads its pages and JSON make of the office's archive (events, alerts with who they are about).

Users are not here: they live in ``console.users_file`` (``gate-edge console-user add``).
"""

from __future__ import annotations

import json

from edge.contract import dumps


class ConsoleRows:
    def __init__(self, store):
        self._store = store

    # -- sessions --------------------------------------------------------------------------
    def add_session(self, token_hash: str, username: str, role: str, csrf: str, now: float, ttl_s: float,
                    credential: str = "") -> None:
        """``credential``: the user's ``users.credential`` at login; the session lasts only while it holds."""
        with self._store.transaction():
            self._store.execute("DELETE FROM console_sessions WHERE expires_epoch < ?", [now])
            self._store.execute(
                "INSERT INTO console_sessions(token_hash, username, role, csrf, created_epoch, expires_epoch, "
                "credential) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [token_hash, username, role, csrf, now, now + ttl_s, credential])

    def session(self, token_hash: str, now: float) -> dict | None:
        return self._store.row("SELECT * FROM console_sessions WHERE token_hash = ? AND expires_epoch >= ?",
                               (token_hash, now))

    def end_session(self, token_hash: str) -> None:
        self._store.execute("DELETE FROM console_sessions WHERE token_hash = ?", [token_hash])

    def end_sessions_of(self, username: str) -> None:
        self._store.execute("DELETE FROM console_sessions WHERE username = ?", [username])

    # -- audit -----------------------------------------------------------------------------
    def audit(self, ts_epoch: float, username: str, role: str | None, action: str, target: str | None,
              detail: dict, outcome: str) -> None:
        self._store.execute(
            "INSERT INTO console_audit(ts_epoch, username, role, action, target, detail, outcome) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [ts_epoch, username, role, action, target, dumps(detail), outcome])

    def audit_rows(self, limit: int = 100) -> list[dict]:
        rows = self._store.rows("SELECT * FROM console_audit ORDER BY id DESC LIMIT ?", (limit,))
        return [{**r, "detail": json.loads(r["detail"])} for r in rows]

    def audit_count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM console_audit")

    def actors(self, action: str, targets) -> dict[str, str]:
        """Who first did ``action`` successfully (outcome ``ok``) to each of ``targets``: {target: username}.
        E.g. who issued a pass at the console; a target never acted on here (the CLI's passes) is absent."""
        wanted, found = sorted(set(targets)), {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._store.rows(f"SELECT target, username FROM console_audit WHERE action = ? AND "
                                        f"outcome = 'ok' AND target IN ({marks}) ORDER BY id", [action, *chunk]):
                found.setdefault(row["target"], row["username"])
        return found

    # -- alerts ----------------------------------------------------------------------------
    def ack_alert(self, alert_id: str, epoch: float, username: str, note: str) -> bool:
        """Acknowledge an alert (again: the newest note wins); False when there is no such alert."""
        if self._store.row("SELECT 1 FROM alerts WHERE alert_id = ?", (alert_id,)) is None:
            return False
        self._store.execute(
            "INSERT INTO alert_acks(alert_id, acked_epoch, username, note) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(alert_id) DO UPDATE SET acked_epoch = excluded.acked_epoch, "
            "username = excluded.username, note = excluded.note", [alert_id, epoch, username, note])
        return True

    def alerts(self, *, open_only: bool, limit: int = 500) -> list[dict]:
        """Alerts newest first with their acknowledgement and, for a care-watch episode, the person (name,
        unit, phone). Open: raised and not acknowledged."""
        sql = ("SELECT a.*, k.acked_epoch, k.username AS acked_by, k.note AS ack_note, "
               "p.id AS person_id, p.name AS person_name, p.unit AS person_unit, p.phone AS person_phone "
               "FROM alerts a LEFT JOIN alert_acks k ON k.alert_id = a.alert_id "
               "LEFT JOIN people p ON a.kind = 'inactivity' AND a.subject = 'person:' || p.id ")
        if open_only:
            sql += "WHERE a.state = 'raised' AND k.alert_id IS NULL "
        return self._store.rows(sql + "ORDER BY a.kind = 'inactivity' DESC, a.raised_epoch DESC LIMIT ?", (limit,))

    def alert(self, alert_id: str) -> dict | None:
        return self._store.row("SELECT a.*, k.acked_epoch, k.username AS acked_by, k.note AS ack_note FROM alerts a "
                               "LEFT JOIN alert_acks k ON k.alert_id = a.alert_id WHERE a.alert_id = ?", (alert_id,))

    # -- events ----------------------------------------------------------------------------
    def events(self, *, since_epoch: float | None = None, until_epoch: float | None = None, gate: str | None = None,
               kind: str | None = None, limit: int = 100) -> list[dict]:
        """Archived events newest first, as their payloads."""
        sql, params = "SELECT payload FROM events WHERE 1 = 1", []
        for clause, value in (("ts_epoch >= ?", since_epoch), ("ts_epoch < ?", until_epoch), ("gate = ?", gate),
                              ("kind = ?", kind)):
            if value is not None:
                sql, params = f"{sql} AND {clause}", [*params, value]
        rows = self._store.rows(sql + " ORDER BY ts_epoch DESC, rowid DESC LIMIT ?", [*params, limit])
        return [json.loads(r["payload"]) for r in rows]

    def last_passage(self, person_id: int) -> dict | None:
        """A person's last event in the archive: when and at which gate."""
        return self._store.row("SELECT gate, ts, ts_epoch FROM events WHERE person_id = ? "
                               "ORDER BY ts_epoch DESC LIMIT 1", (person_id,))

    def names(self, person_ids) -> dict[int, dict]:
        """Name, unit and phone of the given people (for the console's rows)."""
        ids = sorted({int(p) for p in person_ids if p is not None})
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        return {r["id"]: r for r in self._store.rows(f"SELECT id, name, unit, phone FROM people WHERE id IN ({marks})",
                                                     ids)}

    def event_gates(self) -> list[str]:
        return [r["gate"] for r in self._store.rows("SELECT DISTINCT gate FROM events ORDER BY gate")]
