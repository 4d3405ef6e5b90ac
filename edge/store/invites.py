"""Residents' invitations, the ``invites`` table: who invited which car or visitor, for when, cancelled by whom.

At the office only (never published): a gate knows an invited car by its signed vehicle record and a visitor
by the pass they show. The rules (the window, the daily limit, a plate already registered) are
``edge.registry.invites``'s; this module only keeps the rows.
"""

from __future__ import annotations

COLUMNS = ("unit", "kind", "plate", "vehicle_class", "name", "pass_id", "valid_from_epoch", "valid_until_epoch",
           "by_person_id", "made_by", "created_epoch")


class Invites:
    def __init__(self, store):
        self._store = store

    def add(self, **row) -> int:
        """A new invitation (``COLUMNS``); its id. Inside the caller's transaction."""
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise TypeError(f"an invitation needs {', '.join(missing)}")
        cursor = self._store.execute(
            f"INSERT INTO invites({', '.join(COLUMNS)}) VALUES ({', '.join('?' for _ in COLUMNS)})",
            [row[c] for c in COLUMNS])
        return cursor.lastrowid

    def get(self, invite_id: int) -> dict | None:
        return self._store.row("SELECT * FROM invites WHERE id = ?", (invite_id,))

    def of_unit(self, unit: str, limit: int = 100) -> list[dict]:
        """The unit's invitations, newest first."""
        return self._store.rows("SELECT * FROM invites WHERE unit = ? ORDER BY created_epoch DESC, id DESC LIMIT ?",
                                (unit, limit))

    def recent(self, limit: int = 500) -> list[dict]:
        """Every unit's invitations, newest first (the console)."""
        return self._store.rows("SELECT * FROM invites ORDER BY created_epoch DESC, id DESC LIMIT ?", (limit,))

    def made_since(self, unit: str, since_epoch: float) -> int:
        """How many invitations the unit made from ``since_epoch`` on, cancelled ones included."""
        return self._store.scalar("SELECT count(*) FROM invites WHERE unit = ? AND created_epoch >= ?",
                                  (unit, since_epoch))

    def last_for_plate(self, plate: str) -> dict | None:
        """The newest invitation of ``plate``, if it was ever invited."""
        return self._store.row("SELECT * FROM invites WHERE plate = ? ORDER BY created_epoch DESC, id DESC LIMIT 1",
                               (plate,))

    def cancel(self, invite_id: int, by: str, now: float) -> bool:
        """True when the invitation was not cancelled yet and now is. Inside the caller's transaction."""
        cursor = self._store.execute(
            "UPDATE invites SET cancelled_epoch = ?, cancelled_by = ? WHERE id = ? AND cancelled_epoch IS NULL",
            [now, by, invite_id])
        return cursor.rowcount == 1
