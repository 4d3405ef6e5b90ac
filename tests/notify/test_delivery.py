"""The delivery worker (edge.office.notify.delivery) with the real webhook channel against a real HTTP server
on loopback (loopback_http): retries with back-off on an injected clock, a message refused for good, the
notify:<channel> alert raised and cleared, a robot's rate limit held in every minute of the injected
monotonic clock, one thread per channel, and the restart rule. The worker runs on the test's thread
(``run_due``) where time is injected, on its own threads where it is not."""

from __future__ import annotations

import json

import pytest
from loopback_http import Answer, RecordingServer
from mqtt_helpers import wait_for

from edge.config.notify import NotifyConfig
from edge.office.notify.channels import build_channels
from edge.office.notify.delivery import Delivery, backoff_s, queue_test, redacted
from edge.timeutil import FixedClock

T0 = 1_780_000_000.0


@pytest.fixture
def clock():
    return FixedClock(T0)


@pytest.fixture
def mono():
    return FixedClock(5000.0)


@pytest.fixture
def alerts(config, store, clock):
    from edge.alerts import Alerts

    return Alerts(config, store, clock=clock)


def notify_config(tmp_path, channels: dict, **retry) -> NotifyConfig:
    secret = tmp_path / "hook.secret"
    secret.write_text("webhook-secret")
    return NotifyConfig.model_validate({
        "channels": {name: {"type": "webhook", "url": url, "secret_file": str(secret), **extra}
                     for name, (url, extra) in channels.items()},
        "retry": {"first_s": 30, "max_s": 240, "failing_after": 3, **retry}})


def make_delivery(notify, store, alerts, clock, mono) -> Delivery:
    return Delivery(notify, store, build_channels(notify, clock=clock), alerts, clock=clock, monotonic=mono)


def served(*answers, stamp=None) -> RecordingServer:
    """A webhook endpoint answering ``answers`` (a status, or (status, headers)) first, then 200; ``stamp``:
    an injected clock read as each request arrives (``server.stamps``)."""
    server = RecordingServer()
    for answer in answers:
        status, headers = answer if isinstance(answer, tuple) else (answer, None)
        server.answer(status, headers=headers)
    server.stamps = []
    if stamp is not None:
        server.check = lambda request: server.stamps.append(stamp())  # None: answered as queued
    return server


def ids(server) -> list[str]:
    """The message id of each request, as the webhook sends it (header), checked against its JSON."""
    found = [r.headers["x-gate-edge-message-id"] for r in server.requests]
    assert found == [r.json()["message_id"] for r in server.requests]
    return found


def url(server) -> str:
    return server.url("/hook")


def queue(store, clock, alert_id="a1", step=0, channel="robot", wake=None) -> str:
    with store.transaction():
        mid = store.notifications.queue(alert_id, "care_watch", step, channel, channel, None, f"{alert_id} step {step}",
                                        {"v": 1, "alert_id": alert_id, "kind": "care_watch", "step": step}, clock())
        if wake is not None:
            store.after_commit(wake)
    return mid


def test_a_channel_answering_500_then_200_is_retried_after_the_back_off_and_delivered_once(
        tmp_path, store, alerts, clock, mono):
    with served(500) as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        mid = queue(store, clock)
        assert delivery.run_due() == 1
        row = store.notifications.get(mid)
        assert (row["state"], row["attempts"], row["next_try_epoch"]) == ("queued", 1, T0 + 30)
        assert row["error"] == "webhook robot: HTTP 500"
        clock.advance(29)
        assert delivery.run_due() == 0, "not before its back-off"
        clock.advance(1)
        assert delivery.run_due() == 1
        clock.advance(3600)
        assert delivery.run_due() == 0
    row = store.notifications.get(mid)
    assert (row["state"], row["attempts"], row["sent_epoch"], row["error"]) == ("sent", 2, T0 + 30, None)
    assert ids(robot) == [mid, mid], "the same message id on the retry"
    assert robot.requests[0].json()["alert_id"] == "a1"
    assert store.notifications.channels()[0]["failures"] == 0


def test_the_back_off_doubles_from_first_s_up_to_max_s(tmp_path, store, alerts, clock, mono):
    with served() as robot:
        robot.default = Answer(503)
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}, failing_after=100), store,
                                 alerts, clock, mono)
        mid = queue(store, clock)
        waits = []
        for _ in range(6):
            assert delivery.run_due() == 1
            wait = store.notifications.get(mid)["next_try_epoch"] - clock()
            waits.append(wait)
            clock.advance(wait)
    assert waits == [30, 60, 120, 240, 240, 240]
    assert len(robot.requests) == 6 and store.notifications.get(mid)["state"] == "queued", "never given up"


def test_a_message_the_service_refuses_for_good_is_failed_at_once(tmp_path, store, alerts, clock, mono):
    with served(400) as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        refused, after = queue(store, clock, step=0), queue(store, clock, step=1)
        assert delivery.run_due() == 2
        clock.advance(3600)
        assert delivery.run_due() == 0
    refused_row = store.notifications.get(refused)
    assert (refused_row["state"], refused_row["error"]) == ("failed", "webhook robot: HTTP 400")
    assert store.notifications.get(after)["state"] == "sent"
    assert ids(robot) == [refused, after]


def test_a_channel_that_keeps_failing_raises_its_device_alert_and_the_next_success_clears_it(
        tmp_path, store, alerts, clock, mono):
    with served(500, 500, 500) as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        delivery.recover()
        mid = queue(store, clock)
        for wait in (30, 60):
            delivery.run_due()
            assert store.alerts.open_device("notify:robot") is None, "not before failing_after failures"
            clock.advance(wait)
        delivery.run_due()
        raised = store.alerts.open_device("notify:robot")
        assert raised is not None and raised["detail"] == (
            "channel robot: 3 tries in a row failed, the last: webhook robot: HTTP 500")
        assert raised["detail_code"] == "notify_failing"
        published = [m for m in store.outbox.unsent(100) if m["topic"].endswith("/alert/device")]
        assert [json.loads(m["payload"])["device"] for m in published] == ["notify:robot"]
        clock.advance(120)
        assert delivery.run_due() == 1
    assert store.notifications.get(mid)["state"] == "sent"
    assert store.alerts.open_device("notify:robot") is None
    (episode,) = store.alerts.all(subject="notify:robot")
    assert (episode["state"], episode["cleared_epoch"]) == ("cleared", T0 + 210)


def test_an_alert_open_before_a_restart_is_cleared_by_the_first_success_after_it(tmp_path, store, alerts, clock, mono):
    alerts.device("notify:robot", False, "failing before the restart")
    with served() as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        queue(store, clock)
        assert delivery.run_due() == 1
    assert store.alerts.open_device("notify:robot") is None


def test_a_robot_limited_to_20_a_minute_never_gets_more_in_any_minute(tmp_path, store, alerts, clock, mono):
    with served(stamp=mono) as robot:
        notify = notify_config(tmp_path, {"robot": (url(robot), {"rate_per_minute": 20})})
        delivery = make_delivery(notify, store, alerts, clock, mono)
        queued = {queue(store, clock, alert_id=f"a{i}") for i in range(100)}
        for _ in range(400):  # 400 s of the injected clocks, a second at a time
            delivery.run_due()
            mono.advance(1)
            clock.advance(1)
    stamps = sorted(robot.stamps)
    assert set(ids(robot)) == queued and len(stamps) == 100, "all delivered, each once"
    busiest = max(sum(1 for t in stamps if s <= t <= s + 60) for s in stamps)
    assert busiest == 20, "the limit is used, never passed"
    assert all(store.notifications.get(m)["attempts"] == 1 for m in queued), "waiting is not failing"


def test_a_service_that_asks_to_wait_holds_its_channel_that_long(tmp_path, store, alerts, clock, mono):
    with served((429, {"Retry-After": "60"}), stamp=mono) as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        first, second = queue(store, clock, step=0), queue(store, clock, step=1)
        assert delivery.run_due() == 1
        mono.advance(59)
        clock.advance(59)
        assert delivery.run_due() == 0, "the other message waits too"
        mono.advance(1)
        clock.advance(1)
        assert delivery.run_due() == 2
    assert ids(robot) == [first, second, first]
    assert {store.notifications.get(m)["state"] for m in (first, second)} == {"sent"}


def test_each_channel_sends_on_its_own_thread_so_a_slow_one_holds_no_other(tmp_path, store, alerts):
    import time

    with served() as fast:
        with served() as slow:
            slow.answer(hang=True)  # the slow robot takes the request and does not answer
            notify = notify_config(tmp_path, {"slow": (url(slow), {}), "fast": (url(fast), {})})
            delivery = make_delivery(notify, store, alerts, time.time, time.monotonic).start()
            try:
                stuck = queue(store, time.time, "a1", channel="slow", wake=delivery.wake)
                assert wait_for(lambda: len(slow.requests) == 1)
                quick = queue(store, time.time, "a2", channel="fast", wake=delivery.wake)
                assert wait_for(lambda: store.notifications.get(quick)["state"] == "sent"), \
                    "the fast channel's message went while the slow one waited"
                assert store.notifications.get(stuck)["state"] == "sending"
            except BaseException:
                delivery.close()
                raise
        delivery.close()  # the slow endpoint answered as it closed: the slow message is sent too
    assert ids(slow) == [stuck] and ids(fast) == [quick]
    assert store.notifications.get(stuck)["state"] == "sent"


def test_after_a_restart_only_the_message_caught_sending_goes_again_with_its_id(tmp_path, store, alerts, clock,
                                                                                mono):
    with served() as robot:
        notify = notify_config(tmp_path, {"robot": (url(robot), {})})
        sent, caught, waiting = (queue(store, clock, step=s) for s in range(3))
        store.notifications.claim(sent)
        store.notifications.sent(sent, clock())
        store.notifications.claim(caught)  # the office stopped here, the request perhaps made
        delivery = make_delivery(notify, store, alerts, clock, mono)
        assert delivery.recover() == [caught]
        assert delivery.run_due() == 2
        assert delivery.run_due() == 0
    assert sorted(ids(robot)) == sorted([caught, waiting])
    assert store.notifications.get(caught)["attempts"] == 2


def test_messages_of_a_channel_no_longer_configured_are_given_up_with_the_reason(tmp_path, store, alerts, clock,
                                                                                 mono):
    with served() as robot:
        orphan = queue(store, clock, channel="old-robot")
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        delivery.run_due()
    row = store.notifications.get(orphan)
    assert (row["state"], row["error"]) == ("failed", "no channel 'old-robot' in notify.channels")
    assert robot.requests == []


def test_a_test_message_is_queued_with_a_payload_of_its_own(tmp_path, store, alerts, clock, mono, config):
    with served() as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, clock, mono)
        mid = queue_test(store, "robot", None, site="tianlin12", zone=config.zone, now=clock())
        assert delivery.run_due() == 1
    (body,) = [r.json() for r in robot.requests]
    assert body["kind"] == "test" and body["message_id"] == mid and "测试" in body["text"]
    assert store.notifications.get(mid)["recipient"] == "robot"


def test_what_a_failure_says_keeps_no_url_and_the_back_off_helper():
    assert redacted("POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc failed") == "POST <url> failed"
    retry = NotifyConfig.model_validate({"retry": {"first_s": 10, "max_s": 50}}).retry
    assert [backoff_s(retry, n) for n in (1, 2, 3, 4)] == [10, 20, 40, 50]


def test_closing_stops_every_channel_thread(tmp_path, store, alerts):
    import time

    with served() as robot:
        delivery = make_delivery(notify_config(tmp_path, {"robot": (url(robot), {})}), store, alerts, time.time,
                                 time.monotonic).start()
        threads = [lane.thread for lane in delivery.lanes.values()]
        assert all(t.is_alive() for t in threads)
        delivery.close()
    assert not any(t.is_alive() for t in threads)
