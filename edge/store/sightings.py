"""When each person and plate was last seen, and where: the ``last_seen`` table.

Subjects are ``person:<id>`` and ``plate:<plate>``. An older sighting (a late peer event, a replay)
never overwrites a newer one.
"""

from __future__ import annotations


def renumber(store, table: str, ids: dict[int, int]) -> None:
    """``subject = 'person:<old>'`` becomes ``'person:<new>'`` in ``table`` (last_seen or alerts)."""
    store.execute(f"UPDATE {table} SET subject = 'renumbering:' || substr(subject, 8) "
                  "WHERE subject LIKE 'person:%'")
    for old, new in ids.items():
        store.execute(f"UPDATE {table} SET subject = ? WHERE subject = ?", [f"person:{new}", f"renumbering:{old}"])
    store.execute(f"DELETE FROM {table} WHERE subject LIKE 'renumbering:%'")


class Sightings:
    def __init__(self, store):
        self._store = store

    def shift(self, gate: str, lo: float, hi: float, by: float) -> int:
        """Move the sightings ``gate`` stamped between ``lo`` and ``hi`` by ``by`` seconds (its wall clock
        was wrong then and has been set right: edge.gate.clockwatch). Peers' sightings keep their times."""
        return self._store.execute("UPDATE last_seen SET ts_epoch = ts_epoch + ? WHERE gate = ? AND ts_epoch "
                                   "BETWEEN ? AND ?", [by, gate, lo, hi]).rowcount

    def get(self, subject: str) -> dict | None:
        return self._store.row("SELECT * FROM last_seen WHERE subject = ?", (subject,))

    def note(self, subject: str, ts_epoch: float, gate: str, event_id: str) -> None:
        self._store.execute(
            "INSERT INTO last_seen(subject, ts_epoch, gate, event_id) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(subject) DO UPDATE SET ts_epoch = excluded.ts_epoch, gate = excluded.gate, "
            "event_id = excluded.event_id WHERE excluded.ts_epoch > last_seen.ts_epoch",
            [subject, ts_epoch, gate, event_id],
        )

    def renumber_people(self, ids: dict[int, int]) -> None:
        """Move ``person:<old>`` sightings to ``person:<new>`` (an adopted gate taking the office's ids);
        a person not in ``ids`` is forgotten. Two steps, so an old id that is someone's new id is safe."""
        renumber(self._store, "last_seen", ids)

    def forget(self, subject: str) -> None:
        self._store.execute("DELETE FROM last_seen WHERE subject = ?", [subject])
