"""Invitations, the registry's side (edge.registry.invites) on a real office database and a declared clock: the
window (at most a day, today or a chosen day), a plate already registered refused with nothing changed, the
daily limit, cancelling (a car's window ends, a visitor's pass is revoked), one unit never seeing or cancelling
another's, and what the rules then make of an invited car at every moment of its window."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

ZONE = ZoneInfo("Asia/Shanghai")
NOON = datetime(2026, 12, 3, 12, 0, tzinfo=ZONE).timestamp()  # a Thursday, at noon on the site's clock


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


@pytest.fixture
def office(tmp_path):
    """The office's store with two households, its pass key, and Invitations on a clock set at noon."""
    from types import SimpleNamespace

    from edge.keys import load_signer, write_site_keys
    from edge.registry.invites import Invitations, Inviter
    from edge.store import Store
    from edge.timeutil import FixedClock

    write_site_keys(tmp_path / "keys")
    store = Store(tmp_path / "office.db")
    clock = FixedClock(NOON)
    store.clock = clock
    changed = []
    store.on_registry_change = lambda kind, key: changed.append((kind, key))  # as the office's publisher is told
    li = store.people.add("李桂兰", "12-301", "13900000001", care_watch=True)
    wang = store.people.add("王建国", "5-102", "13900000002")
    invitations = Invitations(store, ZONE, clock=clock, pass_key=load_signer(tmp_path / "keys" / "pass.key"),
                              per_unit_per_day=5)
    yield SimpleNamespace(store=store, clock=clock, invitations=invitations, changed=changed,
                          li=Inviter("12-301", li, "portal:139****0001"),
                          wang=Inviter("5-102", wang, "portal:139****0002"),
                          verifier=load_signer(tmp_path / "keys" / "pass.key"))
    store.close()


def refused(call, **kwargs):
    from edge.registry.invites import InviteRefused

    with pytest.raises(InviteRefused) as caught:
        call(**kwargs)
    return caught.value


def test_an_invited_car_is_registered_for_its_window_and_the_rules_follow_it(office):
    from edge.config.rules import ParkingConfig
    from edge.rules.parking import fee_due
    from edge.rules.permits import effective_class, in_force

    office.changed.clear()
    invite = office.invitations.car(office.li, plate="沪b·12345", vehicle_class="family", hours=4,
                                    start="2026-12-03T14:30")
    assert (invite["kind"], invite["plate"], invite["class"], invite["unit"], invite["state"]) == (
        "car", "沪B12345", "family", "12-301", "waiting")
    assert (invite["valid_from"], invite["valid_until"]) == ("2026-12-03T14:30:00.000+08:00",
                                                             "2026-12-03T18:30:00.000+08:00")
    vehicle = office.store.vehicles.get("沪B12345")
    assert (vehicle["class"], vehicle["person_id"], vehicle["valid_from"], vehicle["valid_until"]) == (
        "family", office.li.person_id, "2026-12-03", "2026-12-03")  # the days an older gate keeps to
    assert (vehicle["valid_from_at"], vehicle["valid_until_at"]) == (invite["valid_from"], invite["valid_until"])
    assert office.changed == [("vehicle", "沪B12345")]  # published like any vehicle
    for moment, expected in (("14:29", None), ("14:30", "family"), ("18:29", "family"), ("18:30", None)):
        registered = in_force(vehicle, at(f"2026-12-03 {moment}"), ZONE)
        assert (effective_class(registered, at(f"2026-12-03 {moment}"), ZONE) if registered else None) == expected
    # Let in at 15:00 under the family rule: nothing due for two hours, then the visitor rate per started hour.
    parking = ParkingConfig()  # family_free_minutes 120, the visitor rate per started hour
    session = {"vehicle_class": "family", "entry_epoch": at("2026-12-03 15:00"), "paid_cents": 0}
    assert fee_due(session, vehicle, at("2026-12-03 16:59"), parking, ZONE) == 0
    assert fee_due(session, vehicle, at("2026-12-03 17:01"), parking, ZONE) == parking.rate_per_hour_cents


@pytest.mark.parametrize("body,field,words", [
    ({"hours": 25}, "hours", "hours: a whole number of hours from 1 to 24"),
    ({"hours": 0}, "hours", "from 1 to 24"),
    ({"hours": "2.5"}, "hours", "from 1 to 24"),
    ({"start": "2026-12-03T09:00"}, "from", "has passed"),
    ({"start": "2027-01-03"}, "from", "at most 30 days ahead"),
    ({"start": "明天"}, "from", "is not a day or a time"),
    ({"plate": "沪AI2345"}, "plate", "plates never use the letters I and O"),
    ({"plate": ""}, "plate", "plate: required"),
    ({"vehicle_class": "resident"}, "class", "class: family (two hours free) or visitor"),
    ({"vehicle_class": "blocked"}, "class", "class: family"),
])
def test_a_bad_invitation_is_refused_naming_the_field_and_changes_nothing(office, body, field, words):
    office.changed.clear()
    args = {"plate": "沪C54321", "vehicle_class": "visitor", "hours": 3, "start": None, **body}
    error = refused(office.invitations.car, who=office.li, **args)
    assert (error.field, error.status) == (field, 400) and words in error.said.text, error.said.text
    assert office.store.vehicles.get("沪C54321") is None and office.store.invites.of_unit("12-301") == []
    assert office.changed == []


def test_today_or_a_chosen_day(office):
    today = office.invitations.car(office.li, plate="沪D11111", vehicle_class="visitor", hours=24, start="2026-12-03")
    assert (today["valid_from"], today["valid_until"], today["state"]) == (
        "2026-12-03T12:00:00.000+08:00", "2026-12-04T12:00:00.000+08:00", "active")  # today: from now
    later = office.invitations.car(office.li, plate="沪D22222", vehicle_class="visitor", hours=8, start="2026-12-06")
    assert (later["valid_from"], later["valid_until"]) == ("2026-12-06T00:00:00.000+08:00",
                                                           "2026-12-06T08:00:00.000+08:00")
    slow = office.invitations.car(office.li, plate="沪D33333", vehicle_class="visitor", hours=1,
                                  start="2026-12-03T11:50")  # the form filled in slowly: from now
    assert slow["valid_from"] == "2026-12-03T12:00:00.000+08:00"


@pytest.mark.parametrize("vehicle_class", ["resident", "family", "visitor", "blocked"])
def test_a_plate_already_registered_is_refused_and_nothing_changes(office, vehicle_class):
    office.store.vehicles.upsert("沪E99999", vehicle_class, office.wang.person_id, valid_until="2027-06-30")
    before = office.store.vehicles.get("沪E99999")
    office.changed.clear()
    error = refused(office.invitations.car, who=office.li, plate="沪E 99999", vehicle_class="family", hours=2)
    assert (error.field, error.status) == ("plate", 409)
    assert error.said.text == ("沪E99999 is already registered at this site, so it needs no invitation (the committee "
                               "office can say more)")
    assert "5-102" not in error.said.text and vehicle_class not in error.said.text  # nothing of the other unit
    assert office.store.vehicles.get("沪E99999") == before and office.changed == []
    assert office.store.invites.of_unit("12-301") == []  # and it does not count against the day's limit


def test_an_invited_plate_is_refused_to_everyone_until_its_window_is_over(office):
    first = office.invitations.car(office.wang, plate="沪F10001", vehicle_class="family", hours=2)
    for who in (office.li, office.wang):
        error = refused(office.invitations.car, who=who, plate="沪F10001", vehicle_class="visitor", hours=2)
        assert error.status == 409
    office.clock.advance(2 * 3600)
    again = office.invitations.car(office.li, plate="沪F10001", vehicle_class="visitor", hours=3)
    vehicle = office.store.vehicles.get("沪F10001")
    assert (vehicle["class"], vehicle["person_id"], vehicle["valid_until_at"]) == (
        "visitor", office.li.person_id, again["valid_until"])
    assert [i["state"] for i in office.invitations.of_unit("5-102")] == ["over"]
    assert office.invitations.of_unit("5-102")[0]["id"] == first["id"]


def test_at_most_the_daily_limit_a_unit_and_a_cancel_gives_none_back(office):
    made = [office.invitations.car(office.li, plate=f"沪G1000{n}", vehicle_class="visitor", hours=2) for n in range(4)]
    office.invitations.cancel(made[0]["id"], by="portal:139****0001", unit="12-301")
    office.invitations.visitor(office.li, name="快递小哥", hours=2)
    office.changed.clear()
    error = refused(office.invitations.car, who=office.li, plate="沪G20000", vehicle_class="family", hours=2)
    assert (error.field, error.status) == (None, 429)
    assert error.said.text == "at most 5 invitations a day for a unit (cancelled ones count); try again tomorrow"
    assert refused(office.invitations.visitor, who=office.li, name="张三", hours=2).status == 429
    assert office.store.vehicles.get("沪G20000") is None and office.changed == [] and office.store.passes.all() != []
    assert len(office.invitations.of_unit("12-301")) == 5
    assert office.invitations.car(office.wang, plate="沪G20000", vehicle_class="family", hours=2)  # another unit may
    office.clock.epoch = at("2026-12-04 00:00")  # the site's next day
    assert office.invitations.car(office.li, plate="沪G30000", vehicle_class="family", hours=2)["state"] == "active"


def test_a_visitor_pass_names_the_unit_never_a_person_and_cancelling_revokes_it(office):
    import base64

    import numpy as np

    from edge.keys import Verifier
    from edge.registry.passes import check_pass
    from models.images import decode_image
    from models.qr import QrReader

    invite = office.invitations.visitor(office.li, name="李小红", hours=6, start="2026-12-05T10:00")
    assert (invite["kind"], invite["name"], invite["state"], invite["valid_from"], invite["valid_until"]) == (
        "visitor", "李小红", "waiting", "2026-12-05T10:00:00.000+08:00", "2026-12-05T16:00:00.000+08:00")
    [code] = QrReader().read(np.asarray(decode_image(base64.b64decode(invite["qr_png_base64"]))))
    assert code.text == invite["token"]  # the image to share is the pass
    key = Verifier([office.verifier.public_key], ["pass.pub"])
    check = check_pass(code.text, key, office.store, now=at("2026-12-05 12:00"))
    assert check.valid and check.claim.subject() == {"type": "visitor", "person_id": None, "plate": None,
                                                     "unit": "12-301"}
    assert "李小红" not in invite["token"]
    assert check_pass(code.text, key, office.store, now=at("2026-12-05 09:00")).said.code == "pass_not_begun"
    assert check_pass(code.text, key, office.store, now=at("2026-12-05 16:01")).said.code == "pass_expired"
    office.changed.clear()
    cancelled = office.invitations.cancel(invite["id"], by="portal:139****0001", unit="12-301")
    assert (cancelled["state"], cancelled["cancelled_by"]) == ("cancelled", "portal:139****0001")
    assert office.changed == [("pass", invite["pass_id"])]  # the signed revocation, to every gate
    assert check_pass(code.text, key, office.store, now=at("2026-12-05 12:00")).said.code == "pass_revoked"
    assert refused(office.invitations.cancel, invite_id=invite["id"], by="x", unit="12-301").status == 409


def test_cancelling_a_car_ends_its_window_now(office):
    from edge.rules.permits import in_force

    invite = office.invitations.car(office.li, plate="沪H12345", vehicle_class="family", hours=8)
    office.clock.advance(3600)
    office.changed.clear()
    cancelled = office.invitations.cancel(invite["id"], by="admin1")
    assert cancelled["state"] == "cancelled" and office.changed == [("vehicle", "沪H12345")]
    vehicle = office.store.vehicles.get("沪H12345")
    assert vehicle["valid_until_at"] == "2026-12-03T13:00:00.000+08:00"
    assert in_force(vehicle, at("2026-12-03 12:59"), ZONE) and not in_force(vehicle, at("2026-12-03 13:00"), ZONE)
    # One not begun yet never begins.
    later = office.invitations.car(office.li, plate="沪H54321", vehicle_class="family", hours=8, start="2026-12-04")
    office.invitations.cancel(later["id"], by="admin1")
    vehicle = office.store.vehicles.get("沪H54321")
    assert all(not in_force(vehicle, at(f"2026-12-04 {h:02d}:00"), ZONE) for h in range(24))


def test_another_units_invitation_is_neither_listed_nor_cancellable(office):
    mine = office.invitations.car(office.li, plate="沪J12345", vehicle_class="family", hours=2)
    theirs = office.invitations.visitor(office.wang, name="王小明", hours=2)
    assert [i["id"] for i in office.invitations.of_unit("12-301")] == [mine["id"]]
    error = refused(office.invitations.cancel, invite_id=theirs["id"], by="portal:139****0001", unit="12-301")
    assert (error.status, error.said.text) == (404, f"no invitation {theirs['id']}")  # as if it did not exist
    assert refused(office.invitations.cancel, invite_id=10**6, by="x", unit="12-301").said.text == \
        f"no invitation {10**6}"
    assert office.invitations.of_unit("5-102")[0]["state"] == "active"
    assert not office.store.passes.revoked(theirs["pass_id"])
    assert [i["id"] for i in office.invitations.recent()] == [theirs["id"], mine["id"]]  # the committee sees all


def test_a_visitors_pass_is_shown_again_as_the_same_token_while_it_may_be_used(office):
    invite = office.invitations.visitor(office.li, name="李小红", hours=6, start="2026-12-05T10:00")
    again = office.invitations.pass_of(invite["id"], unit="12-301")
    assert (again["token"], again["qr_png_base64"]) == (invite["token"], invite["qr_png_base64"])
    assert refused(office.invitations.pass_of, invite_id=invite["id"], unit="5-102").status == 404
    car = office.invitations.car(office.li, plate="沪K12345", vehicle_class="family", hours=2)
    assert refused(office.invitations.pass_of, invite_id=car["id"], unit="12-301").status == 409
    office.invitations.cancel(invite["id"], by="portal:139****0001", unit="12-301")
    assert refused(office.invitations.pass_of, invite_id=invite["id"], unit="12-301").status == 409


def test_a_day_past_its_window_an_invited_car_not_in_the_car_park_leaves_the_registry(office):
    office.invitations.car(office.li, plate="沪L10001", vehicle_class="family", hours=2)
    office.invitations.car(office.li, plate="沪L10002", vehicle_class="family", hours=2)
    office.store.vehicles.upsert("沪L10003", "family", office.wang.person_id, valid_until="2026-12-03")  # not invited
    with office.store.transaction():  # the second car came in and has not left
        office.store.sessions.open("s-2", "沪L10002", "family", NOON + 600, "east", "e-2")
    office.clock.advance(2 * 3600 + 86400 - 1)
    assert office.invitations.tidy() == []
    office.clock.advance(1)
    office.changed.clear()
    assert office.invitations.tidy() == ["沪L10001"]
    assert office.changed == [("vehicle", "沪L10001")]  # the signed tombstone, to every gate
    assert office.store.vehicles.get("沪L10001") is None
    assert office.store.vehicles.get("沪L10002") and office.store.vehicles.get("沪L10003")
    assert [i["state"] for i in office.invitations.of_unit("12-301")] == ["over", "over"]  # still listed
