"""The console's notification API (edge.office.console.notify_pages) on a running office: who was told of an
alert (recipients masked, a message being sent shown as queued), and the admin's test message, sent by the
office's own delivery worker to a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import secrets
import time
from types import SimpleNamespace

import pytest
from loopback_http import RecordingServer
from mqtt_helpers import wait_for
from notify_office import notify_office

from edge.config.notify import NotifyConfig


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("notify-api")
    (folder / "hook.secret").write_text("webhook-secret")
    with RecordingServer() as robot, notify_office(folder, {"channels": {"robot": {
            "type": "webhook", "url": robot.url("/hook"), "secret_file": str(folder / "hook.secret")}}}) as office:
        yield SimpleNamespace(**vars(office), robot=robot, folder=folder)


def _queue(store, alert_id, step, recipient, now):
    channel, _, address = recipient.partition(":")
    with store.transaction():
        return store.notifications.queue(alert_id, "care_watch", step, recipient, channel, address or None,
                                         "12-301 unseen", {"v": 1, "alert_id": alert_id}, now)


def test_a_guard_sees_who_was_told_of_an_alert_with_phones_and_mails_masked(site, guard):
    store, now = site.office.store, time.time()
    phone = _queue(store, "api-a1", 0, "modem:13800000000", now)  # no modem here: it stays queued
    mail = _queue(store, "api-a1", 1, "mail:alice@x.cn", now + 1)
    store.notifications.claim(mail)  # being sent: the API says queued
    robot = _queue(store, "api-a1", 2, "robot", now + 2)
    site.office.delivery.wake()
    assert wait_for(lambda: store.notifications.get(robot)["state"] == "sent")
    _queue(store, "api-other", 0, "modem:13900000000", now)

    answer = guard.get("/api/notifications", params={"alert_id": "api-a1"})
    assert answer.status_code == 200, answer.text
    listed = {m["message_id"]: m for m in answer.json()}
    assert list(listed) == [robot, mail, phone], "newest first, this alert's only"
    assert {m: (r["recipient"], r["state"], r["attempts"], r["step"], r["channel"]) for m, r in listed.items()} == {
        phone: ("modem:138****0000", "queued", 0, "0", "modem"),
        mail: ("mail:a***@x.cn", "queued", 1, "1", "mail"),
        robot: ("robot", "sent", 1, "2", "robot")}
    assert listed[robot]["sent_at"] and listed[phone]["sent_at"] is None and listed[robot]["error"] is None
    assert "13800000000" not in answer.text and "alice" not in answer.text
    assert set(listed[robot]) >= {"alert_id", "step", "channel", "recipient", "state", "attempts", "sent_at", "error"}

    assert len(guard.get("/api/notifications", params={"limit": 2}).json()) == 2
    refused = guard.get("/api/notifications", params={"limit": 0})
    assert refused.status_code == 400 and refused.json()["error"] == "limit: a whole number from 1 to 1000"
    assert refused.json()["message"] == "条数请填 1 到 1000 之间的整数"


def test_an_admin_s_test_message_reaches_the_channel_with_its_id(site, admin):
    before = len(site.robot.requests)
    answer = admin.post("/api/notify/test", json={"channel": "robot"})
    assert answer.status_code == 200, answer.text
    message_id = answer.json()["message_id"]
    assert answer.json()["recipient"] == "robot"
    assert wait_for(lambda: len(site.robot.requests) > before)
    body = site.robot.requests[before].json()
    assert (body["message_id"], body["kind"]) == (message_id, "test") and "测试" in body["text"]
    assert wait_for(lambda: site.office.store.notifications.get(message_id)["state"] == "sent")
    audit = site.office.store.console.audit_rows(5)
    assert any(a["action"] == "notify-test" and a["detail"]["message_id"] == message_id and a["outcome"] == "ok"
               for a in audit)


def test_only_an_admin_with_the_session_s_token_sends_a_test_and_a_wrong_channel_is_named(site, guard, admin):
    refused = guard.post("/api/notify/test", json={"channel": "robot"})
    assert refused.status_code == 403 and "admin" in refused.json()["error"]
    token = admin.headers.pop("X-CSRF-Token")
    assert admin.post("/api/notify/test", json={"channel": "robot"}).status_code == 403
    admin.headers["X-CSRF-Token"] = token
    unknown = admin.post("/api/notify/test", json={"channel": "duty-group"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "no channel 'duty-group' in notify.channels (channels: robot)"
    assert "duty-group" in unknown.json()["message"] and "没有" in unknown.json()["message"]
    missing = admin.post("/api/notify/test", json={})
    assert missing.status_code == 400 and missing.json()["error"].startswith("channel:")
    group = admin.post("/api/notify/test", json={"channel": "robot", "address": "13800000000"})
    assert group.status_code == 400 and "group robot" in group.json()["error"]


def _stand_in(site, notify: NotifyConfig):
    """A console over the running office whose config has sms and smtp channels (not built here: an office
    needs a modem and a mail server for those), logged in as the admin; (ask, end)."""
    import httpx

    from edge.office.console.app import create_app
    from edge.office.console.guard import COOKIE, SESSION_TTL_S, session_hash
    from edge.office.console.users import UsersFile

    async def run_blocking(fn, *args):
        return fn(*args)

    store = site.office.store
    console = SimpleNamespace(office=site.office, config=site.office.config.model_copy(update={"notify": notify}),
                              clock=time.time, run_blocking=run_blocking)
    token, csrf = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    credential = UsersFile(site.office.config.console.users_file).credential("admin1")
    store.console.add_session(session_hash(token), "admin1", "admin", csrf, time.time(), SESSION_TTL_S, credential)

    def ask(body: dict):
        async def post():
            transport = httpx.ASGITransport(app=create_app(console))
            async with httpx.AsyncClient(transport=transport, base_url="http://office",
                                         cookies={COOKIE: token}) as client:
                return await client.post("/api/notify/test", json=body, headers={"X-CSRF-Token": csrf})

        return asyncio.run(post())

    return ask, lambda: store.console.end_session(session_hash(token))


def test_an_sms_or_smtp_channel_s_test_needs_an_address_and_says_so(site):
    notify = NotifyConfig.model_validate({"channels": {
        "modem": {"type": "sms", "port": "/dev/ttyUSB2"},
        "mail": {"type": "smtp", "host": "127.0.0.1", "tls": "none", "from": "office@x.cn"}}})
    ask, end = _stand_in(site, notify)
    try:
        no_phone = ask({"channel": "modem"})
        no_mail = ask({"channel": "mail"})
        bad = ask({"channel": "modem", "address": "call me"})
        contacts = ask({"channel": "modem", "address": "contacts"})
        phoned = ask({"channel": "modem", "address": "13800000000"})
        mailed = ask({"channel": "mail", "address": "alice@x.cn"})
    finally:
        end()
    assert no_phone.status_code == 400 and no_phone.json()["error"] == (
        "address: channel modem sends SMS: give the phone number to send the test to as address")
    assert no_phone.json()["message"] == "modem 发短信：请在“地址”填上接收测试短信的手机号码"
    assert no_mail.status_code == 400 and "e-mail address" in no_mail.json()["error"]
    assert bad.status_code == 400 and bad.json()["error"] == (
        "address: 'call me' is not a phone number or e-mail address this channel takes")
    assert contacts.status_code == 400
    assert phoned.status_code == 200 and phoned.json()["recipient"] == "modem:138****0000"
    assert mailed.status_code == 200 and mailed.json()["recipient"] == "mail:a***@x.cn"
    row = site.office.store.notifications.get(phoned.json()["message_id"])
    assert (row["channel"], row["address"], row["kind"]) == ("modem", "13800000000", "test")
