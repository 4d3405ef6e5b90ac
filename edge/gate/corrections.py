"""The office's ``correct`` command at this gate (issue 31): a guard says which car a parking session is.

Two corrections, one command (``P/<gate>/cmd/correct``, ``edge.gate.commands``):

    {"session_id", "plate"}            the session's car is ``plate`` (a reading was wrong): the session gets
                                       that plate and the class its registration gives at the entry
    {"session_id", "exit_event_id"}    the car held at that exit of this gate, which found no session of its
                                       own (several look-alikes, or ``exit_without_entry: hold``), is the
                                       session's car (both fields together: both corrections)

Under the gate's decision lock: a ``session`` event ``corrected`` (the plate it had as ``corrected_from``,
the exit's reading as ``read_plate``, the held exit it ``resolves``, the office's ``request_id``), which
every gate and the office apply through ``edge.rules.parking.Parking.correct``; then, when the car waits
at this gate's exit (the held exit named, or the session held here), the exit decided again on the
corrected session, as the policy says: open (nothing owed now: the barrier it waits at opens) or held
with the fee. A correction to a blocked plate, of a session that is not open, or naming an exit that no
longer waits is refused (ValueError: nothing recorded); so is one to a plate whose car has another open
session here (``edge.rules.parking.car_in_lot``: a CorrectionRefused naming that session, its entry's gate
and time, as the phrase ``correction_car_in_lot``): which of the two stays is the phantom is the guard's to
say. A held exit named as an open session's car (no plate, or the session's own) is never refused for it.
Who may correct what (a resident's plate waives the fee: an admin) is the office's to check; the command
is signed.
"""

from __future__ import annotations

from edge.plates import parse_plate
from edge.rules import policy
from edge.rules.parking import in_lot_refusal, unmatched_exits
from edge.rules.permits import effective_class
from edge.rules.reconcile import is_unmatched_hold
from edge.schemas.phrases import say


class Corrections:
    def __init__(self, gate):
        """``gate``: the gate's decisions (``edge.gate.controller.Gate``): its recorder, sessions, barriers."""
        self.gate = gate

    def correct(self, session_id: str, *, plate: str | None = None, exit_event_id: str | None = None,
                request_id: str | None = None) -> tuple[dict, int]:
        """Apply one correction; (the last event published, what the car owes now)."""
        gate = self.gate
        if plate is None and exit_event_id is None:
            raise ValueError("correct needs plate or exit_event_id: nothing corrected")
        with gate.recorder.decision():
            now = gate.clock()
            store = gate.store
            session = store.sessions.get(session_id)
            if session is None or session["state"] != "open" or session.get("entry_event_id") is None:
                raise ValueError(f"no open parking session {session_id}: nothing corrected")
            held = self._waiting_exit(exit_event_id, now) if exit_event_id else None
            new_plate, klass = session["plate"], session["vehicle_class"]
            if plate is not None:
                new_plate = parse_plate(plate, field="plate").text
                registered = store.vehicles.get(new_plate)
                if registered is not None and registered["class"] == "blocked":
                    raise ValueError(f"{new_plate} is a blocked vehicle: a correction never lets it out")
                klass = effective_class(registered, session["entry_epoch"], gate.config.zone)
                if new_plate == session["plate"] and held is None:
                    raise ValueError(f"session {session_id} is {new_plate} already: nothing corrected")
                other = gate.parking.in_lot(new_plate, session_id) if new_plate != session["plate"] else None
                if other is not None:  # that car has a stay of its own: the guard says which is the phantom
                    raise in_lot_refusal(new_plate, other, gate.config.zone)
            vehicle = store.vehicles.get(new_plate)
            read_plate = (held.get("subject") or {}).get("plate") if held else None
            extra = {"request_id": request_id}
            if held:
                extra.update(read_plate=read_plate, resolves=exit_event_id)
            lane = (held.get("lane") if held else session.get("held_lane")) or "out"
            said = say("session_corrected", plate=new_plate, read_plate=read_plate,
                       was=session["plate"] if new_plate != session["plate"] else None)
            event = gate.sessions.corrected(session, plate=new_plate, vehicle_class=klass,
                                            person_id=vehicle["person_id"] if vehicle else None, lane=lane, now=now,
                                            said=said, credential="remote", extra=extra)
            corrected = {**session, "plate": new_plate, "vehicle_class": klass}
            due = gate.parking.due(corrected, now)
            held_here = session.get("held_epoch") is not None and session.get("held_gate") in (None, gate.config.gate)
            barrier, decision = None, None
            if held or held_here:  # the car waits at our exit: decided again on the corrected session
                barrier = gate.follow.barrier_for(None, lane, (held or session).get("held_barrier"))
                state = policy.ParkingState(gate.parking.occupied(), corrected)
                done = {"request_id": request_id, **({"resolves": exit_event_id} if held else {})}
                event, decision = gate.passage(lane, read_plate or new_plate, new_plate, vehicle, state, now, barrier,
                                               credential="remote", extra=done)
                due = decision.fee_cents if decision.decision == policy.HOLD else 0
            gate.recorder.commit()
        if decision is not None and decision.opens:
            return gate.follow.pulse_after(event, barrier, lane), due
        return event, due

    def _waiting_exit(self, event_id: str, now: float) -> dict:
        """The held exit ``event_id`` of this gate, still waiting for the guard; else ValueError."""
        gate = self.gate
        hold = gate.store.events.get(event_id)
        if hold is None or hold.get("gate") != gate.config.gate or not is_unmatched_hold(hold):
            raise ValueError(f"{event_id} is not an exit held at gate {gate.config.gate} with no session: "
                             "nothing corrected")
        waiting = unmatched_exits(gate.store, gate.rules.parking, now, gate=gate.config.gate)
        if event_id not in {w["event_id"] for w in waiting}:
            raise ValueError(f"the car held at exit {event_id} no longer waits there (it left, or was read "
                             "again): nothing corrected")
        return hold
