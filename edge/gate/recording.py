"""A decision's events: made with their seq, written together through the journal, then told.

Under the gate's decision lock (``decision``: one decision at a time, so sessions and occupancy stay
consistent) a decision makes its events (``record``: numbered by ``edge.durable.seqs``, signed in site
mode) and ``commit`` writes them in one transaction through the journal (``edge.durable.journal``), each
with everything it changes: the event, its parking-session change, its outbox message, a stranger's
snapshot, the last-seen times and the care-watch alert it clears. When storage fails the journal keeps
them in memory and the decision stands; a decision made while events wait in memory waits behind them.
Then the log line, the outbox pump's wake-up and ``on_event`` (for a held event: once its barrier's
result is in, ``edge.gate.follow_up``). A decision that fails before its commit gives its seqs back.
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass

from edge.contract import event_payload
from edge.durable.journal import Entry
from edge.keys import sign_record
from edge.locks import ordered_lock
from edge.rules import policy
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


@dataclass
class MadeEvent:
    """An event a decision made, to be written with the others of that decision."""

    payload: dict
    topic: str
    now: float
    held: bool
    session_change: object = None  # f(event_id) inside the transaction (the parking transition)
    snapshot: bytes | None = None
    person_seen: int | None = None
    plate_seen: str | None = None


class EventRecorder:
    def __init__(self, config, store, alerts, journal, topics, *, signer=None, wake=None, on_event=None):
        self.config = config
        self.store = store
        self.alerts = alerts
        self.journal = journal
        self.seqs = journal.seqs
        self.topics = topics
        self.signer = signer
        self.wake = wake or (lambda: None)
        self.on_event = on_event
        self._lock = ordered_lock("decision")  # one decision at a time: sessions and occupancy stay consistent
        self._made: list[MadeEvent] = []  # the current decision's events (under the lock)

    @contextmanager
    def decision(self):
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

    def record(self, *, lane, decision: policy.Decision, credential, subj: dict, now: float, session_id=None,
               extra: dict | None = None, session_change=None, person_seen: int | None = None,
               plate_seen: str | None = None, barrier_result: str | None = None, held: bool = False,
               snapshot: bytes | None = None, kind: str | None = None) -> dict:
        """Make the event with its seq; ``commit`` writes it with its session change, sightings and outbox
        message (with the decision's other events, in one transaction). ``kind`` overrides the
        decision's (``session`` events: a transition that is not a passage); ``held``: a pulse follows
        (``BarrierFollowUp.pulse_after``), the message waits for its result."""
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
        self._made.append(MadeEvent(payload, self.topics.event(kind), now, held, session_change, snapshot,
                                    person_seen, plate_seen))
        return payload

    def commit(self) -> None:
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
            subj = payload["subject"]
            _LOG.info("%s %s %s: %s (%s)", payload["kind"], payload["lane"],
                      subj.get("plate") or subj.get("person_id") or subj.get("unit") or "?", payload["decision"],
                      payload["reason"])
            if self.on_event and not m.held:
                self.on_event(payload)  # a held event is told when its result is in (the follow-up)
        self.wake()

    def _entry(self, made: MadeEvent) -> Entry:
        return Entry("event", made.topic, made.payload, f"event:{made.payload['event_id']}", made.now,
                     lambda: self._store(made), held=made.held,
                     extra={"person_seen": made.person_seen, "plate_seen": made.plate_seen})

    def _store(self, made: MadeEvent) -> None:
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
