"""Parking-session changes: what a decision does to a car's session, written with its event.

A vehicle decision reads the lot (``state``: occupancy and the plate's open session) and, per the
policy's ``session`` verdict, opens a session, holds it at the exit barrier (a fee is due), or closes it;
a second entry with no exit read first supersedes the earlier session with a ``session`` event of its own,
told before the entry so every receiver sees them in seq order. An exit that finds no session under its
reading is reconciled with a look-alike (``reconcile``; edge.rules.reconcile): the one found is told
``corrected`` with the reading beside the entry's, before the exit (``corrected``, also the office's
correction). A payment marks the session paid, or
paid and closed when it covers the fee where the car waits. Each change is a function of the event id,
run inside the event's transaction (``EventRecorder.commit``), so the session table never disagrees
with the events; the rules themselves are ``edge.rules.parking``'s.
"""

from __future__ import annotations

import uuid

from edge.contract import session_fields, subject
from edge.rules import policy
from edge.schemas.phrases import say


class SessionChanges:
    def __init__(self, config, parking, recorder):
        self.gate = config.gate
        self.parking = parking
        self.recorder = recorder

    def state(self, plate: str | None) -> policy.ParkingState:
        """What the policy reads of the lot: occupancy, and the plate's open session."""
        return policy.ParkingState(self.parking.occupied(), self.parking.open_for(plate))

    def for_decision(self, decision, plate, state, now, barrier, lane):
        """(the session id the event names, its change), or (None, None): the decision changes no session."""
        gate, parking = self.gate, self.parking
        if decision.session == "open":
            session_id = str(uuid.uuid4())

            def change(event_id):
                parking.open(session_id, plate, decision.vehicle_class, now, gate, event_id)

            return session_id, change
        if decision.session in ("close", "hold") and state.open_session is not None:
            session_id = state.open_session["session_id"]
            if decision.session == "hold":

                def hold(event_id):
                    parking.hold(session_id, gate, barrier.id if barrier else None, lane, now)

                return session_id, hold

            def close(event_id):
                parking.close(session_id, now, gate, event_id, None)

            return session_id, close
        return None, None

    def reconcile(self, reading: str, now: float, *, registered: bool):
        """An exit's look-alike sessions (``edge.rules.reconcile.Reconciliation``)."""
        return self.parking.reconcile(reading, now, registered=registered)

    def corrected(self, session: dict, *, plate: str, vehicle_class: str | None, person_id, lane: str, now: float,
                  said, credential: str, extra: dict) -> dict:
        """Tell the site the session's plate and class from now on (a ``session`` event, transition
        ``corrected``; ``corrected_from`` when the plate changes), in the decision's transaction: every
        receiver applies it through ``Parking.correct``; ``revision``: one more than the corrections of the
        session known here (the newest stands everywhere). ``fee_cents``: what the car owes now."""
        corrected = {**session, "plate": plate, "vehicle_class": vehicle_class}
        decision = policy.Decision("session", None, said, fee_cents=self.parking.due(corrected, now),
                                   vehicle_class=vehicle_class)
        fields = {**session_fields("corrected"), "revision": self.parking.next_revision(session["session_id"]),
                  **extra}
        if plate != session["plate"]:
            fields["corrected_from"] = session["plate"]
        session_id = session["session_id"]
        return self.recorder.record(lane=lane, decision=decision, credential=credential,
                                    subj=subject("vehicle", person_id=person_id, plate=plate,
                                                 vehicle_class=vehicle_class),
                                    now=now, kind="session", session_id=session_id, extra=fields,
                                    session_change=lambda event_id: self.parking.correct(session_id))

    def supersede(self, old: dict, lane: str, now: float, replaced_by: str | None) -> None:
        """With the entry, in its transaction: close the car's earlier session and tell the site (a
        ``session`` event), so every gate's occupancy drops it too."""
        decision = policy.Decision("session", None, say("session_superseded"), vehicle_class=old["vehicle_class"])
        subj = subject("vehicle", plate=old["plate"], vehicle_class=old["vehicle_class"])
        self.recorder.record(lane=lane, decision=decision, credential=None, subj=subj, now=now, kind="session",
                             session_id=old["session_id"],
                             extra={**session_fields("superseded"), "replaced_by": replaced_by},
                             session_change=lambda event_id: self.parking.supersede(old["session_id"]))

    def paid(self, session_id: str, paid_cents: int, now: float):
        """The change of a payment that does not close the session (part, or in advance)."""
        return lambda event_id: self.parking.pay(session_id, paid_cents, now)

    def paid_and_closed(self, session_id: str, paid_cents: int, now: float):
        """The change of a payment that covers the fee where the car waits: paid, then closed."""
        parking, gate = self.parking, self.gate

        def close(event_id):
            parking.pay(session_id, paid_cents, now)
            parking.close(session_id, now, gate, event_id, paid_cents)

        return close
