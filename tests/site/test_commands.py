"""Signed commands from the office, and events from the other gate, over a real broker."""

from __future__ import annotations

import json
import time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mqtt_helpers import Listener, gate_config, wait_for

from edge.gate.daemon import Daemon
from edge.site.remote import CommandRefused, canonical, new_command, parse_command, sign
from edge.timeutil import iso

KEY = b"0123456789abcdef0123456789abcdef"
SHANGHAI = ZoneInfo("Asia/Shanghai")
EAST = {"site": "tianlin12", "gate": "east"}  # what a command for the east gate is signed for
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
    assert daemon.link.connected.wait(10) and daemon.link.subscribed.wait(10)
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
    body = sign(KEY, "open", command(lane="in", request_id="office-1"), **EAST)
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: "office-1" in results(office), 10)
    assert results(office)["office-1"] == {"v": 1, "request_id": "office-1", "ok": True, "error": None}
    assert len(daemon.barriers["foot"].commands) == 1
    event = office.on("/event/entry")[0]
    assert event["credential"] == "remote" and event["request_id"] == "office-1"


@pytest.mark.parametrize(
    "name, payload, error",
    [
        ("bad signature", lambda: {**sign(KEY, "open", command(request_id="x1"), **EAST), "sig": "00" * 32},
         "bad signature"),
        ("wrong key", lambda: sign(b"not the office's key at all!!!!!", "open", command(request_id="x2"), **EAST),
         "bad signature"),
        ("signed for another verb", lambda: sign(KEY, "pay", command(request_id="x3"), **EAST), "bad signature"),
        ("stale", lambda: sign(KEY, "open", {"request_id": "x4", "ts": iso(time.time() - 3600, SHANGHAI)}, **EAST),
         "stale"),
        ("no ts", lambda: sign(KEY, "open", {"request_id": "x5"}, **EAST), "bad ts"),
        ("bad lane", lambda: sign(KEY, "open", command(request_id="x6", lane="up"), **EAST), "lane must be"),
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
    body = sign(KEY, "open", command(request_id="once"), **EAST)
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: len(office.on("/cmd/result")) == 1, 10)
    office.publish("gate/tianlin12/east/cmd/open", body)
    assert wait_for(lambda: len(office.on("/cmd/result")) == 2, 10)
    first, second = office.on("/cmd/result")
    assert first["ok"] is True and second == {"v": 1, "request_id": "once", "ok": False, "error": "replayed request_id"}
    assert len(daemon.barriers["foot"].commands) == 1


def test_a_lone_gate_ignores_an_office_status_anyone_could_write(running_gate):
    """Found in review: a status published as the office's, with yesterday's time, moved the gate's
    command clock a day back, and a signed open captured yesterday opened the barrier again. A gate
    without an office (no site broker whose ACL lets only the office write there) trusts no such status."""
    daemon, office, config = running_gate
    yesterday = time.time() - 86400
    captured = sign(KEY, "open", {"request_id": "yesterday", "ts": iso(yesterday, SHANGHAI), "lane": "in"}, **EAST)
    office.publish("gate/tianlin12/office/status", {"v": 1, "state": "online", "version": "x",
                                                    "ts": iso(yesterday + 5, SHANGHAI), "gates": {}})
    office.publish("gate/tianlin12/east/cmd/open", captured)
    assert wait_for(lambda: "yesterday" in results(office), 10)
    assert results(office)["yesterday"]["ok"] is False and "stale" in results(office)["yesterday"]["error"]
    assert daemon.barriers["foot"].commands == [] and daemon.clockwatch.offset_s is None


@pytest.mark.parametrize("raw", [b"{not json", b"\xff\xfe", b"[]", b'{"request_id": 5}', b"x" * 100_000])
def test_garbage_never_crashes_the_daemon(running_gate, raw):
    daemon, office, config = running_gate
    office.publish("gate/tianlin12/east/cmd/open", raw)
    assert wait_for(lambda: office.on("/cmd/result"), 10)
    assert office.on("/cmd/result")[0]["ok"] is False
    body = sign(KEY, "open", command(request_id="after-garbage"), **EAST)
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
        assert daemon.link.connected.wait(10) and daemon.link.subscribed.wait(10)
        assert {w.pass_key for w in daemon.workers} == {b"the old pass key, 32 bytes long!"}
        pass_key.write_bytes(b"the office rotated it: new key!!")
        office.publish("gate/tianlin12/east/cmd/reload", sign(KEY, "reload", command(request_id="reload-1"), **EAST))
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
    from edge.rules.plate_match import PlateMatch  # noqa: F401  (the car is unregistered: no match)

    entry = gate.vehicle("in", "沪A12345")
    daemon.store.sessions.backdate_entry(entry["session_id"], 2700)
    held = gate.vehicle("out", "沪A12345")
    assert held["decision"] == "hold" and held["fee_cents"] == 500
    assert held["session_id"] == entry["session_id"]
    office.publish("gate/tianlin12/east/cmd/pay", sign(KEY, "pay", command(
        request_id="pay-1", session_id=held["session_id"], amount_cents=500), **EAST))
    assert wait_for(lambda: "pay-1" in results(office), 10)
    assert results(office)["pay-1"]["ok"] is True
    paid = [e for e in office.on("/event/exit") if e["decision"] == "open"]
    assert paid and paid[0]["fee_cents"] == 500 and paid[0]["session_id"] == held["session_id"]
    assert daemon.store.sessions.open_for("沪A12345") is None


def test_a_signed_correct_names_the_session_of_a_car_held_among_look_alikes_and_opens_its_exit(running_gate):
    """Issue 31: two cars in the lot look like the exit's reading; the exit is held for the guard with both
    listed; the office's ``correct`` names the one that waits there: told ``corrected`` (the reading
    beside the entry's), decided on that entry (its fee held: then paid as any held exit)."""
    daemon, office, config = running_gate
    gate = daemon.gate
    first = gate.vehicle("in", "沪A12340")
    second = gate.vehicle("in", "沪A12341")
    daemon.store.sessions.backdate_entry(first["session_id"], 2700)
    held = gate.vehicle("out", "沪A1234B")  # one character from both
    assert held["decision"] == "hold" and held["session_id"] is None and held["reason_code"] == "exit_look_alikes"
    assert {c["session_id"] for c in held["candidates"]} == {first["session_id"], second["session_id"]}
    assert held["held_barrier"] == "foot" and daemon.barriers["foot"].commands[-1][1] == "in"
    office.publish("gate/tianlin12/east/cmd/correct", sign(KEY, "correct", command(
        request_id="fix-1", session_id=first["session_id"], exit_event_id=held["event_id"]), **EAST))
    assert wait_for(lambda: "fix-1" in results(office), 10)
    assert results(office)["fix-1"] == {"v": 1, "request_id": "fix-1", "ok": True, "error": None, "due_cents": 500}
    [told] = [e for e in office.on("/event/session") if e["transition"] == "corrected"]
    assert told["session_id"] == first["session_id"] and told["read_plate"] == "沪A1234B"
    assert told["resolves"] == held["event_id"] and told["request_id"] == "fix-1" and told["revision"] == 1
    assert wait_for(lambda: len(office.on("/event/exit")) == 2, 10)
    again = office.on("/event/exit")[1]
    assert again["decision"] == "hold" and again["fee_cents"] == 500 and again["session_id"] == first["session_id"]
    assert again["resolves"] == held["event_id"] and again["read_plate"] == "沪A1234B"
    # The same held exit again: it no longer waits (nothing recorded); a blocked plate is never corrected to.
    daemon.store.vehicles.upsert("沪A99999", "blocked")
    for request_id, body in (("fix-2", {"session_id": second["session_id"], "exit_event_id": held["event_id"]}),
                             ("fix-3", {"session_id": second["session_id"], "plate": "沪A99999"}),
                             ("fix-4", {"session_id": second["session_id"]})):
        office.publish("gate/tianlin12/east/cmd/correct", sign(KEY, "correct", command(request_id=request_id, **body),
                                                               **EAST))
        assert wait_for(lambda rid=request_id: rid in results(office), 10)
        assert results(office)[request_id]["ok"] is False
    assert "no longer waits" in results(office)["fix-2"]["error"]
    assert "blocked" in results(office)["fix-3"]["error"]
    assert results(office)["fix-4"]["error"] == "correct needs plate or exit_event_id (or both)"
    assert daemon.store.sessions.get(second["session_id"])["plate"] == "沪A12341"
    # A correction onto the plate of a car with its own open session (the first, held): refused with a code the
    # console says in its language, naming that session; nothing recorded.
    events = len(daemon.store.events.payloads())
    office.publish("gate/tianlin12/east/cmd/correct", sign(KEY, "correct", command(
        request_id="fix-5", session_id=second["session_id"], plate="沪A12340"), **EAST))
    assert wait_for(lambda: "fix-5" in results(office), 10)
    refused = results(office)["fix-5"]
    assert refused["ok"] is False and refused["error_code"] == "correction_car_in_lot"
    assert refused["error_params"]["other_session"] == first["session_id"]
    assert refused["error_params"]["plate"] == "沪A12340" and refused["error_params"]["entry_gate"] == "east"
    assert refused["error"].startswith("not corrected: 沪A12340 is in the lot already")
    assert len(daemon.store.events.payloads()) == events
    assert daemon.store.sessions.get(second["session_id"])["plate"] == "沪A12341"


def test_peer_gates_share_last_seen_and_parking_sessions(tmp_path, broker, running_gate):
    east, office, _ = running_gate
    west_config = gate_config(tmp_path / "west", broker.port, gate="west", cameras=UNPLUGGED,
                              barriers=[{"id": "car", "type": "simulated", "lanes": ["in", "out"]}])
    west = Daemon(west_config).start()
    try:
        assert west.link.connected.wait(10) and west.link.subscribed.wait(10)
        # Two local registries: west's person 1 is not east's person 1 (enrolled in another order, or
        # somebody else). East never applies west's person id, and says the site needs the office.
        person = west.store.people.add("王建国", "12-301", care_watch=True)
        east_person = east.store.people.add("李桂兰", "3-402", care_watch=True)
        assert person == east_person
        west.gate.person("in", person)
        entry = west.gate.vehicle("in", "沪B77777")
        assert wait_for(lambda: east.store.alerts.open_device("site") is not None, 10)
        assert "set up the office" in east.store.alerts.open_device("site")["detail"]
        assert east.store.sightings.get(f"person:{east_person}") is None
        # Plates and parking sessions mean the same thing at both gates: they are applied.
        assert wait_for(lambda: east.store.sessions.open_for("沪B77777") is not None, 10)
        assert east.store.sessions.open_for("沪B77777")["session_id"] == entry["session_id"]
        exit_event = east.gate.vehicle("out", "沪B77777")  # in at west, out at east: one session
        assert exit_event["session_id"] == entry["session_id"] and exit_event["decision"] == "open"
        assert wait_for(lambda: west.store.sessions.open_for("沪B77777") is None, 10)
        # Re-delivery of the same event changes nothing.
        from edge.site.peers import apply_peer_event

        payload = json.dumps(office.on("/west/event/entry")[0]).encode()
        assert apply_peer_event(east.store, east.alerts, "west", payload) is False
        assert apply_peer_event(east.store, east.alerts, "west", b"{garbage") is False
    finally:
        west.close()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(verb=st.sampled_from(["open", "pay", "reload", "correct", "result", "../x", ""]), body=json_values,
       raw=st.binary(max_size=200))
def test_the_command_parser_only_ever_accepts_or_refuses(verb, body, raw):
    seen = set()

    def remember(request_id):
        was = request_id in seen
        seen.add(request_id)
        return was

    for data in (raw, json.dumps(body).encode(), json.dumps(sign(KEY, verb, body, **EAST) if isinstance(body, dict)
                                                             else body).encode()):
        try:
            parsed = parse_command(verb, data, KEY, 120, remember, **EAST)
        except CommandRefused as exc:
            assert isinstance(exc.error, str) and exc.error
        else:
            assert parsed.verb in ("open", "pay", "reload", "correct") and isinstance(parsed.request_id, str)


@settings(max_examples=100, deadline=None)
@given(request_id=st.from_regex(r"[A-Za-z0-9_.:-]{1,64}", fullmatch=True), lane=st.sampled_from(["in", "out"]))
def test_every_properly_signed_fresh_command_is_accepted_once(request_id, lane):
    seen = set()

    def remember(rid):
        was = rid in seen
        seen.add(rid)
        return was

    body = sign(KEY, "open", {"request_id": request_id, "ts": time.time(), "lane": lane}, **EAST)
    raw = json.dumps(body).encode()
    assert parse_command("open", raw, KEY, 120, remember, **EAST).body["lane"] == lane
    with pytest.raises(CommandRefused, match="replayed"):
        parse_command("open", raw, KEY, 120, remember, **EAST)


# -- what is signed, and each refusal's own reason (unit tests, no broker) -----------------------------------
NOW = 1_790_000_000.0


def never_seen():
    seen = set()

    def remember(request_id):
        was = request_id in seen
        seen.add(request_id)
        return was

    return remember


def parse(verb, body, *, now=NOW, **where):
    raw = json.dumps(body, ensure_ascii=False).encode()
    return parse_command(verb, raw, KEY, 120, never_seen(), now=now, **(where or EAST))


def test_the_signed_string_is_site_gate_verb_then_the_canonical_body():
    body = {"request_id": "r-1", "ts": "2026-09-21T10:00:00.000+08:00", "v": 1, "session_id": "会话", "sig": "ff",
            "amount_cents": 500}
    expected = ('tianlin12/east/pay\n{"amount_cents":500,"request_id":"r-1","session_id":"会话",'
                '"ts":"2026-09-21T10:00:00.000+08:00","v":1}').encode()
    assert canonical("pay", body, site="tianlin12", gate="east") == expected
    import hashlib
    import hmac

    assert sign(KEY, "pay", body, **EAST)["sig"] == hmac.new(KEY, expected, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("where", [{"site": "tianlin12", "gate": "west"}, {"site": "tianlin13", "gate": "east"}])
def test_a_command_signed_for_another_gate_or_site_is_refused(where):
    body = new_command("open", key=KEY, now=NOW, zone=SHANGHAI, lane="in", **EAST)
    assert parse("open", body).request_id == body["request_id"]  # fine where it was meant to go
    with pytest.raises(CommandRefused, match=r"bad signature \(signed for another site, gate"):
        parse("open", body, **where)


def test_new_command_builds_a_versioned_signed_command_with_a_fresh_id():
    first = new_command("pay", key=KEY, now=NOW, zone=SHANGHAI, session_id="s-1", amount_cents=300, **EAST)
    second = new_command("pay", key=KEY, now=NOW, zone=SHANGHAI, session_id="s-1", amount_cents=300, **EAST)
    assert first["request_id"] != second["request_id"]
    assert first["v"] == 1 and first["ts"] == iso(NOW, SHANGHAI) and first["ts"].endswith("+08:00")
    command = parse("pay", first)
    assert command.body["session_id"] == "s-1" and command.body["amount_cents"] == 300


def test_stale_and_future_commands_are_refused_each_with_its_own_reason():
    old = new_command("open", key=KEY, now=NOW - 600, zone=SHANGHAI, **EAST)
    with pytest.raises(CommandRefused) as stale:
        parse("open", old)
    assert stale.value.error == "stale: ts is 600 s behind the gate's clock (window 120 s)"
    ahead = new_command("open", key=KEY, now=NOW + 600, zone=SHANGHAI, **EAST)
    with pytest.raises(CommandRefused) as future:
        parse("open", ahead)
    assert future.value.error == ("from the future: ts is 600 s ahead of the gate's clock (window 120 s); "
                                  "check the clocks")
    # Inside the window either way: accepted.
    assert parse("open", new_command("open", key=KEY, now=NOW - 100, zone=SHANGHAI, **EAST))
    assert parse("open", new_command("open", key=KEY, now=NOW + 100, zone=SHANGHAI, **EAST))


def test_unknown_fields_are_accepted_and_signed_like_the_rest():
    body = new_command("open", key=KEY, now=NOW, zone=SHANGHAI, lane="out", operator="李", reason={"ticket": 7},
                       **EAST)
    command = parse("open", body)
    assert command.body["lane"] == "out" and command.body["operator"] == "李"
    with pytest.raises(CommandRefused, match="bad signature"):
        parse("open", {**body, "operator": "someone else"})


def test_contract_version_other_than_1_is_refused_and_a_missing_one_is_read_as_1():
    newer = new_command("open", key=KEY, now=NOW, zone=SHANGHAI, v=2, **EAST)
    with pytest.raises(CommandRefused) as refused:
        parse("open", newer)
    assert refused.value.error.startswith("contract version 2 is not 1")
    assert refused.value.request_id == newer["request_id"]
    with pytest.raises(CommandRefused, match="v must be a whole number"):
        parse("open", new_command("open", key=KEY, now=NOW, zone=SHANGHAI, v="1", **EAST))
    unversioned = sign(KEY, "open", {"request_id": "old-office", "ts": NOW}, **EAST)
    assert parse("open", unversioned).request_id == "old-office"


def test_a_non_ascii_signature_is_a_bad_signature_not_a_crash():
    body = {**new_command("open", key=KEY, now=NOW, zone=SHANGHAI, **EAST), "sig": "签名"}
    with pytest.raises(CommandRefused, match="bad signature"):
        parse("open", body)


def test_the_readme_example_signature():
    body = {"request_id": "cmd-5f1c2a9e0b7d4c31", "ts": "2026-11-26T12:00:00.000+08:00", "v": 1, "lane": "in"}
    assert canonical("open", body, **EAST) == (
        b'tianlin12/east/open\n{"lane":"in","request_id":"cmd-5f1c2a9e0b7d4c31",'
        b'"ts":"2026-11-26T12:00:00.000+08:00","v":1}')
    assert sign(b"example-key", "open", body, **EAST)["sig"] == (
        "097c52842f46fc531c1b1b58d8c83541dac3cc75d9d2e1b24c50144ff27cdbd2")


# -- site mode: commands signed by the office's command.key (Ed25519), DESIGN 6.1 ----------------------------
def test_a_site_mode_gate_takes_the_offices_ed25519_commands_and_refuses_shared_key_ones(tmp_path, broker, site_keys):
    from edge.keys import load_signer

    config = gate_config(
        tmp_path / "east", broker.port, command_public_keys=[str(site_keys / "command.pub")], cameras=UNPLUGGED,
        barriers=[{"id": "foot", "type": "simulated", "lanes": ["in", "out"]}],
    )
    office_key = load_signer(site_keys / "command.key")
    daemon = Daemon(config).start()
    office = Listener(broker.port, "gate/tianlin12/#")
    try:
        assert daemon.link.connected.wait(10) and daemon.link.subscribed.wait(10)
        signed = new_command("open", key=office_key, zone=SHANGHAI, lane="in", request_id="ed-1", **EAST)
        assert signed["kid"] == office_key.kid and len(signed["sig"]) == 128
        office.publish("gate/tianlin12/east/cmd/open", signed)
        assert wait_for(lambda: "ed-1" in results(office), 10)
        assert results(office)["ed-1"] == {"v": 1, "request_id": "ed-1", "ok": True, "error": None}
        assert len(daemon.barriers["foot"].commands) == 1

        refusals = {
            "hmac-1": (new_command("open", key=KEY, zone=SHANGHAI, request_id="hmac-1", **EAST),
                       "signed with a shared key; this gate takes commands signed by the office's command key"),
            "gate-1": (new_command("open", key=load_signer(site_keys / "east.key"), zone=SHANGHAI,
                                   request_id="gate-1", **EAST),
                       f"signed with unknown key {load_signer(site_keys / 'east.key').kid}"),
            "tamper-1": ({**new_command("open", key=office_key, zone=SHANGHAI, request_id="tamper-1", lane="in",
                                        **EAST), "lane": "out"},
                         "bad signature (signed for another site, gate or command, or with another key)"),
            "west-1": (new_command("open", key=office_key, zone=SHANGHAI, request_id="west-1", site="tianlin12",
                                   gate="west"),
                       "bad signature (signed for another site, gate or command, or with another key)"),
        }
        for body, _ in refusals.values():
            office.publish("gate/tianlin12/east/cmd/open", body)
        assert wait_for(lambda: set(refusals) <= set(results(office)), 10)
        for request_id, (_, error) in refusals.items():
            assert results(office)[request_id] == {"v": 1, "request_id": request_id, "ok": False, "error": error}
        assert len(daemon.barriers["foot"].commands) == 1  # none of them opened anything
    finally:
        office.close()
        daemon.close()


def test_a_gate_with_a_shared_key_refuses_an_ed25519_command(site_keys):
    from edge.keys import load_signer

    body = new_command("open", key=load_signer(site_keys / "command.key"), now=NOW, zone=SHANGHAI, **EAST)
    with pytest.raises(CommandRefused) as refused:
        parse("open", body)
    assert refused.value.error == ("signed with the office's command key; this gate takes commands signed with its "
                                   "shared key (mqtt.command_key_file)")


def test_ed25519_commands_sign_the_same_string_with_kid_in_the_body(site_keys):
    from edge.keys import load_signer, load_verifier

    signer = load_signer(site_keys / "command.key")
    body = {"request_id": "cmd-5f1c2a9e0b7d4c31", "ts": "2026-11-26T12:00:00.000+08:00", "v": 1, "lane": "in"}
    signed = sign(signer, "open", body, **EAST)
    message = canonical("open", signed, **EAST)
    assert message == ('tianlin12/east/open\n{"kid":"' + signer.kid + '","lane":"in","request_id":'
                       '"cmd-5f1c2a9e0b7d4c31","ts":"2026-11-26T12:00:00.000+08:00","v":1}').encode()
    assert load_verifier(site_keys / "command.pub").verify(signer.kid, message, signed["sig"])
    # Rotation: a gate listing old and new command.pub takes both; without the old one, refuses it.
    from edge.keys import write_site_keys

    write_site_keys(site_keys / "new")
    new = load_signer(site_keys / "new" / "command.key")
    both = load_verifier([site_keys / "command.pub", site_keys / "new" / "command.pub"])
    for key in (signer, new):
        raw = json.dumps(new_command("open", key=key, now=NOW, zone=SHANGHAI, **EAST)).encode()
        assert parse_command("open", raw, both, 120, never_seen(), now=NOW, **EAST).verb == "open"
    raw = json.dumps(new_command("open", key=signer, now=NOW, zone=SHANGHAI, **EAST)).encode()
    with pytest.raises(CommandRefused, match=f"signed with unknown key {signer.kid}"):
        parse_command("open", raw, load_verifier(site_keys / "new" / "command.pub"), 120, never_seen(), now=NOW,
                      **EAST)
