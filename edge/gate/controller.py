"""The gate controller: from what the recognisers agreed on, to a decision, an event and a barrier pulse.

For every agreed observation, under the gate's decision lock: look up the registry, ask the policy, and
write the event, the parking-session change, the last-seen time and the outbox message in one
transaction. Then, outside the lock, pulse the barrier if the decision is to open, and write the
pulse's result into the event as its ``barrier`` field (the follow-up). No bus I/O happens under the
decision lock, so a barrier that does not answer (seconds of retries) never holds up another lane's
decision.

The event is committed before the barrier pulses. Its outbox row is held until the follow-up has
written the result into it, then published with it: the message the office and the peers receive is
the same as ever (one message per event, ``barrier`` included), only sent after the pulse; the outbox
keeps messages in order, so later events wait behind it for at most that pulse. A restart during a
pulse publishes the held event with ``barrier: "unknown: …"`` (``Gate`` does so when it starts).

A decision first makes its events (numbered by ``edge.durable.seqs``), then writes them in one transaction
through the journal (``edge.durable.journal``). When the database cannot be written (``StorageFailure``:
read-only, full, I/O error) the decision stands all the same, since people live behind this gate: the
barrier opens for a resident, and the journal keeps the events in memory (``edge.durable.memory_queue``),
published from there and stored when storage returns (``edge.durable.backfill``); the storage guard
raises its alert. When the registry cannot even be read, no decision can be made: the
``StorageFailure`` goes to the caller (the camera worker logs it) and the guard says storage is
unavailable; the office's signed ``open`` still opens (it reads nothing).
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from drivers.barriers import BarrierError
from edge.contract import Topics, event_payload, session_fields, subject
from edge.durable.journal import Entry, Journal
from edge.durable.memory_queue import MemoryQueue
from edge.durable.seqs import Seqs
from edge.keys import sign_record
from edge.locks import ordered_lock
from edge.rules import policy
from edge.rules.parking import Parking
from edge.schemas.phrases import say
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
NO_BARRIER = "no barrier configured for this lane"
INTERRUPTED = "unknown: the gate stopped during the pulse; check the arm"


@dataclass
class _Made:
    """An event a decision made, to be written with the others of that decision."""

    payload: dict
    topic: str
    now: float
    held: bool
    session_change: object = None  # f(event_id) inside the transaction (the parking transition)
    snapshot: bytes | None = None
    person_seen: int | None = None
    plate_seen: str | None = None


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
        self.signer = signer
        self.parking = Parking(store, self.rules, config.zone)
        self.store = store
        self.barriers = barriers
        self.alerts = alerts
        self.clock = clock
        self.wake = wake or (lambda: None)
        self.on_event = on_event
        self.topics = topics or Topics.of(config)
        self._lock = ordered_lock("decision")  # one decision at a time: sessions and occupancy stay consistent
        self._made: list[_Made] = []  # the current decision's events (under the lock)
        if journal is None:
            memory_queue = MemoryQueue(store.path, persist=False)
            seqs = Seqs(store, memory_queue)
            seqs.start(trust_counter=True)
            journal = Journal(store, memory_queue, seqs=seqs)
        self.journal = journal
        self.seqs = journal.seqs
        self.events = 0
        self._finish_interrupted_pulses()

    # -- helpers -----------------------------------------------------------------------------
    def _barrier_for(self, camera=None, lane: str = "in", barrier_id: str | None = None):
        if barrier_id:
            return self.barriers.get(barrier_id)
        if camera is not None:
            config = self.config.barrier_for(camera)
            return self.barriers.get(config.id) if config else None
        serving = [b for b in self.barriers.values() if lane in b.lanes]
        return serving[0] if serving else None

    @staticmethod
    def _opening(opens: bool, barrier) -> dict:
        """``_record``'s arguments for a decision's barrier: a pulse follows (the event's message is held
        for its result), or the result is known at once (no barrier), or nothing opens."""
        if not opens:
            return {}
        return {"held": True} if barrier is not None else {"barrier_result": NO_BARRIER}

    def _pulse_after(self, event: dict, barrier, lane: str) -> dict:
        """Outside the decision lock: pulse, then write the result into the committed event (the
        follow-up) and let the outbox publish it. ``barrier`` None: nothing to pulse."""
        if barrier is None:
            return event
        try:
            barrier.open(lane)
            result = "ok"
        except BarrierError as exc:
            _LOG.error("%s", exc)
            result = f"failed: {exc}"
        except Exception as exc:  # a driver bug must not leave the event held
            _LOG.exception("barrier %s: unexpected error", barrier.id)
            result = f"failed: {exc}"
        return self._follow_up(event, result)

    def _follow_up(self, event: dict, result: str) -> dict:
        """The barrier's result as the event's ``barrier`` field, in the stored event and its outbox row
        (re-signed in site mode), in one transaction; the row is then published. An event waiting in
        memory gets it there; when storage fails now, the result waits in memory itself."""
        payload = {**event, "barrier": result}
        if self.signer is not None:
            payload = sign_record(self.signer, payload)
        self._release(payload)
        self.wake()
        if self.on_event:
            self.on_event(payload)
        return payload

    def _release(self, payload: dict) -> None:
        """Through the journal: into the event waiting in memory, or its stored row, or kept in memory."""
        store, msg_id = self.store, f"event:{payload['event_id']}"

        def write():
            store.events.set_payload(payload["event_id"], payload)
            store.outbox.release(msg_id, payload)

        entry = Entry("release", self.topics.event(payload["kind"]), payload, msg_id, self.clock(), write)
        for attempt in range(3):  # a held row stops the outbox: try hard (a restart releases it too)
            try:
                self.journal.release(entry)
                return
            except StorageFailure:  # raised only where no guard watches (kept in memory otherwise)
                if attempt == 2:
                    raise
                _LOG.exception("event %s: could not record the barrier's result; trying again", payload["event_id"])
                time.sleep(0.2)

    def _finish_interrupted_pulses(self) -> None:
        """Events held for a pulse when the gate stopped: published, saying the result is unknown."""
        try:
            held = [row["payload"] for row in self.store.outbox.held() if row["msg_id"].startswith("event:")]
        except StorageFailure as exc:
            if not self.journal.failed_reading(exc):
                raise
            held = []
        held += [item["payload"] for item in self.journal.memory_queue.held_events()]
        for payload in held:
            _LOG.warning("event %s: the gate stopped during its barrier pulse", payload.get("event_id"))
            self._follow_up(payload, INTERRUPTED)

    def _parking_state(self, plate: str | None) -> policy.ParkingState:
        return policy.ParkingState(self.parking.occupied(), self.parking.open_for(plate))

    def _record(self, *, lane, decision: policy.Decision, credential, subj: dict, now: float, session_id=None,
                extra: dict | None = None, session_change=None, person_seen: int | None = None,
                plate_seen: str | None = None, barrier_result: str | None = None, held: bool = False,
                snapshot: bytes | None = None, kind: str | None = None) -> dict:
        """Make the event with its seq; ``_commit`` writes it with its session change, sightings and outbox
        message (with the decision's other events, in one transaction). ``kind`` overrides the
        decision's (``session`` events: a transition that is not a passage); ``held``: a pulse follows
        (``_pulse_after``), the message waits for its result."""
        event_id = str(uuid.uuid4())
        kind = kind or decision.kind
        payload = event_payload(
            event_id=event_id, seq=self.seqs.take(), ts=iso(now, self.config.zone), site=self.config.site,
            gate=self.config.gate, lane=lane, kind=kind, credential=credential, subject=subj,
            decision=decision.decision, reason=decision.said, fee_cents=decision.fee_cents,
            session_id=session_id,
        )
        if decision.anomalies:
            payload["anomalies"] = list(decision.anomalies)
        if barrier_result is not None:
            payload["barrier"] = barrier_result
        payload.update(extra or {})
        if self.signer is not None:
            payload = sign_record(self.signer, payload)
        self._made.append(_Made(payload, self.topics.event(kind), now, held, session_change, snapshot,
                                person_seen, plate_seen))
        return payload

    def _store_made(self, made: _Made) -> None:
        """Inside the decision's transaction: one event and everything it changes."""
        store, payload = self.store, made.payload
        event_id = payload["event_id"]
        store.events.add_local(payload, made.now)  # first: the session's entry rule reads this event's seq
        self.seqs.stored(payload["seq"])
        if made.session_change:
            made.session_change(event_id)
        store.outbox.enqueue(made.topic, payload, msg_id=f"event:{event_id}", now=made.now, held=made.held)
        if made.snapshot is not None:
            store.events.add_snapshot(event_id, made.now, made.snapshot)
        if made.person_seen is not None:
            store.sightings.note(f"person:{made.person_seen}", made.now, self.config.gate, event_id)
            self.alerts.person_seen(made.person_seen, made.now, event_id)
        if made.plate_seen:
            store.sightings.note(f"plate:{made.plate_seen}", made.now, self.config.gate, event_id)

    def _commit(self) -> None:
        """Write the decision's events through the journal: in one transaction, or kept in memory when
        storage fails (the decision stands), behind any events that already wait there (the backfill then
        applies a car's entry before its exit, or its session never closes). Then tell: the log, the
        outbox pump, ``on_event`` (not yet for a held event)."""
        made, self._made = self._made, []
        if not made:
            return
        self.journal.write([self._entry(m) for m in made], after_waiting=True)
        for m in made:
            payload = m.payload
            self.events += 1
            subj = payload["subject"]
            _LOG.info("%s %s %s: %s (%s)", payload["kind"], payload["lane"],
                      subj.get("plate") or subj.get("person_id") or "?", payload["decision"], payload["reason"])
            if self.on_event and not m.held:
                self.on_event(payload)  # a held event is told when its result is in (_follow_up)
        self.wake()

    def _entry(self, made: _Made) -> Entry:
        return Entry("event", made.topic, made.payload, f"event:{made.payload['event_id']}", made.now,
                     lambda: self._store_made(made), held=made.held,
                     extra={"person_seen": made.person_seen, "plate_seen": made.plate_seen})

    @contextmanager
    def _deciding(self):
        """One decision at a time. A storage failure that escapes is a read (writes are kept in memory):
        no decision could be made, nothing is written; the guard hears of it."""
        with self._lock:
            self._made = []
            self.journal.catch_up()  # the events made before this decision are read by it
            try:
                yield
            except StorageFailure as exc:
                self.seqs.give_back([m.payload["seq"] for m in self._made])
                self._made = []
                self.journal.failed_reading(exc)
                raise
            except BaseException:  # no event of this decision was stored or kept: its seqs are free again
                self.seqs.give_back([m.payload["seq"] for m in self._made])
                self._made = []
                raise

    # -- people --------------------------------------------------------------------------------
    def person(self, lane: str, person_id: int | None, *, camera=None, credential: str = "face",
               extra: dict | None = None, snapshot: bytes | None = None) -> dict:
        """A person at the pedestrian gate; ``snapshot``: a stranger's face (JPEG), kept locally only
        when retention.stranger_snapshots_days > 0."""
        with self._deciding():
            now = self.clock()
            person = None
            if person_id is not None:
                person = self.store.people.find_by_id(person_id)
            decision = policy.decide_person(person, lane, self.rules.policy.mode, credential)
            barrier = self._barrier_for(camera, lane) if decision.opens else None
            subj = subject("person", person_id=person["id"]) if person else subject("unknown")
            keep = snapshot if person is None and self.config.retention.stranger_snapshots_days > 0 else None
            if keep is not None:
                extra = {**(extra or {}), "snapshot": "kept on the gate"}
            event = self._record(lane=lane, decision=decision, credential=credential, subj=subj, now=now,
                                 extra=extra, person_seen=person["id"] if person else None, snapshot=keep,
                                 **self._opening(decision.opens, barrier))
            self._commit()
        return self._pulse_after(event, barrier, lane)

    # -- vehicles ------------------------------------------------------------------------------
    def vehicle(self, lane: str, plate: str, *, camera=None, match=None, credential: str = "plate",
                extra: dict | None = None, via_pass: bool = False) -> dict:
        """``plate`` as read (or from a pass); ``match`` the registry match (exact / fuzzy) or None."""
        with self._deciding():
            now = self.clock()
            vehicle = match.vehicle if match else None
            fuzzy = match.detail if match and match.kind == "fuzzy" else None
            known_plate = match.plate if match else plate
            if fuzzy and vehicle and vehicle["class"] != "blocked" and not self.config.recognition.plate.fuzzy:
                # A fuzzy match that may not open is not the registered car: not its session, not its owner
                # (it may still deny: a look-alike of a blocked car is held back below).
                known_plate, vehicle, fuzzy, match = plate, None, None, None
            state = self._parking_state(known_plate)
            decision = policy.decide_vehicle(
                vehicle, lane, now, mode=self.rules.policy.mode, parking=self.rules.parking,
                zone=self.config.zone, state=state, fuzzy=fuzzy, fuzzy_opens=self.config.recognition.plate.fuzzy,
                via_pass=via_pass,
            )
            barrier = self._barrier_for(camera, lane)
            session_id, change = self._session_change(decision, known_plate, state, now, barrier, lane)
            if decision.session == "hold" and barrier is not None:
                extra = {**(extra or {}), "held_barrier": barrier.id}  # where the car waits (peers, office)
            subj = subject("vehicle", person_id=vehicle["person_id"] if vehicle else None, plate=known_plate,
                           vehicle_class=vehicle["class"] if vehicle else None)
            extra = dict(extra or {})
            if match:
                extra["match"] = match.kind
            if known_plate != plate:
                extra["read_plate"] = plate
            old = state.open_session
            if decision.session == "open" and old is not None:
                # A second entry: the earlier session can no longer be charged; told first, so every
                # receiver sees it in seq order before the new session.
                self._supersede(old, lane, now, replaced_by=session_id)
            event = self._record(lane=lane, decision=decision, credential=credential, subj=subj, now=now,
                                 session_id=session_id, extra=extra, session_change=change,
                                 plate_seen=known_plate, **self._opening(decision.opens, barrier))
            self._commit()
        return self._pulse_after(event, barrier if decision.opens else None, lane)

    def _session_change(self, decision, plate, state, now, barrier, lane):
        gate, parking = self.config.gate, self.parking
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

    def _supersede(self, old: dict, lane: str, now: float, replaced_by: str | None) -> None:
        """With the entry, in its transaction: close the car's earlier session and tell the site (a
        ``session`` event), so every gate's occupancy drops it too."""
        decision = policy.Decision("session", None, say("session_superseded"), vehicle_class=old["vehicle_class"])
        subj = subject("vehicle", plate=old["plate"], vehicle_class=old["vehicle_class"])
        self._record(lane=lane, decision=decision, credential=None, subj=subj, now=now, kind="session",
                     session_id=old["session_id"], extra={**session_fields("superseded"), "replaced_by": replaced_by},
                     session_change=lambda event_id: self.parking.supersede(old["session_id"]))

    # -- passes ----------------------------------------------------------------------------------
    def qr_pass(self, lane: str, check, *, camera=None) -> dict:
        extra = {"pass_id": check.claim.pass_id if check.claim else None}
        if not check.valid:
            with self._deciding():
                decision = policy.decide_pass_refused(check.said)
                event = self._record(lane=lane, decision=decision, credential="qr", subj=subject("unknown"),
                                     now=self.clock(), extra=extra)
                self._commit()
                return event
        claim = check.claim
        if claim.subject_type == "person":
            return self.person(lane, claim.person_id, camera=camera, credential="qr", extra=extra)
        from edge.rules.plate_match import PlateMatch

        vehicle = self.store.vehicles.get(claim.plate)
        match = PlateMatch(claim.plate, "exact", vehicle) if vehicle else None
        return self.vehicle(lane, claim.plate, camera=camera, match=match, credential="qr", extra=extra,
                            via_pass=True)

    # -- remote commands -------------------------------------------------------------------------
    def remote_open(self, lane: str, barrier_id: str | None, request_id: str) -> dict:
        with self._deciding():
            barrier = self._barrier_for(None, lane, barrier_id)
            if barrier_id and barrier is None:
                raise ValueError(f"no barrier {barrier_id!r} at this gate")
            decision = policy.Decision("entry" if lane == "in" else "exit", policy.OPEN, say("opened_by_office"))
            event = self._record(lane=lane, decision=decision, credential="remote", subj=subject("unknown"),
                                 now=self.clock(), extra={"request_id": request_id},
                                 **self._opening(True, barrier))
            self._commit()
        return self._pulse_after(event, barrier, lane)

    def pay(self, session_id: str, amount_cents: int, request_id: str) -> tuple[dict, int]:
        """Record a payment; (the event published, what is still due). Covering the fee opens the barrier
        the car waits at (kept in the database: also after a restart). A part payment is recorded and told
        to the site (a ``session`` event); the car stays held. An unknown or closed session records nothing
        (ValueError)."""
        with self._deciding():
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
                event = self._record(lane=lane, decision=decision, credential="remote", subj=subj, now=now,
                                     kind="session", session_id=session_id,
                                     extra={**session_fields("paid", paid), "request_id": request_id},
                                     session_change=lambda event_id: parking.pay(session_id, paid, now))
                self._commit()
                return event, due
            barrier = self._barrier_for(None, lane, session.get("held_barrier"))
            decision = policy.Decision("exit", policy.OPEN, say("payment_opened", paid_yuan=paid / 100), fee_cents=paid,
                                       vehicle_class=session["vehicle_class"], session="close")

            def close(event_id):
                parking.pay(session_id, paid, now)
                parking.close(session_id, now, self.config.gate, event_id, paid)

            event = self._record(lane=lane, decision=decision, credential="remote", subj=subj, now=now,
                                 session_id=session_id, extra={"request_id": request_id}, session_change=close,
                                 plate_seen=session["plate"], **self._opening(True, barrier))
            self._commit()
        return self._pulse_after(event, barrier, lane), 0
