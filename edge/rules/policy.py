"""Access and parking policy: pure functions from what was recognised to open / deny / hold.

No I/O and no clock of its own: callers pass the registry rows, the parking state and ``now``.
Every decision carries a reason a guard can read (a phrase of ``edge.schemas.phrases``: a stable code, its
parameters, its English) and, for vehicles leaving, the fee.

People (pedestrian gate): a registered person (face, or a valid QR pass) is let through; an unknown
face is a stranger (no opening); an invalid pass is denied. A resident's visitor on foot (a valid
``visitor`` pass, whose subject is a unit) is let through the pedestrian gate only: at a car barrier it
opens nothing (a car is invited by its plate), and it is never anyone's sighting.
Vehicles: blocked never opens; at entry non-residents are held when the lot is full; at exit a fee
due holds the barrier until paid; strict mode lets only registered vehicles and valid passes in.
Anti-passback is soft: a second entry passes and is flagged. An exit that finds no session of its own is
first reconciled with a look-alike session (``edge.rules.reconcile``; the caller hands the one found as the
open session); with several look-alikes it is held for the guard; with none it passes and is flagged, or
is held when the site says ``parking.exit_without_entry: hold`` (a resident with a valid permit still
passes: nothing can be owed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.rules.parking import fee_due
from edge.rules.permits import effective_class, in_force
from edge.schemas.phrases import Phrase, say

OPEN, DENY, HOLD = "open", "deny", "hold"


@dataclass(frozen=True)
class Decision:
    kind: str  # entry | exit | denied | stranger (the event kind)
    decision: str  # open | deny | hold
    said: Phrase  # the reason, as a code and its parameters
    fee_cents: int = 0
    vehicle_class: str | None = None  # the class the rules applied
    session: str | None = None  # "open" a parking session, "close" it, "hold" it, or None
    anomalies: tuple[str, ...] = field(default_factory=tuple)

    @property
    def opens(self) -> bool:
        return self.decision == OPEN

    @property
    def reason(self) -> str:
        """The reason in English, as events have always said it."""
        return self.said.text


@dataclass(frozen=True)
class ParkingState:
    occupied: int  # open sessions in the lot (all gates)
    open_session: dict | None  # this plate's open session, if any (or the one look-alike an exit reconciled)
    candidates: tuple[dict, ...] = ()  # an exit with no session: the open sessions that look like its reading


def _movement(lane: str) -> str:
    return "entry" if lane == "in" else "exit"


def decide_person(person: dict | None, lane: str, mode: str, credential: str = "face") -> Decision:
    """A face or a person pass at the pedestrian gate."""
    if person is None:
        why = say("unknown_face" if credential == "face" else "pass_person_unregistered",
                  strict_mode=mode == "strict" or None)
        return Decision("stranger" if credential == "face" else "denied", DENY, why)
    return Decision(_movement(lane), OPEN, say("resident_registered", unit=person["unit"]))


def decide_visitor(unit: str, lane: str, *, car_lane: bool) -> Decision:
    """A valid visitor pass for ``unit`` (checked: signed, in its time, not revoked, someone lives there)."""
    if car_lane:
        return Decision("denied", DENY, say("visitor_pass_on_foot", unit=unit))
    return Decision(_movement(lane), OPEN, say("visitor_of_unit", unit=unit))


def decide_pass_refused(why: Phrase) -> Decision:
    """A pass that does not verify; ``why``: the pass check's phrase (``edge.registry.passes``)."""
    return Decision("denied", DENY, say("pass_refused", why=why))


def decide_vehicle(
    vehicle: dict | None,
    lane: str,
    now: float,
    *,
    mode: str,
    parking,
    zone,
    state: ParkingState,
    fuzzy: str | None = None,
    fuzzy_opens: bool = True,
    via_pass: bool = False,
) -> Decision:
    """A plate (or a vehicle pass) at the car barrier. ``fuzzy`` names the fuzzy match, if any."""
    if vehicle is not None and vehicle["class"] == "blocked":
        return Decision("denied", DENY, say("vehicle_blocked", fuzzy_match=fuzzy or None), vehicle_class="blocked")
    on_record = vehicle  # the registry's record of this plate (its permit decides a resident's fee)
    # An invitation outside its window (not begun, over, cancelled) is no registration: a stranger's car.
    vehicle = in_force(vehicle, now, zone)
    if vehicle is not None and fuzzy and not fuzzy_opens:
        # A fuzzy match may deny, never grant: without permission to open on it, the car is a stranger.
        vehicle = None
    registered = vehicle is not None or via_pass
    klass = effective_class(vehicle, now, zone)
    if mode == "strict" and not registered:
        return Decision("denied", DENY, say("vehicle_unregistered_strict"), vehicle_class=klass)
    anomalies: list[str] = []
    if lane == "in":
        if state.open_session is not None:
            anomalies.append("entry while a session is already open (no exit recorded)")
        if klass != "resident" and state.occupied >= parking.capacity:
            return Decision("entry", HOLD, say("lot_full", occupied=state.occupied, capacity=parking.capacity),
                            vehicle_class=klass, anomalies=tuple(anomalies))
        why = {"resident": "resident_permit_valid", "family": "family_vehicle", "visitor": "visitor"}[klass]
        if vehicle is None:
            why = "visitor_pass" if via_pass else "vehicle_unregistered_visitor"
        elif vehicle["class"] in ("resident", "family") and klass == "visitor":
            why = "permit_expired_visitor"
        return Decision("entry", OPEN, say(why, fuzzy_match=fuzzy or None), vehicle_class=klass, session="open",
                        anomalies=tuple(anomalies))

    session = state.open_session
    if session is None:
        anomalies.append("exit without a recorded entry")
        if len(state.candidates) > 1:
            return Decision("exit", HOLD, say("exit_look_alikes", count=len(state.candidates)), vehicle_class=klass,
                            anomalies=tuple(anomalies))
        if parking.exit_without_entry == "hold" and klass != "resident":
            return Decision("exit", HOLD, say("exit_without_entry_held"), vehicle_class=klass,
                            anomalies=tuple(anomalies))
        return Decision("exit", OPEN, say("exit_without_entry"), vehicle_class=klass,
                        anomalies=tuple(anomalies))
    charged_class = session.get("vehicle_class") or klass
    # The one rule for what a car owes (edge.rules.parking): the same answer as query and pay.
    due = fee_due(session, on_record, now, parking, zone)
    if due > 0:
        minutes = (now - session["entry_epoch"]) / 60
        return Decision("exit", HOLD, say("fee_due", due_yuan=due / 100, minutes=minutes), fee_cents=due,
                        vehicle_class=charged_class, session="hold")
    return Decision("exit", OPEN, say("no_fee_due"), vehicle_class=charged_class, session="close")
