"""The office's archive of what the gates publish (DESIGN 6.1): their events, their statuses, their alerts.

- **events** (``P/<gate>/event/<kind>``): archived once by ``event_id``, checked as a gate checks its peers
  (``edge.site.peers``: the gate's signature, plausibility, quarantine); the archive follows last-seen
  times and parking sessions through the same transitions the gates make, so the office's lot matches
  theirs;
- **statuses** (``P/<gate>/status``, retained): read by the contract before anything uses it; one that
  breaks it (``"registry": "pwned"``) shows the gate as unreadable, with why, until its next good status;
- **alerts** (``P/<gate>/alert/device``, ``P/alert/inactivity``): ``edge.office.alert_archive``;
- **gaps**: a gap in a gate's numbered events or alerts (or one at the end of its stream, which its
  status tells) is asked for again with a ``req/replay`` signed with command.key.

Every message of a gate counts as hearing from it (``edge.office.silent_gates``); each new row is
announced after its commit (``edge.office.listeners``: the console's live updates).
"""

from __future__ import annotations

import logging

from edge import contract
from edge.office.alert_archive import AlertArchive
from edge.rules.site_rules import SiteRules
from edge.site.peers import PeerReceiver

_LOG = logging.getLogger(__name__)


class Archive:
    def __init__(self, config, store, alerts, topics, verifiers: dict, *, silent_gates, listeners, clock,
                 command_signer, wake, notices=None, on_seen=None):
        """``verifiers``: {gate: Verifier} of the gates the office lists; ``command_signer``: signs the
        replay requests (None: no commands key); ``wake()``: the outbox has something to send; ``notices``:
        who is told of the alerts archived (``edge.office.notify.steps``); ``on_seen(person_id, ts, gate)``:
        in the archiving transaction, each person let through (a sighting ends their pause:
        ``edge.office.away.Absences.seen``)."""
        self.config = config
        self.store = store
        self.topics = topics
        self.silent_gates = silent_gates
        self.listeners = listeners
        self.clock = clock
        self.command_signer = command_signer
        self.wake = wake
        self.archived = 0
        self._status_problems: dict[str, str | None] = {}  # gate → why its last status was unreadable (logged once)
        self.receiver = PeerReceiver(store, alerts, site_mode=True, clock=clock, rules=SiteRules(config),
                                     zone=config.zone, gate_keys=lambda: verifiers, follow_people=False,
                                     on_new=self._event_archived, on_seen=on_seen)
        self.alert_archive = AlertArchive(store, config.site, verifiers.get, clock=clock,
                                          quarantine=self.receiver._quarantine,
                                          announce=lambda payload: listeners.announce("alert", payload),
                                          notices=notices)

    def event(self, gate: str, payload: bytes, now: float) -> None:
        """An event from ``P/<gate>/event/<kind>``."""
        outcome = self.receiver.receive(gate, payload, f"{self.topics.base}/{gate}/event")
        if outcome in ("applied", "kept"):
            self.archived += 1
        with self.store.transaction():
            self.silent_gates.heard(gate, now)

    def _event_archived(self, payload: dict) -> None:
        """After a new event's commit: the console hears of it, and a ``cleared`` waiting for this
        sighting is applied."""
        self.listeners.announce("event", payload)
        self.alert_archive.event_arrived(payload["event_id"])

    def gate_status(self, gate: str, payload: bytes, now: float) -> None:
        """A gate's retained status (an empty payload: the retained status cleared, nothing to do)."""
        if not payload:
            return
        try:
            status, problem = contract.parse_status(payload), None
        except contract.Refused as exc:
            status, problem = None, str(exc)
            if self._status_problems.get(gate) != problem:
                _LOG.warning("gate %s: its status cannot be read: %s", gate, problem)
        self._status_problems[gate] = problem
        with self.store.transaction():
            self.silent_gates.heard(gate, now, status, problem=problem)
        if problem is None:
            self.receiver.status_seen(gate, status)
            self.alert_archive.status_seen(gate, status.get("alert_seq"))

    def inactivity_alert(self, payload: bytes, topic: str) -> None:
        """From ``P/alert/inactivity``: the raising gate is named inside, signed."""
        self.alert_archive.receive("inactivity", None, payload, topic)

    def device_alert(self, gate: str, payload: bytes, topic: str, now: float) -> None:
        """From ``P/<gate>/alert/device``: the gate is heard unless the alert is refused."""
        if self.alert_archive.receive("device", gate, payload, topic) != "quarantined":
            with self.store.transaction():
                self.silent_gates.heard(gate, now)

    def ask_for_gaps(self) -> int:
        """The archive's own gaps: ask the gate (signed with command.key) for what it missed (a job)."""
        from edge.site.replay import request

        asks = 0
        for stream, gaps in (("events", self.receiver.gaps), ("alerts", self.alert_archive.gaps)):
            for gate, first, last in gaps.to_ask():
                self.store.outbox.enqueue(self.topics.request("replay"),
                                          request(gate, first, last, zone=self.config.zone,
                                                  signer=self.command_signer, now=self.clock(), stream=stream),
                                          now=self.clock())
                self.wake()
                gaps.asked(gate)
                asks += 1
        return asks
