"""Parking sessions: the ``parking_sessions`` table (one row per stay in the lot).

A session is opened by an entry, closed by an exit (with the fee charged), superseded when the same
car enters again with no exit read (it can no longer be charged), and carries what has been paid.
Opening is idempotent on ``session_id`` (a peer's entry applied twice opens one session). A correction
(issue 31) gives it another plate and class; the entry's reading stays in its entry event, and every plate
a corrected session has carried is noted (``carried``) so the one-session-per-car rule finds it under each:
in the ``kv`` table under ``parking_plate:<plate>`` (a JSON list of session ids), since the session table
has no column for them (a migration may move them into one).
"""

from __future__ import annotations

import json

_CARRIED = "parking_plate:"


class Sessions:
    def __init__(self, store):
        self._store = store

    def get(self, session_id: str) -> dict | None:
        return self._store.row("SELECT * FROM parking_sessions WHERE session_id = ?", (session_id,))

    def open_for(self, plate: str) -> dict | None:
        """The plate's open session (the newest, should there be several)."""
        return self._store.row(
            "SELECT * FROM parking_sessions WHERE plate = ? AND state = 'open' ORDER BY entry_epoch DESC LIMIT 1",
            (plate,))

    def entries_for(self, plate: str) -> list[dict]:
        """Every session of the plate whose entry is known, open or closed, with the seq of the event that
        opened it (``entry_seq``): the plate's own, and those that carried it before or after a correction."""
        return self._store.rows(
            "SELECT s.*, e.seq AS entry_seq FROM parking_sessions s LEFT JOIN events e ON e.event_id = "
            "s.entry_event_id WHERE (s.plate = ? OR s.session_id IN (SELECT value FROM json_each(?))) "
            "AND s.entry_event_id IS NOT NULL", (plate, json.dumps(self.carried(plate))))

    def carried(self, plate: str) -> list[str]:
        """The corrected sessions that have carried ``plate`` (as read at entry, or corrected to it)."""
        value = self._store.kv_get(_CARRIED + plate)
        return json.loads(value) if value else []

    def note_carried(self, session_id: str, plates) -> None:
        """``session_id`` has carried each of ``plates`` (a list that only grows, whatever order corrections
        arrive in: the rule that reads it then gives every receiver the same sessions)."""
        for plate in plates:
            known = self.carried(plate)
            if session_id not in known:
                self._store.kv_set(_CARRIED + plate, json.dumps([*known, session_id]))

    def open_sessions(self) -> list[dict]:
        return self._store.rows("SELECT * FROM parking_sessions WHERE state = 'open' ORDER BY entry_epoch")

    def open_with_entries(self) -> list[dict]:
        """Open sessions with what their entry event said of the reading: ``entry_plate`` (the plate read at
        entry, which a correction may have changed since) and ``look_alike`` (a registered plate differing
        only in the province, named beside it)."""
        return self._store.rows(
            "SELECT s.*, json_extract(e.payload, '$.subject.plate') AS entry_plate, "
            "json_extract(e.payload, '$.look_alike') AS look_alike FROM parking_sessions s "
            "LEFT JOIN events e ON e.event_id = s.entry_event_id WHERE s.state = 'open' ORDER BY s.entry_epoch")

    def occupied(self) -> int:
        """Open sessions: the cars in the lot as far as this database knows."""
        return self._store.scalar("SELECT count(*) FROM parking_sessions WHERE state = 'open'")

    def open(self, session_id: str, plate: str, vehicle_class: str | None, entry_epoch: float, entry_gate: str,
             entry_event_id: str) -> bool:
        """Open a session (idempotent). When a later transition of it arrived first (a peer's events out of
        order), its row is there already: the entry fills in where and when, and keeps its state."""
        return self._store.execute(
            "INSERT INTO parking_sessions(session_id, plate, vehicle_class, state, entry_epoch, entry_gate, "
            "entry_event_id) VALUES (?, ?, ?, 'open', ?, ?, ?) ON CONFLICT(session_id) DO UPDATE SET "
            "plate = excluded.plate, vehicle_class = excluded.vehicle_class, entry_epoch = excluded.entry_epoch, "
            "entry_gate = excluded.entry_gate, entry_event_id = excluded.entry_event_id "
            "WHERE parking_sessions.entry_event_id IS NULL",
            [session_id, plate, vehicle_class, entry_epoch, entry_gate, entry_event_id]).rowcount == 1

    def _placeholder(self, session_id: str, plate: str | None, vehicle_class: str | None, state: str,
                     epoch: float) -> bool:
        """A transition of a session whose entry has not arrived yet: keep it, so the late entry cannot
        reopen a closed session or lose a payment."""
        if plate is None:
            return False
        return self._store.execute(
            "INSERT OR IGNORE INTO parking_sessions(session_id, plate, vehicle_class, state, entry_epoch) "
            "VALUES (?, ?, ?, ?, ?)", [session_id, plate, vehicle_class, state, epoch]).rowcount == 1

    def supersede(self, session_id: str, *, plate: str | None = None, vehicle_class: str | None = None,
                  epoch: float | None = None) -> bool:
        """Close a session that a new entry of the same car replaced (nothing is charged for it)."""
        if self.get(session_id) is None:
            self._placeholder(session_id, plate, vehicle_class, "closed", epoch or 0.0)
        return self._store.execute(
            "UPDATE parking_sessions SET state = 'closed', exit_gate = NULL, closed_reason = 'superseded', "
            "held_epoch = NULL WHERE session_id = ? AND (state = 'open' OR closed_reason IS NULL)",
            [session_id]).rowcount == 1

    def hold(self, session_id: str, gate: str, barrier: str | None, lane: str, epoch: float) -> None:
        """The car waits at this gate's exit until its fee is paid (kept here: a restart remembers)."""
        self._store.execute(
            "UPDATE parking_sessions SET held_gate = ?, held_barrier = ?, held_lane = ?, held_epoch = ? "
            "WHERE session_id = ? AND state = 'open'", [gate, barrier, lane, epoch, session_id])

    def close(self, session_id: str, exit_epoch: float, exit_gate: str, exit_event_id: str,
              fee_cents: int | None = None, *, plate: str | None = None, vehicle_class: str | None = None) -> bool:
        """Close an open session; ``fee_cents`` None means what was paid is what was charged."""
        if self.get(session_id) is None:
            self._placeholder(session_id, plate, vehicle_class, "open", exit_epoch)
        return self._store.execute(
            "UPDATE parking_sessions SET state = 'closed', exit_epoch = ?, exit_gate = ?, exit_event_id = ?, "
            "fee_cents = coalesce(?, paid_cents), closed_reason = 'exit', held_epoch = NULL "
            "WHERE session_id = ? AND state = 'open'",
            [exit_epoch, exit_gate, exit_event_id, fee_cents, session_id]).rowcount == 1

    def correct(self, session_id: str, plate: str, vehicle_class: str | None) -> bool:
        """The session's plate and class from now on (the correction that stands: edge.rules.parking)."""
        return self._store.execute(
            "UPDATE parking_sessions SET plate = ?, vehicle_class = ? WHERE session_id = ? AND "
            "(plate IS NOT ? OR vehicle_class IS NOT ?)",
            [plate, vehicle_class, session_id, plate, vehicle_class]).rowcount == 1

    def record_payment(self, session_id: str, paid_cents: int, epoch: float, *, plate: str | None = None,
                       vehicle_class: str | None = None) -> None:
        """Set the total paid so far (a payment only ever raises it: a late, smaller total changes nothing)."""
        if self.get(session_id) is None:
            self._placeholder(session_id, plate, vehicle_class, "open", epoch)
        self._store.execute(
            "UPDATE parking_sessions SET paid_cents = ?, paid_epoch = ? WHERE session_id = ? AND paid_cents <= ?",
            [paid_cents, epoch, session_id, paid_cents])

    def backdate_entry(self, session_id: str, seconds: float) -> None:
        """Make a stay ``seconds`` longer without waiting (the demo's visitor; tests of fees)."""
        self._store.execute("UPDATE parking_sessions SET entry_epoch = entry_epoch - ? WHERE session_id = ?",
                            [seconds, session_id])

    def shift_entries(self, gate: str, lo: float, hi: float, by: float) -> int:
        """Open sessions that entered at ``gate`` between ``lo`` and ``hi``: their entry moved by ``by``
        seconds (the gate's wall clock was wrong then: edge.gate.clockwatch), so the fee counts real time."""
        return self._store.execute("UPDATE parking_sessions SET entry_epoch = entry_epoch + ? WHERE state = 'open' "
                                   "AND entry_gate = ? AND entry_epoch BETWEEN ? AND ?", [by, gate, lo, hi]).rowcount

    def stale(self, entered_before: float) -> list[dict]:
        """Open sessions that entered before the cut-off and have not been reported yet."""
        return self._store.rows(
            "SELECT session_id, plate, entry_epoch FROM parking_sessions WHERE state = 'open' "
            "AND entry_epoch < ? AND stale_reported = 0", (entered_before,))

    def mark_stale_reported(self, session_id: str) -> None:
        self._store.execute("UPDATE parking_sessions SET stale_reported = 1 WHERE session_id = ?", [session_id])
