"""The gate's decisions, one per credential: from what the recognisers agreed on to a decision.

For every agreed observation (a face, a plate, a QR pass) and every signed command of the office (open,
pay, correct), under the gate's decision lock: look up the registry, ask the policy (``edge.rules.policy``),
and make the events. An exit whose reading finds no session is reconciled with a look-alike session
(``edge.rules.reconcile``) before the policy decides. Four parts do the rest, each its own module:

    edge.gate.recording        the decision's events: numbered, written in one transaction through the
                               journal (kept in memory when storage fails: the decision stands, since
                               people live behind this gate), then told
    edge.gate.session_changes  what the decision does to a car's parking session, written with its event
    edge.gate.follow_up        which barrier opens; its pulse, outside the lock, and the pulse's result
                               written into the committed event, whose message waits for it
    edge.gate.corrections      the office's ``correct``: which car a session is, and the exit it waits at

When the registry cannot even be read, no decision can be made: the ``StorageFailure`` goes to the
caller (the camera worker logs it) and the guard says storage is unavailable; the office's signed
``open`` still opens (it reads nothing).
"""

from __future__ import annotations

import time

from edge.contract import Topics, session_fields, subject
from edge.durable.journal import Journal
from edge.durable.memory_queue import MemoryQueue
from edge.durable.seqs import Seqs
from edge.gate.corrections import Corrections
from edge.gate.follow_up import BarrierFollowUp
from edge.gate.recording import EventRecorder
from edge.gate.session_changes import SessionChanges
from edge.rules import policy
from edge.rules.parking import Parking
from edge.rules.reconcile import candidates_field
from edge.schemas.phrases import say


class Gate:
    def __init__(self, config, store, barriers: dict, alerts, clock=time.time, wake=None, on_event=None,
                 rules=None, signer=None, journal: Journal | None = None, topics: Topics | None = None):
        """``rules``: the site's rules (edge.rules.site_rules); ``signer``: site mode, the gate's own key, which
        signs every event it publishes. ``journal``: the daemon's durable writer (its memory queue, numbering
        and storage guard); without one, events are numbered from the stored counter and a storage failure is
        raised, as to any caller. ``topics``: the daemon's (``Topics.of(config)`` when not given)."""
        from edge.rules.site_rules import SiteRules

        self.config = config
        self.rules = rules or SiteRules(config)
        self.parking = Parking(store, self.rules, config.zone)
        self.store = store
        self.barriers = barriers
        self.alerts = alerts
        self.clock = clock
        topics = topics or Topics.of(config)
        if journal is None:
            memory_queue = MemoryQueue(store.path, persist=False)
            seqs = Seqs(store, memory_queue)
            seqs.start(trust_counter=True)
            journal = Journal(store, memory_queue, seqs=seqs)
        self.recorder = EventRecorder(config, store, alerts, journal, topics, signer=signer, wake=wake,
                                      on_event=on_event)
        self.sessions = SessionChanges(config, self.parking, self.recorder)
        self.follow = BarrierFollowUp(config, store, barriers, journal, topics, clock=clock, signer=signer,
                                      wake=wake, on_event=on_event)
        self.follow.finish_interrupted()
        self.corrections = Corrections(self)

    # -- people --------------------------------------------------------------------------------
    def person(self, lane: str, person_id: int | None, *, camera=None, credential: str = "face",
               extra: dict | None = None, snapshot: bytes | None = None) -> dict:
        """A person at the pedestrian gate; ``snapshot``: a stranger's face (JPEG), kept locally only
        when retention.stranger_snapshots_days > 0."""
        with self.recorder.decision():
            now = self.clock()
            person = None
            if person_id is not None:
                person = self.store.people.find_by_id(person_id)
            decision = policy.decide_person(person, lane, self.rules.policy.mode, credential)
            barrier = self.follow.barrier_for(camera, lane) if decision.opens else None
            subj = subject("person", person_id=person["id"]) if person else subject("unknown")
            keep = snapshot if person is None and self.config.retention.stranger_snapshots_days > 0 else None
            if keep is not None:
                extra = {**(extra or {}), "snapshot": "kept on the gate"}
            event = self.recorder.record(lane=lane, decision=decision, credential=credential, subj=subj, now=now,
                                         extra=extra, person_seen=person["id"] if person else None, snapshot=keep,
                                         **self.follow.opening(decision.opens, barrier))
            self.recorder.commit()
        return self.follow.pulse_after(event, barrier, lane)

    # -- vehicles ------------------------------------------------------------------------------
    def vehicle(self, lane: str, plate: str, *, camera=None, match=None, credential: str = "plate",
                extra: dict | None = None, via_pass: bool = False, look_alike: dict | None = None) -> dict:
        """``plate`` as read (or from a pass); ``match`` the registry match (exact / fuzzy) or None;
        ``look_alike`` the registered vehicle differing from the reading only in the province (named in the
        event when nothing matched; it never grants). An exit that finds no session under what was read is
        reconciled with a look-alike session (edge.rules.reconcile), told ``corrected`` before the exit."""
        with self.recorder.decision():
            now = self.clock()
            vehicle = match.vehicle if match else None
            fuzzy = match.detail if match and match.kind == "fuzzy" else None
            known_plate = match.plate if match else plate
            if fuzzy and vehicle and vehicle["class"] != "blocked" and not self.config.recognition.plate.fuzzy:
                # A fuzzy match that may not open is not the registered car: not its session, not its owner
                # (it may still deny: a look-alike of a blocked car is held back below).
                known_plate, vehicle, fuzzy, match = plate, None, None, None
            extra = dict(extra or {})
            if vehicle is None and look_alike is not None:
                extra["look_alike"] = look_alike["plate"]  # the guard may correct to it (issue 31)
            state = self.sessions.state(known_plate)
            if lane == "out" and state.open_session is None and not via_pass:
                found = self.sessions.reconcile(plate, now, registered=vehicle is not None)
                if found.session is not None:  # this exit is that session's car: decided on its entry
                    session = found.session
                    known_plate, fuzzy = session["plate"], None
                    vehicle = self.store.vehicles.get(known_plate)
                    state = policy.ParkingState(state.occupied, session)
                    self.sessions.corrected(
                        session, plate=session["plate"], vehicle_class=session["vehicle_class"],
                        person_id=vehicle["person_id"] if vehicle else None, lane=lane, now=now,
                        said=say("exit_reconciled", read_plate=plate, plate=session["plate"]), credential=credential,
                        extra={"read_plate": plate})
                elif found.candidates:
                    state = policy.ParkingState(state.occupied, None, found.candidates)
                    if len(found.candidates) > 1:
                        extra["candidates"] = candidates_field(found.candidates)
            barrier = self.follow.barrier_for(camera, lane)
            event, decision = self.passage(lane, plate, known_plate, vehicle, state, now, barrier, match=match,
                                           fuzzy=fuzzy, credential=credential, extra=extra, via_pass=via_pass)
            self.recorder.commit()
        return self.follow.pulse_after(event, barrier if decision.opens else None, lane)

    def passage(self, lane: str, plate: str, known_plate: str, vehicle: dict | None, state, now: float, barrier, *,
                credential: str, extra: dict, match=None, fuzzy: str | None = None, via_pass: bool = False):
        """Under the decision lock: the policy's decision for the car known as ``known_plate`` (read as
        ``plate``) on ``state``, its session change and its event (with a second entry's supersession
        before it); (the event, the decision). The caller commits and pulses."""
        decision = policy.decide_vehicle(
            vehicle, lane, now, mode=self.rules.policy.mode, parking=self.rules.parking,
            zone=self.config.zone, state=state, fuzzy=fuzzy, fuzzy_opens=self.config.recognition.plate.fuzzy,
            via_pass=via_pass,
        )
        session_id, change = self.sessions.for_decision(decision, known_plate, state, now, barrier, lane)
        extra = dict(extra)
        if decision.decision == policy.HOLD and lane == "out" and barrier is not None:
            extra["held_barrier"] = barrier.id  # where the car waits (peers, office)
        subj = subject("vehicle", person_id=vehicle["person_id"] if vehicle else None, plate=known_plate,
                       vehicle_class=vehicle["class"] if vehicle else None)
        if match:
            extra["match"] = match.kind
        if known_plate != plate:
            extra["read_plate"] = plate
        old = state.open_session
        if decision.session == "open" and old is not None:
            # A second entry: the earlier session can no longer be charged; told first, so every
            # receiver sees it in seq order before the new session.
            self.sessions.supersede(old, lane, now, replaced_by=session_id)
        event = self.recorder.record(lane=lane, decision=decision, credential=credential, subj=subj, now=now,
                                     session_id=session_id, extra=extra, session_change=change,
                                     plate_seen=known_plate, **self.follow.opening(decision.opens, barrier))
        return event, decision

    # -- passes ----------------------------------------------------------------------------------
    def qr_pass(self, lane: str, check, *, camera=None) -> dict:
        extra = {"pass_id": check.claim.pass_id if check.claim else None}
        if not check.valid:
            with self.recorder.decision():
                decision = policy.decide_pass_refused(check.said)
                event = self.recorder.record(lane=lane, decision=decision, credential="qr",
                                             subj=subject("unknown"), now=self.clock(), extra=extra)
                self.recorder.commit()
                return event
        claim = check.claim
        if claim.subject_type == "person":
            return self.person(lane, claim.person_id, camera=camera, credential="qr", extra=extra)
        if claim.subject_type == "visitor":
            return self.visitor(lane, claim.unit, camera=camera, extra=extra)
        from edge.rules.plate_match import PlateMatch

        vehicle = self.store.vehicles.get(claim.plate)
        match = PlateMatch(claim.plate, "exact", vehicle) if vehicle else None
        return self.vehicle(lane, claim.plate, camera=camera, match=match, credential="qr", extra=extra,
                            via_pass=True)

    def visitor(self, lane: str, unit: str, *, camera=None, extra: dict | None = None) -> dict:
        """A resident's visitor on foot with a valid visitor pass for ``unit``: let through the pedestrian gate
        and recorded as a visitor of the unit, never as a sighting of anyone (a visitor must not end a care-watch
        episode or an absence). At a car lane it opens nothing: a car is invited by its plate."""
        with self.recorder.decision():
            car_lane = camera is not None and camera.role == "plate"
            decision = policy.decide_visitor(unit, lane, car_lane=car_lane)
            barrier = self.follow.barrier_for(camera, lane) if decision.opens else None
            event = self.recorder.record(lane=lane, decision=decision, credential="qr",
                                         subj=subject("visitor", unit=unit), now=self.clock(), extra=extra,
                                         **self.follow.opening(decision.opens, barrier))
            self.recorder.commit()
        return self.follow.pulse_after(event, barrier, lane)

    # -- remote commands -------------------------------------------------------------------------
    def remote_open(self, lane: str, barrier_id: str | None, request_id: str) -> dict:
        with self.recorder.decision():
            barrier = self.follow.barrier_for(None, lane, barrier_id)
            if barrier_id and barrier is None:
                raise ValueError(f"no barrier {barrier_id!r} at this gate")
            decision = policy.Decision("entry" if lane == "in" else "exit", policy.OPEN, say("opened_by_office"))
            event = self.recorder.record(lane=lane, decision=decision, credential="remote",
                                         subj=subject("unknown"), now=self.clock(), extra={"request_id": request_id},
                                         **self.follow.opening(True, barrier))
            self.recorder.commit()
        return self.follow.pulse_after(event, barrier, lane)

    def correct(self, session_id: str, *, plate: str | None = None, exit_event_id: str | None = None,
                request_id: str | None = None) -> tuple[dict, int]:
        """The office's correction (``edge.gate.corrections``); (the last event, what the car owes now)."""
        return self.corrections.correct(session_id, plate=plate, exit_event_id=exit_event_id, request_id=request_id)

    def pay(self, session_id: str, amount_cents: int, request_id: str) -> tuple[dict, int]:
        """Record a payment; (the event published, what is still due). Covering the fee opens the barrier
        the car waits at (kept in the database: also after a restart). A part payment is recorded and told
        to the site (a ``session`` event); the car stays held. An unknown or closed session records nothing
        (ValueError)."""
        with self.recorder.decision():
            now = self.clock()
            session = self.store.sessions.get(session_id)
            if session is None or session["state"] != "open":
                raise ValueError(f"no open parking session {session_id}: nothing recorded")
            parking = self.parking
            paid = session["paid_cents"] + amount_cents
            due = max(0, parking.due(session, now) - amount_cents)
            subj = subject("vehicle", plate=session["plate"], vehicle_class=session["vehicle_class"])
            lane = session.get("held_lane") or "out"
            held_here = session.get("held_epoch") is not None and session.get("held_gate") in (None, self.config.gate)
            if due > 0 or not held_here:
                # A part payment, or a payment before the car is held here (paid in advance, or held at
                # another gate): recorded and told to the site; nothing opens, the session stays open.
                waiting = session.get("held_epoch") is not None
                why = say("payment_recorded", paid_yuan=paid / 100, due_yuan=due / 100,
                          waits_at=session["held_gate"] if due == 0 and waiting else None,
                          paid_in_advance=due == 0 and not waiting or None)
                decision = policy.Decision("session", policy.HOLD if held_here else None, why, fee_cents=due,
                                           vehicle_class=session["vehicle_class"])
                event = self.recorder.record(lane=lane, decision=decision, credential="remote", subj=subj, now=now,
                                             kind="session", session_id=session_id,
                                             extra={**session_fields("paid", paid), "request_id": request_id},
                                             session_change=self.sessions.paid(session_id, paid, now))
                self.recorder.commit()
                return event, due
            barrier = self.follow.barrier_for(None, lane, session.get("held_barrier"))
            decision = policy.Decision("exit", policy.OPEN, say("payment_opened", paid_yuan=paid / 100), fee_cents=paid,
                                       vehicle_class=session["vehicle_class"], session="close")
            event = self.recorder.record(lane=lane, decision=decision, credential="remote", subj=subj, now=now,
                                         session_id=session_id, extra={"request_id": request_id},
                                         session_change=self.sessions.paid_and_closed(session_id, paid, now),
                                         plate_seen=session["plate"], **self.follow.opening(True, barrier))
            self.recorder.commit()
        return self.follow.pulse_after(event, barrier, lane), 0
