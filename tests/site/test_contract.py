"""The MQTT contract (DESIGN 4.3): topic names and the exact payload fields the office relies on."""

from __future__ import annotations

import json

import pytest

from edge.contract import (
    Refused,
    Topics,
    command_result,
    device_alert_payload,
    event_payload,
    inactivity_alert_id,
    inactivity_payload,
    offline_will,
    parse_event,
    status_payload,
    subject,
)

T = Topics("gate", "tianlin12", "east")


def test_topics():
    assert T.status() == "gate/tianlin12/east/status"
    assert T.event("entry") == "gate/tianlin12/east/event/entry"
    assert T.peer_events == "gate/tianlin12/+/event/#"
    assert T.inactivity == "gate/tianlin12/alert/inactivity"
    assert T.device_alert == "gate/tianlin12/east/alert/device"
    assert T.command("open") == "gate/tianlin12/east/cmd/open"
    assert T.command_result == "gate/tianlin12/east/cmd/result"


def test_topic_routing_rejects_what_is_not_ours():
    """The gate's inbox routes (edge.gate.inbox) with these filters, matched by paho; a route's handler
    reads the gate, kind or verb from what the wildcards matched (edge.site.router.wildcards)."""
    from paho.mqtt.client import topic_matches_sub

    from edge.site.router import wildcards

    def routed(topic_filter, topic):
        return wildcards(topic_filter, topic) if topic_matches_sub(topic_filter, topic) else None

    events, commands = T.event("+", "+"), T.command()
    assert routed(events, "gate/tianlin12/west/event/exit") == ("west", "exit")
    # A kind this version does not know is still an event topic: the receiver keeps it for its seq.
    assert routed(events, "gate/tianlin12/west/event/visit") == ("west", "visit")
    assert routed(events, "gate/tianlin12/west/event/a/b") is None
    assert routed(events, "gate/tianlin12/west/status") is None
    assert routed(events, "gate/other/west/event/exit") is None
    assert routed(commands, "gate/tianlin12/east/cmd/pay") == ("pay",)
    assert routed(commands, "gate/tianlin12/west/cmd/pay") is None
    assert routed(commands, "gate/tianlin12/east/cmd/pay/x") is None


def test_payload_fields_are_the_contracts():
    event = event_payload(event_id="e", seq=1, ts="t", site="s", gate="g", lane="in", kind="entry",
                          credential="face", subject=subject("person", person_id=1), decision="open", reason="r",
                          fee_cents=0, session_id=None)
    assert list(event) == ["v", "event_id", "seq", "ts", "site", "gate", "lane", "kind", "credential", "subject",
                           "decision", "reason", "fee_cents", "session_id"]
    assert event["v"] == 1
    assert list(event["subject"]) == ["type", "person_id", "plate", "class"]
    assert list(status_payload("online", "t")) == ["v", "state", "version", "ts", "cameras", "barriers", "outbox"]
    assert offline_will()["state"] == "offline"
    assert list(inactivity_payload("a", "raised", 1, "12-301", "t", 49.0, "t")) == [
        "v", "alert_id", "state", "person_id", "unit", "last_seen", "hours", "ts"]
    assert list(device_alert_payload("a", "camera:x", "raised", "d", "t")) == ["v", "alert_id", "device", "state",
                                                                                "detail", "ts"]
    assert command_result("r", False, "bad signature") == {"v": 1, "request_id": "r", "ok": False,
                                                           "error": "bad signature"}
    assert offline_will()["v"] == 1


def test_inactivity_alert_id_is_the_same_on_every_gate_for_one_episode():
    a = inactivity_alert_id("tianlin12", 7, 1795660000.123)
    # the seeing gate's full-precision time and a peer's, read back from the event's ISO ts: one id
    seen = 1795722872.7776
    from zoneinfo import ZoneInfo

    from edge.timeutil import iso, parse_iso

    read_back = parse_iso(iso(seen, ZoneInfo("Asia/Shanghai")))
    assert inactivity_alert_id("s", 1, seen) == inactivity_alert_id("s", 1, read_back)
    assert a == inactivity_alert_id("tianlin12", 7, 1795660000.123)
    assert a != inactivity_alert_id("tianlin12", 7, 1795700000.0)  # a new sighting, a new episode
    assert a != inactivity_alert_id("tianlin12", 8, 1795660000.123)


# -- what peers send: ignore what is unknown, refuse only what breaks a field in use -------------------
def _peer(**changes) -> dict:
    event = event_payload(event_id="0b5f6a0e-0000-4000-8000-000000000001", seq=7, ts="2026-11-26T08:00:00.000+08:00",
                          site="tianlin12", gate="west", lane="in", kind="entry", credential="plate",
                          subject=subject("vehicle", plate="沪A12345", vehicle_class="visitor"), decision="open",
                          reason="visitor", fee_cents=0, session_id="s-1")
    event.update(changes)
    return event


def _raw(event: dict) -> bytes:
    return json.dumps(event, ensure_ascii=False).encode()


def test_a_peer_event_with_fields_from_a_newer_gate_is_read():
    event = parse_event(_raw(_peer(colour="blue", site_uid="x", subject={"type": "vehicle", "plate": "沪A12345",
                                                                         "class": "visitor", "colour": "blue"})),
                        topic_gate="west")
    assert (event.event_id, event.seq, event.kind, event.plate, event.session_id) == (
        "0b5f6a0e-0000-4000-8000-000000000001", 7, "entry", "沪A12345", "s-1")
    assert event.known_kind and event.opened
    assert event.payload["colour"] == "blue"  # kept as received


def test_an_event_from_a_gate_older_than_v_and_seq_is_read():
    old = _peer()
    del old["v"], old["seq"]
    event = parse_event(_raw(old), topic_gate="west")
    assert event.seq is None and event.kind == "entry"


def test_an_unknown_kind_is_kept_for_its_seq_without_reading_its_fields():
    event = parse_event(_raw(_peer(kind="visit", subject="not an object", decision=3)), topic_gate="west")
    assert not event.known_kind and event.seq == 7 and event.decision is None


@pytest.mark.parametrize("changes, why", [
    ({"v": 2}, "contract version 2"),
    ({"v": "1"}, "v must be a whole number"),
    ({"seq": 0}, "seq must be 1 or more"),
    ({"seq": "7"}, "seq must be a whole number"),
    ({"ts": "2026-11-26T08:00:00"}, "has no UTC offset"),
    ({"gate": "east"}, "gate 'east' on gate 'west'"),
    ({"subject": {"type": "person", "person_id": "7"}}, "person_id must be a whole number"),
    ({"subject": {"type": "person", "person_id": True}}, "person_id must be a whole number"),
    ({"fee_cents": -5}, "fee_cents must be 0 or more"),
    ({"kind": "session", "transition": None}, "needs session_id and transition"),
    ({"event_id": None}, "event_id is missing"),
])
def test_a_peer_event_that_breaks_a_field_in_use_is_refused_with_the_reason(changes, why):
    with pytest.raises(Refused, match=why):
        parse_event(_raw(_peer(**changes)), topic_gate="west")


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[1, 2]", b"null", b"{" * 20000])
def test_garbage_is_refused_never_raised(raw):
    with pytest.raises(Refused):
        parse_event(raw, topic_gate="west")
