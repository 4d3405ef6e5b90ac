"""The codes of what a gate says (edge.schemas.phrases): the English made from a code is what the gate
always wrote, the payloads carry the code and its parameters beside it (added fields, in the schemas),
and a receiver reads them back, or falls back to the text."""

from __future__ import annotations

import json

import pytest

from edge.contract import device_alert_payload, event_payload, subject
from edge.schemas import validate
from edge.schemas.phrases import PHRASES, from_wire, say

# Each code as its parameters say it, and the sentence the gate wrote before codes (byte for byte).
SAID_BEFORE = [
    (say("unknown_face"), "unknown face"),
    (say("unknown_face", strict_mode=True), "unknown face (strict mode)"),
    (say("pass_person_unregistered", strict_mode=True), "pass for an unregistered person (strict mode)"),
    (say("resident_registered", unit="12-301"), "registered resident of 12-301"),
    (say("pass_refused", why=say("pass_expired")), "QR pass refused: expired"),
    (say("pass_refused", why=say("pass_unknown_key", kid="0a1b2c3d")), "QR pass refused: signed with unknown key "
                                                                         "0a1b2c3d"),
    (say("vehicle_blocked", fuzzy_match="沪A12345"), "blocked vehicle (fuzzy match: 沪A12345)"),
    (say("lot_full", occupied=306, capacity=306), "lot full (306/306)"),
    (say("resident_permit_valid", fuzzy_match="沪A1234S"), "resident permit valid (fuzzy match: 沪A1234S)"),
    (say("fee_due", due_yuan=1250 / 100, minutes=95.4), "fee due: 12.50 yuan for 95 min"),
    (say("payment_recorded", paid_yuan=5.0, due_yuan=7.5), "paid 5.00 yuan; 7.50 yuan still due"),
    (say("payment_recorded", paid_yuan=12.5, due_yuan=0.0, waits_at="west"),
     "paid 12.50 yuan; 0.00 yuan still due; the car waits at west"),
    (say("payment_recorded", paid_yuan=12.5, due_yuan=0.0, paid_in_advance=True),
     "paid 12.50 yuan; 0.00 yuan still due; paid in advance: the exit opens when the car is read there"),
    (say("payment_opened", paid_yuan=12.5), "paid 12.50 yuan"),
    (say("camera_down", seconds=61.2, why=say("camera_frozen", seconds=5.04, source="rtsp://cam/1")),
     "no frame for 61 s (frozen: no frame for 5.0 s from rtsp://cam/1)"),
    (say("camera_down", seconds=61.2, why=""), "no frame for 61 s ()"),
    (say("camera_read_timeout", seconds=4.66, source="/dev/video0"),
     "no frame within 4.7 s from /dev/video0 (read timed out)"),
    (say("gate_silent", gate="west", seconds=181.6), "gate west silent for 182 s"),
    (say("parking_session_stale", session="s-1", days=8.04), "session s-1 open for 8.0 days: check the lot"),
    (say("disk_room", free_mb=12.34, folder="/var/lib/gate-edge", floor_mb=50, reusable_mb=1.0),
     "12.3 MB free on /var/lib/gate-edge (alert below 50 MB, retention.min_free_mb); 1.0 MB reusable inside "
     "the database"),
    (say("disk_room", free_mb=12.34, folder="/d", floor_mb=50.0, reusable_mb=1.0, deleted_events=0,
         deleted_snapshots=3),
     "12.3 MB free on /d (alert below 50.0 MB, retention.min_free_mb); 1.0 MB reusable inside the database; "
     "deleted the 0 oldest sent events and 3 snapshots to make room"),
    (say("clock_jumped", jump_s=3600.4), "the wall clock jumped +3600 s; care-watch alerts wait until the office's "
                                         "clock or the time server confirms the time"),
    (say("clock_offset", offset_s=-90.2, source="office", max_offset_s=60.0),
     "this gate's clock is -90 s from the office's (more than clock.max_offset_s 60)"),
    (say("broker_refused_message", where=say("outbox_row", seq=7), error="not authorised"),
     "broker refused a message (outbox row 7): not authorised"),
    (say("storage_writing_again", seconds=12.0, written=3, dropped=2, dropped_seqs="4-5"),
     "writing again after 12 s; 3 messages kept in memory were stored; 2 published events could not be kept "
     "here (seq 4-5): the office and the other gates have them"),
    (say("peer_events_refused", refused=3, since="t", per_gate="gate west: future 3", only_counted=None,
         per_minute=20, last_gate="west", last_reason="future"),
     "3 peer events refused since t (gate west: future 3); kept aside, not applied; the last: gate west: future"),
]


@pytest.mark.parametrize("said, text", SAID_BEFORE, ids=[s.code for s, _ in SAID_BEFORE])
def test_the_english_made_from_a_code_is_what_the_gate_always_wrote(said, text):
    assert said.text == text


def test_every_template_says_itself_with_its_own_parameters():
    import string

    for code, entry in PHRASES.items():
        for template in (entry.template, *(n.template for n in entry.notes)):
            names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
            assert all(n.isidentifier() for n in names), (code, template)
        assert code.isidentifier() and code == code.lower()


def test_an_unknown_code_fails_loudly_where_it_is_made():
    with pytest.raises(KeyError, match="no phrase"):
        say("no_such_code")


def test_payloads_carry_the_code_and_its_parameters_beside_the_text():
    why = say("pass_refused", why=say("pass_unknown_key", kid="0a1b"))
    event = event_payload(event_id="0b5f6a0e-0000-4000-8000-000000000001", seq=1,
                          ts="2026-11-26T08:00:00.000+08:00", site="s", gate="g", lane="in", kind="denied",
                          credential="qr", subject=subject("unknown"), decision="deny", reason=why, fee_cents=0,
                          session_id=None)
    assert list(event)[11:14] == ["reason", "reason_code", "reason_params"]
    assert event["reason"] == "QR pass refused: signed with unknown key 0a1b"
    assert event["reason_code"] == "pass_refused"
    assert event["reason_params"] == {"why": {"code": "pass_unknown_key", "params": {"kid": "0a1b"}}}
    assert validate("event", json.loads(json.dumps(event))) == []
    alert = device_alert_payload("0b5f6a0e-0000-4000-8000-000000000002", "camera:cam-in", "raised",
                                 say("camera_down", seconds=60, why=say("camera_cannot_open", source="/dev/video9")),
                                 "2026-11-26T08:00:00.000+08:00")
    assert list(alert) == ["v", "alert_id", "device", "state", "detail", "detail_code", "detail_params", "ts"]
    assert alert["detail"] == "no frame for 60 s (cannot open /dev/video9)"
    assert validate("alert-device", alert) == []
    assert validate("alert-device", {**alert, "detail_params": None}) != []
    assert validate("alert-device", {k: v for k, v in alert.items() if k != "detail_params"}) != []


def test_a_receiver_reads_a_phrase_back_or_falls_back_to_the_text():
    said = say("camera_down", seconds=60.0, why=say("camera_cannot_open", source="/dev/video9"))
    wire = json.loads(json.dumps(said.wire()))
    back = from_wire(wire["code"], wire["params"])
    assert back == said and back.text == said.text
    assert from_wire("a_code_of_a_newer_gate", {}) is None
    assert from_wire(None, None) is None
    assert from_wire("gate_silent", {"gate": "west"}) is None  # a parameter missing: the text is shown
    assert from_wire("gate_back", {"gate": ["not", "a", "scalar"]}) is None
    assert from_wire("camera_down", {"seconds": 1, "why": {"code": "nope", "params": {}}}) is None


def test_a_translation_is_whole_or_not_at_all_and_a_nested_reason_falls_back_alone():
    zh = {"no frame for {seconds:.0f} s ({why})": "{seconds:.0f} 秒没有画面（{why}）",
          "blocked vehicle": "禁止通行的车辆"}.get
    said = say("camera_down", seconds=60.0, why=say("camera_cannot_open", source="/dev/video9"))
    assert said.render(zh) == "60 秒没有画面（cannot open /dev/video9）"
    assert say("vehicle_blocked").render(zh) == "禁止通行的车辆"
    assert say("vehicle_blocked", fuzzy_match="沪A12345").render(zh) is None  # its note has no translation
    assert say("gate_back", gate="west").render({"gate {gate} is back": "{nobody}"}.get) is None


def test_an_alert_row_keeps_its_code_and_parameters_and_an_old_one_its_text(store):
    from edge.store.alerts import said_of

    said = say("gate_silent", gate="west", seconds=181.6)
    with store.transaction():
        store.alerts.add("a1", "device", "gate:west", 1.0, said)
        store.alerts.add("a2", "device", "camera:x", 1.0, "written before codes")
    row = store.alerts.get("a1")
    assert row["detail"] == "gate west silent for 182 s" and row["detail_code"] == "gate_silent"
    assert said_of(row) == said
    old = store.alerts.get("a2")
    assert old["detail"] == "written before codes" and said_of(old) is None
    later = say("peer_events_refused", refused=4, since="t", per_gate="gate west: future 4", per_minute=20)
    with store.transaction():
        store.alerts.set_detail("a1", later)
    assert said_of(store.alerts.get("a1")) == later
