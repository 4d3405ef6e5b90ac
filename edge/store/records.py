"""The site registry's signed records (DESIGN 6.4): the ``registry_records`` table.

At the office: the record last published for each person, vehicle, pass revocation, the site settings
and the head, with its (epoch, version). At a gate: the record last applied for each key, so a record
of a lower (epoch, version) never replaces a newer one and the gate can tell whether its copy matches
the head. Keys are ``person/<id>``, ``vehicle/<plate>``, ``pass/<pass_id>``, ``settings``, ``head``.

At a gate, ``registry_replaced`` keeps the copy of a registry the office replaced by another (DESIGN 6.4
``registry_id``), set aside by ``set_aside`` until an admin confirms (``drop_aside``).
"""

from __future__ import annotations

import hashlib
import json

from edge.contract import dumps

REGISTRY_KINDS = ("person", "vehicle", "pass")


def stored_record(path, key: str) -> dict | None:
    """A record of the database at ``path``, read-only without opening a Store (no migration, no write:
    ``check-config`` beside a running gate); None when the file or the record is not there."""
    import sqlite3

    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT payload FROM registry_records WHERE key = ?", (key,)).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None  # a new database, or unreadable: the service says so itself
    return json.loads(row[0]) if row else None


class RegistryRecords:
    def __init__(self, store):
        self._store = store

    def get(self, key: str) -> dict | None:
        """The stored record's payload (with ``kid`` and ``sig``), or None."""
        row = self._store.row("SELECT payload FROM registry_records WHERE key = ?", (key,))
        return json.loads(row["payload"]) if row else None

    def version_of(self, key: str) -> tuple[int, int] | None:
        row = self._store.row("SELECT epoch, version FROM registry_records WHERE key = ?", (key,))
        return (row["epoch"], row["version"]) if row else None

    def put(self, key: str, kind: str, record: dict, deleted: bool = False) -> None:
        self._store.execute(
            "INSERT INTO registry_records(key, kind, epoch, version, deleted, payload) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(key) DO UPDATE SET kind = excluded.kind, epoch = excluded.epoch, version = excluded.version, "
            "deleted = excluded.deleted, payload = excluded.payload",
            [key, kind, int(record["epoch"]), int(record["version"]), int(deleted), dumps(record)])

    def page(self, after: tuple[int, int] = (0, 0), limit: int = 500) -> list[tuple[str, str, dict]]:
        """(kind, key, record) of the people, vehicles and passes after (epoch, version), in that order."""
        rows = self._store.rows(
            "SELECT kind, key, payload FROM registry_records WHERE kind IN ('person', 'vehicle', 'pass') "
            "AND (epoch > ? OR (epoch = ? AND version > ?)) ORDER BY epoch, version LIMIT ?",
            (after[0], after[0], after[1], limit))
        return [(r["kind"], r["key"].partition("/")[2], json.loads(r["payload"])) for r in rows]

    def summary(self, epoch: int | None = None) -> dict:
        """What this copy holds: live people and vehicles, revoked passes, the highest version and a digest
        of every (key, epoch, version) — equal at the office's head and at a gate whose copy is complete."""
        rows = self._store.rows(
            "SELECT key, kind, epoch, version, deleted FROM registry_records "
            "WHERE kind IN ('person', 'vehicle', 'pass') ORDER BY key")
        digest = hashlib.sha256()
        counts = {"person": 0, "vehicle": 0, "pass": 0}
        version = (epoch or 0, 0)  # an empty registry of that epoch
        for row in rows:
            if epoch is not None and row["epoch"] != epoch:
                continue
            digest.update(f"{row['key']}\t{row['epoch']}\t{row['version']}\n".encode())
            version = max(version, (row["epoch"], row["version"]))
            if row["kind"] == "pass" or not row["deleted"]:
                counts[row["kind"]] += 1
        return {"people": counts["person"], "vehicles": counts["vehicle"], "passes_revoked": counts["pass"],
                "version": version[1], "epoch": version[0], "digest": digest.hexdigest()[:32]}

    def keys_older_than(self, epoch: int) -> list[str]:
        return [r["key"] for r in self._store.rows(
            "SELECT key FROM registry_records WHERE kind IN ('person', 'vehicle', 'pass') AND epoch < ?", (epoch,))]

    def delete(self, key: str) -> None:
        self._store.execute("DELETE FROM registry_records WHERE key = ?", [key])

    def vehicles_of_person(self, person_id: int) -> list[dict]:
        """Applied vehicle records that name this owner (re-applied when the owner's record arrives late)."""
        # Only cars still without an owner here can be waiting for one (indexed: vehicles_person).
        rows = self._store.rows(
            "SELECT r.payload FROM vehicles v JOIN registry_records r ON r.key = 'vehicle/' || v.plate "
            "WHERE v.person_id IS NULL AND r.deleted = 0 AND json_extract(r.payload, '$.person_id') = ?",
            (person_id,))
        return [json.loads(r["payload"]) for r in rows]

    def missing(self, kind: str) -> list:
        """Office: registry rows with no published record yet (a database from before the office, adoption)."""
        if kind == "person":
            return [r["id"] for r in self._store.rows(
                "SELECT id FROM people WHERE 'person/' || id NOT IN (SELECT key FROM registry_records) ORDER BY id")]
        if kind == "vehicle":
            return [r["plate"] for r in self._store.rows(
                "SELECT plate FROM vehicles WHERE 'vehicle/' || plate NOT IN (SELECT key FROM registry_records) "
                "ORDER BY plate")]
        return [r["pass_id"] for r in self._store.rows(
            "SELECT pass_id FROM passes WHERE revoked_epoch IS NOT NULL "
            "AND 'pass/' || pass_id NOT IN (SELECT key FROM registry_records) ORDER BY pass_id")]

    # -- a replaced registry's copy, kept aside at a gate ----------------------------------------------
    def set_aside(self, registry_id: str, now: float) -> int:
        """Move every record but the site settings into ``registry_replaced`` under ``registry_id``;
        returns how many people that copy held. Inside the caller's transaction."""
        store = self._store
        people = store.row("SELECT count(*) AS n FROM registry_records WHERE kind = 'person' AND deleted = 0")["n"]
        store.execute(
            "INSERT OR REPLACE INTO registry_replaced(registry_id, key, kind, epoch, version, deleted, payload, "
            "set_aside_epoch) SELECT ?, key, kind, epoch, version, deleted, payload, ? FROM registry_records "
            "WHERE kind != 'settings'", [registry_id, now])
        store.execute("DELETE FROM registry_records WHERE kind != 'settings'")
        return people

    def aside(self) -> dict[str, int]:
        """{registry_id: live people} of each copy kept aside ({} when none)."""
        return {r["registry_id"]: r["n"] for r in self._store.rows(
            "SELECT registry_id, sum(kind = 'person' AND deleted = 0) AS n FROM registry_replaced "
            "GROUP BY registry_id ORDER BY registry_id")}

    def drop_aside(self) -> dict[str, int]:
        """The admin confirmed the replacement: the copies kept aside are deleted; returns what they held."""
        held = self.aside()
        self._store.execute("DELETE FROM registry_replaced")
        return held
