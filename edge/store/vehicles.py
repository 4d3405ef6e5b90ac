"""Registered vehicles: the ``vehicles`` table (plates already canonical), with its change counter.

A vehicle is valid from the start of ``valid_from`` to the end of ``valid_until`` (whole days, site time);
an invited car (``edge.registry.invites``) also has ``valid_from_at``/``valid_until_at``, ISO-8601 instants
that narrow those days to its window (``edge.rules.permits`` applies both)."""

from __future__ import annotations

import json

from edge.store.errors import RegistryError
from edge.store.people import bump, counter, now_iso

VEHICLE_CLASSES = ("resident", "family", "visitor", "blocked")


class Vehicles:
    def __init__(self, store):
        self._store = store

    def revision(self) -> int:
        return counter(self._store, "vehicles_rev")

    def upsert(self, plate: str, vehicle_class: str, person_id: int | None = None, valid_from: str | None = None,
               valid_until: str | None = None, documents: list[str] | None = None,
               keep: tuple[str, ...] = ("valid_from", "documents"), valid_from_at: str | None = None,
               valid_until_at: str | None = None) -> bool:
        """Register or update a vehicle (``plate`` already canonical); True when it was new. Of an existing
        vehicle, the fields named in ``keep`` that are given as None keep their registered value; every
        other field is set as given (None clears it: a car registered again without a window loses its
        invitation's window)."""
        if vehicle_class not in VEHICLE_CLASSES:
            raise RegistryError(f"unknown vehicle class {vehicle_class!r}; use one of {', '.join(VEHICLE_CLASSES)}")
        store = self._store
        if person_id is not None:
            store.people.get(person_id)
        now = now_iso()
        with store.transaction():
            bump(store, "vehicles_rev")
            existing = self.get(plate)
            record = {
                "plate": plate, "class": vehicle_class, "person_id": person_id, "valid_from": valid_from,
                "valid_until": valid_until, "valid_from_at": valid_from_at, "valid_until_at": valid_until_at,
                "documents": json.dumps(documents, ensure_ascii=False) if documents else None, "updated_at": now,
            }
            if existing:
                # Fields not given keep their registered value (a CSV re-import has no documents column).
                for key in keep:
                    if record[key] is None:
                        record[key] = existing[key]
                store.table("vehicles").update(plate, record)
            else:
                store.table("vehicles").insert({**record, "created_at": now})
            store.registry_changed("vehicle", plate)
        return existing is None

    def get(self, plate: str) -> dict | None:
        return self._store.row("SELECT * FROM vehicles WHERE plate = ?", (plate,))

    def all(self) -> list[dict]:
        return self._store.rows("SELECT * FROM vehicles ORDER BY plate")

    def count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM vehicles")

    def of_person(self, person_id: int) -> list[dict]:
        return self._store.rows("SELECT plate, class, valid_from, valid_until, valid_from_at, valid_until_at "
                                "FROM vehicles WHERE person_id = ? ORDER BY plate", (person_id,))

    def of_unit(self, unit: str) -> list[dict]:
        """The vehicles of the people of ``unit`` (the residents' portal's household)."""
        return self._store.rows("SELECT v.* FROM vehicles v JOIN people p ON p.id = v.person_id WHERE p.unit = ? "
                                "ORDER BY v.plate", (unit,))

    def invited(self) -> list[dict]:
        """The vehicles registered by an invitation (a window), whichever unit's."""
        return self._store.rows("SELECT * FROM vehicles WHERE valid_until_at IS NOT NULL ORDER BY plate")

    def remove(self, plate: str) -> None:
        if self.get(plate) is None:
            raise RegistryError(f"no vehicle with plate {plate}; see `gate-edge query --plate`")
        with self._store.transaction():
            bump(self._store, "vehicles_rev")
            self._store.execute("DELETE FROM vehicles WHERE plate = ?", [plate])
            self._store.registry_changed("vehicle", plate)

    def clear_all(self) -> None:
        """An adopted gate's first sync: its own vehicles make way for the office's."""
        bump(self._store, "vehicles_rev")
        self._store.execute("DELETE FROM vehicles")

    def remove_replica(self, plate: str) -> None:
        """A gate in site mode: the office removed the vehicle (a tombstone); absent is fine."""
        bump(self._store, "vehicles_rev")
        self._store.execute("DELETE FROM vehicles WHERE plate = ?", [plate])
