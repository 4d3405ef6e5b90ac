"""``req/replay`` (DESIGN 4.3): asking a gate for events one missed, and answering such a request.

A receiver that finds a gap in a peer's ``seq`` (``edge.site.peers``) publishes, on its own prefix,
``P/<requester>/req/replay {"request_id", "target", "from_seq", "to_seq", "ts"}``. The target publishes
those events again on their usual topics, unchanged (same ``event_id``, ``seq`` and signature), so a
receiver applies them as if they had never been missed, and only once. When the target gate is down,
the office answers from its archive. In site mode a request is signed with the requester's own key
(a gate's ``identity_key_file``, the office's ``command.key``) and a request nobody can verify is
ignored; in local mode a request is accepted unsigned (it only repeats what was published), and every
answer is rate-limited per requester.
"""

from __future__ import annotations

import logging
import time
import uuid

from edge import contract
from edge.keys import sign_record, verify_record
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)
LIMIT = 1000  # events in one answer: below Mosquitto's default max_queued_messages
WINDOW_S = 300.0  # a request older (or further ahead) than this is ignored
EVERY_S = 0.5  # per requester: at most one answer this often (a flood costs little)


def request(target: str, from_seq: int, to_seq: int | None, *, zone, signer=None, now: float | None = None,
            stream: str = "events") -> dict:
    body = contract.replay_request(request_id=f"replay-{uuid.uuid4().hex[:12]}", target=target, from_seq=from_seq,
                                   to_seq=to_seq, ts=iso(time.time() if now is None else now, zone), stream=stream)
    return sign_record(signer, body) if signer is not None else body


class Answerer:
    """Answers the replay requests naming ``target`` with the events its database holds of ``gate``."""

    def __init__(self, store, topics: contract.Topics, *, clock=time.time, verifier_for=None, signer=None):
        """``verifier_for(requester)``: the Verifier of a requester's key (site mode), None when unknown;
        ``verifier_for`` None: local mode, requests accepted unsigned. ``signer``: a gate answering for
        itself re-signs what an earlier key signed (a gate once given another gate's key: what it
        published then was refused everywhere, and is accepted once the key is fixed)."""
        self.signer = signer
        self.store = store
        self.topics = topics
        self.clock = clock
        self.verifier_for = verifier_for
        self._answered: dict[str, float] = {}

    def parse(self, requester: str, raw: bytes, ours) -> dict | None:
        """The request if it is for us (``ours(target)``) and may be answered, else None (logged when it
        was for us). One parse: callers decide nothing from the raw payload themselves."""

        def for_us(target) -> bool:
            return isinstance(target, str) and ours(target)

        try:
            request = contract.parse_replay_request(raw)
        except contract.Refused as exc:
            if exc.payload is None or for_us(exc.payload.get("target")):
                _LOG.warning("replay request from %s ignored: %s", requester, exc)
            return None  # (or another gate's to answer, and to refuse)
        if not for_us(request.target):
            return None  # another gate's to answer
        body = request.payload
        age = self.clock() - request.ts_epoch
        if abs(age) > WINDOW_S:
            _LOG.warning("replay request from %s ignored: ts is %.0f s from this clock", requester, age)
            return None
        if self.verifier_for is not None:
            verifier = self.verifier_for(requester)
            problem = "not one of the site's gates" if verifier is None else verify_record(verifier, body)
            if problem:
                _LOG.warning("replay request from %s ignored: %s", requester, problem)
                return None
        if time.monotonic() - self._answered.get(requester, -EVERY_S) < EVERY_S:
            return None
        self._answered[requester] = time.monotonic()
        return body

    def answer(self, gate: str, body: dict) -> int:
        """Publish ``gate``'s events (or alerts: ``"stream": "alerts"``) from_seq..to_seq again (through the
        outbox); returns how many."""
        if body.get("stream") == "alerts":
            items = [(row["topic"], row["payload"], "alert") for row in
                     self.store.alert_log.by_seq(gate, body["from_seq"], body.get("to_seq"), LIMIT)]
        else:
            items = [(self.topics.event(p["kind"], gate), p, "event") for p in
                     self.store.events.by_seq(gate, body["from_seq"], body.get("to_seq"), LIMIT)]
        with self.store.transaction():
            for topic, payload, what in items:
                self.store.outbox.enqueue(topic, self._signed_now(payload),
                                          msg_id=f"replay:{body['request_id']}:{what}:{payload['seq']}",
                                          now=self.clock())
        if items:
            _LOG.info("replayed %d %ss of %s (seq %s..%s)", len(items), items[0][2], gate, items[0][1]["seq"],
                      items[-1][1]["seq"])
        return len(items)

    def _signed_now(self, payload: dict) -> dict:
        """Our own message signed by another key than ours now (it was refused): signed again."""
        if self.signer is None or payload.get("kid") in (None, self.signer.kid):
            return payload
        return sign_record(self.signer, {k: v for k, v in payload.items() if k not in ("kid", "sig")})
