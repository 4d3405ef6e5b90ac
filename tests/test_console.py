"""The committee console's HTTP API (DESIGN 6.5) against a real office, a real mosquitto and a real gate:
every route, and its refusals (no session, wrong role, bad CSRF token, bad input → 4xx JSON, nothing
written). ``console-user add`` too."""

from __future__ import annotations

import json
import os
import stat
import threading
import time

import pytest
from conftest import console_client
from console_site import USERS, care_alert, console_site, held_exit, resident
from mqtt_helpers import wait_for

httpx = pytest.importorskip("httpx")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with console_site(tmp_path_factory.mktemp("console")) as state:
        yield state


def audit_count(site) -> int:
    return site.office.store.console.audit_count()


def test_healthz_is_public_and_says_whether_the_broker_is_connected(site):
    answer = httpx.get(f"{site.url}/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True and body["broker"] == "connected" and body["version"]


@pytest.mark.parametrize("method,path", [
    ("GET", "/api/events"), ("GET", "/api/events/stream"), ("GET", "/api/alerts"), ("GET", "/api/gates"),
    ("GET", "/api/parking"), ("GET", "/api/query?plate=沪A12345"), ("GET", "/api/audit"),
    ("POST", "/api/alerts/x/ack"), ("POST", "/api/parking/x/pay"), ("POST", "/api/gates/east/open"),
])
def test_every_route_but_healthz_and_login_needs_a_session(site, method, path):
    before = audit_count(site)
    answer = httpx.request(method, f"{site.url}{path}", json={"note": "x", "lane": "in", "reason": "x"})
    assert answer.status_code == 401 and "error" in answer.json()
    assert audit_count(site) == before


def test_pages_send_a_visitor_without_a_session_to_the_login_page(site):
    answer = httpx.get(f"{site.url}/parking")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/parking"
    page = httpx.get(f"{site.url}/login")
    assert page.status_code == 200 and 'name="csrf-token"' in page.text and "登录" in page.text


def test_login_sets_an_httponly_samesite_cookie_and_refuses_wrong_passwords(site):
    wrong = httpx.post(f"{site.url}/login", data={"username": "guard1", "password": "nope-nope"},
                       headers={"Accept": "application/json"})
    assert wrong.status_code == 401 and wrong.json()["error"] == "wrong user name or password"
    assert "set-cookie" not in wrong.headers
    right = httpx.post(f"{site.url}/login", data={"username": "guard1", "password": USERS["guard1"][1]},
                       headers={"Accept": "text/html"})  # a browser's form
    assert right.status_code == 303 and right.headers["location"] == "/alerts"
    cookie = right.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert USERS["guard1"][1] not in site.users.read_text()  # hashed, never stored
    assert stat.S_IMODE(os.stat(site.users).st_mode) == 0o600


def test_logins_are_rate_limited(site):
    site.office.console.limiter.succeeded("addr:127.0.0.1")
    try:
        for _ in range(5):
            assert httpx.post(f"{site.url}/login", data={"username": "victim", "password": "guess-guess"},
                              headers={"Accept": "application/json"}).status_code == 401
        blocked = httpx.post(f"{site.url}/login", data={"username": "victim", "password": USERS["victim"][1]},
                             headers={"Accept": "application/json"})
        assert blocked.status_code == 429 and "error" in blocked.json()  # even the right password, for now
    finally:
        site.office.console.limiter.succeeded("addr:127.0.0.1", "user:victim")


def test_every_page_carries_the_csrf_token_and_speaks_chinese_by_default(site, guard):
    token = guard.headers["X-CSRF-Token"]
    for path, words in (("/alerts", "警报"), ("/passages", "通行记录"), ("/gates", "远程开闸"),
                        ("/parking", "车位总数"), ("/query", "车辆查询")):
        page = guard.get(path)
        assert page.status_code == 200, (path, page.text[:300])
        assert f'<meta name="csrf-token" content="{token}">' in page.text and words in page.text
    english = guard.get("/lang?to=en&next=/gates", follow_redirects=True)
    assert "Remote open" in english.text
    guard.cookies.delete("lang")


def test_events_newest_first_with_filters_and_bad_input_refused(site, guard):
    person = resident(site, "刘一", "2-201")
    first = site.gate.gate.person("in", person, credential="qr")
    second = site.gate.gate.person("out", None)  # a stranger
    archive = site.office.store.events
    assert wait_for(lambda: {first["event_id"], second["event_id"]} <= archive.ids(), 10)
    events = guard.get("/api/events", params={"gate": "east", "limit": 2}).json()
    assert [e["event_id"] for e in events] == [second["event_id"], first["event_id"]]
    assert events[1]["person"] == {"name": "刘一", "unit": "2-201"}
    strangers = guard.get("/api/events", params={"kind": "stranger"}).json()
    assert second["event_id"] in [e["event_id"] for e in strangers] and {e["kind"] for e in strangers} == {"stranger"}
    assert guard.get("/api/events", params={"since": second["ts"]}).json()[-1]["event_id"] == second["event_id"]
    assert guard.get("/api/events", params={"gate": "west"}).json() == []
    today = second["ts"][:10]
    assert second["event_id"] in [e["event_id"] for e in guard.get("/api/events", params={"date": today}).json()]
    for bad in ({"since": "yesterday"}, {"kind": "party"}, {"limit": "0"}, {"limit": "many"}, {"gate": "../x"},
                {"date": "2026-13-40"}):
        answer = guard.get("/api/events", params=bad)
        assert answer.status_code == 400 and answer.json()["error"], bad


def test_the_stream_carries_events_and_alerts_as_the_office_archives_them(site, guard):
    person = resident(site, "孙二", "3-302")
    received = []
    done = threading.Event()

    def read():
        with guard.stream("GET", "/api/events/stream", timeout=20) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            kind = None
            for line in answer.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    received.append((kind, json.loads(line[6:])))
                    if any(k == "alert" for k, _ in received) and any(k == "event" for k, _ in received):
                        break
                if done.is_set():
                    break

    reader = threading.Thread(target=read)
    reader.start()
    try:
        time.sleep(0.5)
        event = site.gate.gate.person("in", person, credential="qr")
        site.gate.alerts.device("camera:cam-test", False, "no frames for 30 s")
        reader.join(20)
    finally:
        done.set()
        site.gate.alerts.device("camera:cam-test", True, "frames again")
        reader.join(20)
    events = [p for k, p in received if k == "event"]
    assert event["event_id"] in [e["event_id"] for e in events]
    assert next(e for e in events if e["event_id"] == event["event_id"])["person"]["unit"] == "3-302"
    assert any(p.get("device") == "camera:cam-test" for k, p in received if k == "alert")


def test_alerts_and_acknowledging_a_care_watch_alert(site, guard):
    person, alert_id = care_alert(site, "李桂兰", "3-402")
    open_alerts = guard.get("/api/alerts", params={"state": "open"}).json()
    mine = next(a for a in open_alerts if a["alert_id"] == alert_id)
    assert mine["kind"] == "inactivity" and mine["person"]["name"] == "李桂兰" and mine["person"]["unit"] == "3-402"
    assert mine["person"]["phone"] == "13912345678" and 48.9 <= mine["hours_unseen"] < 49.5
    assert mine["last_gate"] == "west"
    assert guard.get("/api/alerts", params={"state": "later"}).status_code == 400

    before = audit_count(site)
    no_token = guard.post(f"/api/alerts/{alert_id}/ack", json={"note": "x"}, headers={"X-CSRF-Token": ""})
    assert no_token.status_code == 403 and "CSRF" in no_token.json()["error"]
    wrong_token = guard.post(f"/api/alerts/{alert_id}/ack", json={"note": "x"}, headers={"X-CSRF-Token": "forged"})
    assert wrong_token.status_code == 403
    token = guard.headers.pop("X-CSRF-Token")
    try:
        form_wrong = guard.post(f"/api/alerts/{alert_id}/ack", data={"note": "x", "csrf_token": "forged"})
        form_none = guard.post(f"/api/alerts/{alert_id}/ack", data={"note": "x"})
    finally:
        guard.headers["X-CSRF-Token"] = token
    assert form_wrong.status_code == 403 and form_none.status_code == 403
    for bad in ({"note": ""}, {"note": 5}, {}, {"note": "x" * 501}):
        answer = guard.post(f"/api/alerts/{alert_id}/ack", json=bad)
        assert answer.status_code == 400 and answer.json()["error"], bad
    not_json = guard.post(f"/api/alerts/{alert_id}/ack", content=b"{oops", headers={"Content-Type": "application/json"})
    assert not_json.status_code == 400
    assert guard.post("/api/alerts/no-such-alert/ack", json={"note": "visited"}).status_code == 404
    assert audit_count(site) == before and site.office.store.console.alert(alert_id)["acked_epoch"] is None

    done = guard.post(f"/api/alerts/{alert_id}/ack", json={"note": "已上门探望，一切安好"})
    assert done.status_code == 200 and done.json()["ack"]["by"] == "guard1"
    assert alert_id not in [a["alert_id"] for a in guard.get("/api/alerts").json()]
    everything = guard.get("/api/alerts", params={"state": "all"}).json()
    assert next(a for a in everything if a["alert_id"] == alert_id)["ack"]["note"] == "已上门探望，一切安好"
    last = site.office.store.console.audit_rows(1)[0]
    assert (last["username"], last["action"], last["target"], last["outcome"]) == (
        "guard1", "ack", f"alert:{alert_id}", "ok")


def test_an_html_form_write_carries_the_token_in_its_field(site, guard):
    _, alert_id = care_alert(site, "周三", "4-404")
    token = guard.headers.pop("X-CSRF-Token")
    try:
        answer = guard.post(f"/api/alerts/{alert_id}/ack", data={"note": "电话联系，安好", "csrf_token": token})
    finally:
        guard.headers["X-CSRF-Token"] = token
    assert answer.status_code == 200 and site.office.store.console.alert(alert_id)["ack_note"] == "电话联系，安好"


def test_gates_report_health_and_registry_against_the_offices(site, guard):
    site.gate.link.publish_status()
    assert wait_for(lambda: guard.get("/api/gates").json()["gates"][0]["registry_current"], 10)
    data = guard.get("/api/gates").json()
    east = next(g for g in data["gates"] if g["gate"] == "east")
    assert east["state"] == "online" and not east["silent"] and "car" in east["barriers"]
    assert east["registry"]["version"] == data["office_registry"]["version"]
    west = next(g for g in data["gates"] if g["gate"] == "west")
    assert west["state"] == "never heard" and west["silent"]


def test_remote_open_is_signed_and_answers_with_the_gates_result(site, guard):
    barrier = site.gate.barriers["car"]
    before, audits = len(barrier.commands), audit_count(site)
    for bad, status in (({"lane": "up", "reason": "x"}, 400), ({"lane": "in"}, 400),
                        ({"lane": "in", "reason": " "}, 400),
                        ({"lane": "in", "reason": "x", "barrier": "../../x"}, 400)):
        answer = guard.post("/api/gates/east/open", json=bad)
        assert answer.status_code == status and answer.json()["error"], bad
    assert guard.post("/api/gates/north/open", json={"lane": "in", "reason": "x"}).status_code == 404
    assert len(barrier.commands) == before and audit_count(site) == audits
    answer = guard.post("/api/gates/east/open", json={"lane": "in", "reason": "救护车进入"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["ok"] is True and answer.json()["gate"] == "east"
    assert len(barrier.commands) == before + 1
    refused = guard.post("/api/gates/east/open", json={"lane": "in", "barrier": "nope", "reason": "test"})
    assert refused.status_code == 409 and refused.json()["result"]["ok"] is False
    outcomes = [(r["action"], r["outcome"], r["detail"].get("reason")) for r in site.office.store.console.audit_rows(2)]
    assert outcomes == [("open", "refused", "test"), ("open", "ok", "救护车进入")]


def test_payment_received_opens_the_barrier_the_car_waits_at(site, guard):
    held = held_exit(site, "苏E12345")
    parking = guard.get("/api/parking").json()
    mine = next(s for s in parking["held"] if s["session_id"] == held["session_id"])
    assert mine["held_gate"] == "east" and mine["fee_due_cents"] == held["fee_cents"] > 0
    assert parking["occupied"] >= 1 and parking["capacity"] == 306
    barrier = site.gate.barriers["car"]
    before, audits = len(barrier.commands), audit_count(site)
    for bad in ({"amount_cents": -1}, {"amount_cents": "lots"}, {"amount_cents": 1.5}, {"amount_cents": True}, {}):
        answer = guard.post(f"/api/parking/{held['session_id']}/pay", json=bad)
        assert answer.status_code == 400, bad
    assert guard.post("/api/parking/no-such-session/pay", json={"amount_cents": 100}).status_code == 404
    assert len(barrier.commands) == before and audit_count(site) == audits
    answer = guard.post(f"/api/parking/{held['session_id']}/pay", json={"amount_cents": held["fee_cents"]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["result"]["ok"] is True
    assert len(barrier.commands) == before + 1  # the barrier pulsed
    assert wait_for(lambda: site.office.store.sessions.get(held["session_id"])["state"] == "closed", 10)
    assert held["session_id"] not in [s["session_id"] for s in guard.get("/api/parking").json()["open"]]
    last = site.office.store.console.audit_rows(1)[0]
    assert last["action"] == "pay" and last["detail"]["amount_cents"] == held["fee_cents"]


def test_query_by_plate_and_person(site, guard):
    person = resident(site, "吴四", "5-505")
    site.office.store.vehicles.upsert("沪A55555", "resident", person, valid_until="2099-12-31")
    plate = guard.get("/api/query", params={"plate": "沪A55555"}).json()
    assert plate["registered"] is True and plate["owner"]["unit"] == "5-505" and plate["permit"]["valid_now"]
    assert guard.get("/api/query", params={"person": person}).json()["name"] == "吴四"
    for bad, status in (({}, 400), ({"plate": "沪A55555", "person": "1"}, 400), ({"plate": "XYZ"}, 400),
                        ({"person": "abc"}, 400), ({"person": "999999"}, 404)):
        answer = guard.get("/api/query", params=bad)
        assert answer.status_code == status and answer.json()["error"], bad
    page = guard.get("/query", params={"plate": "沪A55555"})
    assert "吴四" in page.text and "2099-12-31" in page.text


def test_the_audit_is_for_admins_only(site, guard):
    assert guard.get("/api/audit").status_code == 403
    admin = console_client(site, "admin1")
    try:
        rows = admin.get("/api/audit").json()
        assert rows and {"username", "action", "target", "outcome", "ts"} <= set(rows[0])
    finally:
        admin.close()


def test_logout_ends_the_session(site):
    client = console_client(site, "guard1")
    token = client.headers["X-CSRF-Token"]
    try:
        assert client.get("/api/alerts").status_code == 200
        assert client.post("/logout", headers={"X-CSRF-Token": token}).status_code == 303
        assert client.get("/api/alerts").status_code == 401
    finally:
        client.close()


def test_console_user_add(tmp_path, capsys):
    from test_site import make_keys, office_config

    from edge.cli import main
    from edge.console.users import authenticate

    keys = make_keys(tmp_path)
    config = office_config(tmp_path, keys, 1883, "ensemble")
    password = tmp_path / "pw"
    password.write_text("correct horse battery\n")
    assert main(["console-user", "add", "-c", str(config), "wang", "--role", "guard", "--password-file",
                 str(password)]) == 2
    assert "console.users_file is not set" in capsys.readouterr().err
    config = office_config(tmp_path, keys, 1883, "ensemble", console={"users_file": str(tmp_path / "users")})
    assert main(["console-user", "add", "-c", str(config), "wang", "--role", "guard", "--password-file",
                 str(password)]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["result"] == "added" and "correct horse" not in out.out + out.err
    assert authenticate(tmp_path / "users", "wang", "correct horse battery") == {"name": "wang", "role": "guard"}
    assert authenticate(tmp_path / "users", "wang", "wrong horse battery") is None
    assert main(["console-user", "add", "-c", str(config), "wang", "--role", "admin", "--password-file",
                 str(password)]) == 0
    assert json.loads(capsys.readouterr().out)["result"] == "updated"
    short = tmp_path / "short"
    short.write_text("abc")
    assert main(["console-user", "add", "-c", str(config), "li", "--role", "guard", "--password-file",
                 str(short)]) == 1
    assert main(["console-user", "add", "-c", str(config), "bad name", "--role", "guard", "--password-file",
                 str(password)]) == 1
    assert stat.S_IMODE(os.stat(tmp_path / "users").st_mode) == 0o600
