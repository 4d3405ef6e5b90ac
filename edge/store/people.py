"""People and their face data: the ``people``, ``face_templates`` and ``face_photos`` tables.

Erasing a person (``People.remove``) erases every template and stored photo and their contacts
(``store.contacts``), forgets when they were last seen, revokes their passes and clears their open
inactivity alerts, in one transaction: erasing someone erases them everywhere. Their passages in the
event log keep only the number the person had (never handed to anyone else): counts and reports stay
right, and the number names nobody any more. Face templates change the ``templates_rev`` counter, which
matchers compare to know when to reload (also across processes: the CLI enrols while the daemon runs).
A person's pause (away) is kept here too: its rule is ``edge.rules.away``'s.
"""

from __future__ import annotations

import re
import time
import unicodedata
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from edge.store.errors import RegistryError

# What a person's fields may hold: checked here, for the console's form, the CSV import and the CLI alike.
NAME_MAX, UNIT_MAX, PHONE_MAX = 50, 20, 20
# building-room (12-301) or building-entrance-room (3-2-402); a part may carry a letter (A3-1201).
UNIT_PATTERN = re.compile(r"^[A-Za-z]?\d+[A-Za-z]?(?:-[A-Za-z]?\d+[A-Za-z]?)+$")
PHONE_CHARS = set("0123456789+- ")


def _one_line(value: str, limit: int) -> bool:
    # control characters and invisible format ones (a right-to-left override turns a name around)
    return len(value) <= limit and not any(ord(c) < 32 or unicodedata.category(c) == "Cf" for c in value)


def person_problems(name: str | None, unit: str | None, phone: str | None) -> list[tuple]:
    """(field, why) for each of a person's fields that cannot be stored (why: a message marked for the
    console's catalog); empty name or unit aside (each caller says that in its own words). One owner: the
    form, the import and ``People.add`` agree."""
    from edge.schemas.phrases import tell  # each why marked for the console's catalog

    problems = []
    if name and not _one_line(name, NAME_MAX):
        problems.append(("name", tell("one line of at most {limit} characters", limit=NAME_MAX)))
    if unit and not (_one_line(unit, UNIT_MAX) and UNIT_PATTERN.match(unit)):
        problems.append(("unit", tell("{value!r} is not a unit; write building-room, e.g. 12-301", value=unit)))
    if phone and not (_one_line(phone, PHONE_MAX) and set(phone) <= PHONE_CHARS
                      and sum(c.isdigit() for c in phone) >= 3):
        problems.append(("phone", tell("{value!r} is not a phone number (digits, + and - only)", value=phone)))
    return problems


def now_iso(epoch: float | None = None) -> str:
    moment = datetime.now() if epoch is None else datetime.fromtimestamp(epoch)
    return moment.astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class TemplateSet:
    """Every template of one encoder, stacked: row i belongs to ``person_ids[i]``."""

    encoder: str
    person_ids: np.ndarray  # int64, shape (n,)
    matrix: np.ndarray  # float32, shape (n, dim)
    revision: int


def bump(store, counter: str) -> None:
    """Move a change counter (inside the caller's transaction, or its own)."""
    store.execute(
        "INSERT INTO kv(key, value) VALUES (?, '1') ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
        [counter],
    )


def counter(store, name: str) -> int:
    row = store.row("SELECT value FROM kv WHERE key = ?", (name,))
    return int(row["value"]) if row else 0


class People:
    def __init__(self, store):
        self._store = store

    def add(self, name: str, unit: str, phone: str | None = None, care_watch: bool = False,
            face_consent: bool = False) -> int:
        name, unit = (name or "").strip(), (unit or "").strip()
        if not name:
            raise RegistryError("a person needs a name (--name)")
        if not unit:
            raise RegistryError("a person needs a unit such as 12-301 (--unit)")
        phone = (phone or "").strip() or None
        for field, why in person_problems(name, unit, phone):
            raise RegistryError(f"{field}: {why}")
        now = now_iso(self._store.clock())  # the process's clock: the demo's simulated time at its office
        store = self._store
        with store.transaction():
            # From a counter, not max(id) + 1: a removed person's id is never handed to someone else.
            person_id = max(store.next_number("person"), (store.scalar("SELECT max(id) FROM people") or 0) + 1)
            store.table("people").insert({
                "id": person_id, "name": name, "unit": unit, "phone": (phone or "").strip() or None,
                "care_watch": int(bool(care_watch)), "face_consent_at": now if face_consent else None,
                "care_watch_consent_at": now if care_watch else None, "created_at": now, "updated_at": now,
            })
            store.registry_changed("person", person_id)
            return person_id

    def update(self, person_id: int, **fields) -> None:
        self.get(person_id)
        for field, why in person_problems(fields.get("name"), fields.get("unit"), fields.get("phone")):
            raise RegistryError(f"{field}: {why}")
        fields["updated_at"] = now_iso()
        with self._store.transaction():
            self._store.table("people").update(person_id, fields)
            self._store.registry_changed("person", person_id)

    def get(self, person_id: int) -> dict:
        """The person's row; RegistryError naming the id when there is none."""
        row = self.find_by_id(person_id)
        if row is None:
            from edge.schemas.phrases import tell

            raise RegistryError(tell("no person with id {person_id}; see `gate-edge person list`",
                                     person_id=person_id))
        return row

    def find_by_id(self, person_id) -> dict | None:
        return self._store.row("SELECT * FROM people WHERE id = ?", (person_id,))

    def find(self, unit: str, name: str | None = None) -> list[dict]:
        if name is None:
            return self._store.rows("SELECT * FROM people WHERE unit = ? ORDER BY id", (unit.strip(),))
        return self._store.rows("SELECT * FROM people WHERE unit = ? AND name = ? ORDER BY id",
                                (unit.strip(), name.strip()))

    def all(self) -> list[dict]:
        """Every person with the number of face templates and their plates (comma-separated)."""
        return self._store.rows(
            "SELECT p.*, (SELECT count(*) FROM face_templates t WHERE t.person_id = p.id) AS templates, "
            "(SELECT group_concat(plate) FROM vehicles v WHERE v.person_id = p.id) AS plates "
            "FROM people p ORDER BY p.id"
        )

    def put_replica(self, person_id: int, unit: str, care_watch: bool, registered_at: str,
                    away_until: str | None = None, away_since: str | None = None) -> None:
        """A gate in site mode: the office's person under the office's id (no name or phone here), with
        their pause when the office set one (``edge.rules.away``; its reason stays at the office)."""
        now = now_iso()
        self._store.execute(
            "INSERT INTO people(id, name, unit, care_watch, created_at, updated_at, away_until, away_since) "
            "VALUES (?, '', ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET unit = excluded.unit, care_watch = excluded.care_watch, "
            "created_at = excluded.created_at, updated_at = excluded.updated_at, "
            "away_until = excluded.away_until, away_since = excluded.away_since",
            [person_id, unit, int(bool(care_watch)), registered_at, now, away_until, away_since])

    # -- away (the rule is edge.rules.away's; the office's bookkeeping edge.office.away's) ----------
    def set_away(self, person_id: int, *, until: str | None, since: str | None, reason: str | None,
                 by: str | None) -> None:
        """The person's pause (all None: none); the signed record changes with it (every gate knows)."""
        store = self._store
        with store.transaction():
            store.execute("UPDATE people SET away_until = ?, away_since = ?, away_reason = ?, away_by = ?, "
                          "away_ended_at = NULL, updated_at = ? WHERE id = ?",
                          [until, since, reason, by, now_iso(store.clock()), person_id])
            store.registry_changed("person", person_id)

    def away_told_ended(self, person_id: int, at: str) -> None:
        """The office told that the pause ended (its date came, or an admin ended it): told once. The
        record does not change: gates keep counting the episode from the end of the pause."""
        self._store.execute("UPDATE people SET away_ended_at = ? WHERE id = ?", [at, person_id])

    def away(self) -> list[dict]:
        """Everyone with a pause the office has not told the end of (the caller compares the times)."""
        return self._store.rows("SELECT id, name, unit, away_until, away_since, away_reason, away_by FROM people "
                                "WHERE away_until IS NOT NULL AND away_ended_at IS NULL ORDER BY away_until, id")

    def count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM people")

    def next_id(self) -> int:
        """The id the next person will get (ids are never reused)."""
        row = self._store.row("SELECT next FROM sequences WHERE name = 'person'")
        return max(row["next"] if row else 1, (self._store.scalar("SELECT max(id) FROM people") or 0) + 1)

    def clear_all(self) -> None:
        """An adopted gate's first sync: its own registry (people, templates, photos) makes way for the
        office's. Sightings and alerts are moved by the caller, not deleted."""
        store = self._store
        store.execute("DELETE FROM face_templates")
        store.execute("DELETE FROM face_photos")
        store.execute("UPDATE vehicles SET person_id = NULL")
        store.execute("DELETE FROM people")
        bump(store, "templates_rev")

    def care_watch(self) -> list[dict]:
        """Care-watch residents with when they were registered, last seen (None: never) and their pause."""
        return self._store.rows(
            "SELECT p.id, p.unit, p.created_at, p.away_until, p.away_since, s.ts_epoch AS seen FROM people p "
            "LEFT JOIN last_seen s ON s.subject = 'person:' || p.id WHERE p.care_watch = 1"
        )

    def remove(self, person_id: int, now: float | None = None) -> dict:
        """Erase a person with every face template and stored photo; their vehicles lose the owner."""
        self.get(person_id)
        store = self._store
        with store.transaction():
            templates = store.scalar("SELECT count(*) FROM face_templates WHERE person_id = ?", [person_id])
            photos = store.scalar("SELECT count(*) FROM face_photos WHERE person_id = ?", [person_id])
            plates = [r["plate"] for r in store.rows("SELECT plate FROM vehicles WHERE person_id = ?", (person_id,))]
            store.execute("DELETE FROM face_templates WHERE person_id = ?", [person_id])
            store.execute("DELETE FROM face_photos WHERE person_id = ?", [person_id])
            contacts = store.contacts.erase(person_id)
            store.sightings.forget(f"person:{person_id}")
            now = time.time() if now is None else now
            store.passes.revoke_for_person(person_id, now)
            store.alerts.close_for_person(person_id, now)
            # The WAL still holds the pages as they were before (secure_delete zeroes the file's): once
            # this commits, fold it back and empty it, so nothing of them is left on disk.
            store.after_commit(store.checkpoint)
            store.execute("DELETE FROM people WHERE id = ?", [person_id])  # their vehicles lose the owner
            bump(store, "templates_rev")
            bump(store, "vehicles_rev")
            store.registry_changed("person", person_id)
            for plate in plates:
                store.registry_changed("vehicle", plate)
        return {"person_id": person_id, "templates_erased": templates, "photos_erased": photos,
                "contacts_erased": contacts}


class Templates:
    def __init__(self, store):
        self._store = store

    def revision(self) -> int:
        return counter(self._store, "templates_rev")

    def add(self, person_id: int, encoder: str, vectors, photos=()) -> list[int]:
        """Store templates (and, when configured, the enrolment photos) for one person."""
        self._store.people.get(person_id)
        now = now_iso()
        store = self._store
        with store.transaction():
            ids = []
            for vector in vectors:
                vector = np.asarray(vector, dtype=np.float32).ravel()
                ids.append(store.table("face_templates").insert({
                    "person_id": person_id, "vector": vector.tobytes(), "encoder": encoder,
                    "dim": int(vector.size), "created_at": now,
                }).last_pk)
            for image in photos:
                store.table("face_photos").insert({"person_id": person_id, "image": image, "created_at": now})
            store.execute("UPDATE people SET face_consent_at = coalesce(face_consent_at, ?) WHERE id = ?",
                          [now, person_id])
            bump(store, "templates_rev")
            store.registry_changed("person", person_id)
        return ids

    def template_set(self, encoder: str) -> TemplateSet:
        """All templates of ``encoder`` as one float32 matrix (for the vectorised matcher)."""
        store = self._store
        with store.transaction():
            revision = self.revision()
            rows = store.execute(
                "SELECT person_id, vector, dim FROM face_templates WHERE encoder = ? ORDER BY id", (encoder,)
            ).fetchall()
        if not rows:
            return TemplateSet(encoder, np.zeros(0, np.int64), np.zeros((0, 0), np.float32), revision)
        dim = rows[0][2]
        matrix = np.frombuffer(b"".join(r[1] for r in rows if r[2] == dim), dtype=np.float32).reshape(-1, dim)
        ids = np.fromiter((r[0] for r in rows if r[2] == dim), dtype=np.int64)
        return TemplateSet(encoder, ids, matrix.copy(), revision)

    def replace(self, person_id: int, templates: list[tuple[str, np.ndarray]]) -> None:
        """A gate in site mode: the person's templates become exactly these (encoder, vector) pairs."""
        store = self._store
        now = now_iso()
        with store.transaction():
            store.execute("DELETE FROM face_templates WHERE person_id = ?", [person_id])
            for encoder, vector in templates:
                vector = np.asarray(vector, dtype=np.float32).ravel()
                store.execute("INSERT INTO face_templates(person_id, vector, encoder, dim, created_at) "
                              "VALUES (?, ?, ?, ?, ?)", [person_id, vector.tobytes(), encoder, int(vector.size), now])
            bump(store, "templates_rev")

    def of_person(self, person_id: int) -> list[tuple[str, np.ndarray]]:
        """The person's templates as (encoder, float32 vector), oldest first (for the office's record)."""
        rows = self._store.rows("SELECT encoder, vector FROM face_templates WHERE person_id = ? ORDER BY id",
                                (person_id,))
        return [(row["encoder"], np.frombuffer(row["vector"], dtype=np.float32)) for row in rows]

    def counts_by_encoder(self, person_id: int) -> dict[str, int]:
        rows = self._store.rows(
            "SELECT encoder, count(*) AS n FROM face_templates WHERE person_id = ? GROUP BY encoder", (person_id,))
        return {row["encoder"]: row["n"] for row in rows}

    def count(self, person_id: int | None = None) -> int:
        if person_id is None:
            return self._store.scalar("SELECT count(*) FROM face_templates")
        return self._store.scalar("SELECT count(*) FROM face_templates WHERE person_id = ?", (person_id,))

    def enrolled_people(self, current_encoder: str) -> list[dict]:
        """Everyone with templates: id, name, unit, the encoders that made them, how many are ``current``."""
        return self._store.rows(
            "SELECT p.id, p.name, p.unit, group_concat(DISTINCT t.encoder) AS encoders, "
            "sum(t.encoder = ?) AS current FROM people p JOIN face_templates t ON t.person_id = p.id "
            "GROUP BY p.id ORDER BY p.id",
            (current_encoder,),
        )

    def photos(self, person_id: int) -> list[bytes]:
        """Stored enrolment photos (JPEG), kept only when recognition.face.keep_photos is set."""
        return [row["image"] for row in self._store.rows("SELECT image FROM face_photos WHERE person_id = ?",
                                                         (person_id,))]

    def photo_count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM face_photos")
