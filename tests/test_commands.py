"""Signed commands from the office, and events from the other gate, over a real broker."""

from __future__ import annotations

import json
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_helpers import Listener, gate_config, wait_for

from edge.daemon import Daemon
from edge.remote import CommandRefused, parse_command, sign
from edge.timeutil import iso

KEY = b"0123456789abcdef0123456789abcdef"
SHANGHAI = ZoneInfo("Asia/Shanghai")
# A camera that is unplugged (no such device): the daemon runs, reconnects it with back-off, and
# every lane has its camera as the config requires.
UNPLUGGED = [{"id": "cam-in", "source": "/dev/video97", "role": "plate", "lane": "in", "read_qr": False},
             {"id": "cam-out", "source": "/dev/video98", "role": "plate", "lane": "out", "read_qr": False}]


@pytest.fixture
def running_gate(tmp_path, broker):
    (tmp_path / "command.key").write_bytes(KEY)
    config = gate_config(
        tmp_path / "east", broker.port, command_key_file=str(tmp_path / "command.key"), cameras=UNPLUGGED,
        barriers=[{"id": "foot", "type": "simulated", "lanes": ["in", "out"]}],
    )
    daemon = Daemon(config).start()
    assert daemon.link.connected.wait(10)
    office = Listener(broker.port, "gate/tianlin12/#")
    yield daemon, office, config
    office.close()
    daemon.close()


def command(verb="open", **body):
    request_id = body.pop("request_id", f"r-{time.monotonic_ns()}")
    return {"request_id": request_id, "ts": iso(time.time(), SHANGHAI), **body}


def results(office):
    return {r["request_id"]: r for r in office.on("/cmd/result")}


def test_a_signed_open_opens_once_and_answers(running_gate):
    daemon, office, config = running_gate
    body = sign(KEY, "open", command(lane="in", request_id="office-1"))
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: "office-1" in results(office), 10)
    assert results(office)["office-1"] == {"request_id": "office-1", "ok": True, "error": None}
    assert len(daemon.barriers["foot"].commands) == 1
    event = office.on("/event/entry")[0]
    assert event["credential"] == "remote" and event["request_id"] == "office-1"


@pytest.mark.parametrize(
    "name, payload, error",
    [
        ("bad signature", lambda: {**sign(KEY, "open", command(request_id="x1")), "sig": "00" * 32}, "bad signature"),
        ("wrong key", lambda: sign(b"not the office's key at all!!!!!", "open", command(request_id="x2")),
         "bad signature"),
        ("signed for another verb", lambda: sign(KEY, "pay", command(request_id="x3")), "bad signature"),
        ("stale", lambda: sign(KEY, "open", {"request_id": "x4", "ts": iso(time.time() - 3600, SHANGHAI)}), "stale"),
        ("no ts", lambda: sign(KEY, "open", {"request_id": "x5"}), "bad ts"),
        ("bad lane", lambda: sign(KEY, "open", command(request_id="x6", lane="up")), "lane must be"),
    ],
)
def test_refused_commands_answer_with_an_error_and_do_nothing(running_gate, name, payload, error):
    daemon, office, config = running_gate
    body = payload()
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: body["request_id"] in results(office), 10)
    result = results(office)[body["request_id"]]
    assert result["ok"] is False and error in result["error"]
    assert daemon.barriers["foot"].commands == []


def test_a_replayed_command_is_refused(running_gate):
    daemon, office, config = running_gate
    body = sign(KEY, "open", command(request_id="once"))
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: len(office.on("/cmd/result")) == 1, 10)
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: len(office.on("/cmd/result")) == 2, 10)
    first, second = office.on("/cmd/result")
    assert first["ok"] is True and second == {"request_id": "once", "ok": False, "error": "replayed request_id"}
    assert len(daemon.barriers["foot"].commands) == 1


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[]", b'{"request_id": 5}', b"x" * 100_000])
def test_garbage_never_crashes_the_daemon(running_gate, raw):
    daemon, office, config = running_gate
    office.publish("gate/tianlin12/east/cmd/open", raw)
    assert wait_for(lambda: office.on("/cmd/result"), 10)
    assert office.on("/cmd/result")[0]["ok"] is False
    body = sign(KEY, "open", command(request_id="after-garbage"))
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: "after-garbage" in results(office), 10)  # still listening


def test_reload_takes_a_rotated_pass_key(tmp_path, broker):
    (tmp_path / "command.key").write_bytes(KEY)
    pass_key = tmp_path / "pass.key"
    pass_key.write_bytes(b"the old pass key, 32 bytes long!")
    config = gate_config(
        tmp_path / "east", broker.port, command_key_file=str(tmp_path / "command.key"), cameras=UNPLUGGED,
        barriers=[{"id": "foot", "type": "simulated", "lanes": ["in", "out"]}],
        extra={"passes": {"secret_file": str(pass_key)}},
    )
    daemon = Daemon(config).start()
    office = Listener(broker.port, "gate/tianlin12/#")
    try:
        assert daemon.link.connected.wait(10)
        assert {w.pass_key for w in daemon.workers} == {b"the old pass key, 32 bytes long!"}
        pass_key.write_bytes(b"the office rotated it: new key!!")
        office.publish("gate/tianlin12/east/cmd/reload", sign(KEY, "reload", command(request_id="reload-1")))
        assert wait_for(lambda: "reload-1" in results(office), 10)
        assert results(office)["reload-1"]["ok"] is True
        assert {w.pass_key for w in daemon.workers} == {b"the office rotated it: new key!!"}
        assert daemon.barriers["foot"].commands == []  # a reload opens nothing
    finally:
        office.close()
        daemon.close()


def test_pay_opens_a_held_exit(running_gate):
    daemon, office, config = running_gate
    gate = daemon.gate
    from edge.plate_match import PlateMatch  # noqa: F401  (the car is unregistered: no match)

    entry = gate.vehicle("in", "沪A12345")
    with daemon.registry.transaction():
        daemon.registry.conn.execute("UPDATE parking_sessions SET entry_epoch = entry_epoch - 2700")
    held = gate.vehicle("out", "沪A12345")
    assert held["decision"] == "hold" and held["fee_cents"] == 500
    assert held["session_id"] == entry["session_id"]
    office.publish("gate/tianlin12/east/cmd/pay", sign(KEY, "pay", command(
        request_id="pay-1", session_id=held["session_id"], amount_cents=500)))
    assert wait_for(lambda: "pay-1" in results(office), 10)
    assert results(office)["pay-1"]["ok"] is True
    paid = [e for e in office.on("/event/exit") if e["decision"] == "open"]
    assert paid and paid[0]["fee_cents"] == 500 and paid[0]["session_id"] == held["session_id"]
    assert daemon.registry.open_session("沪A12345") is None


def test_peer_gates_share_last_seen_and_parking_sessions(tmp_path, broker, running_gate):
    east, office, _ = running_gate
    west_config = gate_config(tmp_path / "west", broker.port, gate="west", cameras=UNPLUGGED,
                              barriers=[{"id": "car", "type": "simulated", "lanes": ["in", "out"]}])
    west = Daemon(west_config).start()
    try:
        assert west.link.connected.wait(10)
        person = west.registry.add_person("王建国", "12-301", care_watch=True)
        east.registry.add_person("王建国", "12-301", care_watch=True)
        west.gate.person("in", person)
        entry = west.gate.vehicle("in", "沪B77777")
        assert wait_for(lambda: east.registry.last_seen(f"person:{person}") is not None, 10)
        assert east.registry.last_seen(f"person:{person}")["gate"] == "west"
        assert wait_for(lambda: east.registry.open_session("沪B77777") is not None, 10)
        assert east.registry.open_session("沪B77777")["session_id"] == entry["session_id"]
        exit_event = east.gate.vehicle("out", "沪B77777")  # in at west, out at east: one session
        assert exit_event["session_id"] == entry["session_id"] and exit_event["decision"] == "open"
        assert wait_for(lambda: west.registry.open_session("沪B77777") is None, 10)
        # Re-delivery of the same event changes nothing.
        from edge.peers import apply_peer_event

        payload = json.dumps(office.on("/west/event/entry")[0]).encode()
        assert apply_peer_event(east.registry, east.alerts, "west", payload) is False
        assert apply_peer_event(east.registry, east.alerts, "west", b"{garbage") is False
    finally:
        west.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(verb=st.sampled_from(["open", "pay", "reload", "result", "../x", ""]), body=json_values,
       raw=st.binary(max_size=200))
def test_the_command_parser_only_ever_accepts_or_refuses(verb, body, raw):
    seen = set()

    def remember(request_id):
        was = request_id in seen
        seen.add(request_id)
        return was

    for data in (raw, json.dumps(body).encode(), json.dumps(sign(KEY, verb, body) if isinstance(body, dict)
                                                             else body).encode()):
        try:
            parsed = parse_command(verb, data, KEY, 120, remember)
        except CommandRefused as exc:
            assert isinstance(exc.error, str) and exc.error
        else:
            assert parsed.verb in ("open", "pay", "reload") and isinstance(parsed.request_id, str)


@settings(max_examples=100, deadline=None)
@given(request_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True), lane=st.sampled_from(["in", "out"]))
def test_every_properly_signed_fresh_command_is_accepted_once(request_id, lane):
    seen = set()

    def remember(rid):
        was = rid in seen
        seen.add(rid)
        return was

    body = sign(KEY, "open", {"request_id": request_id, "ts": time.time(), "lane": lane})
    raw = json.dumps(body).encode()
    assert parse_command("open", raw, KEY, 120, remember).body["lane"] == lane
    with pytest.raises(CommandRefused, match="replayed"):
        parse_command("open", raw, KEY, 120, remember)
