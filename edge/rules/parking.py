"""Parking money and occupancy (DESIGN 2): what a stay costs and what is due now, and the lot as a whole.

``fee_due`` is the one answer to "what does this car owe now": the exit decision, ``query``, ``pay``,
the office's console and the demo all call it. The rules:

    resident (permit valid)   free
    family                    first family_free_minutes free, then the visitor rate (edge.rules.fees)
    visitor / unregistered    visitor_free_minutes free, else every started hour from the start
    daily cap                 per calendar day in the site's time zone
    a resident's permit that lapses during the stay: the stay is free up to the end of the permit's
        last day and charged as a visitor's from then on, as if the car had entered at that moment
        (its free minutes included); a registration removed or changed during the stay charges the
        whole stay by the visitor rules.
"""

from __future__ import annotations

from edge.rules.fees import fee_cents
from edge.rules.permits import permit_valid
from edge.rules.reconcile import (
    HOUR,
    Reconciliation,
    next_revision,
    reconcile_exit,
    standing_correction,
    waiting_exits,
)
from edge.schemas.phrases import Phrase, say
from edge.timeutil import end_of_day, iso, parse_day


def charge(session: dict, vehicle: dict | None, now: float, rules, zone) -> int:
    """What the whole stay costs if the car leaves at ``now`` (before payments)."""
    klass = session.get("vehicle_class") or "visitor"
    start = session["entry_epoch"]
    if klass == "family" and (vehicle is None or vehicle["class"] != "family"):
        klass = "visitor"  # the registration was removed or changed during the stay
    if klass == "resident":
        if vehicle is not None and vehicle["class"] == "resident":
            if permit_valid(vehicle, now, zone):
                return 0
            if vehicle.get("valid_until"):
                start = max(start, end_of_day(parse_day(vehicle["valid_until"]), zone))
        klass = "visitor"
    return fee_cents(klass, start, now, rules, zone)


def fee_due(session: dict, vehicle: dict | None, now: float, rules, zone) -> int:
    """What the car owes now: the stay's charge less what has been paid, never below zero."""
    return max(0, charge(session, vehicle, now, rules, zone) - (session.get("paid_cents") or 0))


def parking_view(store, rules, zone, now: float) -> dict:
    """The lot as this database knows it: capacity, occupancy, open sessions and held exits with the fee
    due now (the office's console and ``/api/parking``; a gate's status reports capacity and occupied).
    A session shows the plate read at its entry when a correction changed it (``entry_plate``) and a
    registered plate differing only in the province (``look_alike``); ``unmatched`` lists the exits held
    with no session (several look-alikes, or ``exit_without_entry: hold``) that still wait for the guard,
    each with its look-alikes (``candidates``) as this database knows them now."""
    open_sessions, held = [], []
    for session in store.sessions.open_with_entries():
        vehicle = store.vehicles.get(session["plate"])
        row = {"session_id": session["session_id"], "plate": session["plate"],
               "vehicle_class": session["vehicle_class"], "entry_ts": iso(session["entry_epoch"], zone),
               "entry_gate": session["entry_gate"], "minutes": round((now - session["entry_epoch"]) / 60, 1),
               "paid_cents": session["paid_cents"], "fee_due_cents": fee_due(session, vehicle, now, rules, zone)}
        if session.get("entry_plate") and session["entry_plate"] != session["plate"]:
            row["entry_plate"] = session["entry_plate"]
        if session.get("look_alike") and session["look_alike"] != session["plate"]:
            twin = store.vehicles.get(session["look_alike"])
            row["look_alike"] = {"plate": session["look_alike"], "class": twin["class"] if twin else None}
        open_sessions.append(row)
        if session.get("held_epoch") is not None:
            held.append({**row, "held_gate": session.get("held_gate"), "held_barrier": session.get("held_barrier"),
                         "held_lane": session.get("held_lane"), "held_ts": iso(session["held_epoch"], zone)})
    by_id = {row["session_id"]: row for row in open_sessions}
    unmatched = []
    for hold in unmatched_exits(store, rules, now):
        subject = hold.get("subject") or {}
        unmatched.append({
            "event_id": hold["event_id"], "gate": hold["gate"], "lane": hold.get("lane"), "ts": hold["ts"],
            "plate": subject.get("plate"), "held_barrier": hold.get("held_barrier"), "camera": hold.get("camera"),
            "reason": hold.get("reason"), "reason_code": hold.get("reason_code"),
            "reason_params": hold.get("reason_params"), "look_alike": hold.get("look_alike"),
            "candidates": [by_id[c["session_id"]] for c in hold.get("candidates") or []
                           if isinstance(c, dict) and c.get("session_id") in by_id]})
    return {"capacity": rules.capacity, "occupied": len(open_sessions), "open": open_sessions, "held": held,
            "unmatched": unmatched}


def unmatched_exits(store, rules, now: float, gate: str | None = None) -> list[dict]:
    """The exits held with no session that still wait for the guard (``edge.rules.reconcile.waiting_exits``),
    of ``gate`` or every gate; payloads. Looked for over the reconciliation window, and at least a day (a
    site with reconciliation off may still hold exits: ``exit_without_entry: hold``)."""
    since = now - max(rules.reconcile_window_hours, 24) * HOUR
    holds = store.events.unmatched_holds(since, gate)
    if not holds:
        return []
    later = store.events.exits_and_sessions_since(since, {h["gate"] for h in holds})
    return waiting_exits(holds, later)


class CorrectionRefused(ValueError):
    """A correction the parking rule refuses; ``said``: why, as a phrase (its code travels in the command's
    result: ``error_code``, ``error_params``). Nothing is recorded."""

    def __init__(self, said: Phrase):
        self.said = said
        super().__init__(said.text)


def car_in_lot(session_id: str, entries: list[dict]) -> dict | None:
    """Whether a correction may give session ``session_id`` a plate: ``entries`` are the sessions known under
    that plate (``Sessions.entries_for``: those carrying it now, and those that carried it before a
    correction). Another open one among them means that car is in the lot already (a stay of its own) and
    the correction would make one car of two stays, so the one-session-per-car rule (``Parking.open``) would
    close one of them uncharged: which is the phantom (the other session's reading may be the wrong one, or
    the car left unseen and came back) is the guard's to say, never the gate's. That session (the one that
    entered first, should there be several), or None: the correction may be made."""
    others = [s for s in entries if s["state"] == "open" and s["session_id"] != session_id]
    return min(others, key=lambda s: (s["entry_epoch"], s["session_id"])) if others else None


def in_lot_refusal(plate: str, other: dict, zone) -> CorrectionRefused:
    """The refusal of a correction to ``plate`` while ``other`` (``car_in_lot``) is open: it names that session,
    when and where it entered, and its plate when that is no longer ``plate``."""
    from datetime import datetime

    entered = datetime.fromtimestamp(other["entry_epoch"], zone).strftime("%Y-%m-%d %H:%M")
    return CorrectionRefused(say("correction_car_in_lot", plate=plate, other_session=other["session_id"],
                                 entry_gate=other.get("entry_gate") or "?", entry_time=entered,
                                 now_plate=other["plate"] if other["plate"] != plate else None))


def _plate_of(payload: dict) -> str | None:
    plate = (payload.get("subject") or {}).get("plate")
    return plate if isinstance(plate, str) and plate else None


class Parking:
    """The session life cycle on one database (a gate's, or the office's): every transition is made here,
    by the gate for its own decisions and by ``apply_event`` for what another gate published, so every
    gate and the office reach the same session table. Call inside the caller's transaction."""

    def __init__(self, store, rules, zone):
        """``rules``: SiteRules (its .parking is read at each call: the office's settings may change) and
        the site's ``zone``, both needed only for fees; applying transitions needs neither."""
        self.store = store
        self.rules = rules
        self.zone = zone

    # -- reading ---------------------------------------------------------------------------
    def occupied(self) -> int:
        return self.store.sessions.occupied()

    def open_for(self, plate: str | None) -> dict | None:
        return self.store.sessions.open_for(plate) if plate else None

    def due(self, session: dict, now: float) -> int:
        return fee_due(session, self.store.vehicles.get(session["plate"]), now, self.rules.parking, self.zone)

    def status(self) -> dict:
        """What a gate's retained status says of the lot, so the office can see that gates agree."""
        return {"capacity": self.rules.parking.capacity, "occupied": self.occupied()}

    # -- transitions -----------------------------------------------------------------------
    def open(self, session_id: str, plate: str, vehicle_class: str | None, now: float, gate: str,
             event_id: str) -> None:
        """Open a session. A car has at most one open session, and only its newest entry's: the newest
        entry known (by time, then by gate and the entry event's seq, the deciding gate's own order), open
        or already closed by an exit, supersedes every older open session. Every gate applies the same
        rule to the same entries in whatever order they arrive, so they all end with the same sessions.
        A correction that arrived before the entry is applied now (it waited in the events table)."""
        self.store.sessions.open(session_id, plate, vehicle_class, now, gate, event_id)
        self._one_per_car(plate)
        self.correct(session_id)

    def _one_per_car(self, plate: str) -> None:
        sessions = self.store.sessions
        entries = sessions.entries_for(plate)
        if not entries:
            return
        newest = max(entries, key=lambda s: (s["entry_epoch"], s["entry_gate"] or "", s["entry_seq"] or 0,
                                             s["session_id"]))
        for other in entries:
            if other["state"] == "open" and other["session_id"] != newest["session_id"]:
                sessions.supersede(other["session_id"])

    def next_revision(self, session_id: str) -> int:
        """The ``revision`` of a new correction of the session (one more than those known here)."""
        return next_revision(self.store.events.corrections(session_id))

    def in_lot(self, plate: str, session_id: str) -> dict | None:
        """Another open session of the car ``plate`` (``car_in_lot``): a correction of ``session_id`` to it is
        refused (``in_lot_refusal``). Asked by the correcting gate (and the office before it sends one); a
        correction made without knowing the other session's entry (it was still on its way) is applied by
        every receiver as ``correct`` says: the newest entry stays open."""
        return car_in_lot(session_id, self.store.sessions.entries_for(plate))

    def reconcile(self, reading: str, now: float, *, registered: bool) -> Reconciliation:
        """An exit read as ``reading`` that found no session under it: its look-alikes (edge.rules.reconcile)."""
        return reconcile_exit(reading, self.store.sessions.open_sessions(), registered=registered, now=now,
                              window_hours=self.rules.parking.reconcile_window_hours)

    def correct(self, session_id: str) -> None:
        """Give the session the plate and class of the correction that stands (the newest of its ``corrected``
        events, whatever order they arrived in), and keep one open session per car under every plate it has
        carried (its entry's reading and each correction's: a set that only grows, so the sessions this
        rule supersedes are the same at every receiver whatever the order). Nothing while the session's
        entry has not arrived: its entry applies the corrections that waited (in the events table)."""
        corrections = [c for c in self.store.events.corrections(session_id) if _plate_of(c)]
        session = self.store.sessions.get(session_id)
        if not corrections or session is None or session.get("entry_event_id") is None:
            return
        plates = {_plate_of(c) for c in corrections}
        read_at_entry = _plate_of(self.store.events.get(session["entry_event_id"]) or {})
        if read_at_entry:
            plates.add(read_at_entry)
        standing = standing_correction(corrections)["subject"]
        if plates != {standing["plate"]}:
            self.store.sessions.note_carried(session_id, sorted(plates))
        self.store.sessions.correct(session_id, standing["plate"], standing.get("class"))
        for plate in sorted(plates | {standing["plate"]}):
            self._one_per_car(plate)

    def supersede(self, session_id: str) -> None:
        self.store.sessions.supersede(session_id)

    def hold(self, session_id: str, gate: str, barrier: str | None, lane: str | None, now: float) -> None:
        self.store.sessions.hold(session_id, gate, barrier, lane or "out", now)

    def pay(self, session_id: str, paid_total: int, now: float) -> None:
        self.store.sessions.record_payment(session_id, paid_total, now)

    def close(self, session_id: str, now: float, gate: str, event_id: str, fee_cents: int | None) -> None:
        self.store.sessions.close(session_id, now, gate, event_id, fee_cents=fee_cents)

    def apply_event(self, event) -> None:
        """The transition another gate's event carries (``edge.contract.PeerEvent``), in whatever order the
        events arrive: a transition of a session whose entry has not arrived yet is kept for it."""
        if event.subject_type != "vehicle" or not event.plate or event.session_id is None:
            return
        sessions, known = self.store.sessions, {"plate": event.plate, "vehicle_class": event.vehicle_class}
        if event.kind == "entry" and event.opened:
            self.open(event.session_id, event.plate, event.vehicle_class, event.ts_epoch, event.gate, event.event_id)
        elif event.kind == "exit" and event.opened:
            sessions.close(event.session_id, event.ts_epoch, event.gate, event.event_id, event.fee_cents or 0, **known)
        elif event.kind == "exit" and event.decision == "hold":
            self.hold(event.session_id, event.gate, event.payload.get("held_barrier"), event.lane, event.ts_epoch)
        elif event.kind == "session" and event.transition == "superseded":
            sessions.supersede(event.session_id, epoch=event.ts_epoch, **known)
        elif event.kind == "session" and event.transition == "paid" and event.paid_cents is not None:
            sessions.record_payment(event.session_id, event.paid_cents, event.ts_epoch, **known)
        elif event.kind == "session" and event.transition == "corrected":
            self.correct(event.session_id)
