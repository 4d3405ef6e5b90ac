"""What the office answers when a gate asks (``P/<gate>/req/<verb>``).

- ``req/resync``: a gate lacks registry records; signed with that gate's key, its ``ts`` within
  REQUEST_WINDOW_S of the office's clock, at most one a second per gate (a flood costs one page a second):
  the publisher sends the records after the gate's position (``RegistryPublisher.republish``);
- ``req/replay``: a gate asks another for events it missed; when that gate is silent
  (``edge.office.silent_gates``), the archive answers for it (events only: the alerts' one reader is the
  office). A gate that is up answers for itself.
"""

from __future__ import annotations

import logging
import time

from edge import contract
from edge.keys import verify_record
from edge.site.replay import Answerer

_LOG = logging.getLogger(__name__)
REQUEST_WINDOW_S = 300.0  # a resync request older (or further ahead) than this is refused
RESYNC_MIN_INTERVAL_S = 1.0  # per gate: a flood of requests costs one page a second at most


class Answers:
    def __init__(self, config, store, publisher, topics, verifiers: dict, *, silent_gates, clock, wake):
        """``verifiers``: {gate: Verifier} of the gates the office lists; ``wake()``: the outbox has
        something to send."""
        self.config = config
        self.publisher = publisher
        self.verifiers = verifiers
        self.silent_gates = silent_gates
        self.wake = wake
        self.replayer = Answerer(store, topics, clock=clock, verifier_for=verifiers.get)
        self._last_resync: dict[str, float] = {}

    def request(self, gate: str, verb: str, payload: bytes, now: float) -> None:
        """A request on ``P/<gate>/req/<verb>``; any other verb is not the office's."""
        if verb == "replay":
            self._replay_for_a_silent_gate(gate, payload)
        elif verb == "resync":
            self._resync(gate, payload, now)

    def _resync(self, gate: str, payload: bytes, now: float) -> None:
        verifier = self.verifiers.get(gate)

        def signed_by_the_gate(body: dict) -> str | None:
            return f"gate {gate!r} is not listed in gates:" if verifier is None else verify_record(verifier, body)

        try:
            request = contract.parse_resync_request(payload, verify=signed_by_the_gate)
            age = now - request.ts_epoch
            if abs(age) > REQUEST_WINDOW_S:
                raise contract.Refused(f"ts is {age:.0f} s from the office's clock")
        except contract.Refused as exc:
            _LOG.warning("resync request from %s refused: %s", gate, exc)
            return
        if time.monotonic() - self._last_resync.get(gate, 0.0) < RESYNC_MIN_INTERVAL_S:
            return
        self._last_resync[gate] = time.monotonic()
        count = self.publisher.republish(gate, request.after, request.limit, request.request_id)
        _LOG.info("resync for %s: %d records after %s", gate, count, request.after)
        self.wake()

    def _replay_for_a_silent_gate(self, requester: str, payload: bytes) -> None:
        body = self.replayer.parse(requester, payload,  # a gate that is up answers for itself
                                   lambda target: target in self.config.gates and self.silent_gates.silent(target))
        if body is not None and body.get("stream", "events") == "events" and self.replayer.answer(body["target"], body):
            self.wake()
