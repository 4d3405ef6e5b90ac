"""The gate controller: from what the recognisers agreed on, to a decision, a barrier pulse and an event.

For every agreed observation: look up the registry, ask the policy, pulse the barrier if the decision
is to open (one bus transaction at a time; the driver holds the RS-485 lock), then write the event,
the parking-session change, the last-seen time and the outbox message in one transaction. The outbox
publishes it afterwards; nothing is published that was not first committed here.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from drivers.barriers import BarrierError
from edge import policy
from edge.contract import Topics, dumps, event_payload, subject
from edge.outbox import enqueue
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


class Gate:
    def __init__(self, config, registry, barriers: dict, alerts, clock=time.time, wake=None, on_event=None):
        self.config = config
        self.registry = registry
        self.barriers = barriers
        self.alerts = alerts
        self.clock = clock
        self.wake = wake or (lambda: None)
        self.on_event = on_event
        self.topics = Topics(config.mqtt.topic_prefix, config.site, config.gate)
        self._held: dict[str, tuple[str | None, str]] = {}  # session_id -> (barrier id, lane) of a held exit
        self._lock = threading.Lock()  # one decision at a time: sessions and occupancy stay consistent
        self.events = 0

    # -- helpers -----------------------------------------------------------------------------
    def _barrier_for(self, camera=None, lane: str = "in", barrier_id: str | None = None):
        if barrier_id:
            return self.barriers.get(barrier_id)
        if camera is not None:
            config = self.config.barrier_for(camera)
            return self.barriers.get(config.id) if config else None
        serving = [b for b in self.barriers.values() if lane in b.lanes]
        return serving[0] if serving else None

    def _pulse(self, barrier, lane: str) -> str:
        if barrier is None:
            return "no barrier configured for this lane"
        try:
            barrier.open(lane)
            return "ok"
        except BarrierError as exc:
            _LOG.error("%s", exc)
            return f"failed: {exc}"

    def _parking_state(self, plate: str | None) -> policy.ParkingState:
        occupied = self.registry.query_one("SELECT count(*) AS n FROM parking_sessions WHERE state = 'open'")["n"]
        return policy.ParkingState(occupied, self.registry.open_session(plate) if plate else None)

    def _record(self, *, lane, decision: policy.Decision, credential, subj: dict, now: float, session_id=None,
                extra: dict | None = None, session_change=None, person_seen: int | None = None,
                plate_seen: str | None = None, barrier_result: str | None = None,
                snapshot: bytes | None = None) -> dict:
        event_id = str(uuid.uuid4())
        payload = event_payload(
            event_id=event_id, ts=iso(now, self.config.zone), site=self.config.site, gate=self.config.gate,
            lane=lane, kind=decision.kind, credential=credential, subject=subj, decision=decision.decision,
            reason=decision.reason, fee_cents=decision.fee_cents, session_id=session_id,
        )
        if decision.anomalies:
            payload["anomalies"] = list(decision.anomalies)
        if barrier_result is not None:
            payload["barrier"] = barrier_result
        payload.update(extra or {})
        with self.registry.transaction() as db:
            if session_change:
                session_change(db, event_id)
            db["events"].insert({
                "event_id": event_id, "ts": payload["ts"], "ts_epoch": now, "gate": self.config.gate, "lane": lane,
                "kind": decision.kind, "credential": credential, "subject_type": subj["type"],
                "person_id": subj.get("person_id"), "plate": subj.get("plate"), "vehicle_class": subj.get("class"),
                "decision": decision.decision, "reason": decision.reason, "fee_cents": decision.fee_cents,
                "session_id": session_id, "origin": "local", "payload": dumps(payload),
            })
            enqueue(db, self.topics.event(decision.kind), payload, msg_id=f"event:{event_id}", now=now)
            if snapshot is not None:
                db["snapshots"].insert({"event_id": event_id, "ts_epoch": now, "image": snapshot})
            if person_seen is not None:
                self.registry.note_seen(f"person:{person_seen}", now, self.config.gate, event_id)
                self.alerts.person_seen(db, person_seen, now)
            if plate_seen:
                self.registry.note_seen(f"plate:{plate_seen}", now, self.config.gate, event_id)
        self.events += 1
        self.wake()
        _LOG.info("%s %s %s: %s (%s)", decision.kind, lane, subj.get("plate") or subj.get("person_id") or "?",
                  decision.decision, decision.reason)
        if self.on_event:
            self.on_event(payload)
        return payload

    # -- people --------------------------------------------------------------------------------
    def person(self, lane: str, person_id: int | None, *, camera=None, credential: str = "face",
               extra: dict | None = None, snapshot: bytes | None = None) -> dict:
        """A person at the pedestrian gate; ``snapshot``: a stranger's face (JPEG), kept locally only
        when retention.stranger_snapshots_days > 0."""
        with self._lock:
            now = self.clock()
            person = None
            if person_id is not None:
                person = self.registry.query_one("SELECT id, unit FROM people WHERE id = ?", (person_id,))
            decision = policy.decide_person(person, lane, self.config.policy.mode, credential)
            result = self._pulse(self._barrier_for(camera, lane), lane) if decision.opens else None
            subj = subject("person", person_id=person["id"]) if person else subject("unknown")
            keep = snapshot if person is None and self.config.retention.stranger_snapshots_days > 0 else None
            if keep is not None:
                extra = {**(extra or {}), "snapshot": "kept on the gate"}
            return self._record(lane=lane, decision=decision, credential=credential, subj=subj, now=now,
                                extra=extra, person_seen=person["id"] if person else None, barrier_result=result,
                                snapshot=keep)

    # -- vehicles ------------------------------------------------------------------------------
    def vehicle(self, lane: str, plate: str, *, camera=None, match=None, credential: str = "plate",
                extra: dict | None = None, via_pass: bool = False) -> dict:
        """``plate`` as read (or from a pass); ``match`` the registry match (exact / fuzzy) or None."""
        with self._lock:
            now = self.clock()
            vehicle = match.vehicle if match else None
            fuzzy = match.detail if match and match.kind == "fuzzy" else None
            known_plate = match.plate if match else plate
            state = self._parking_state(known_plate)
            decision = policy.decide_vehicle(
                vehicle, lane, now, mode=self.config.policy.mode, parking=self.config.parking,
                zone=self.config.zone, state=state, fuzzy=fuzzy, fuzzy_opens=self.config.recognition.plate.fuzzy,
                via_pass=via_pass,
            )
            if fuzzy and vehicle and decision.vehicle_class != "blocked" and not self.config.recognition.plate.fuzzy:
                known_plate = plate  # a fuzzy match that may not open is not the registered car
            barrier = self._barrier_for(camera, lane)
            result = self._pulse(barrier, lane) if decision.opens else None
            session_id, change = self._session_change(decision, known_plate, state, now, barrier, lane)
            subj = subject("vehicle", person_id=vehicle["person_id"] if vehicle else None, plate=known_plate,
                           vehicle_class=vehicle["class"] if vehicle else None)
            extra = dict(extra or {})
            if match:
                extra["match"] = match.kind
            if known_plate != plate:
                extra["read_plate"] = plate
            return self._record(lane=lane, decision=decision, credential=credential, subj=subj, now=now,
                                session_id=session_id, extra=extra, session_change=change, plate_seen=known_plate,
                                barrier_result=result)

    def _session_change(self, decision, plate, state, now, barrier, lane):
        gate = self.config.gate
        if decision.session == "open":
            session_id = str(uuid.uuid4())
            old = state.open_session

            def change(db, event_id):
                if old is not None:  # a second entry: the earlier session can no longer be charged
                    db.execute("UPDATE parking_sessions SET state = 'closed', exit_gate = NULL WHERE session_id = ?",
                               [old["session_id"]])
                db["parking_sessions"].insert({
                    "session_id": session_id, "plate": plate, "vehicle_class": decision.vehicle_class,
                    "state": "open", "entry_epoch": now, "entry_gate": gate, "entry_event_id": event_id,
                })

            return session_id, change
        if decision.session in ("close", "hold") and state.open_session is not None:
            session_id = state.open_session["session_id"]
            if decision.session == "hold":
                self._held[session_id] = (barrier.id if barrier else None, lane)
                return session_id, None

            def close(db, event_id):
                db.execute(
                    "UPDATE parking_sessions SET state = 'closed', exit_epoch = ?, exit_gate = ?, exit_event_id = ?, "
                    "fee_cents = paid_cents WHERE session_id = ?", [now, gate, event_id, session_id])

            return session_id, close
        return None, None

    # -- passes ----------------------------------------------------------------------------------
    def qr_pass(self, lane: str, check, *, camera=None) -> dict:
        extra = {"pass_id": check.claim.pass_id if check.claim else None}
        if not check.valid:
            with self._lock:
                decision = policy.decide_pass_refused(check.reason)
                return self._record(lane=lane, decision=decision, credential="qr", subj=subject("unknown"),
                                    now=self.clock(), extra=extra)
        claim = check.claim
        if claim.subject_type == "person":
            return self.person(lane, claim.person_id, camera=camera, credential="qr", extra=extra)
        from edge.plate_match import PlateMatch

        vehicle = self.registry.vehicle(claim.plate)
        match = PlateMatch(claim.plate, "exact", vehicle) if vehicle else None
        return self.vehicle(lane, claim.plate, camera=camera, match=match, credential="qr", extra=extra,
                            via_pass=True)

    # -- remote commands -------------------------------------------------------------------------
    def remote_open(self, lane: str, barrier_id: str | None, request_id: str) -> dict:
        with self._lock:
            barrier = self._barrier_for(None, lane, barrier_id)
            if barrier_id and barrier is None:
                raise ValueError(f"no barrier {barrier_id!r} at this gate")
            result = self._pulse(barrier, lane)
            decision = policy.Decision("entry" if lane == "in" else "exit", policy.OPEN, "opened by the office")
            return self._record(lane=lane, decision=decision, credential="remote", subj=subject("unknown"),
                                now=self.clock(), extra={"request_id": request_id}, barrier_result=result)

    def pay(self, session_id: str, amount_cents: int, request_id: str) -> dict:
        with self._lock:
            now = self.clock()
            session = self.registry.query_one("SELECT * FROM parking_sessions WHERE session_id = ?", (session_id,))
            if session is None or session["state"] != "open":
                raise ValueError(f"no open parking session {session_id}")
            from edge.fees import fee_cents

            total = fee_cents(session["vehicle_class"] or "visitor", session["entry_epoch"], now,
                              self.config.parking, self.config.zone)
            paid = session["paid_cents"] + amount_cents
            with self.registry.transaction() as db:
                db.execute("UPDATE parking_sessions SET paid_cents = ?, paid_epoch = ? WHERE session_id = ?",
                           [paid, now, session_id])
            if paid < total:
                raise ValueError(f"paid {paid} of {total} cents; {total - paid} still due")
            barrier_id, lane = self._held.pop(session_id, (None, "out"))
            barrier = self._barrier_for(None, lane, barrier_id)
            result = self._pulse(barrier, lane)
            decision = policy.Decision("exit", policy.OPEN, f"paid {paid / 100:.2f} yuan", fee_cents=paid,
                                       vehicle_class=session["vehicle_class"], session="close")

            def close(db, event_id):
                db.execute(
                    "UPDATE parking_sessions SET state = 'closed', exit_epoch = ?, exit_gate = ?, exit_event_id = ?, "
                    "fee_cents = ? WHERE session_id = ?", [now, self.config.gate, event_id, paid, session_id])

            subj = subject("vehicle", plate=session["plate"], vehicle_class=session["vehicle_class"])
            return self._record(lane=lane, decision=decision, credential="remote", subj=subj, now=now,
                                session_id=session_id, extra={"request_id": request_id}, session_change=close,
                                plate_seen=session["plate"], barrier_result=result)
