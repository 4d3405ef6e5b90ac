"""The notification rows alone, in memory (edge.store.notifications): a message queued twice is one row; its
states queued → sending → sent | failed and back; a restart requeues what it caught sending, same id; the
alerts' short codes; channel health."""

from __future__ import annotations

import pytest

from edge.store import Store
from edge.store.notifications import CODE_ALPHABET, CODE_LENGTH


@pytest.fixture
def store():
    with Store(":memory:") as s:
        yield s


def _queue(store, step=0, recipient="duty-group", now=100.0, alert_id="a1", **kw):
    channel, _, address = recipient.partition(":")
    return store.notifications.queue(alert_id, kw.pop("kind", "care_watch"), step, recipient, channel,
                                     address or None, kw.pop("text", "12-301 unseen 48 h"),
                                     kw.pop("payload", {"v": 1, "alert_id": alert_id}), now)


def test_queuing_the_same_step_for_the_same_recipient_twice_is_one_row(store):
    with store.transaction():
        first = _queue(store)
    with store.transaction():
        again = _queue(store, text="another text")
    assert first and again is None
    rows = store.notifications.for_alert("a1")
    assert [(r["message_id"], r["text"], r["state"]) for r in rows] == [(first, "12-301 unseen 48 h", "queued")]
    # Another step or another recipient is another message.
    other_step, other_recipient = _queue(store, step=1), _queue(store, recipient="modem:13800000000")
    assert len({first, other_step, other_recipient}) == 3
    assert store.notifications.get(other_recipient)["address"] == "13800000000"
    assert store.notifications.get(first)["payload"] == {"v": 1, "alert_id": "a1"}


def test_a_message_queued_in_a_transaction_that_rolls_back_is_not_queued(store):
    with pytest.raises(RuntimeError), store.transaction():
        _queue(store)
        raise RuntimeError("the archive failed")
    assert store.notifications.for_alert("a1") == []


def test_claim_sent_and_failed_move_a_message_through_its_states(store):
    n = store.notifications
    mid = _queue(store, now=100.0)
    assert n.due(99.0) == [] and [m["message_id"] for m in n.due(100.0)] == [mid]
    claimed = n.claim(mid)
    assert claimed["state"] == "sending" and claimed["attempts"] == 1
    assert n.claim(mid) is None, "a message being sent is not claimed twice"
    assert n.due(1000.0) == []
    n.failed(mid, "HTTP 500", 130.0)
    row = n.get(mid)
    assert (row["state"], row["error"], row["next_try_epoch"], row["attempts"]) == ("queued", "HTTP 500", 130.0, 1)
    assert n.due(129.0) == [] and n.next_due_epoch() == 130.0
    assert n.claim(mid)["attempts"] == 2
    n.sent(mid, 131.0)
    row = n.get(mid)
    assert (row["state"], row["sent_epoch"], row["error"]) == ("sent", 131.0, None)
    n.failed(mid, "late", None)
    assert n.get(mid)["state"] == "sent", "a sent message stays sent"
    assert n.next_due_epoch() is None


def test_failed_without_a_next_try_gives_up(store):
    n = store.notifications
    mid = _queue(store)
    n.claim(mid)
    n.failed(mid, "HTTP 400: malformed", None)
    row = n.get(mid)
    assert (row["state"], row["error"]) == ("failed", "HTTP 400: malformed")
    assert n.due(1e12) == [] and n.counts() == {"failed": 1}


def test_requeue_sending_keeps_the_id_and_touches_nothing_else(store):
    n = store.notifications
    sending, queued, sent = _queue(store, step=0), _queue(store, step=1), _queue(store, step=2)
    n.claim(sending)
    n.claim(sent)
    n.sent(sent, 101.0)
    assert n.requeue_sending() == [sending]
    assert {r["message_id"]: r["state"] for r in n.for_alert("a1")} == {
        sending: "queued", queued: "queued", sent: "sent"}
    assert n.get(sending)["attempts"] == 1
    assert {m["message_id"] for m in n.due(100.0)} == {sending, queued}
    assert n.requeue_sending() == []


def test_due_can_leave_out_busy_channels(store):
    a = _queue(store, recipient="duty-group")
    b = _queue(store, recipient="modem:13800000000")
    assert [m["message_id"] for m in store.notifications.due(100.0, channels={"modem"})] == [b]
    assert [m["message_id"] for m in store.notifications.due(100.0, channels={"duty-group"})] == [a]
    assert store.notifications.due(100.0, channels=set()) == []


def test_recipients_told_in_the_order_first_queued(store):
    _queue(store, step=0, recipient="duty-group")
    _queue(store, step=1, recipient="modem:13800000000")
    _queue(store, step=2, recipient="duty-group")
    _queue(store, step="ack", recipient="modem:13900000000", kind="ack")
    n = store.notifications
    assert n.recipients_told("a1") == ["duty-group", "modem:13800000000", "modem:13900000000"]
    assert n.recipients_told("a1", kinds={"care_watch"}) == ["duty-group", "modem:13800000000"]
    assert n.recipients_told("nobody") == []


def test_an_alert_has_one_short_code_found_whatever_its_case(store):
    n = store.notifications
    row = n.open_alert("a1", "care_watch", None, 7, 100.0)
    code = row["code"]
    assert len(code) == CODE_LENGTH and set(code) <= set(CODE_ALPHABET)
    assert n.open_alert("a1", "care_watch", "ZZZZZZ", 7, 200.0)["code"] == code, "opening again keeps it"
    assert n.by_code(code)["alert_id"] == "a1"
    assert n.by_code(" " + code.lower()[:3] + " " + code.lower()[3:])["alert_id"] == "a1"
    assert n.by_code("XXXXXX" if code != "XXXXXX" else "YYYYYY") is None
    # A code already taken is not given to another alert.
    assert n.open_alert("a2", "device", code, None, 100.0)["code"] != code
    assert n.open_alert("a3", "device", "abc234", None, 100.0)["code"] == "ABC234"


def test_ack_and_clear_close_an_alert_once(store):
    n = store.notifications
    n.open_alert("a1", "care_watch", None, 7, 100.0)
    n.open_alert("d1", "device", None, None, 100.0)
    n.set_steps_done("a1", 2)
    assert [a["alert_id"] for a in n.open_alerts("care_watch")] == ["a1"]
    assert n.ack("a1", "zhang", "she is at her daughter's", "sms", 200.0)
    assert not n.ack("a1", "li", None, "console", 201.0), "acknowledged once"
    row = n.get_alert("a1")
    assert (row["state"], row["acked_by"], row["ack_note"], row["ack_via"], row["acked_epoch"], row["steps_done"]) \
        == ("acked", "zhang", "she is at her daughter's", "sms", 200.0, 2)
    assert n.clear("a1", 300.0) and not n.clear("a1", 301.0)
    assert n.get_alert("a1")["state"] == "cleared" and n.get_alert("a1")["acked_by"] == "zhang"
    assert n.ack("d1", "wang", None, "api", 1.0) and n.get_alert("d1")["state"] == "acked"
    assert n.open_alerts() == []
    assert not n.ack("unknown", "x", None, "api", 1.0) and not n.clear("unknown", 1.0)


def test_channel_results_count_consecutive_failures(store):
    n = store.notifications
    assert n.channel_result("duty-group", False, "HTTP 500", 1.0) == 1
    assert n.channel_result("duty-group", False, "timed out", 2.0) == 2
    assert n.channel_result("modem", True, None, 2.0) == 0
    assert n.channels() == [
        {"channel": "duty-group", "failures": 2, "last_state": "failed", "last_epoch": 2.0, "last_error": "timed out"},
        {"channel": "modem", "failures": 0, "last_state": "sent", "last_epoch": 2.0, "last_error": None}]
    assert n.channel_result("duty-group", True, None, 3.0) == 0
    assert n.channel_result("duty-group", False, "HTTP 502", 4.0) == 1


def test_retention_deletes_only_what_is_done(store):
    n = store.notifications
    old_sent, old_queued = _queue(store, step=0, now=10.0), _queue(store, step=1, now=10.0)
    n.claim(old_sent)
    n.sent(old_sent, 11.0)
    new_sent = _queue(store, step=2, now=500.0)
    n.claim(new_sent)
    n.sent(new_sent, 501.0)
    assert n.delete_done_before(100.0) == 1
    assert {m["message_id"] for m in n.for_alert("a1")} == {old_queued, new_sent}


def test_the_retention_job_deletes_notifications_done_before_the_archive_s_cutoff(store):
    from edge.store.retention import delete_expired

    n = store.notifications
    done, waiting = _queue(store, step=0, now=10.0), _queue(store, step=1, now=10.0)
    n.claim(done)
    n.sent(done, 11.0)
    removed = delete_expired(store, 10.0 + 200 * 86400, keep_s=100 * 86400, sent_keep_s=86400)
    assert removed["notifications"] == 1
    assert [m["message_id"] for m in n.for_alert("a1")] == [waiting], "a message still to go is never deleted"
