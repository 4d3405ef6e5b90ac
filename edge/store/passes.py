"""Issued QR passes: the ``passes`` table (what was issued, until when, and whether it was revoked).

A pass stands for a person (``person_id``), a vehicle (``plate``) or, for a resident's visitor on foot, a
unit (``subject_type`` visitor, ``unit``)."""

from __future__ import annotations


class Passes:
    def __init__(self, store):
        self._store = store

    def record(self, pass_id: str, subject_type: str, person_id: int | None, plate: str | None, issued_epoch: float,
               valid_until_epoch: float, unit: str | None = None) -> None:
        with self._store.transaction():
            self._store.table("passes").insert({
                "pass_id": pass_id, "subject_type": subject_type, "person_id": person_id, "plate": plate,
                "unit": unit, "issued_epoch": issued_epoch, "valid_until_epoch": valid_until_epoch,
                "revoked_epoch": None,
            })

    def get(self, pass_id: str) -> dict | None:
        return self._store.row("SELECT * FROM passes WHERE pass_id = ?", (pass_id,))

    def all(self) -> list[dict]:
        return self._store.rows("SELECT * FROM passes ORDER BY issued_epoch")

    def revoke(self, pass_id: str, now: float) -> bool:
        """True when the pass was active and is now revoked."""
        with self._store.transaction():
            cursor = self._store.execute(
                "UPDATE passes SET revoked_epoch = ? WHERE pass_id = ? AND revoked_epoch IS NULL", [now, pass_id])
            if cursor.rowcount == 1:
                self._store.registry_changed("pass", pass_id)
            return cursor.rowcount == 1

    def revoked(self, pass_id: str) -> bool:
        """Revoked here, or by the office (a gate in site mode knows passes only by their revocations)."""
        return self._store.row(
            "SELECT 1 FROM passes WHERE pass_id = ? AND revoked_epoch IS NOT NULL "
            "UNION SELECT 1 FROM registry_records WHERE key = 'pass/' || ? AND kind = 'pass'",
            (pass_id, pass_id)) is not None

    def revoke_for_person(self, person_id: int, now: float) -> list[str]:
        ids = [r["pass_id"] for r in self._store.rows(
            "SELECT pass_id FROM passes WHERE person_id = ? AND revoked_epoch IS NULL", (person_id,))]
        self._store.execute(
            "UPDATE passes SET revoked_epoch = ? WHERE person_id = ? AND revoked_epoch IS NULL", [now, person_id])
        for pass_id in ids:
            self._store.registry_changed("pass", pass_id)
        return ids
