"""An adopted gate (``edge.office.adopt``): its own registry, until the office's copy is complete here.

A gate that has people of its own and no record from the office yet is *staging*: it keeps serving from
its own registry and only keeps the office's records (checked against their topics, not applied). At the
first full sync (``finish``, one transaction) what it kept under its old ids (sightings, alerts) moves to
the office's ids (the records' ``adopted_from``), and its own registry, with names, phones and photos,
makes way for the replica.
"""

from __future__ import annotations

import logging

_LOG = logging.getLogger(__name__)
FIRST_SYNC_KEY = "registry_first_synced"
STAGING_KEY = "registry_adoption_staging"


class Adoption:
    def __init__(self, config, store, lock, summary):
        """``lock``: the replica's; ``summary``: told when the copy changes."""
        self.config = config
        self.store = store
        self.lock = lock
        self.summary = summary
        if store.kv_get(FIRST_SYNC_KEY) is None and store.people.count() and store.records.page((0, 0), 1) == []:
            store.kv_set(STAGING_KEY, "1")
        self.staging = store.kv_get(STAGING_KEY) == "1"

    @staticmethod
    def check_record(kind: str, key: str, record: dict) -> bool:
        """Staging: the record is kept, applied at the end; True when it deletes (or revokes) its key."""
        field = {"person": "person_id", "vehicle": "plate", "pass": "pass_id"}[kind]
        if str(record.get(field)) != key:
            raise ValueError(f"{field} {record.get(field)!r} on the topic of {key}")
        return bool(record.get("deleted") or record.get("revoked"))

    def finish(self, apply_record) -> None:
        """The first full sync, in one transaction; ``apply_record(kind, key, record)``: the replica's."""
        store = self.store
        staged = store.records.page((0, 0), 10**9)
        ids = {}
        for kind, _, record in staged:
            origin = record.get("adopted_from") if kind == "person" else None
            if isinstance(origin, dict) and origin.get("gate") == self.config.gate:
                ids[int(origin["person_id"])] = int(record["person_id"])
        with self.lock, store.transaction():
            store.sightings.renumber_people(ids)
            store.alerts.renumber_people(ids)
            store.people.clear_all()
            store.vehicles.clear_all()
            for kind, key, record in sorted(staged, key=lambda r: r[0] != "person"):  # owners before cars
                apply_record(kind, key, record)
            store.kv_set(STAGING_KEY, "0")
            self.staging = False
            self.summary.changed()
        _LOG.warning("registry: adopted by the office: %d people renumbered, the local registry replaced", len(ids))
