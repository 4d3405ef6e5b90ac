"""The MQTT contract (DESIGN 4.3): topic names and the exact payload fields the office relies on."""

from __future__ import annotations

from edge.contract import (
    Topics,
    command_result,
    device_alert_payload,
    event_payload,
    inactivity_alert_id,
    inactivity_payload,
    offline_will,
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


def test_topic_parsing_rejects_what_is_not_ours():
    assert T.parse_event_topic("gate/tianlin12/west/event/exit") == ("west", "exit")
    assert T.parse_event_topic("gate/tianlin12/west/event/party") is None
    assert T.parse_event_topic("gate/other/west/event/exit") is None
    assert T.parse_command_topic("gate/tianlin12/east/cmd/pay") == "pay"
    assert T.parse_command_topic("gate/tianlin12/west/cmd/pay") is None
    assert T.parse_command_topic("gate/tianlin12/east/cmd/pay/x") is None


def test_payload_fields_are_the_contracts():
    event = event_payload(event_id="e", ts="t", site="s", gate="g", lane="in", kind="entry", credential="face",
                          subject=subject("person", person_id=1), decision="open", reason="r", fee_cents=0,
                          session_id=None)
    assert list(event) == ["event_id", "ts", "site", "gate", "lane", "kind", "credential", "subject", "decision",
                           "reason", "fee_cents", "session_id"]
    assert list(event["subject"]) == ["type", "person_id", "plate", "class"]
    assert list(status_payload("online", "t")) == ["state", "version", "ts", "cameras", "barriers", "outbox"]
    assert offline_will()["state"] == "offline"
    assert list(inactivity_payload("a", "raised", 1, "12-301", "t", 49.0, "t")) == [
        "alert_id", "state", "person_id", "unit", "last_seen", "hours", "ts"]
    assert list(device_alert_payload("a", "camera:x", "raised", "d", "t")) == ["alert_id", "device", "state",
                                                                                "detail", "ts"]
    assert command_result("r", False, "bad signature") == {"request_id": "r", "ok": False, "error": "bad signature"}


def test_inactivity_alert_id_is_the_same_on_every_gate_for_one_episode():
    a = inactivity_alert_id("tianlin12", 7, 1795660000.123)
    assert a == inactivity_alert_id("tianlin12", 7, 1795660000.123)
    assert a != inactivity_alert_id("tianlin12", 7, 1795700000.0)  # a new sighting, a new episode
    assert a != inactivity_alert_id("tianlin12", 8, 1795660000.123)
