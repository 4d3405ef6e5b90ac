"""A person's contacts, the ``person_contacts`` table: who is told about a care-watch resident (DESIGN 7).

At the office only: never in a registry record, never at a gate (a change here changes no record).
``for_person`` gives the contacts who consented (``consent_at`` set): the only ones a notification reaches;
``all_of`` gives every contact, for the console. ``replace`` makes a person's list exactly the given one,
checked first by ``contact_problems`` (one owner of what a contact may be: the API and the console agree).
Erasing the person (``People.remove``) erases their contacts.
"""

from __future__ import annotations

from datetime import date

from edge.store.errors import RegistryError
from edge.store.people import now_iso, person_problems

RELATIONS = ("family", "neighbour", "building_leader", "grid_worker")
MAX_CONTACTS = 10  # per person: a family and its neighbours, not a mailing list
FIELDS = ("name", "phone", "relation", "consent_at")


def contact_problems(contacts, today: date) -> list[tuple[int | None, str, object]]:
    """(index, field, why) for each problem of a list of contacts: ``index`` the contact's place in the list
    (None: the list itself), ``field`` its key, ``why`` marked for the console's catalog."""
    from edge.schemas.phrases import tell
    from edge.timeutil import InvalidDay, parse_day

    if not isinstance(contacts, list):
        return [(None, "contacts", tell("a list of contacts (name, phone, relation, consent_at)"))]
    if len(contacts) > MAX_CONTACTS:
        return [(None, "contacts", tell("at most {count} contacts per person", count=MAX_CONTACTS))]
    problems: list[tuple[int | None, str, object]] = []
    phones = set()
    for index, contact in enumerate(contacts):
        if not isinstance(contact, dict):
            problems.append((index, "contacts", tell("a contact has a name, phone, relation and consent_at")))
            continue
        for key in sorted(set(contact) - set(FIELDS)):
            problems.append((index, key, tell("not a field of a contact (name, phone, relation, consent_at)")))
        name, phone = contact.get("name"), contact.get("phone")
        for key, value in (("name", name), ("phone", phone)):
            if not isinstance(value, str) or not value.strip():
                problems.append((index, key, tell("required")))
        name = name.strip() if isinstance(name, str) else None
        phone = phone.strip() if isinstance(phone, str) else None
        for key, why in person_problems(name or None, None, phone or None):
            problems.append((index, key, why))
        if phone and phone in phones:
            problems.append((index, "phone", tell("{value!r} is given twice", value=phone)))
        phones.add(phone)
        if contact.get("relation") not in RELATIONS:
            problems.append((index, "relation", tell("one of family, neighbour, building_leader, grid_worker")))
        consent = contact.get("consent_at")
        if consent in (None, ""):
            continue
        try:
            day = parse_day(consent) if isinstance(consent, str) else None
        except InvalidDay as exc:
            problems.append((index, "consent_at", exc.said))
            continue
        if day is None:
            problems.append((index, "consent_at", tell("a date, YYYY-MM-DD")))
        elif day > today:
            problems.append((index, "consent_at", tell("{day} is after today", day=day.isoformat())))
    return problems


def where(index: int | None, field: str) -> str:
    """A problem's place as the API names it: ``contacts[1].phone`` (``contacts``: the list itself)."""
    return field if index is None else f"contacts[{index}].{field}"


def _clean(contact: dict) -> dict:
    consent = contact.get("consent_at")
    return {"name": contact["name"].strip(), "phone": contact["phone"].strip(), "relation": contact["relation"],
            "consent_at": date.fromisoformat(consent.strip()).isoformat() if consent else None}


class Contacts:
    def __init__(self, store):
        self._store = store

    def for_person(self, person_id: int) -> list[dict]:
        """The contacts who consented to be told: [{name, phone, relation, consent_at}], in the console's order."""
        return self._store.rows(
            "SELECT name, phone, relation, consent_at FROM person_contacts WHERE person_id = ? AND consent_at IS "
            "NOT NULL ORDER BY position", (person_id,))

    def all_of(self, person_id: int) -> list[dict]:
        """Every contact of the person, consenting or not (the console's list)."""
        return self._store.rows("SELECT name, phone, relation, consent_at FROM person_contacts WHERE person_id = ? "
                                "ORDER BY position", (person_id,))

    def replace(self, person_id: int, contacts: list[dict], today: date) -> list[dict]:
        """The person's contacts become exactly ``contacts``; RegistryError naming the first problem's field.
        Returns them as stored."""
        self._store.people.get(person_id)
        problems = contact_problems(contacts, today)
        if problems:
            index, field, why = problems[0]
            raise RegistryError(f"{where(index, field)}: {why}")
        rows = [_clean(c) for c in contacts]
        now = now_iso(self._store.clock())
        with self._store.transaction():
            self._store.execute("DELETE FROM person_contacts WHERE person_id = ?", [person_id])
            for position, row in enumerate(rows):
                self._store.execute(
                    "INSERT INTO person_contacts(person_id, position, name, phone, relation, consent_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [person_id, position, row["name"], row["phone"], row["relation"], row["consent_at"], now])
        return rows

    def erase(self, person_id: int) -> int:
        """Inside the erasing transaction (``People.remove``): the person's contacts, how many."""
        return self._store.execute("DELETE FROM person_contacts WHERE person_id = ?", [person_id]).rowcount

    def count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM person_contacts")
