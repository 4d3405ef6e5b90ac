"""Plates read wrongly at one end of a stay (edge.rules.reconcile, issue 31): the look-alikes of a reading, the
exit that finds no session, which correction stands, which held exits still wait; and the policy's part."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from edge.config.rules import ParkingConfig
from edge.rules.plate_match import PlateIndex
from edge.rules.policy import ParkingState, decide_vehicle
from edge.rules.reconcile import (
    candidates_field,
    look_alikes,
    next_revision,
    reconcile_exit,
    standing_correction,
    waiting_exits,
)

ZONE = ZoneInfo("Asia/Shanghai")
NOW = 1_790_000_000.0
H = 3600.0


def session(plate, hours_ago=1.0, session_id=None, entry_gate="east"):
    return {"session_id": session_id or f"s-{plate}", "plate": plate, "entry_epoch": NOW - hours_ago * H,
            "entry_gate": entry_gate, "vehicle_class": "visitor", "paid_cents": 0}


def test_a_look_alike_is_one_character_away_the_province_included_and_entered_within_the_window():
    lot = [session("沪A12345"), session("皖A12386"), session("沪A12354"), session("沪A1234", session_id="short"),
           session("沪A12349", hours_ago=80), session("沪A12347", entry_gate=None)]
    assert [s["plate"] for s in look_alikes("沪A12340", lot, now=NOW, window_s=72 * H)] == ["沪A12345"]
    assert [s["plate"] for s in look_alikes("皖A12345", lot, now=NOW, window_s=72 * H)] == ["沪A12345"]  # province
    # two places apart (沪A12354, 皖A12386), another length, older than the window, no entry known: never
    assert look_alikes("沪A12345", lot[1:], now=NOW, window_s=72 * H) == []
    assert [s["plate"] for s in look_alikes("沪A12340", lot, now=NOW, window_s=81 * H)] == ["沪A12349", "沪A12345"]


def test_an_exit_is_reconciled_only_with_exactly_one_look_alike_and_never_when_registered():
    one = [session("沪A12345")]
    two = [session("沪A12340", hours_ago=2), session("沪A12341")]
    assert reconcile_exit("沪A12346", one, registered=False, now=NOW, window_hours=72).session["plate"] == "沪A12345"
    assert reconcile_exit("沪A12346", one, registered=True, now=NOW, window_hours=72).session is None
    assert reconcile_exit("沪A12346", one, registered=False, now=NOW, window_hours=0).session is None
    several = reconcile_exit("沪A1234B", two, registered=False, now=NOW, window_hours=72)
    assert several.session is None and [s["plate"] for s in several.candidates] == ["沪A12340", "沪A12341"]
    assert candidates_field(several.candidates) == [{"session_id": "s-沪A12340", "plate": "沪A12340"},
                                                    {"session_id": "s-沪A12341", "plate": "沪A12341"}]
    assert reconcile_exit("京B00000", two, registered=False, now=NOW, window_hours=72).candidates == ()


def test_a_registered_plate_differing_only_in_the_province_is_named_never_matched():
    index = PlateIndex([{"plate": "沪R00001", "class": "resident"}, {"plate": "沪R00002", "class": "visitor"},
                        {"plate": "苏R00003", "class": "resident"}, {"plate": "浙R00003", "class": "resident"}])
    assert index.look_alike("皖R00001")["plate"] == "沪R00001"
    assert index.match("皖R00001", (0.99,) * 7) is None  # sure of the wrong province: no match
    assert index.look_alike("沪R00001") is None  # registered itself
    assert index.look_alike("沪R0000Z") is None  # another character than the province: not named
    assert index.look_alike("皖R00003") is None  # two registered twins: which one is not for us to say


def event(event_id, seq, ts_s, **fields):
    from edge.timeutil import iso

    return {"event_id": event_id, "gate": "east", "seq": seq, "ts": iso(NOW + ts_s, ZONE), "lane": "out", **fields}


def test_the_newest_correction_stands_the_one_made_knowing_another_first():
    a = event("a", 5, 10, revision=1, subject={"plate": "沪A1"})
    b = {**event("b", 3, 20, revision=1, subject={"plate": "沪A2"}), "gate": "west"}
    c = event("c", 6, 5, revision=2, subject={"plate": "沪A3"})  # made knowing a: stands though its clock is behind
    assert standing_correction([a, b])["event_id"] == "b" and standing_correction([b, a])["event_id"] == "b"
    assert standing_correction([c, a, b])["event_id"] == "c"
    assert next_revision([a, b]) == 2 and next_revision([]) == 1 and standing_correction([]) is None


def test_a_held_exit_waits_until_resolved_or_its_exit_decides_again():
    hold = event("h", 10, 0, kind="exit", decision="hold", session_id=None, camera="cam-out")
    other_hold = event("k", 11, 1, kind="exit", decision="hold", session_id=None, camera="cam-2")
    assert waiting_exits([hold], []) == [hold]
    assert waiting_exits([hold], [event("x", 9, -5, kind="exit", decision="open", camera="cam-out")]) == [hold]
    assert waiting_exits([hold], [event("r", 12, 5, kind="session", resolves="h")]) == []
    assert waiting_exits([hold], [event("o", 12, 5, kind="exit", decision="open", camera="cam-out")]) == []
    assert waiting_exits([hold], [event("o", 12, 5, kind="exit", decision="open", credential="remote")]) == []
    assert waiting_exits([hold], [other_hold]) == [hold]  # another camera's exit: this car still waits
    assert waiting_exits([hold], [event("i", 12, 5, kind="entry", decision="open", lane="in")]) == [hold]
    assert waiting_exits([event("s", 13, 0, kind="exit", decision="hold", session_id="s-1")], []) == []


def test_the_policy_holds_among_look_alikes_and_as_the_site_says_for_none():
    def decide(state, rules=ParkingConfig(), vehicle=None):
        return decide_vehicle(vehicle, "out", NOW, mode="normal", parking=rules, zone=ZONE, state=state)

    several = decide(ParkingState(10, None, (session("沪A12340"), session("沪A12341"))))
    assert several.decision == "hold" and several.said.code == "exit_look_alikes" and several.session is None
    assert decide(ParkingState(10, None)).said.code == "exit_without_entry"
    held = ParkingConfig(exit_without_entry="hold")
    assert decide(ParkingState(10, None), held).said.code == "exit_without_entry_held"
    resident = {"plate": "沪R00001", "class": "resident", "person_id": 1, "valid_from": None, "valid_until": None}
    assert decide(ParkingState(10, None), held, resident).said.code == "exit_without_entry"  # nothing can be owed
    # the one look-alike the caller reconciled is the session: decided on its entry
    found = decide(ParkingState(10, session("沪A12345", hours_ago=2)))
    assert found.decision == "hold" and found.fee_cents == 1000 and found.session == "hold"
