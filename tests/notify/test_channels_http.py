"""The HTTP channels (wecom, dingtalk, webhook) against a real HTTP server on loopback (loopback_http).

The server checks what the real service would, with its own code: DingTalk's signature and the webhook's
HMAC are recomputed here with hmac/hashlib, not with the channel's functions; DingTalk's signing is also
checked against the inputs of DingTalk's own documentation. Answers of 200, 4xx, 5xx, a robot's errcodes and
a server that never answers check what is tried again. URLs hold keys: no error text nor log line may show one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import urllib.parse

import pytest
from loopback_http import Answer, RecordingServer

from edge.config.notify import NotifyConfig
from edge.office.notify.channels import TYPES, DeliveryFailed, Outgoing, build_channels
from edge.office.notify.channels.dingtalk import sign
from edge.office.notify.channels.http_post import retry_after_s

NOW = 1_767_225_600.0  # 2026-01-01 00:00:00 UTC: the channels' injected clock
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"  # the shape of a WeChat Work robot's key
DING_TOKEN = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
DING_SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"
HOOK_TOKEN = "street-platform-token-8c1f"
HOOK_SECRET = "webhook hmac key 甲乙"

TEXT = "【看护提醒】12号楼3单元 已 49 小时未见（最后：东门）。回复 K7Q2XM 确认。"
PAYLOAD = {"v": 1, "alert_id": "care_watch:41:1767139200", "kind": "care_watch", "step": "0", "text": TEXT,
           "unit": "12-3-301", "person_id": 41, "code": "K7Q2XM", "ts": "2026-01-01T08:00:00+08:00"}


def message(message_id: str = "m-0001", text: str = TEXT) -> Outgoing:
    return Outgoing(message_id=message_id, channel="duty-group", address=None, text=text, payload=PAYLOAD)


@pytest.fixture
def server():
    with RecordingServer() as s:
        yield s


@pytest.fixture
def make(tmp_path):
    """make(section, clock=...) → the channel named duty-group, built from a notify section as the office
    builds them (build_channels); closed after the test."""
    made = []

    def _make(section: dict, *, clock=lambda: NOW):
        config = NotifyConfig.model_validate({"channels": {"duty-group": section}})
        channels = build_channels(config, clock=clock)
        made.extend(channels.values())
        return channels["duty-group"]

    yield _make
    for channel in made:
        channel.close()


def secret_file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text + "\n", encoding="utf-8")
    return str(path)


def failure(channel, msg=None) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as caught:
        channel.send(msg or message())
    return caught.value


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once this socket is closed


# -- wecom ---------------------------------------------------------------------------------------------------

@pytest.fixture
def wecom(server, make, tmp_path):
    url = server.url(f"/cgi-bin/webhook/send?key={ROBOT_KEY}")
    return make({"type": "wecom", "url_file": secret_file(tmp_path, "wecom.url", url),
                 "mention_mobiles": ["13800000000"], "timeout_s": 0.5})


def test_the_registry_has_the_http_channels():
    assert {"wecom", "dingtalk", "webhook"} <= set(TYPES)


def test_wecom_posts_the_text_to_the_robot_and_is_done_on_errcode_0(server, wecom):
    wecom.send(message())
    [request] = server.requests
    assert request.path == "/cgi-bin/webhook/send" and urllib.parse.parse_qs(request.query) == {"key": [ROBOT_KEY]}
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.json() == {"msgtype": "text", "text": {"content": TEXT, "mentioned_mobile_list": ["13800000000"]}}


def test_wecom_cuts_a_text_over_its_2048_bytes_at_a_character(server, wecom):
    wecom.send(message(text="看" * 1000))  # 3000 bytes in UTF-8
    content = server.requests[0].json()["text"]["content"]
    assert len(content.encode("utf-8")) <= 2048 and content.endswith("…") and content.startswith("看" * 600)


def test_wecom_rate_limit_is_tried_again_after_a_minute(server, wecom):
    server.answer(200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    failed = failure(wecom)
    assert failed.retry and failed.retry_after_s == 60
    assert str(failed) == "wecom duty-group: errcode 45009 (api freq out of limit)"


@pytest.mark.parametrize("errcode, retry", [(93000, False), (40008, False), (-1, True)])
def test_wecom_errcodes_other_than_the_rate_limit(server, wecom, errcode, retry):
    server.answer(200, {"errcode": errcode, "errmsg": "x"})
    failed = failure(wecom)
    assert failed.retry is retry and failed.retry_after_s is None


def test_wecom_answer_that_is_not_the_robots_is_tried_again(server, wecom):
    server.answer(200, b"<html>portal</html>")
    assert failure(wecom).retry


def test_a_failure_never_shows_the_robots_key_in_its_error_or_any_log(server, wecom, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, httpx's and httpcore's included
    wecom.send(message())  # httpx logs this request at INFO: with its URL unless we hide it
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text  # the log line is there (this test can fail)
    server.answer(500)
    failed = failure(wecom)
    assert str(failed) == "wecom duty-group: HTTP 500" and failed.retry
    server.answer(200, {"errcode": 93000, "errmsg": f"invalid webhook url, key {ROBOT_KEY}"})
    echoed = failure(wecom)  # a robot that repeats the key in its errmsg
    assert ROBOT_KEY not in str(echoed) and "***" in str(echoed)
    logging.getLogger("edge").warning("delivery failed: %s", echoed)  # what the delivery worker would log
    assert ROBOT_KEY not in caplog.text and "key=" not in caplog.text


def test_wecom_that_never_answers_times_out_and_is_tried_again(server, wecom):
    server.answer(hang=True)
    failed = failure(wecom)
    assert failed.retry and str(failed) == "wecom duty-group: no answer within 0.5 s"


def test_wecom_that_refuses_the_connection_is_tried_again(make, tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/cgi-bin/webhook/send?key={ROBOT_KEY}"
    channel = make({"type": "wecom", "url_file": secret_file(tmp_path, "wecom.url", url)})
    failed = failure(channel)
    assert failed.retry and str(failed).startswith("wecom duty-group: cannot reach the service")
    assert ROBOT_KEY not in str(failed)


# -- dingtalk ------------------------------------------------------------------------------------------------

def dingtalk_checks(secret: str):
    """DingTalk's own check of a signed request, written from its documentation with hmac/hashlib: the sign
    must be base64(HMAC-SHA256(secret, "<timestamp>\\n<secret>")), URL-encoded in the query; a request that
    fails gets what DingTalk answers then (errcode 310000)."""

    def check(request):
        query = urllib.parse.parse_qs(request.query)  # decodes the URL-encoding, as DingTalk's server does
        timestamp, sent = query.get("timestamp", [""])[0], query.get("sign", [""])[0]
        expected = base64.b64encode(hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(),
                                             hashlib.sha256).digest()).decode()
        if not timestamp or not hmac.compare_digest(sent, expected):
            return Answer(200, {"errcode": 310000, "errmsg": "sign not match"})
        return None

    return check


@pytest.fixture
def dingtalk(server, make, tmp_path):
    server.check = dingtalk_checks(DING_SECRET)
    url = server.url(f"/robot/send?access_token={DING_TOKEN}")
    return make({"type": "dingtalk", "url_file": secret_file(tmp_path, "ding.url", url),
                 "secret_file": secret_file(tmp_path, "ding.secret", DING_SECRET), "timeout_s": 0.5})


def test_dingtalk_signs_each_request_with_the_clocks_milliseconds(server, dingtalk):
    dingtalk.send(message())
    [request] = server.requests
    query = urllib.parse.parse_qs(request.query)
    assert query["access_token"] == [DING_TOKEN] and query["timestamp"] == [str(int(NOW * 1000))]
    assert request.json() == {"msgtype": "text", "text": {"content": TEXT}}


# DingTalk's documentation of 加签 (open.dingtalk.com, 自定义机器人安全设置 "customize-robot-security-settings";
# read in its copy https://apifox.com/apidoc/docs-site/467052/doc-3550006) gives the algorithm with its example
# secret 'this is secret' and a Python snippet that prints the sign for the current time; its robot-callback
# page (接收消息: header "timestamp": "1577262236757") gives the example timestamp. The documentation prints no
# sign for them: the expected value is what DingTalk's snippet prints with that timestamp fixed, the same as
# `printf '1577262236757\nthis is secret' | openssl dgst -sha256 -hmac 'this is secret' -binary | base64`
# (hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM=) URL-encoded, and as another project's published test of the
# same example (…&timestamp=1577262236757&sign=hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D).
DOC_TIMESTAMP_MS = 1577262236757
DOC_SECRET = "this is secret"
DOC_SIGN = "hmPWwU%2B7lVdm3ZZz0r9tSfx0L4Q26jWOZr9%2BGs6EZQM%3D"


def test_dingtalk_sign_of_the_documentations_example():
    assert sign(DOC_TIMESTAMP_MS, DOC_SECRET) == DOC_SIGN


def test_dingtalk_request_for_the_documentations_example_carries_its_sign(server, make, tmp_path):
    server.check = dingtalk_checks(DOC_SECRET)
    channel = make({"type": "dingtalk",
                    "url_file": secret_file(tmp_path, "ding.url", server.url(f"/robot/send?access_token={DING_TOKEN}")),
                    "secret_file": secret_file(tmp_path, "ding.secret", DOC_SECRET)},
                   clock=lambda: DOC_TIMESTAMP_MS / 1000)
    channel.send(message())
    assert server.requests[0].query == f"access_token={DING_TOKEN}&timestamp={DOC_TIMESTAMP_MS}&sign={DOC_SIGN}"


def test_dingtalk_with_the_wrong_secret_is_refused_and_not_tried_again(server, make, tmp_path):
    server.check = dingtalk_checks(DING_SECRET)
    channel = make({"type": "dingtalk",
                    "url_file": secret_file(tmp_path, "ding.url", server.url(f"/robot/send?access_token={DING_TOKEN}")),
                    "secret_file": secret_file(tmp_path, "ding.secret", "SECnot-the-robots-secret")})
    failed = failure(channel)
    assert not failed.retry and str(failed) == "dingtalk duty-group: errcode 310000 (sign not match)"


def test_dingtalk_rate_limit_waits_out_its_ten_minutes(server, dingtalk):
    server.answer(200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
    failed = failure(dingtalk)
    assert failed.retry and failed.retry_after_s == 600


def test_dingtalk_failures_show_neither_token_nor_secret(server, dingtalk, caplog):
    caplog.set_level(logging.DEBUG)
    server.answer(502)
    failed = failure(dingtalk)
    assert str(failed) == "dingtalk duty-group: HTTP 502" and failed.retry
    server.answer(hang=True)
    failed = failure(dingtalk)
    logging.getLogger("edge").warning("delivery failed: %s", failed)
    assert "HTTP Request: POST" in caplog.text
    for secret in (DING_TOKEN, DING_SECRET, "sign=", "access_token"):
        assert secret not in caplog.text and secret not in str(failed)


# -- webhook -------------------------------------------------------------------------------------------------

def hmac_checks(key: bytes):
    """The receiver's check: X-Gate-Edge-Signature is sha256=<hex HMAC-SHA256 of the exact body bytes>."""

    def check(request):
        expected = "sha256=" + hmac.new(key, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("x-gate-edge-signature", ""), expected):
            return Answer(401, {"error": "bad signature"})
        return None

    return check


@pytest.fixture
def webhook(server, make, tmp_path):
    server.default = Answer(204, b"")
    server.check = hmac_checks(HOOK_SECRET.encode("utf-8"))
    return make({"type": "webhook", "url": server.url(f"/hooks/{HOOK_TOKEN}?token={HOOK_TOKEN}"),
                 "secret_file": secret_file(tmp_path, "hook.secret", HOOK_SECRET), "timeout_s": 0.5})


def test_webhook_posts_the_message_json_signed_with_its_id(server, webhook):
    webhook.send(message("m-0001"))
    server.answer(503)
    with pytest.raises(DeliveryFailed):
        webhook.send(message("m-0001"))  # the same message tried again
    first, again = server.requests
    assert json.loads(first.body.decode("utf-8")) == PAYLOAD
    assert first.headers["content-type"] == "application/json; charset=utf-8"
    assert first.headers["x-gate-edge-message-id"] == again.headers["x-gate-edge-message-id"] == "m-0001"
    assert first.body == again.body and first.headers["x-gate-edge-signature"].startswith("sha256=")


def test_webhook_signed_with_another_key_is_refused_by_the_receiver(server, make, tmp_path):
    server.check = hmac_checks(HOOK_SECRET.encode("utf-8"))
    channel = make({"type": "webhook", "url": server.url("/hooks/x"),
                    "secret_file": secret_file(tmp_path, "other.secret", "not the receiver's key")})
    failed = failure(channel)
    assert str(failed) == "webhook duty-group: HTTP 401" and not failed.retry


@pytest.mark.parametrize("status, retry", [(200, None), (202, None), (500, True), (503, True), (400, False),
                                           (404, False), (410, False), (408, True), (301, False)])
def test_webhook_status_decides_delivered_or_tried_again(server, webhook, status, retry):
    server.answer(status, b"", {"Location": "http://127.0.0.1:9/elsewhere"} if status == 301 else None)
    if retry is None:
        webhook.send(message())
        return
    failed = failure(webhook)
    assert failed.retry is retry and str(failed).startswith(f"webhook duty-group: HTTP {status}")


def test_webhook_429_is_tried_again_after_its_retry_after(server, webhook):
    server.answer(429, b"", {"Retry-After": "120"})
    assert failure(webhook).retry_after_s == 120
    server.answer(429, b"", {"Retry-After": "Thu, 01 Jan 2026 00:05:00 GMT"})  # an HTTP-date: NOW + 300 s
    failed = failure(webhook)
    assert failed.retry and failed.retry_after_s == 300
    server.answer(429)
    assert failure(webhook).retry_after_s is None  # no header: the worker's own back-off


def test_retry_after_forms():
    assert retry_after_s("0", NOW) == 0 and retry_after_s(" 17 ", NOW) == 17
    assert retry_after_s("Wed, 31 Dec 2025 23:00:00 GMT", NOW) == 0  # in the past: at once
    assert retry_after_s("soon", NOW) is None and retry_after_s(None, NOW) is None


def test_webhook_timeout_and_refusal_are_tried_again_without_showing_the_url(server, webhook, make, tmp_path,
                                                                            caplog):
    caplog.set_level(logging.DEBUG)
    server.answer(hang=True)
    timed_out = failure(webhook)
    assert timed_out.retry and str(timed_out) == "webhook duty-group: no answer within 0.5 s"
    refusing = make({"type": "webhook", "url": f"http://127.0.0.1:{closed_port()}/hooks/{HOOK_TOKEN}",
                     "secret_file": secret_file(tmp_path, "hook2.secret", HOOK_SECRET)})
    refused = failure(refusing)
    assert refused.retry and "cannot reach the service" in str(refused)
    webhook.send(message())
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text
    for shown in (str(timed_out), str(refused), caplog.text):
        assert HOOK_TOKEN not in shown and HOOK_SECRET not in shown


def test_channels_read_their_secrets_once_when_made(server, make, tmp_path):
    path = tmp_path / "wecom.url"
    channel = make({"type": "wecom", "url_file": secret_file(tmp_path, "wecom.url",
                                                             server.url(f"/cgi-bin/webhook/send?key={ROBOT_KEY}"))})
    path.unlink()  # a file removed after the start changes nothing until the office restarts
    channel.send(message())
    assert len(server.requests) == 1
