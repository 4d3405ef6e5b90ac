"""My household and away in the residents' portal (DESIGN 8): a resident sees their own unit's people and
vehicles (the open parking session and the fee due now, as the exit and the console say it) and nothing of
any other unit; pauses care-watch for a person of their own unit through the one away rule (DESIGN 7), the
duty phone told; never for anyone else's. The committee sees who set a pause and may end it."""

from __future__ import annotations

import pytest
from notify_site import DUTY_PHONE
from portal_site import NEIGHBOUR_PHONE, PHONE, household_site


@pytest.fixture
def site(tmp_path):
    site = household_site(tmp_path)
    store = site.store
    store.vehicles.upsert("沪A12345", "resident", site.wang, valid_until="2027-06-30")
    store.vehicles.upsert("苏E88888", "family", site.son)
    now = site.clock()
    with store.transaction():  # the son's car came in three hours ago; the neighbour's an hour ago
        store.sessions.open("s-son", "苏E88888", "family", now - 3 * 3600, "east", "e-son")
        store.sessions.open("s-li", "沪B55555", "resident", now - 3600, "west", "e-li")
    yield site
    site.close()


def test_a_resident_sees_their_own_household_and_nothing_of_another_unit(site):
    from edge.registry.query import query_plate

    phone = site.client()
    site.resident(phone, PHONE)
    household = phone.get("/my/api/household").json()
    assert household["unit"] == "12-301"
    assert [(p["name"], p["care_watch"], p["away_until"]) for p in household["people"]] == [
        ("王建国", True, None), ("王小军", False, None)]
    cars = {v["plate"]: v for v in household["vehicles"]}
    assert sorted(cars) == ["沪A12345", "苏E88888"]
    assert cars["沪A12345"]["valid_until"] == "2027-06-30" and cars["沪A12345"]["open_session"] is None
    son = cars["苏E88888"]
    assert son["class"] == "family" and son["open_session"]["entry_gate"] == "east"
    expected = query_plate(site.store, site.config, "苏E88888", site.clock())["fee_due_cents"]
    assert son["fee_due_cents"] == expected > 0  # past the family's two free hours: the fee's one owner says
    text = str(household) + phone.get("/my/").text
    for theirs in ("李桂兰", "3-402", "沪B55555", NEIGHBOUR_PHONE, "13700001111"):
        assert theirs not in text
    page = phone.get("/my/").text
    assert "沪A12345" in page and "苏E88888" in page and f"{expected / 100:.2f}" in page

    neighbour = site.client(("192.0.2.20", 1))
    site.resident(neighbour, NEIGHBOUR_PHONE)
    theirs = neighbour.get("/my/api/household").json()
    assert theirs["unit"] == "3-402" and [p["name"] for p in theirs["people"]] == ["李桂兰"]
    assert [v["plate"] for v in theirs["vehicles"]] == ["沪B55555"]


def test_a_resident_pauses_care_watch_for_their_own_unit_and_the_duty_phone_is_told(site):
    phone = site.client()
    site.resident(phone, PHONE)
    answer = phone.put(f"/my/api/away/{site.wang}", json={"until": "2026-12-20", "reason": "去女儿家住"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["away"]["last_day"] == "2026-12-20"
    person = site.store.people.get(site.wang)
    assert person["away_by"] == "portal:139****5678" and person["away_reason"] == "去女儿家住"
    told = [m for m in site.store.notifications.recent(50) if m["kind"] == "away"]
    assert [m["address"] for m in told] == [DUTY_PHONE] and "2026-12-20" in told[0]["text"]
    assert phone.get("/my/api/household").json()["people"][0]["away_until"] == "2026-12-20"
    assert "外出至 2026-12-20" in phone.get("/my/").text
    audit = site.store.console.audit_rows()[0]
    assert (audit["username"], audit["role"], audit["action"], audit["target"], audit["outcome"]) == (
        "portal:139****5678", "resident", "away_set", f"person:{site.wang}", "ok")
    assert "去女儿家住" not in str(audit["detail"])

    ended = phone.delete(f"/my/api/away/{site.wang}")
    assert ended.status_code == 200 and ended.json()["away"] is None
    assert phone.delete(f"/my/api/away/{site.wang}").status_code == 404  # not away any more
    assert phone.get("/my/api/household").json()["people"][0]["away_until"] is None


def test_the_away_rule_refuses_what_it_refuses_from_the_portal_too(site):
    phone = site.client()
    site.resident(phone, PHONE)
    far = phone.put(f"/my/api/away/{site.wang}", json={"until": "2027-03-01", "reason": "去海南过冬"})
    assert far.status_code == 400 and far.json()["field"] == "until" and "60 days" in far.json()["error"]
    past = phone.put(f"/my/api/away/{site.wang}", json={"until": "2026-12-03", "reason": "x"})
    assert past.status_code == 400 and past.json()["field"] == "until"
    no_reason = phone.put(f"/my/api/away/{site.wang}", json={"until": "2026-12-10"})
    assert no_reason.status_code == 400 and no_reason.json()["field"] == "reason"
    assert site.store.people.get(site.wang)["away_until"] is None


def test_nobody_of_another_unit_can_be_paused_or_resumed_and_nothing_says_they_exist(site):
    phone = site.client()
    site.resident(phone, PHONE)
    body = {"until": "2026-12-10", "reason": "去女儿家住"}
    theirs = phone.put(f"/my/api/away/{site.li}", json=body)
    nobody = phone.put("/my/api/away/9999", json=body)
    assert theirs.status_code == nobody.status_code == 404
    assert theirs.json()["error"] == f"no person {site.li} in your household"
    assert theirs.json().keys() == nobody.json().keys()
    assert site.store.people.get(site.li)["away_until"] is None

    site.absences.set(site.li, "2026-12-10", "住院", "admin1")  # the committee paused her
    assert phone.delete(f"/my/api/away/{site.li}").status_code == 404
    assert site.store.people.get(site.li)["away_by"] == "admin1"
    refused = [(a["action"], a["target"], a["outcome"]) for a in site.store.console.audit_rows()[:3]]
    assert refused == [("away_end", f"person:{site.li}", "refused"), ("away_set", "person:9999", "refused"),
                       ("away_set", f"person:{site.li}", "refused")]


def test_the_committee_sees_who_set_a_pause_and_an_admin_ends_one_set_in_the_portal(site):
    from console_site import USERS

    phone = site.client()
    site.resident(phone, PHONE)
    body = {"until": "2026-12-20", "reason": "去女儿家住"}
    assert phone.put(f"/my/api/away/{site.wang}", json=body).status_code == 200
    site.absences.set(site.li, "2026-12-10", "住院", "admin1")

    console = site.client(("192.0.2.30", 1))
    logged = console.post("/login", data={"username": "admin1", "password": USERS["admin1"][1]},
                          headers={"Accept": "application/json"})
    console.headers["X-CSRF-Token"] = logged.json()["csrf_token"]
    page = console.get("/alerts").text
    assert "portal:139****5678" in page and "住户服务" in page and "admin1" in page
    assert f'data-end-away="/api/people/{site.wang}/away"' in page and 'data-via="portal"' in page
    ended = console.delete(f"/api/people/{site.wang}/away")
    assert ended.status_code == 200
    assert phone.get("/my/api/household").json()["people"][0]["away_until"] is None
