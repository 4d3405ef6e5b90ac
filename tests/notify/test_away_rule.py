"""Away and contacts without a site (DESIGN 7): the away rule (edge.rules.away), a gate's inactivity check
with a resident away on an injected clock, and the contacts table (what it refuses, what erasing leaves).
The same behaviour across a real office, broker and two gates: test_contacts_away.py."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

ZONE = ZoneInfo("Asia/Shanghai")
TODAY = date(2026, 5, 10)
DAY = 86400.0
HOUR = 3600.0


# -- the rule ------------------------------------------------------------------------------------
@pytest.mark.parametrize("until,why", [
    ("2026-05-10", "is not after today"),
    ("2026-05-09", "is not after today"),
    ("2026-07-10", "more than 60 days ahead (at most 2026-07-09)"),
    ("2026-13-01", "is not a date"),
    ("next sunday", "is not a date"),
    ("", "required"),
    (None, "required"),
    (20260520, "required"),
])
def test_a_pause_is_after_today_and_at_most_60_days_ahead(until, why):
    from edge.rules.away import AwayRefused, until_of

    with pytest.raises(AwayRefused) as refused:
        until_of(until, TODAY)
    assert refused.value.field == "until" and why in str(refused.value) and str(refused.value).startswith("until")


def test_the_last_allowed_day_and_the_instant_the_pause_ends():
    from edge.rules.away import end_of, last_day, until_of

    assert until_of("2026-07-09", TODAY) == date(2026, 7, 9)  # today + 60 days
    assert until_of(" 2026-05-11 ", TODAY) == date(2026, 5, 11)
    # Paused all of its last day, as a permit valid until a day: it ends when the next day begins.
    assert end_of(date(2026, 5, 17), ZONE) == "2026-05-18T00:00:00.000+08:00"
    assert last_day("2026-05-18T00:00:00.000+08:00", ZONE) == "2026-05-17"


@pytest.mark.parametrize("reason,why", [(None, "required"), ("  ", "required"), ("x" * 101, "at most 100"),
                                        ("两行\n原因", "one line")])
def test_a_reason_is_one_line(reason, why):
    from edge.rules.away import AwayRefused, reason_of

    with pytest.raises(AwayRefused) as refused:
        reason_of(reason)
    assert refused.value.field == "reason" and why in str(refused.value)
    assert reason_of(" 去女儿家住 ") == "去女儿家住"


def test_the_episode_waits_for_the_end_of_the_pause_unless_they_were_seen_after_it_was_set():
    from edge.rules.away import Pause, episode_start

    pause = Pause(until=1000.0 * HOUR, since=100.0 * HOUR)
    last_seen = 90.0 * HOUR
    assert episode_start(last_seen, None, last_seen, 500 * HOUR) == last_seen  # nobody away: the last sighting
    assert episode_start(last_seen, pause, last_seen, 999 * HOUR) is None  # paused
    assert episode_start(last_seen, pause, last_seen, 1000 * HOUR) == 1000 * HOUR  # counts from its end
    seen_after = 150.0 * HOUR
    assert episode_start(seen_after, pause, seen_after, 500 * HOUR) == seen_after  # a sighting ended it
    assert episode_start(100 * HOUR, pause, 100 * HOUR, 500 * HOUR) == 100 * HOUR  # seen as it was set
    with pytest.raises(ValueError):
        Pause.of("2026-05-18T00:00:00+08:00", None)
    with pytest.raises(ValueError):
        Pause.of("next week", "2026-05-10T09:00:00+08:00")
    assert Pause.of(None, None) is None


# -- a gate's inactivity check ------------------------------------------------------------------
def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_a_gate_raises_no_alert_for_a_resident_away_until_the_date_then_counts_from_it(config, store):
    from edge.alerts import Alerts
    from edge.contract import inactivity_alert_id
    from edge.rules.away import end_of

    now = {"t": _at("2026-05-10T09:00:00+08:00")}
    alerts = Alerts(config, store, clock=lambda: now["t"])
    assert config.inactivity.threshold_hours == 48
    registered = "2026-04-01T10:00:00+08:00"
    until = end_of(date(2026, 5, 17), ZONE)  # paused all of 17 May: until 18 May 00:00
    since = "2026-05-10T09:00:00.000+08:00"
    store.people.put_replica(1, "3-402", True, registered, until, since)  # away, last seen 8 May
    store.people.put_replica(2, "5-101", True, registered)  # not away, last seen 8 May: the control
    store.people.put_replica(3, "6-201", True, registered, until, since)  # away, then seen at a gate
    for person in (1, 2, 3):
        store.sightings.note(f"person:{person}", _at("2026-05-08T18:00:00+08:00"), "east", f"e-{person}")
    store.sightings.note("person:3", _at("2026-05-11T08:00:00+08:00"), "west", "e-3-back")  # after it was set

    def raised_at(text: str) -> dict:
        now["t"] = _at(text)
        return {a["person_id"]: a for a in alerts.check_inactivity()}

    first = raised_at("2026-05-11T07:00:00+08:00")  # 61 h after the last sighting
    assert list(first) == [2]  # the control; person 1 is away
    assert raised_at("2026-05-13T07:59:59+08:00") == {}  # 1 away; 3 seen on the 11th at 08:00: not 48 h yet
    late = raised_at("2026-05-13T08:00:01+08:00")
    assert list(late) == [3]  # seen after the pause was set: the pause no longer counts for them
    assert late[3]["last_seen"] == "2026-05-11T08:00:00.000+08:00"
    assert raised_at("2026-05-17T23:59:59+08:00") == {}  # 1: still the last day away
    assert raised_at("2026-05-19T23:59:59+08:00") == {}  # 1: 47:59:59 after the pause's end
    ended = raised_at("2026-05-20T00:00:01+08:00")  # 48 h after the end of the pause
    assert list(ended) == [1]
    assert ended[1]["alert_id"] == inactivity_alert_id(config.site, 1, _at("2026-05-18T00:00:00+08:00"))
    assert ended[1]["last_seen"] == "2026-05-18T00:00:00.000+08:00" and ended[1]["hours"] == 48.0
    assert raised_at("2026-05-21T00:00:00+08:00") == {}  # the same episode: once


def test_a_gate_never_raises_for_a_resident_away_who_was_never_seen(config, store):
    from edge.alerts import Alerts
    from edge.rules.away import end_of

    store.people.put_replica(7, "8-808", True, "2026-05-01T10:00:00+08:00", end_of(date(2026, 6, 30), ZONE),
                             "2026-05-01T10:05:00.000+08:00")
    alerts = Alerts(config, store)
    assert alerts.check_inactivity(_at("2026-06-30T23:00:00+08:00")) == []  # two months unseen, away
    assert alerts.check_inactivity(_at("2026-07-02T23:59:00+08:00")) == []
    [alert] = alerts.check_inactivity(_at("2026-07-03T00:00:00+08:00"))
    assert alert["person_id"] == 7 and alert["last_seen"] == "2026-07-01T00:00:00.000+08:00"


# -- contacts --------------------------------------------------------------------------------------
CONTACTS = [{"name": "李女儿", "phone": "13800000001", "relation": "family", "consent_at": "2026-05-01"},
            {"name": "王邻居", "phone": "138-0000-0002", "relation": "neighbour", "consent_at": None},
            {"name": "张楼长", "phone": "+86 13800000003", "relation": "building_leader", "consent_at": "2026-05-10"}]


def test_contacts_are_replaced_whole_and_only_those_who_consented_are_told(store):
    person = store.people.add("李桂兰", "3-402", care_watch=True)
    assert store.contacts.replace(person, CONTACTS, TODAY) == CONTACTS
    assert store.contacts.all_of(person) == CONTACTS
    assert store.contacts.for_person(person) == [CONTACTS[0], CONTACTS[2]]
    store.contacts.replace(person, [CONTACTS[1]], TODAY)
    assert store.contacts.all_of(person) == [CONTACTS[1]] and store.contacts.for_person(person) == []
    store.contacts.replace(person, [], TODAY)
    assert store.contacts.all_of(person) == []


@pytest.mark.parametrize("contacts,where,why", [
    ({"name": "x"}, "contacts", "a list of contacts"),
    ([CONTACTS[0]] * 11, "contacts", "at most 10 contacts"),
    ([{**CONTACTS[0], "phone": "call me"}], "contacts[0].phone", "is not a phone number"),
    ([{**CONTACTS[0], "phone": ""}], "contacts[0].phone", "required"),
    ([{**CONTACTS[0], "name": None}], "contacts[0].name", "required"),
    ([CONTACTS[1], {**CONTACTS[0], "name": "a\u202eb"}], "contacts[1].name", "one line"),
    ([CONTACTS[0], {**CONTACTS[2], "phone": "13800000001"}], "contacts[1].phone", "given twice"),
    ([{**CONTACTS[0], "relation": "boss"}], "contacts[0].relation", "one of family, neighbour"),
    ([{**CONTACTS[0], "consent_at": "yesterday"}], "contacts[0].consent_at", "is not a date"),
    ([{**CONTACTS[0], "consent_at": "2026-05-11"}], "contacts[0].consent_at", "after today"),
    ([{**CONTACTS[0], "email": "a@b.c"}], "contacts[0].email", "not a field of a contact"),
    (["13800000001"], "contacts[0].contacts", "a contact has a name"),
])
def test_a_bad_contact_is_refused_naming_its_place_and_nothing_changes(store, contacts, where, why):
    from edge.store import RegistryError

    person = store.people.add("李桂兰", "3-402", care_watch=True)
    store.contacts.replace(person, CONTACTS[:1], TODAY)
    with pytest.raises(RegistryError) as refused:
        store.contacts.replace(person, contacts, TODAY)
    assert str(refused.value).startswith(f"{where}: ") and why in str(refused.value)
    assert store.contacts.all_of(person) == CONTACTS[:1]


def test_contacts_change_no_registry_record_and_erasing_the_person_erases_them_from_the_file(tmp_path):
    from edge.store import Store

    path = tmp_path / "office.db"
    with Store(path) as store:
        changes = []
        store.on_registry_change = lambda kind, key: changes.append((kind, key))
        person = store.people.add("李桂兰", "3-402", care_watch=True)
        assert changes == [("person", person)]
        store.contacts.replace(person, CONTACTS, TODAY)
        assert changes == [("person", person)]  # contacts stay at the office: no record changes
        erased = store.people.remove(person)
        assert erased["contacts_erased"] == 3 and store.contacts.count() == 0
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("office.db"))
    for contact in CONTACTS:  # secure_delete and the checkpoint after an erasure: nothing left on disk
        assert contact["phone"].encode() not in data and contact["name"].encode() not in data


# -- the office's side: who is told, once -----------------------------------------------------------
class Told:
    """What the notices' hook (``away_changed``) is handed, in order."""

    def __init__(self):
        self.changes = []

    def away_changed(self, change) -> None:
        self.changes.append((change.person_id, change.state, change.how, change.by))


def test_the_office_tells_a_pause_its_end_by_date_once_and_a_sighting_clears_it(store):
    from types import SimpleNamespace

    from edge.office.away import Absences
    from edge.rules.away import AwayRefused

    now = {"t": _at("2026-05-10T09:00:00+08:00")}
    told = Told()
    absences = Absences(SimpleNamespace(zone=ZONE), store, clock=lambda: now["t"], notices=told)
    a = store.people.add("李桂兰", "3-402", care_watch=True)
    b = store.people.add("陈明", "5-101", care_watch=True)
    with pytest.raises(AwayRefused):
        absences.set(a, "2026-07-10", "去女儿家", "admin1")  # 61 days
    assert told.changes == [] and store.people.get(a)["away_until"] is None
    absences.set(a, "2026-05-12", "去女儿家", "admin1")
    absences.set(b, "2026-05-20", "住院", "admin1")
    assert [p["person_id"] for p in absences.listing()] == [a, b]
    now["t"] = _at("2026-05-13T00:00:00+08:00")  # a's last day is over
    assert [p["person_id"] for p in absences.listing()] == [b]
    assert absences.due() == 1 and absences.due() == 0  # told once
    assert store.people.get(a)["away_until"] == "2026-05-13T00:00:00.000+08:00"  # the gates count from it
    with store.transaction():  # b passes a gate: the archive's transaction
        absences.seen(b, _at("2026-05-10T08:00:00+08:00"), "east")  # a sighting from before it was set
    assert store.people.get(b)["away_until"] is not None
    with store.transaction():
        absences.seen(b, now["t"], "east")
    assert store.people.get(b)["away_until"] is None and absences.listing() == []
    with store.transaction():
        absences.seen(a, now["t"], "west")  # its end was told (by the date): not told again
    assert absences.end(a, "admin1") is None
    assert told.changes == [(a, "set", "console", "admin1"), (b, "set", "console", "admin1"),
                            (a, "ended", "date", "date"), (b, "ended", "seen", "gate:east")]
