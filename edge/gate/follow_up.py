"""The barrier follow-up: which barrier a decision opens, its pulse, and the pulse's result in the event.

The event is committed before the barrier pulses (``edge.gate.recording``). Its outbox row is held until
the follow-up has written the result into it as its ``barrier`` field, then published with it: the message
the office and the peers receive is the same as ever (one message per event, ``barrier`` included), only
sent after the pulse; the outbox keeps messages in order, so later events wait behind it for at most that
pulse. The pulse happens outside the decision lock: a barrier that does not answer (seconds of retries)
never holds up another lane's decision. The result goes through the journal (``edge.durable.journal``):
into the event where it waits in memory, into its stored row, or into memory itself when storage fails
now. A restart during a pulse publishes the held event with ``barrier: "unknown: …"``
(``finish_interrupted``, when the gate starts).
"""

from __future__ import annotations

import logging
import time

from drivers.barriers import BarrierError
from edge.durable.journal import Entry
from edge.keys import sign_record
from edge.store import StorageFailure

_LOG = logging.getLogger(__name__)
NO_BARRIER = "no barrier configured for this lane"
INTERRUPTED = "unknown: the gate stopped during the pulse; check the arm"


class BarrierFollowUp:
    def __init__(self, config, store, barriers: dict, journal, topics, *, clock=time.time, signer=None,
                 wake=None, on_event=None):
        self.config = config
        self.store = store
        self.barriers = barriers
        self.journal = journal
        self.topics = topics
        self.clock = clock
        self.signer = signer
        self.wake = wake or (lambda: None)
        self.on_event = on_event

    def barrier_for(self, camera=None, lane: str = "in", barrier_id: str | None = None):
        """The barrier named, or the camera's, or the first serving the lane (None: no barrier here)."""
        if barrier_id:
            return self.barriers.get(barrier_id)
        if camera is not None:
            config = self.config.barrier_for(camera)
            return self.barriers.get(config.id) if config else None
        serving = [b for b in self.barriers.values() if lane in b.lanes]
        return serving[0] if serving else None

    @staticmethod
    def opening(opens: bool, barrier) -> dict:
        """``EventRecorder.record``'s arguments for a decision's barrier: a pulse follows (the event's
        message is held for its result), or the result is known at once (no barrier), or nothing opens."""
        if not opens:
            return {}
        return {"held": True} if barrier is not None else {"barrier_result": NO_BARRIER}

    def pulse_after(self, event: dict, barrier, lane: str) -> dict:
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
        return self.follow_up(event, result)

    def follow_up(self, event: dict, result: str) -> dict:
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

    def finish_interrupted(self) -> None:
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
            self.follow_up(payload, INTERRUPTED)
