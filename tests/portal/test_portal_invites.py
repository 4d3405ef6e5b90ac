"""Invitations in the residents' portal (DESIGN 8): a resident registers a car for a window of at most a day or
gets a visitor's QR pass for their own unit, lists and cancels their unit's invitations and nothing of another
unit's; every refusal (a registered plate, the daily limit, a bad field, another unit's invitation, no CSRF
token, the feature turned off, no session) changes nothing and every write is audited with the number masked.
The committee sees who invited and an admin cancels any. (At the gates: tests/site/test_invites_site.py.)"""

from __future__ import annotations

import base64

import numpy as np
import pytest
from notify_site import site_time
from portal_site import NEIGHBOUR_PHONE, PHONE, PortalSite, household_site


def make_site(tmp_path, **portal) -> PortalSite:
    site = household_site(tmp_path, **portal)
    site.store.vehicles.upsert("沪X00001", "blocked")
    return site


@pytest.fixture
def site(tmp_path):
    site = make_site(tmp_path, invites_per_unit_per_day=3)
    yield site
    site.close()


@pytest.fixture
def phone(site):
    client = site.client()
    site.resident(client, PHONE)
    return client


def last_audit(site) -> dict:
    return site.store.console.audit_rows(1)[0]


def test_a_resident_registers_a_car_for_a_few_hours_and_sees_it(site, phone):
    answer = phone.post("/my/api/invites", json={"plate": "苏E 12345", "class": "family", "hours": 4,
                                                 "from": "2026-12-03T14:00"})
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert (made["kind"], made["plate"], made["class"], made["state"], made["valid_from"], made["valid_until"]) == (
        "car", "苏E12345", "family", "waiting", "2026-12-03T14:00:00.000+08:00", "2026-12-03T18:00:00.000+08:00")
    vehicle = site.store.vehicles.get("苏E12345")
    assert (vehicle["class"], vehicle["person_id"], vehicle["valid_until_at"]) == ("family", site.wang,
                                                                                  made["valid_until"])
    listed = phone.get("/my/api/invites").json()
    assert (listed["unit"], listed["per_day"], listed["left_today"]) == ("12-301", 3, 2)
    assert [(i["id"], i["plate"], i["by"]) for i in listed["invites"]] == [(made["id"], "苏E12345", "王建国")]
    assert "made_by" not in listed["invites"][0]  # the numbers stay with the committee
    assert "苏E12345" in [v["plate"] for v in phone.get("/my/api/household").json()["vehicles"]]
    audit = last_audit(site)
    assert (audit["username"], audit["role"], audit["action"], audit["target"], audit["outcome"]) == (
        "portal:139****5678", "resident", "invite_car", f"invite:{made['id']}", "ok")
    page = phone.get("/my/invites").text
    assert "苏E12345" in page and "邀请访客" in page and "未开始" in page and 'data-cancel="' in page

    son = site.client(("192.0.2.11", 1))  # the rest of the household sees it, and may cancel it
    site.store.people.update(site.son, phone="13700001111")
    site.resident(son, "13700001111")
    assert [i["plate"] for i in son.get("/my/api/invites").json()["invites"]] == ["苏E12345"]
    cancelled = son.delete(f"/my/api/invites/{made['id']}")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["cancelled_by"] == "portal:137****1111"
    assert phone.delete(f"/my/api/invites/{made['id']}").status_code == 409  # already cancelled
    assert site.store.vehicles.get("苏E12345")["valid_until_at"] == made["valid_from"]  # it never begins


def test_a_visitor_on_foot_gets_a_qr_pass_for_the_unit_to_save_and_show_again(site, phone):
    from edge.registry.passes import check_pass, pass_checker
    from models.images import decode_image
    from models.qr import QrReader

    answer = phone.post("/my/api/invites", json={"name": "护工小陈", "hours": 8})
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert (made["kind"], made["name"], made["state"], made["valid_from"]) == (
        "visitor", "护工小陈", "active", "2026-12-03T10:00:00.000+08:00")
    [code] = QrReader().read(np.asarray(decode_image(base64.b64decode(made["qr_png_base64"]))))
    check = check_pass(code.text, pass_checker(site.config), site.store, now=site.clock())
    assert check.valid and check.claim.subject()["unit"] == "12-301" and check.claim.person_id is None
    again = phone.get(f"/my/api/invites/{made['id']}/pass")
    assert again.status_code == 200 and again.json()["token"] == made["token"]
    audit = last_audit(site)
    assert (audit["action"], audit["outcome"]) == ("invite_visitor", "ok") and "护工小陈" not in str(audit["detail"])
    assert phone.delete(f"/my/api/invites/{made['id']}").status_code == 200
    assert site.store.passes.revoked(made["pass_id"])
    assert phone.get(f"/my/api/invites/{made['id']}/pass").status_code == 409


@pytest.mark.parametrize("body,status,field,words", [
    ({"plate": "沪B55555", "class": "family", "hours": 2}, 409, "plate", "沪B55555 is already registered"),
    ({"plate": "沪X00001", "class": "visitor", "hours": 2}, 409, "plate", "already registered"),  # blocked
    ({"plate": "沪A1234", "class": "family", "hours": 2}, 400, "plate", "is not a Chinese plate"),
    ({"plate": "沪C12345", "class": "resident", "hours": 2}, 400, "class", "family (two hours free) or visitor"),
    ({"plate": "沪C12345", "class": "family", "hours": 48}, 400, "hours", "from 1 to 24"),
    ({"plate": "沪C12345", "class": "family", "hours": 2, "from": "2026-12-02"}, 400, "from", "has passed"),
    ({"name": "", "hours": 2}, 400, "name", "name: required"),
    ({"plate": "沪C12345", "name": "张三", "hours": 2}, 400, "plate", "a plate (a car) or a name"),
    ({"hours": 2}, 400, "plate", "a plate (a car) or a name"),
])
def test_a_refused_invitation_changes_nothing_and_is_audited(site, phone, body, status, field, words):
    vehicles, passes = site.store.vehicles.all(), site.store.passes.all()
    answer = phone.post("/my/api/invites", json=body)
    assert answer.status_code == status and answer.json()["field"] == field and words in answer.json()["error"], \
        answer.text
    assert answer.json()["message"] != answer.json()["error"]  # said in Chinese too
    assert site.store.vehicles.all() == vehicles and site.store.passes.all() == passes
    assert phone.get("/my/api/invites").json()["invites"] == []
    if field != "plate" or status == 409:
        audit = last_audit(site)
        assert (audit["username"], audit["outcome"]) == ("portal:139****5678", "refused")


def test_at_most_the_daily_limit_of_invitations_a_unit(site, phone):
    car = lambda plate: {"plate": plate, "class": "family", "hours": 2}  # noqa: E731
    for plate in ("沪D10000", "沪D10001"):
        assert phone.post("/my/api/invites", json=car(plate)).status_code == 201
    assert phone.post("/my/api/invites", json={"name": "快递", "hours": 1}).status_code == 201
    assert phone.get("/my/api/invites").json()["left_today"] == 0
    answer = phone.post("/my/api/invites", json={"plate": "沪D20000", "class": "family", "hours": 2})
    assert answer.status_code == 429 and "at most 3 invitations a day" in answer.json()["error"]
    assert answer.json()["message"].startswith("每户每天最多邀请 3 次")
    assert site.store.vehicles.get("沪D20000") is None
    neighbour = site.client(("192.0.2.20", 1))
    site.resident(neighbour, NEIGHBOUR_PHONE)
    assert neighbour.post("/my/api/invites", json=car("沪D20000")).status_code == 201
    site.clock.epoch = site_time("2026-12-04 00:01")
    assert phone.post("/my/api/invites", json=car("沪D30000")).status_code == 201


def test_another_units_invitations_are_neither_seen_nor_cancelled_nor_shown(site, phone):
    neighbour = site.client(("192.0.2.20", 1))
    site.resident(neighbour, NEIGHBOUR_PHONE)
    car = neighbour.post("/my/api/invites", json={"plate": "沪F12345", "class": "family", "hours": 3}).json()
    visitor = neighbour.post("/my/api/invites", json={"name": "李小红", "hours": 3}).json()
    mine = phone.get("/my/api/invites").json()
    assert mine["invites"] == [] and "沪F12345" not in phone.get("/my/invites").text
    for invite in (car, visitor):
        theirs = phone.delete(f"/my/api/invites/{invite['id']}")
        nobody = phone.delete("/my/api/invites/999999")
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.json().keys() == nobody.json().keys()
        assert (last_audit(site)["action"], last_audit(site)["outcome"]) == ("invite_cancel", "refused")
    assert phone.get(f"/my/api/invites/{visitor['id']}/pass").status_code == 404
    assert phone.delete("/my/api/invites/abc").status_code == 404
    assert [i["state"] for i in neighbour.get("/my/api/invites").json()["invites"]] == ["active", "active"]
    assert not site.store.passes.revoked(visitor["pass_id"])


def test_writes_need_the_csrf_token_and_a_session(site, phone):
    token = phone.headers.pop("X-CSRF-Token")
    assert phone.post("/my/api/invites", json={"plate": "沪G12345", "class": "family", "hours": 2}).status_code == 403
    phone.headers["X-CSRF-Token"] = token
    made = phone.post("/my/api/invites", json={"plate": "沪G12345", "class": "family", "hours": 2}).json()
    phone.headers.pop("X-CSRF-Token")
    assert phone.delete(f"/my/api/invites/{made['id']}").status_code == 403
    stranger = site.client(("192.0.2.99", 1))
    assert stranger.get("/my/api/invites").status_code == 401
    assert stranger.post("/my/api/invites", json={"name": "x", "hours": 1}).status_code == 401
    assert site.store.invites.get(made["id"])["cancelled_epoch"] is None


def test_the_committee_can_turn_invitations_off(tmp_path):
    site = make_site(tmp_path, invites=False)
    try:
        phone = site.client()
        site.resident(phone, PHONE)
        for method, path, body in (("GET", "/my/api/invites", None),
                                   ("POST", "/my/api/invites", {"name": "x", "hours": 1}),
                                   ("DELETE", "/my/api/invites/1", None)):
            answer = phone.request(method, path, json=body)
            assert answer.status_code == 403 and "portal.invites" in answer.json()["error"], (path, answer.text)
        assert "居委会暂时关闭了此功能" in phone.get("/my/invites").text
        assert site.store.invites.recent() == []
    finally:
        site.close()


def test_the_committee_sees_who_invited_and_an_admin_cancels_any(site, phone):
    from console_site import USERS

    made = phone.post("/my/api/invites", json={"plate": "沪H12345", "class": "visitor", "hours": 6}).json()
    console = site.client(("192.0.2.30", 1))
    logged = console.post("/login", data={"username": "admin1", "password": USERS["admin1"][1]},
                          headers={"Accept": "application/json"})
    console.headers["X-CSRF-Token"] = logged.json()["csrf_token"]
    [row] = console.get("/api/invites").json()
    assert (row["made_by"], row["person"], row["plate"]) == ("portal:139****5678", {"name": "王建国", "unit": "12-301"},
                                                             "沪H12345")
    page = console.get("/invites").text
    assert "portal:139****5678" in page and "王建国" in page and f'data-delete="/api/invites/{made["id"]}"' in page
    assert console.delete(f"/api/invites/{made['id']}").status_code == 200
    assert phone.get("/my/api/invites").json()["invites"][0]["state"] == "cancelled"
    assert phone.get("/api/invites").status_code == 401  # the portal's cookie opens no console route
