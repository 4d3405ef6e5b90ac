"""Contacts and away across a real site (DESIGN 7): mosquitto with the site's ACL, the office with its console
and two real gate daemons (east, west). Contacts round-trip through the API, are refused naming the field,
never reach a registry record (what the gates received over the broker), and are erased with the person; a
pause is set and ended by an admin only, at most 60 days ahead, travels on the signed person record to both
gates, is listed on the alerts page, and ends at the office and at the other gate when a gate sees the person."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from console_site import at_both_gates, two_gate_site
from mqtt_helpers import wait_for

httpx = pytest.importorskip("httpx")

CONTACTS = [{"name": "李小红", "phone": "13911110001", "relation": "family", "consent_at": "2026-01-05"},
            {"name": "王阿姨", "phone": "13911110002", "relation": "neighbour", "consent_at": None}]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with two_gate_site(tmp_path_factory.mktemp("contacts-away")) as state:
        yield state


def resident(site, name: str, unit: str) -> int:
    person = site.office.store.people.add(name, unit, "13912345678", care_watch=True)
    assert at_both_gates(site, lambda store: store.people.find_by_id(person) is not None)
    return person


def record_at(store, person: int) -> dict:
    """The person's record as the gate received it over the broker (verified, stored as it came)."""
    return store.records.get(f"person/{person}")


def day(offset: int, site) -> str:
    return (datetime.now(site.office.config.zone).date() + timedelta(days=offset)).isoformat()


def last_audit(site) -> dict:
    return site.office.store.console.audit_rows(1)[0]


# -- contacts ----------------------------------------------------------------------------------------
def test_contacts_round_trip_and_stay_at_the_office(site, admin, guard):
    person = resident(site, "李桂兰", "3-402")
    url = f"/api/people/{person}/contacts"
    assert admin.get(url).json() == []
    version = site.office.publisher.position()
    answer = admin.put(url, json={"contacts": CONTACTS})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"person_id": person, "contacts": CONTACTS}
    assert guard.get(url).json() == CONTACTS  # the duty guard reads them (whom to call)
    assert site.office.store.contacts.for_person(person) == CONTACTS[:1]  # the notices' view: consenting only
    audit = last_audit(site)
    assert (audit["action"], audit["target"], audit["outcome"]) == ("contacts_replace", f"person:{person}", "ok")
    assert audit["detail"] == {"contacts": 2, "consenting": 1}  # counts only: no names, no phones
    assert site.office.publisher.position() == version  # no registry record changed
    # A record that does change (the unit) carries no contact; as both gates received it over the broker:
    site.office.store.people.update(person, unit="3-403")
    assert at_both_gates(site, lambda store: record_at(store, person)["unit"] == "3-403")
    for gate in site.gates.values():
        record = json.dumps(record_at(gate.store, person), ensure_ascii=False)
        for contact in CONTACTS:
            assert contact["name"] not in record and contact["phone"] not in record
        assert gate.store.contacts.count() == 0
    page = admin.get(f"/people/{person}").text
    assert "联系人" in page and "李小红" in page and "邻居" in page and "data-contacts" in page
    assert "data-contacts" not in guard.get(f"/people/{person}").text  # a guard sees them, cannot edit
    assert admin.put(url, json={"contacts": []}).json()["contacts"] == [] and admin.get(url).json() == []


@pytest.mark.parametrize("body,field,words", [
    ({"contacts": [{**CONTACTS[0], "phone": "not a number"}]}, "contacts[0].phone", "contact 1: phone: "),
    ({"contacts": [CONTACTS[1], {**CONTACTS[0], "relation": "friend"}]}, "contacts[1].relation",
     "contact 2: relation: one of family, neighbour, building_leader, grid_worker"),
    ({"contacts": [{**CONTACTS[0], "consent_at": "2099-01-01"}]}, "contacts[0].consent_at",
     "contact 1: consent_at: 2099-01-01 is after today"),
    ({"contacts": [{**CONTACTS[0], "name": " "}]}, "contacts[0].name", "contact 1: name: required"),
    ({"contacts": "李小红 13911110001"}, "contacts", "contacts: a list of contacts"),
    ({}, "contacts", "contacts: required"),
])
def test_a_bad_contact_is_refused_naming_the_field(site, admin, body, field, words):
    person = resident(site, "赵联系", "4-101")
    url = f"/api/people/{person}/contacts"
    assert admin.put(url, json={"contacts": CONTACTS[:1]}).status_code == 200
    audits = site.office.store.console.audit_count()
    answer = admin.put(url, json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field, answer.text
    assert words in answer.json()["error"]
    assert answer.json()["message"] != answer.json()["error"]  # said in Chinese too (the console's default)
    assert admin.get(url).json() == CONTACTS[:1]  # nothing changed
    assert site.office.store.console.audit_count() == audits  # malformed: answered at once, not audited


def test_only_an_admin_changes_contacts_or_away_and_every_write_needs_the_csrf_token(site, admin, guard):
    person = resident(site, "钱门岗", "4-102")
    writes = [("PUT", f"/api/people/{person}/contacts", {"contacts": CONTACTS}, "contacts_replace"),
              ("PUT", f"/api/people/{person}/away", {"until": day(3, site), "reason": "探亲"}, "away_set"),
              ("DELETE", f"/api/people/{person}/away", None, "away_end")]
    for method, path, body, action in writes:
        answer = guard.request(method, path, json=body)
        assert answer.status_code == 403 and "admin" in answer.json()["error"], answer.text
        audit = last_audit(site)
        assert (audit["username"], audit["action"], audit["target"], audit["outcome"]) == (
            "guard1", action, f"person:{person}", "refused")
    token = admin.headers.pop("X-CSRF-Token")
    try:
        for method, path, body, _ in writes:
            assert admin.request(method, path, json=body).status_code == 403
    finally:
        admin.headers["X-CSRF-Token"] = token
    assert site.office.store.contacts.all_of(person) == []
    assert site.office.store.people.get(person)["away_until"] is None
    assert httpx.get(f"{site.url}/api/people/{person}/contacts").status_code == 401


def test_erasing_a_person_erases_their_contacts(site, admin):
    person = resident(site, "孙搬走", "4-103")
    assert admin.put(f"/api/people/{person}/contacts", json={"contacts": CONTACTS}).status_code == 200
    answer = admin.delete(f"/api/people/{person}")
    assert answer.status_code == 200 and answer.json()["contacts_erased"] == 2
    assert site.office.store.contacts.all_of(person) == []
    assert admin.get(f"/api/people/{person}/contacts").status_code == 404


# -- away ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body,field,words", [
    ({"until": "+61", "reason": "去女儿家"}, "until", "more than 60 days ahead"),
    ({"until": "+0", "reason": "去女儿家"}, "until", "is not after today"),
    ({"until": "下周日", "reason": "去女儿家"}, "until", "is not a date"),
    ({"reason": "去女儿家"}, "until", "until: required"),
    ({"until": "+7"}, "reason", "reason: required"),
    ({"until": "+7", "reason": "很长" * 60}, "reason", "at most 100 characters"),
])
def test_a_pause_more_than_60_days_ahead_or_without_a_reason_is_refused(site, admin, body, field, words):
    person = resident(site, "周出门", "4-104")
    if str(body.get("until", "")).startswith("+"):
        body = {**body, "until": day(int(body["until"][1:]), site)}
    version = site.office.publisher.position()
    answer = admin.put(f"/api/people/{person}/away", json=body)
    assert answer.status_code == 400 and answer.json()["field"] == field and words in answer.json()["error"], \
        answer.text
    assert site.office.store.people.get(person)["away_until"] is None
    assert site.office.publisher.position() == version


def test_a_pause_reaches_both_gates_pauses_care_watch_and_a_sighting_ends_it_everywhere(site, admin, guard):
    from edge.rules.away import end_of
    from edge.timeutil import parse_iso

    person = resident(site, "吴奶奶", "6-601")
    zone = site.office.config.zone
    last = datetime.now(zone).date() + timedelta(days=60)  # the furthest allowed
    answer = admin.put(f"/api/people/{person}/away", json={"until": last.isoformat(), "reason": "去杭州女儿家住"})
    assert answer.status_code == 200, answer.text
    away = answer.json()["away"]
    assert away["last_day"] == last.isoformat() and away["until"] == end_of(last, zone) and away["by"] == "admin1"
    audit = last_audit(site)
    assert (audit["action"], audit["detail"]) == ("away_set", {"last_day": last.isoformat()})
    assert at_both_gates(site, lambda store: store.people.get(person)["away_until"] == away["until"])
    for gate in site.gates.values():  # the record as received over the broker: the pause, not its reason
        record = record_at(gate.store, person)
        assert (record["away_until"], record["away_since"]) == (away["until"], away["since"])
        assert "杭州" not in json.dumps(record, ensure_ascii=False)
    assert [p["away"] for p in guard.get("/api/people").json() if p["person_id"] == person] == [away]
    page = guard.get("/alerts").text
    assert "去杭州女儿家住" in page and last.isoformat() in page and 'data-person-id="' + str(person) in page
    # Unseen three days (and never seen before): no alert at either gate while away.
    for gate in site.gates.values():
        assert person not in [a["person_id"] for a in gate.alerts.check_inactivity(time.time() + 72 * 3600)]
    # The resident passes the east gate: east at once, the office on archiving it, then west, all end it.
    event = site.gates["east"].gate.person("in", person, credential="qr")
    assert event["decision"] == "open"
    assert site.gates["east"].alerts.check_inactivity(time.time() + 49 * 3600)[0]["person_id"] == person
    assert wait_for(lambda: site.office.store.people.get(person)["away_until"] is None, 10)
    assert at_both_gates(site, lambda store: "away_until" not in record_at(store, person)
                         and store.people.get(person)["away_until"] is None)
    assert site.office.store.people.get(person)["away_reason"] is None
    assert person not in [a["person_id"] for a in site.gates["west"].alerts.check_inactivity(time.time() + 47 * 3600)]
    seen = parse_iso(event["ts"])  # west counts from the sighting at east, not from the end of the pause
    [alert] = [a for a in site.gates["west"].alerts.check_inactivity(seen + 48 * 3600 + 1) if a["person_id"] == person]
    assert parse_iso(alert["last_seen"]) == seen
    assert "去杭州女儿家住" not in guard.get("/alerts").text


def test_an_admin_ends_a_pause_now_and_the_episode_counts_from_then(site, admin):
    from edge.timeutil import parse_iso

    person = resident(site, "郑爷爷", "6-602")
    assert admin.put(f"/api/people/{person}/away", json={"until": day(10, site), "reason": "住院"}).status_code == 200
    assert "住院" in admin.get(f"/people/{person}").text
    before = time.time()
    answer = admin.delete(f"/api/people/{person}/away")
    assert answer.status_code == 200 and answer.json()["away"] is None
    ended = parse_iso(answer.json()["ended"])
    assert before - 1 <= ended <= time.time() + 1
    assert admin.delete(f"/api/people/{person}/away").status_code == 404  # nothing left to end
    assert at_both_gates(site, lambda store: store.people.get(person)["away_until"] == answer.json()["ended"])
    assert "住院" not in admin.get("/alerts").text and "data-end-away" not in admin.get(f"/people/{person}").text
    gate = site.gates["west"]
    assert person not in [a["person_id"] for a in gate.alerts.check_inactivity(ended + 47 * 3600)]
    [alert] = [a for a in gate.alerts.check_inactivity(ended + 48 * 3600 + 1) if a["person_id"] == person]
    assert parse_iso(alert["last_seen"]) == pytest.approx(ended, abs=0.001)
