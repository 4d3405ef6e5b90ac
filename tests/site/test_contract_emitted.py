"""The MQTT contract (DESIGN 4.3) checked on what a gate really EMITS, not on builder dicts.

One ``gate-edge run`` subprocess (the end-to-end test's ``Site``: Modbus barriers on ptys, image-file
cameras, a clock-offset file) against a real mosquitto; an office client captures every message under
``gate/#``; each one is validated against the JSON Schema of its topic (``edge/schemas``). A topic
without a schema fails the test, so a new topic cannot slip past the contract.
"""

from __future__ import annotations

import json
import signal
import time
from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import PLATES, face, show
from mqtt_helpers import Listener, wait_for
from test_end_to_end import KEY, Site

from edge.schemas import NAMES, schema, schema_for_topic, validate
from edge.site.remote import new_command

SITE, GATE = "tianlin12", "east"
BASE = f"gate/{SITE}"
SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- the schemas are not vacuous -------------------------------------------------------------------

TS = "2026-11-26T12:00:00.000+08:00"
GOOD = {
    "event": {
        "v": 1, "event_id": "0b7d3c6e-4f5a-4e1b-9c2d-8a7f6e5d4c3b", "seq": 1, "ts": TS, "site": SITE, "gate": GATE,
        "lane": "out", "kind": "exit", "credential": "plate",
        "subject": {"type": "vehicle", "person_id": None, "plate": "皖AJ002E", "class": None},
        "decision": "hold", "reason": "fee due", "fee_cents": 500, "session_id": "s-1", "barrier": "ok",
    },
    "status": {"v": 1, "state": "online", "version": "0.1.0", "ts": TS, "cameras": {}, "barriers": {}, "outbox": 0},
    "alert-inactivity": {"v": 1, "alert_id": "a-1", "state": "raised", "person_id": 1, "unit": "12-301",
                         "last_seen": TS, "hours": 49.0, "ts": TS},
    "alert-device": {"v": 1, "alert_id": "a-2", "device": "camera:gone", "state": "raised", "detail": "no frame",
                     "ts": TS},
    "cmd-result": {"v": 1, "request_id": "pay-1", "ok": True, "error": None},
    "command": {"v": 1, "request_id": "pay-1", "ts": TS, "session_id": "s-1", "amount_cents": 500, "sig": "ab12"},
}
SESSION = {**GOOD["event"], "kind": "session", "decision": None, "transition": "superseded", "lane": None,
           "credential": None}


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_is_valid_and_accepts_a_conforming_payload_with_unknown_fields(name):
    from jsonschema import Draft202012Validator

    Draft202012Validator.check_schema(schema(name))
    assert validate(name, GOOD[name]) == []
    assert validate(name, {**GOOD[name], "added_by_a_newer_gate": {"x": [1]}}) == []


@pytest.mark.parametrize("name, key", [(n, k) for n in NAMES for k in schema(n)["required"]])
def test_every_required_key_is_required(name, key):
    payload = {k: v for k, v in GOOD[name].items() if k != key}
    errors = validate(name, payload)
    assert errors and any(repr(key) in e for e in errors), errors


@pytest.mark.parametrize("name, payload", [
    ("event", {**GOOD["event"], "v": 2}),
    ("event", {**GOOD["event"], "v": "1"}),
    ("event", {**GOOD["event"], "seq": 0}),
    ("event", {**GOOD["event"], "seq": 1.5}),
    ("event", {**GOOD["event"], "ts": "2026-11-26T12:00:00.000"}),  # no offset
    ("event", {**GOOD["event"], "ts": "2026-11-26 12:00:00+08:00"}),
    ("event", {**GOOD["event"], "event_id": "not-a-uuid"}),
    ("event", {**GOOD["event"], "kind": "party"}),
    ("event", {**GOOD["event"], "lane": "up"}),
    ("event", {**GOOD["event"], "credential": "iris"}),
    ("event", {**GOOD["event"], "decision": None}),  # null only for kind session
    ("event", {**GOOD["event"], "fee_cents": -1}),
    ("event", {**GOOD["event"], "subject": {"type": "cat", "person_id": None, "plate": None, "class": None}}),
    ("event", {**GOOD["event"], "subject": {"type": "person", "person_id": "7", "plate": None, "class": None}}),
    ("event", {**GOOD["event"], "subject": {"type": "person"}}),
    ("event", {k: v for k, v in SESSION.items() if k != "transition"}),
    ("event", {**SESSION, "session_id": None}),
    ("event", {**GOOD["event"], "distance_by": "template"}),  # whose distance, without one
    ("event", {**GOOD["event"], "distance": "0.71", "distance_by": "faceplugin"}),
    ("status", {**GOOD["status"], "state": "sleeping"}),
    ("status", {k: v for k, v in GOOD["status"].items() if k != "outbox"}),  # online needs outbox
    ("status", {**GOOD["status"], "ts": None}),  # only the last will may have no ts
    ("cmd-result", {**GOOD["cmd-result"], "ok": "yes"}),
    ("cmd-result", {**GOOD["cmd-result"], "ok": False}),  # a refusal says why
    ("alert-device", {**GOOD["alert-device"], "state": "open"}),
    ("alert-inactivity", {**GOOD["alert-inactivity"], "person_id": "1"}),
    ("command/pay", {k: v for k, v in GOOD["command"].items() if k != "amount_cents"}),
    ("command/open", {**GOOD["command"], "lane": "sideways"}),
    ("command", {**GOOD["command"], "request_id": "has spaces"}),
    ("event", "not an object"),
])
def test_the_schemas_refuse_what_breaks_the_contract(name, payload):
    assert validate(name, payload), f"{name} accepted {payload!r}"


def test_the_last_will_and_a_session_transition_conform():
    assert validate("status", {"v": 1, "state": "offline", "version": "0.1.0", "ts": None}) == []
    assert validate("event", SESSION) == []
    assert validate("command/pay", GOOD["command"]) == []


def test_a_correction_and_an_exit_held_among_look_alikes_conform():
    """Issue 31's added values: the ``correct`` command, a ``corrected`` session event, a held exit's candidates."""
    correct = {"v": 1, "request_id": "fix-1", "ts": TS, "sig": "ab12", "session_id": "s-1"}
    assert validate("command/correct", {**correct, "plate": "沪A12345"}) == []
    assert validate("command/correct", {**correct, "exit_event_id": GOOD["event"]["event_id"]}) == []
    assert validate("command/correct", correct) != []  # neither a plate nor a held exit: nothing to correct
    assert validate("command/correct", {**correct, "plate": ""}) != []
    corrected = {**SESSION, "transition": "corrected", "read_plate": "沪A1234B", "corrected_from": "沪A12340",
                 "resolves": GOOD["event"]["event_id"], "revision": 2, "request_id": "fix-1"}
    assert validate("event", corrected) == []
    assert validate("event", {**corrected, "revision": 0}) != []
    held = {**GOOD["event"], "session_id": None, "held_barrier": "car", "look_alike": "沪A12345",
            "candidates": [{"session_id": "s-1", "plate": "沪A12340"}, {"session_id": "s-2", "plate": "沪A12341"}]}
    assert validate("event", held) == []
    assert validate("event", {**held, "candidates": [{"plate": "沪A12340"}]}) != []
    assert schema_for_topic(f"{BASE}/east/cmd/correct", BASE) == "command/correct"


def test_every_topic_of_the_contract_has_a_schema_and_no_other_does():
    assert schema_for_topic(f"{BASE}/east/status", BASE) == "status"
    assert schema_for_topic(f"{BASE}/east/event/exit", BASE) == "event"
    assert schema_for_topic(f"{BASE}/alert/inactivity", BASE) == "alert-inactivity"
    assert schema_for_topic(f"{BASE}/east/alert/device", BASE) == "alert-device"
    assert schema_for_topic(f"{BASE}/east/cmd/result", BASE) == "cmd-result"
    assert schema_for_topic(f"{BASE}/east/cmd/pay", BASE) == "command/pay"
    for topic in (f"{BASE}/east/cmd/dance", f"{BASE}/east/status/x", f"{BASE}/east/gossip", "gate/other/east/status",
                  f"{BASE}/east/event/"):
        assert schema_for_topic(topic, BASE) is None, topic


# -- what a real daemon emits ----------------------------------------------------------------------

def _pay(request_id, session_id, amount_cents, offset_s):
    return new_command("pay", site=SITE, gate=GATE, key=KEY, now=time.time() + offset_s, zone=SHANGHAI,
                       request_id=request_id, session_id=session_id, amount_cents=amount_cents)


def _results(office):
    return {r.get("request_id"): r for r in office.on("/cmd/result")}


def _problems(messages) -> list[str]:
    """Every captured message that breaks the contract, with its topic and payload."""
    problems = []
    seqs = defaultdict(set)
    for topic, payload, _retained in messages:
        shown = json.dumps(payload, ensure_ascii=False) if isinstance(payload, (dict, list)) else repr(payload)
        kind = schema_for_topic(topic, BASE)
        if kind is None:
            problems.append(f"{topic}: no schema for this topic (add one to edge/schemas): {shown}")
            continue
        errors = validate(kind, payload)
        if isinstance(payload, dict):
            parts = topic.split("/")
            if kind == "event":
                if payload.get("kind") != parts[-1] or payload.get("gate") != parts[-3]:
                    errors.append(f"kind/gate {payload.get('kind')!r}/{payload.get('gate')!r} differ from the topic")
                if isinstance(payload.get("seq"), int):
                    seqs[payload.get("gate")].add(payload["seq"])
        problems += [f"{topic}: {error}\n    payload: {shown}" for error in errors]
    for gate, numbers in seqs.items():
        if numbers != set(range(1, max(numbers) + 1)):
            missing = sorted(set(range(1, max(numbers) + 1)) - numbers)
            problems.append(f"gate {gate}: event seq has gaps, missing {missing[:20]}")
    return problems


@pytest.fixture
def contract_site(tmp_path, broker, engines):
    site = Site(tmp_path, broker, engines)
    config = yaml.safe_load(site.config.read_text(encoding="utf-8"))
    # An unplugged camera on the exit lane: a device alert at the first health check (5 s after start).
    config["cameras"].append({"id": "gone", "source": "/dev/video97", "role": "plate", "lane": "out",
                              "barrier": "car", "read_qr": False, "down_alert_s": 1})
    site.config.write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    yield site
    site.close()


@pytest.mark.slow
def test_every_message_a_running_gate_emits_matches_its_schema(contract_site):
    site = contract_site
    office = Listener(site.broker.port, "gate/#")

    def log():  # the daemon's last words, without the scheduler's chatter
        lines = site.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(line for line in lines if "apscheduler" not in line)[-3000:]

    site.start()
    try:
        assert wait_for(lambda: any(p.get("state") == "online" and p.get("cameras") for p in office.on("/status")),
                        60), log()

        # The resident walks in while a visitor's car drives in: a face entry and a plate entry.
        show(site.cams["face-in"], face("fr_obama", 2))
        show(site.cams["plate-in"], PLATES / "ccpd_20.jpg")
        assert wait_for(lambda: any(p["credential"] == "face" for p in office.on("/event/entry"))
                        and any(p["credential"] == "plate" for p in office.on("/event/entry")), 30), log()
        show(site.cams["face-in"])
        show(site.cams["plate-in"])

        # A stranger at the pedestrian gate while, 45 minutes later, the visitor is held at the exit.
        time.sleep(1)
        show(site.cams["face-in"], face("dlib_John_Simm"))
        offset = 45 * 60
        site.offset.write_text(str(offset))
        show(site.cams["plate-out"], PLATES / "ccpd_20.jpg")
        assert wait_for(lambda: office.on("/event/stranger") and office.on("/event/exit"), 30), log()
        show(site.cams["face-in"])
        show(site.cams["plate-out"])
        held = office.on("/event/exit")[0]
        assert held["decision"] == "hold" and held["fee_cents"], held

        # The office pays in part (a session event; the barrier stays down), then the rest: it opens.
        office.publish(f"{BASE}/{GATE}/cmd/pay", _pay("pay-part", held["session_id"], 200, offset))
        assert wait_for(lambda: "pay-part" in _results(office), 10), log()
        office.publish(f"{BASE}/{GATE}/cmd/pay", _pay("pay-rest", held["session_id"], held["fee_cents"] - 200, offset))
        assert wait_for(lambda: "pay-rest" in _results(office), 10), log()
        assert _results(office)["pay-rest"]["ok"] is True, _results(office)
        assert wait_for(lambda: any(p["decision"] == "open" for p in office.on("/event/exit")), 10), log()

        # Two days without the care-watch resident: an inactivity alert.
        site.offset.write_text(str(49 * 3600))
        assert wait_for(lambda: office.on("/alert/inactivity"), 30), log()
        assert wait_for(lambda: office.on("/alert/device"), 20), log()

        # SIGTERM: a clean exit, and the retained status says offline.
        site.process.send_signal(signal.SIGTERM)
        assert site.process.wait(20) == 0, log()
        assert wait_for(lambda: office.on("/status")[-1]["state"] == "offline", 10), log()
    finally:
        office.close()

    messages = list(office.messages)
    seen = {(schema_for_topic(t, BASE), (p.get("state") or p.get("kind")) if isinstance(p, dict) else None)
            for t, p, _ in messages}
    for expected in [("status", "online"), ("status", "offline"), ("event", "entry"), ("event", "stranger"),
                     ("event", "exit"), ("event", "session"), ("alert-inactivity", "raised"),
                     ("alert-device", "raised"), ("cmd-result", None), ("command/pay", None)]:
        assert any(s[0] == expected[0] and (expected[1] is None or s[1] == expected[1]) for s in seen), \
            f"no {expected} message among {sorted(map(str, seen))}"
    problems = _problems(messages)
    assert not problems, f"{len(problems)} contract violation(s) in {len(messages)} messages:\n" + "\n".join(problems)
