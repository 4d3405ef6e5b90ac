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


def _ask(client, phone: str):
    return client.post("/my/login", json={"phone": phone})


def test_a_wrong_code_an_expired_one_and_too_many_tries_are_refused(site):
    phone = site.client()
    assert _ask(phone, PHONE).status_code == 200
    code = site.code_sent(PHONE)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    answer = phone.post("/my/verify", json={"phone": PHONE, "code": wrong})
    assert answer.status_code == 401 and answer.json()["error"].startswith("the code is wrong")
    assert answer.json()["message"] == "验证码不对，请核对短信或重新获取"
    for _ in range(4):  # five wrong tries in all
        assert phone.post("/my/verify", json={"phone": PHONE, "code": wrong}).status_code == 401
    sixth = phone.post("/my/verify", json={"phone": PHONE, "code": code})  # the right one, too late
    assert sixth.status_code == 429 and sixth.json()["error"] == "too many wrong codes; ask for a new one"
    assert "set-cookie" not in sixth.headers

    site.minutes(1)
    assert _ask(phone, PHONE).status_code == 200  # a new code: the tries start again
    fresh = site.code_sent(PHONE)
    assert phone.post("/my/verify", json={"phone": PHONE, "code": code}).status_code == 401  # the old one is over
    site.minutes(5)  # five minutes later the new one has expired
    expired = phone.post("/my/verify", json={"phone": PHONE, "code": fresh})
    assert expired.status_code == 401 and expired.json()["error"] == "the code has expired; ask for a new one"
    assert phone.get("/my/api/household").status_code == 401

    site.minutes(1)
    assert _ask(phone, PHONE).status_code == 200
    right = site.code_sent(PHONE)
    assert phone.post("/my/verify", json={"phone": PHONE, "code": right}).status_code == 200
    again = site.client().post("/my/verify", json={"phone": PHONE, "code": right})  # a code works once
    assert again.status_code == 401
    refused = [a["detail"]["refused"] for a in site.store.console.audit_rows() if a["outcome"] == "refused"]
    assert refused == ["none", "expired", "wrong", "tries", "wrong", "wrong", "wrong", "wrong", "wrong"]


def test_malformed_numbers_and_codes_are_named(site):
    phone = site.client()
    bad = _ask(phone, "12345")
    assert bad.status_code == 400 and bad.json()["error"].startswith("phone: a mobile number")
    assert _ask(phone, "+86 139-1234-5678").json()["phone"] == "139****5678"  # spaces, dashes, +86: the same
    short = phone.post("/my/verify", json={"phone": PHONE, "code": "12345"})
    assert short.status_code == 400 and short.json()["error"] == "code: the 6 digits of the SMS"
    form = phone.post("/my/login", data={"phone": PHONE})  # a cross-site form cannot send JSON
    assert form.status_code == 415


@pytest.mark.parametrize("phone", [PHONE, STRANGER], ids=["registered", "unregistered"])
def test_one_code_a_minute_and_five_an_hour_per_number_registered_or_not(site, phone):
    client = site.client()
    answers = []
    for _ in range(7):
        answers.append(_ask(client, phone).status_code)
        answers.append(_ask(client, phone).status_code)  # again at once: a minute has not passed
        site.minutes(1)
    assert answers == [200, 429] * 5 + [429, 429] * 2
    assert _ask(client, phone).json()["error"].startswith("5 codes were asked for this number within an hour")
    assert len(site.codes_queued(phone)) == (5 if phone == PHONE else 0)
    site.minutes(60)
    assert _ask(client, phone).status_code == 200


def test_twenty_codes_an_hour_per_client_address(site):
    phone, neighbour = site.client(), site.client(("192.0.2.11", 40000))
    numbers = [f"1370000{n:04d}" for n in range(21)]
    answers = [_ask(phone, number).status_code for number in numbers]
    assert answers == [200] * 20 + [429]
    assert _ask(phone, numbers[20]).json()["error"].startswith("too many codes were asked from this address")
    assert _ask(neighbour, numbers[20]).status_code == 200


def test_behind_the_site_s_proxy_the_forwarded_address_counts_and_the_cookie_is_secure(tmp_path):
    site = PortalSite(tmp_path, site_time("2026-12-03 10:00"), console={"trusted_proxies": ["127.0.0.1"]})
    try:
        site.store.people.add("王建国", "12-301", PHONE)
        proxy = site.client(("127.0.0.1", 50000))
        forwarded = {"X-Forwarded-Proto": "https"}
        numbers = [f"1370000{n:04d}" for n in range(21)]
        for number in numbers[:20]:
            assert proxy.post("/my/login", json={"phone": number},
                              headers={**forwarded, "X-Forwarded-For": "198.51.100.7"}).status_code == 200
        assert proxy.post("/my/login", json={"phone": numbers[20]},
                          headers={"X-Forwarded-For": "198.51.100.7"}).status_code == 429
        # another phone behind the same proxy is another client; a client naming itself is not believed
        assert proxy.post("/my/login", json={"phone": numbers[20]},
                          headers={"X-Forwarded-For": "198.51.100.8"}).status_code == 200
        spoofing = site.client(("192.0.2.50", 1))
        for number in numbers[:20]:
            site.minutes(1)
            assert spoofing.post("/my/login", json={"phone": number},
                                 headers={"X-Forwarded-For": f"203.0.113.{number[-2:]}"}).status_code in (200, 429)
        clients = {r["client"] for r in site.store.rows("SELECT DISTINCT client FROM portal_codes")}
        assert clients == {"198.51.100.7", "198.51.100.8", "192.0.2.50"}

        site.minutes(61)
        assert proxy.post("/my/login", json={"phone": PHONE}, headers=forwarded).status_code == 200
        verified = proxy.post("/my/verify", json={"phone": PHONE, "code": site.code_sent(PHONE)}, headers=forwarded)
        assert verified.status_code == 200 and "Secure" in verified.headers["set-cookie"]
    finally:
        site.close()


def test_the_site_s_hourly_cap_refuses_more_and_raises_a_device_alert(tmp_path):
    site = PortalSite(tmp_path, site_time("2026-12-03 10:00"), portal={"codes_per_hour": 3})
    try:
        site.store.people.add("王建国", "12-301", PHONE)
        phones = [site.client((f"192.0.2.{n}", 1)) for n in range(1, 6)]
        answers = [_ask(client, f"1370000{n:04d}").status_code for n, client in enumerate(phones)]
        assert answers == [200, 200, 200, 429, 429]
        capped = _ask(phones[0], PHONE)
        assert capped.status_code == 429 and capped.json()["error"].startswith("the portal is sending no more codes")
        assert site.codes_queued(PHONE) == []
        alert = site.alerts.open_device_alert("portal:codes")
        assert alert is not None and "portal.codes_per_hour" in alert["detail"]
        site.minutes(61)
        assert _ask(phones[0], PHONE).status_code == 200
        assert site.alerts.open_device_alert("portal:codes") is None
    finally:
        site.close()


def test_the_portal_s_cookie_opens_no_console_route_and_the_console_s_none_of_the_portal(site):
    from console_site import USERS

    phone = site.client()
    site.resident(phone, PHONE)
    token = phone.cookies.get("gate_edge_my")
    assert token
    console = site.client(("192.0.2.99", 1))
    mine, as_console = {"Cookie": f"gate_edge_my={token}"}, {"Cookie": f"gate_edge_session={token}"}
    for path in ("/api/alerts", "/api/people", "/api/events", "/api/query?plate=沪A12345"):
        assert console.get(path, headers=mine).status_code == 401
        assert console.get(path, headers=as_console).status_code == 401  # not a console session either
    assert console.get("/alerts", headers=mine).headers["location"] == "/login?next=/alerts"

    logged = console.post("/login", data={"username": "admin1", "password": USERS["admin1"][1]},
                          headers={"Accept": "application/json"})
    assert logged.status_code == 200
    admin_token, admin_csrf = console.cookies.get("gate_edge_session"), logged.json()["csrf_token"]
    assert console.get("/api/people").status_code == 200
    stranger = site.client(("192.0.2.98", 1))
    for cookie in (f"gate_edge_session={admin_token}", f"gate_edge_my={admin_token}"):
        assert stranger.get("/my/api/household", headers={"Cookie": cookie}).status_code == 401
        assert stranger.get("/my/", headers={"Cookie": cookie}).headers["location"] == "/my/login"
        assert stranger.put("/my/api/away/1", headers={"Cookie": cookie, "X-CSRF-Token": admin_csrf},
                            json={"until": "2026-12-10", "reason": "x"}).status_code == 401


def test_a_write_without_the_session_s_csrf_token_is_refused(site):
    phone = site.client()
    csrf = site.resident(phone, PHONE)
    person = site.store.people.find("12-301", "王建国")[0]["id"]
    body = {"until": "2026-12-10", "reason": "去女儿家住"}
    del phone.headers["X-CSRF-Token"]
    missing = phone.put(f"/my/api/away/{person}", json=body)
    assert missing.status_code == 403 and missing.json()["error"].startswith("bad or missing CSRF token")
    assert phone.put(f"/my/api/away/{person}", json=body, headers={"X-CSRF-Token": csrf + "x"}).status_code == 403
    assert phone.post("/my/logout").status_code == 403
    assert site.store.people.get(person)["away_until"] is None
    assert phone.put(f"/my/api/away/{person}", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200


def test_a_session_ends_with_logout_a_new_number_or_the_person_erased(site):
    phone = site.client()
    site.resident(phone, PHONE)
    assert phone.get("/my/api/household").status_code == 200
    assert phone.post("/my/logout", headers={"Accept": "application/json"}).status_code == 200
    assert phone.get("/my/api/household").status_code == 401

    site.minutes(1)
    site.resident(phone, PHONE)
    person = site.store.people.find("12-301", "王建国")[0]["id"]
    site.store.people.update(person, phone="13912340000")  # the committee changed the number
    assert phone.get("/my/api/household").status_code == 401
    assert site.store.portal.session_count() == 0

    other = site.client(("192.0.2.12", 1))
    site.resident(other, OTHER_PHONE)
    site.store.people.remove(site.store.people.find("3-402")[0]["id"])
    assert other.get("/my/api/household").status_code == 401


def test_each_feature_can_be_turned_off(tmp_path):
    site = PortalSite(tmp_path / "off", site_time("2026-12-03 10:00"),
                      portal={"household": False, "away": False})
    try:
        site.store.people.add("王建国", "12-301", PHONE, care_watch=True)
        phone = site.client()
        site.resident(phone, PHONE)
        off = phone.get("/my/api/household")
        assert off.status_code == 403 and off.json()["error"] == "the committee has turned this off (portal.household)"
        assert "居委会暂时关闭了此功能" in phone.get("/my/").text
        assert phone.put("/my/api/away/1", json={"until": "2026-12-10", "reason": "x"}).status_code == 403
    finally:
        site.close()
    site = PortalSite(tmp_path / "no-login", site_time("2026-12-03 10:00"), portal={"login": False})
    try:
        refused = _ask(site.client(), PHONE)
        assert refused.status_code == 403 and refused.json()["error"].endswith("(portal.login)")
    finally:
        site.close()
    site = PortalSite(tmp_path / "disabled", site_time("2026-12-03 10:00"), portal={"enabled": False})
    try:
        client = site.client()
        for path in ("/my/", "/my/login", "/my/api/household"):
            answer = client.get(path)
            assert answer.status_code == 404 and "portal.enabled" in answer.json()["error"]
        assert client.get("/login").status_code == 200  # the console as before
    finally:
        site.close()


def test_a_code_waits_behind_care_watch_messages_and_its_text_is_not_kept(site):
    phone = site.client()
    assert _ask(phone, PHONE).status_code == 200
    [code_message] = site.codes_queued(PHONE)
    with site.store.transaction():  # a care-watch alert's step queued after the code, due at the same time
        site.store.notifications.queue("a-1", "care_watch", 0, "modem:13800000000", "modem", "13800000000",
                                       "【关爱提醒】12-301 王建国 48 小时未出入", {"v": 1}, site.clock())
    due = site.store.notifications.due(site.clock() + 1, channels={"modem"})
    assert [m["kind"] for m in due] == ["care_watch", "portal_code"]  # the modem sends the alert first
    code = site.code_sent(PHONE)
    assert code in site.store.notifications.get(code_message["message_id"])["text"]
    site.minutes(6)  # the code is past its use: the queue keeps no code (and the modem will not send it)
    assert _ask(phone, STRANGER).status_code == 200
    kept = site.store.notifications.get(code_message["message_id"])
    assert code not in kept["text"] and code not in str(kept["payload"])
    assert (kept["state"], kept["error"]) == ("failed", "expired")
