"""Logging in to the residents' portal (DESIGN 8) by a code sent by SMS, and every refusal: a wrong code, an
expired one, too many tries, too many codes (per number, per client address, for the whole site: its device
alert), the same answer for a registered and an unregistered number, the portal's cookie on the console's
routes and the console's on the portal's, a write without the CSRF token. On a declared simulated clock."""

from __future__ import annotations

import pytest
from notify_site import site_time
from portal_site import PortalSite

PHONE, OTHER_PHONE, STRANGER = "13912345678", "13611112222", "13500009999"


@pytest.fixture
def site(tmp_path):
    site = PortalSite(tmp_path, site_time("2026-12-03 10:00"))
    site.store.people.add("王建国", "12-301", "139 1234 5678", care_watch=True)
    site.store.people.add("陈小明", "12-301", None)
    site.store.people.add("李桂兰", "3-402", "+86 136-1111-2222", care_watch=True)
    yield site
    site.close()


def test_a_resident_logs_in_with_the_code_sent_by_sms_and_sees_their_unit(site):
    phone = site.client()
    asked = phone.post("/my/login", json={"phone": PHONE})
    assert asked.status_code == 200 and asked.json() == {"ok": True, "phone": "139****5678", "expires_in_s": 300}
    [sms] = site.codes_queued(PHONE)
    assert sms["channel"] == "modem" and sms["recipient"] == f"modem:{PHONE}" and "验证码" in sms["text"]
    code = site.code_sent(PHONE)
    row = site.store.row("SELECT * FROM portal_codes")
    assert code not in str(dict(row)) and PHONE not in str(dict(row))  # hashed, both

    verified = phone.post("/my/verify", json={"phone": PHONE, "code": code})
    assert verified.status_code == 200 and verified.json()["unit"] == "12-301"
    cookie = verified.headers["set-cookie"]
    assert "gate_edge_my=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Path=/my/" in cookie and "Max-Age=2592000" in cookie and "Secure" not in cookie
    page = phone.get("/my/")
    assert page.status_code == 200 and "王建国" in page.text and "李桂兰" not in page.text
    assert f'<meta name="csrf-token" content="{verified.json()["csrf_token"]}">' in page.text
    audit = [(a["username"], a["action"], a["outcome"]) for a in site.store.console.audit_rows()]
    assert audit == [("portal:139****5678", "portal_login", "ok"), ("portal:139****5678", "portal_code", "ok")]


def test_an_unregistered_number_gets_the_same_answer_and_no_sms(site):
    phone = site.client()
    registered = phone.post("/my/login", json={"phone": PHONE})
    unregistered = phone.post("/my/login", json={"phone": STRANGER})
    assert registered.status_code == unregistered.status_code == 200
    assert registered.json().keys() == unregistered.json().keys()
    assert registered.headers.keys() == unregistered.headers.keys()
    assert len(site.codes_queued(PHONE)) == 1 and site.codes_queued(STRANGER) == []
    rows = site.store.rows("SELECT person_id, tries, message_id FROM portal_codes ORDER BY id")
    assert [r["person_id"] is None for r in rows] == [False, True]  # a code made and kept for both
    for code in ("000000", "123456"):  # no code can verify for a number nobody has
        assert phone.post("/my/verify", json={"phone": STRANGER, "code": code}).status_code == 401
