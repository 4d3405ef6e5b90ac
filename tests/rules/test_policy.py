"""Access and parking rules at their boundaries, a full day through two gates, fee and pass properties."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.config.rules import ParkingConfig
from edge.rules.fees import fee_cents
from edge.rules.policy import ParkingState, decide_person, decide_vehicle

ZONE = ZoneInfo("Asia/Shanghai")
RULES = ParkingConfig()
T0 = datetime(2026, 11, 26, 9, 0, tzinfo=ZONE).timestamp()


def minutes(m, s=0):
    return m * 60 + s


@pytest.mark.parametrize(
    "vehicle_class, stay, fee",
    [
        ("visitor", minutes(29, 59), 0),
        ("visitor", minutes(30), 0),
        ("visitor", minutes(30, 1), 500),  # charged from the start: one started hour
        ("visitor", minutes(60), 500),
        ("visitor", minutes(60, 1), 1000),
        ("visitor", minutes(181), 2000),
        ("family", minutes(119), 0),
        ("family", minutes(120), 0),
        ("family", minutes(121), 500),  # the time beyond the free 120 minutes, per started hour
        ("family", minutes(180), 500),
        ("family", minutes(181), 1000),
        ("resident", minutes(600), 0),
        ("blocked", minutes(600), 0),
    ],
)
def test_fee_boundaries(vehicle_class, stay, fee):
    assert fee_cents(vehicle_class, T0, T0 + stay, RULES, ZONE) == fee


def test_overnight_stay_is_split_by_calendar_day_and_capped_per_day():
    entry = datetime(2026, 11, 26, 23, 0, tzinfo=ZONE).timestamp()
    leave = datetime(2026, 11, 27, 1, 30, tzinfo=ZONE).timestamp()
    # Hours start at 23:00 (26th), 00:00 and 01:00 (27th): 1 + 2 started hours.
    assert fee_cents("visitor", entry, leave, RULES, ZONE) == 1500
    capped = ParkingConfig(daily_cap_cents=800)
    assert fee_cents("visitor", entry, leave, capped, ZONE) == 500 + 800


def test_a_long_stay_is_capped_each_day():
    capped = ParkingConfig(daily_cap_cents=3000)
    entry = datetime(2026, 11, 26, 8, 0, tzinfo=ZONE).timestamp()
    # 26th 08:00-24:00 (16 h), the 27th and 28th (24 h each), the 29th 00:00-08:00 (8 h): four capped days.
    assert fee_cents("visitor", entry, entry + 3 * 86400, capped, ZONE) == 4 * 3000


@settings(max_examples=300, deadline=None)
@given(cls=st.sampled_from(["visitor", "family", "resident"]), a=st.integers(0, 5 * 86400),
       b=st.integers(0, 5 * 86400), cap=st.one_of(st.none(), st.integers(0, 10000)),
       start=st.integers(0, 365 * 86400))
def test_fee_never_negative_and_never_decreases_with_a_longer_stay(cls, a, b, cap, start):
    rules = ParkingConfig(daily_cap_cents=cap)
    entry = T0 + start
    short, long_ = sorted((a, b))
    f_short = fee_cents(cls, entry, entry + short, rules, ZONE)
    f_long = fee_cents(cls, entry, entry + long_, rules, ZONE)
    assert 0 <= f_short <= f_long


def vehicle(cls="resident", valid_until="2099-12-31", person_id=1):
    return {"plate": "沪A12345", "class": cls, "person_id": person_id, "valid_from": None, "valid_until": valid_until}


def decide(v, lane, *, occupied=0, session=None, mode="normal", now=T0, **kw):
    return decide_vehicle(v, lane, now, mode=mode, parking=RULES, zone=ZONE,
                          state=ParkingState(occupied, session), **kw)


def test_the_306th_car_is_held_but_a_resident_gets_in():
    assert decide(None, "in", occupied=305).decision == "open"
    full = decide(None, "in", occupied=306)
    assert full.decision == "hold" and "lot full (306/306)" in full.reason
    assert decide(vehicle("family"), "in", occupied=306).decision == "hold"
    assert decide(vehicle("resident"), "in", occupied=306).decision == "open"


def test_an_expired_permit_is_treated_as_a_visitor():
    yesterday = (datetime.fromtimestamp(T0, ZONE) - timedelta(days=1)).date().isoformat()
    today = datetime.fromtimestamp(T0, ZONE).date().isoformat()
    assert decide(vehicle(valid_until=today), "in").vehicle_class == "resident"  # valid all of its last day
    entry = decide(vehicle(valid_until=yesterday), "in")
    assert entry.decision == "open" and entry.vehicle_class == "visitor" and "expired" in entry.reason
    session = {"session_id": "s", "entry_epoch": T0 - minutes(45), "vehicle_class": "resident", "paid_cents": 0}
    leaving = decide(vehicle(valid_until=yesterday), "out", session=session)
    assert leaving.decision == "hold" and leaving.fee_cents == 500


def test_blocked_never_opens_even_by_a_fuzzy_match():
    assert decide(vehicle("blocked"), "in").decision == "deny"
    denied = decide(vehicle("blocked"), "out", fuzzy="8→B at position 5")
    assert denied.kind == "denied" and "fuzzy" in denied.reason


def test_a_fuzzy_match_opens_only_when_allowed():
    assert decide(vehicle("resident"), "in", fuzzy="5→S", fuzzy_opens=True).vehicle_class == "resident"
    stranger = decide(vehicle("resident"), "in", fuzzy="5→S", fuzzy_opens=False)
    assert stranger.vehicle_class == "visitor"  # treated as the unregistered car it was read as
    assert decide(vehicle("resident"), "in", fuzzy="5→S", fuzzy_opens=False, mode="strict").decision == "deny"


def test_strict_mode_lets_only_registered_vehicles_and_passes_in():
    assert decide(None, "in", mode="strict").decision == "deny"
    assert decide(vehicle("visitor"), "in", mode="strict").decision == "open"
    assert decide(None, "in", mode="strict", via_pass=True).decision == "open"
    stranger = decide_person(None, "in", "strict")
    assert stranger.kind == "stranger" and stranger.decision == "deny" and "strict" in stranger.reason


def test_soft_anti_passback_flags_but_never_locks_out():
    out = decide(vehicle("resident"), "out", session=None)
    assert out.decision == "open" and out.anomalies == ("exit without a recorded entry",)
    again = decide(vehicle("resident"), "in", session={"session_id": "s", "entry_epoch": T0 - 60})
    assert again.decision == "open" and "no exit recorded" in again.anomalies[0]


def test_people():
    assert decide_person({"id": 1, "unit": "12-301"}, "in", "normal").kind == "entry"
    assert decide_person({"id": 1, "unit": "12-301"}, "out", "normal").kind == "exit"
    assert decide_person(None, "in", "normal", credential="qr").kind == "denied"


# -- a full day through two gates -------------------------------------------------------------------

class Bus:
    """Peer events delivered straight from one gate's registry to the other's (no broker needed here)."""

    def __init__(self):
        self.gates = {}

    def deliver(self, source):
        def on_event(event):
            from edge.site.peers import apply_peer_event

            for name, (store, alerts) in self.gates.items():
                if name != source:
                    apply_peer_event(store, alerts, source, json.dumps(event).encode(), clock=alerts.clock)

        return on_event


def two_gates(tmp_path, daily_cap):
    import yaml

    from drivers.barriers.simulated import Barrier, Config
    from edge.alerts import Alerts
    from edge.config import load_config
    from edge.gate.controller import Gate
    from edge.store import Store
    from edge.timeutil import FixedClock

    clock = FixedClock(datetime(2026, 11, 26, 7, 0, tzinfo=ZONE).timestamp())
    bus, gates = Bus(), {}
    for name in ("east", "west"):
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump({
            "site": "tianlin12", "gate": name, "database": str(tmp_path / f"{name}.db"),
            "parking": {"daily_cap_cents": daily_cap},
        }))
        config = load_config(path)
        store = Store(config.database)
        alerts = Alerts(config, store, clock=clock)
        bus.gates[name] = (store, alerts)
        barrier = Barrier(Config(id="car", type="simulated", lanes=["in", "out"]))
        gates[name] = Gate(config, store, {"car": barrier}, alerts, clock=clock, on_event=bus.deliver(name))
    for store, _ in bus.gates.values():
        owner = store.people.add("王建国", "12-301")
        store.vehicles.upsert("沪R00001", "resident", owner, valid_until="2099-12-31")
        store.vehicles.upsert("沪F00001", "family", owner, valid_until="2099-12-31")
        store.vehicles.upsert("沪E00001", "resident", owner, valid_until="2026-11-25")  # expired yesterday
    return gates, clock


def test_a_full_day_through_two_gates(tmp_path):
    gates, clock = two_gates(tmp_path, daily_cap=1500)
    day = datetime(2026, 11, 26, tzinfo=ZONE)

    def at(hour, minute=0, days=0):
        clock.epoch = (day + timedelta(days=days, hours=hour, minutes=minute)).timestamp()

    def drive(gate, lane, plate):
        event = gates[gate].vehicle(lane, plate, match=_match(gates[gate], plate))
        if event["decision"] == "hold":
            return gates[gate].pay(event["session_id"], event["fee_cents"], f"pay-{plate}")[0]
        return event

    paid = []
    traffic = [
        ((8, 0), "east", "in", "沪V00001"), ((8, 20), "west", "out", "沪V00001"),     # 20 min: free
        ((9, 0), "west", "in", "沪V00002"), ((10, 15), "east", "out", "沪V00002"),    # 75 min: 2 h = 1000
        ((10, 0), "east", "in", "沪F00001"), ((12, 30), "east", "out", "沪F00001"),   # 150 min: 30 over 120 = 500
        ((11, 0), "west", "in", "沪R00001"), ((18, 0), "east", "out", "沪R00001"),    # resident: 0
        ((13, 0), "east", "in", "沪E00001"), ((13, 40), "west", "out", "沪E00001"),   # expired: visitor, 40 min = 500
        ((20, 0), "east", "in", "沪V00003"),                                          # overnight, see below
    ]
    for (hour, minute), gate, lane, plate in sorted(traffic, key=lambda t: t[0]):
        at(hour, minute)
        event = drive(gate, lane, plate)
        if lane == "out":
            paid.append(event["fee_cents"])
    at(2, 30, days=1)
    # 20:00-02:30: hours starting 20, 21, 22, 23 (26th: 4 x 500 = 2000, capped 1500) and 00, 01, 02 (27th: 1500).
    paid.append(drive("west", "out", "沪V00003")["fee_cents"])
    assert paid == [0, 1000, 500, 500, 0, 3000]
    assert sum(paid) == 5000
    for gate in gates.values():  # both gates agree: the lot is empty again
        assert gate.store.sessions.occupied() == 0


def test_a_second_entry_at_the_other_gate_supersedes_the_first_session_at_both(tmp_path):
    gates, clock = two_gates(tmp_path, daily_cap=None)
    first = gates["east"].vehicle("in", "沪V00009", match=None)
    clock.advance(600)
    second = gates["west"].vehicle("in", "沪V00009", match=None)  # no exit was read in between
    assert "no exit recorded" in second["anomalies"][0]
    for name, gate in gates.items():  # one car in the lot at both gates, and it is the new session
        assert gate.store.sessions.occupied() == 1, name
        assert gate.store.sessions.open_for("沪V00009")["session_id"] == second["session_id"], name
        assert gate.store.sessions.get(first["session_id"])["state"] == "closed", name
    [superseded] = gates["east"].store.events.payloads(kind="session")  # west's, as east received it
    assert superseded["transition"] == "superseded" and superseded["session_id"] == first["session_id"]
    assert superseded["seq"] == second["seq"] - 1  # told first, in seq order


def test_a_partial_payment_reaches_the_other_gate(tmp_path):
    gates, clock = two_gates(tmp_path, daily_cap=None)
    entry = gates["east"].vehicle("in", "沪V00008", match=None)
    clock.advance(2 * 3600)
    held = gates["east"].vehicle("out", "沪V00008", match=None)
    assert held["decision"] == "hold" and held["fee_cents"] == 1000
    event, due = gates["east"].pay(entry["session_id"], 400, "part-1")  # accepted: 6.00 yuan still due
    assert due == 600 and event["kind"] == "session" and event["decision"] == "hold"
    for name, gate in gates.items():
        assert gate.store.sessions.get(entry["session_id"])["paid_cents"] == 400, name
    [paid] = gates["west"].store.events.payloads(kind="session")
    assert (paid["transition"], paid["paid_cents"], paid["fee_cents"]) == ("paid", 400, 600)


def test_a_peer_event_from_a_newer_gate_is_applied_and_an_unknown_kind_is_only_kept(tmp_path):
    from edge.site.peers import apply_peer_event

    gates, clock = two_gates(tmp_path, daily_cap=None)
    east = gates["east"]
    entry = gates["west"].vehicle("in", "沪V00007", match=None)
    newer = {**entry, "event_id": "newer-1", "seq": entry["seq"] + 1, "session_id": "s-newer", "colour": "green",
             "subject": {**entry["subject"], "plate": "沪AD12345", "colour": "green"}, "site_uid": 42}
    assert apply_peer_event(east.store, east.alerts, "west", json.dumps(newer).encode())
    assert east.store.sessions.get("s-newer")["plate"] == "沪AD12345"  # applied, extra fields ignored
    visit = {**entry, "event_id": "newer-2", "seq": entry["seq"] + 2, "kind": "visit", "session_id": "s-visit"}
    before = east.store.sessions.occupied()
    assert apply_peer_event(east.store, east.alerts, "west", json.dumps(visit).encode())
    assert east.store.sessions.occupied() == before and east.store.sessions.get("s-visit") is None
    assert east.store.events.seqs("west")[-1] == entry["seq"] + 2  # kept for its seq
    forged = {**entry, "event_id": "other", "subject": {**entry["subject"], "plate": "沪A99999"}}  # seq reused
    assert not apply_peer_event(east.store, east.alerts, "west", json.dumps(forged).encode())
    assert east.store.sessions.open_for("沪A99999") is None


def _match(gate, plate):
    from edge.rules.plate_match import PlateIndex

    return PlateIndex.from_registry(gate.store).match(plate)


# -- QR passes ------------------------------------------------------------------------------------

KEY = b"k" * 32


def test_a_pass_verifies_until_it_expires(store):
    from edge.registry.passes import check_pass, issue_token, record_pass

    person = store.people.add("陈明", "5-101")
    token, claim = issue_token(KEY, person_id=person, valid_hours=2, now=T0)
    record_pass(store, claim)
    assert check_pass(token, KEY, store, now=T0 + 3600).valid
    assert check_pass(token, KEY, store, now=T0 + 7201).reason == "expired"


def test_revoked_and_erased_passes_are_refused(store):
    from edge.registry.passes import check_pass, issue_token, record_pass, revoke_pass

    person = store.people.add("陈明", "5-101")
    token, claim = issue_token(KEY, person_id=person, valid_hours=2, now=T0)
    record_pass(store, claim)
    assert revoke_pass(store, claim.pass_id)
    assert check_pass(token, KEY, store, now=T0).reason == "revoked"
    other, claim2 = issue_token(KEY, person_id=person, valid_hours=2, now=T0)
    record_pass(store, claim2)
    store.people.remove(person)
    assert not check_pass(other, KEY, store, now=T0).valid


def test_a_pass_never_issued_here_is_refused(store):
    from edge.registry.passes import check_pass, issue_token

    token, _ = issue_token(KEY, plate="沪A12345", valid_hours=2, now=T0)
    assert check_pass(token, KEY, store, now=T0).reason.startswith("unknown pass")


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, 200), replacement=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567:=.x"))
def test_changing_any_character_of_a_pass_is_always_refused(position, replacement):
    from edge.registry.passes import check_pass, issue_token

    token, _ = issue_token(KEY, plate="沪A12345", valid_hours=2, now=T0)
    position %= len(token)
    if token[position] == replacement:
        return
    tampered = token[:position] + replacement + token[position + 1:]
    assert not check_pass(tampered, KEY, None, now=T0).valid


def test_pass_issue_cli_writes_a_scannable_qr(minimal_config, tmp_path, capsys, write_config):
    from edge.cli.main import main
    from models.images import load_rgb
    from models.qr import QrReader

    (tmp_path / "pass.key").write_bytes(KEY)
    path = write_config({"site": "tianlin12", "gate": "east", "database": str(tmp_path / "registry.db"),
                         "passes": {"secret_file": "pass.key"}}, "withkey.yaml")
    assert main(["person", "add", "-c", str(path), "--name", "陈明", "--unit", "5-101"]) == 0
    person = json.loads(capsys.readouterr().out)["person_id"]
    out = tmp_path / "chen.png"
    assert main(["pass", "issue", "-c", str(path), "--person", str(person), "--valid-hours", "24",
                 "--out", str(out)]) == 0
    issued = json.loads(capsys.readouterr().out)
    [code] = QrReader().read(load_rgb(out))
    assert main(["identify", "-c", str(path), str(out)]) == 0
    seen = json.loads(capsys.readouterr().out)
    assert seen["qr"][0]["valid"] is True and seen["qr"][0]["subject"]["person_id"] == person
    assert seen["qr"][0]["pass_id"] == issued["pass_id"] and code.text.startswith("GE1:")
    assert main(["pass", "revoke", "-c", str(path), issued["pass_id"]]) == 0
    capsys.readouterr()
    main(["identify", "-c", str(path), str(out)])
    assert json.loads(capsys.readouterr().out)["qr"][0]["reason"] == "revoked"


def test_a_site_mode_gate_cannot_issue_passes_but_verifies_the_offices(tmp_path, capsys, write_config):
    from edge.cli.main import main
    from edge.keys import load_signer, write_site_keys
    from edge.registry.passes import issue_token
    from models.qr import write_qr_png

    write_site_keys(tmp_path / "keys")
    path = write_config({"site": "tianlin12", "gate": "east", "database": str(tmp_path / "registry.db"),
                         "passes": {"public_keys": ["keys/pass.pub"]}}, "site.yaml")
    assert main(["pass", "issue", "-c", str(path), "--plate", "沪A12345", "--valid-hours", "24",
                 "--out", str(tmp_path / "x.png")]) == 1
    assert "issue passes at the office" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()
    token, claim = issue_token(load_signer(tmp_path / "keys" / "pass.key"), plate="沪A12345", valid_hours=24)
    write_qr_png(token, tmp_path / "office-pass.png")
    write_qr_png(issue_token(KEY, plate="沪A12345", valid_hours=24)[0], tmp_path / "shared-pass.png")
    images = [str(tmp_path / "office-pass.png"), str(tmp_path / "shared-pass.png")]
    assert main(["identify", "-c", str(path), *images]) == 0
    office_pass, shared_pass = (json.loads(line)["qr"][0] for line in capsys.readouterr().out.splitlines())
    assert office_pass["valid"] is True and office_pass["pass_id"] == claim.pass_id
    assert shared_pass["reason"] == "signed with a shared key; this site uses the office's pass key"


# -- invitations (edge.registry.invites): a window, and a visitor's pass ---------------------------------
INVITED = {"plate": "沪B12345", "class": "family", "person_id": 7, "valid_from": "2026-11-26",
           "valid_until": "2026-11-26", "valid_from_at": "2026-11-26T10:00:00.000+08:00",
           "valid_until_at": "2026-11-26T14:00:00.000+08:00"}


@pytest.mark.parametrize("hour, mode, decision, why, klass", [
    (9.99, "normal", "open", "vehicle_unregistered_visitor", "visitor"),  # not begun: a stranger's car
    (10, "normal", "open", "family_vehicle", "family"),
    (13.99, "strict", "open", "family_vehicle", "family"),
    (14, "strict", "deny", "vehicle_unregistered_strict", "visitor"),  # over: strict mode keeps it out
    (9, "strict", "deny", "vehicle_unregistered_strict", "visitor"),
])
def test_an_invited_car_is_registered_only_within_its_window(hour, mode, decision, why, klass):
    now = datetime(2026, 11, 26, tzinfo=ZONE).timestamp() + hour * 3600
    made = decide_vehicle(INVITED, "in", now, mode=mode, parking=RULES, zone=ZONE,
                          state=ParkingState(occupied=0, open_session=None))
    assert (made.decision, made.said.code, made.vehicle_class) == (decision, why, klass)


def test_a_visitor_pass_opens_the_pedestrian_gate_only_and_names_the_unit():
    from edge.rules.policy import decide_visitor

    walked = decide_visitor("12-301", "in", car_lane=False)
    assert (walked.kind, walked.decision, walked.said.text) == ("entry", "open", "visitor of 12-301 (visitor pass)")
    assert walked.session is None
    driven = decide_visitor("12-301", "in", car_lane=True)
    assert (driven.kind, driven.decision, driven.said.code) == ("denied", "deny", "visitor_pass_on_foot")
