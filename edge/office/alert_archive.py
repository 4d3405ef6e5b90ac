"""The office's archive of the gates' alerts (DESIGN 6.1): only what a gate's own key signed, once each.

``receive`` takes a message from ``P/<gate>/alert/device`` or ``P/alert/inactivity``:

    refused (quarantined, nothing changes)   not an alert of the contract; no ``gate``; a gate the office
                                             does not list; a signature its key does not verify; a seq that
                                             gate already used for another alert; an inactivity ``raised``
                                             whose alert_id is not the one its person and last sighting
                                             derive; an alert_id that belongs to another subject; a
                                             ``cleared`` inactivity alert without ``event_id``, or naming
                                             an event that is not a let-through sighting of that person after
                                             the episode's last sighting
    waits (logged, applied later)            a ``cleared`` whose alert or named sighting the office does
                                             not hold yet: applied when both are here, from whichever gate
    applied                                  the alert row raised or cleared, the people told of it queued
                                             (``edge.office.notify.steps``); listeners told

Each numbered alert is logged once per (gate, seq) in ``store.alert_log`` and its seq noted in
``store.alert_peers``; a gap, or one at the end of a gate's stream (its status's ``alert_seq``), is asked
for again with a ``req/replay`` of ``"stream": "alerts"`` (``edge.site.gaps``), so none is lost.
"""

from __future__ import annotations

import logging

from edge.contract import Refused, dumps, inactivity_alert_id, parse_alert
from edge.keys import verify_record
from edge.schemas.phrases import from_wire
from edge.site.gaps import Gaps
from edge.timeutil import parse_iso

_LOG = logging.getLogger(__name__)
MAX_DETAIL_PARAMS = 2000  # characters of a device alert's code and parameters the archive keeps (else its text)


class AlertArchive:
    def __init__(self, store, site: str, verifier_for, *, clock, quarantine, announce, notices=None):
        """``verifier_for(gate)``: that gate's Verifier, None for a gate the office does not list;
        ``quarantine(gate, topic, (kind, reason), raw)``: keep a refused message aside (``edge.site.peers``);
        ``announce(payload)``: after the commit of each change, the alert with its ``kind`` and ``subject``
        (the console's live updates); ``notices``: people told (``edge.office.notify.steps.Notices``: its
        ``alert_raised`` and ``alert_cleared`` queue their messages in the transaction that applies the
        change), None: nobody."""
        self.store = store
        self.site = site
        self.verifier_for = verifier_for
        self.clock = clock
        self.quarantine = quarantine
        self.announce = announce
        self.notices = notices
        self.gaps = Gaps(store, store.alert_peers, clock)

    def receive(self, kind: str, topic_gate: str | None, raw: bytes, topic: str) -> str:
        """"applied", "waiting", "duplicate" or "quarantined"; never raises on bad input."""
        try:
            alert = parse_alert(raw, kind, topic_gate)
        except Refused as exc:
            return self._refuse(topic_gate, topic, f"not a usable {kind} alert: {exc}", raw)
        gate = alert.gate
        if gate is None:
            return self._refuse(topic_gate, topic, "an alert without gate: unsigned alerts are not taken", raw)
        verifier = self.verifier_for(gate)
        problem = (f"gate {gate[:64]!r} is not one of the site's gates" if verifier is None
                   else verify_record(verifier, alert.payload))
        if problem:
            return self._refuse(gate, topic, f"alert {alert.alert_id[:64]}: {problem}", raw)
        now = self.clock()
        store, changes = self.store, []
        with store.transaction():
            if alert.seq is not None:
                logged = store.alert_log.get(gate, alert.seq)
                if logged is not None:
                    if (logged["alert_id"], logged["state"]) == (alert.alert_id, alert.state):
                        return "duplicate"
                    problem = f"alert seq {alert.seq} already belongs to another alert of gate {gate}"
                else:
                    store.alert_log.add(gate, alert.seq, alert.payload, topic, now, applied=False)
                    store.alert_peers.arrived(gate, alert.seq, now)
                    self.gaps.arrived(gate)
            if problem is None:
                problem = self._apply(alert, changes)
        if problem:
            return self._refuse(gate, topic, f"alert {alert.alert_id[:64]}: {problem}", raw)
        self._tell(changes)
        return "applied" if changes else "waiting" if alert.state == "cleared" else "duplicate"

    # -- applying (inside the receive transaction) -------------------------------------------
    def _apply(self, alert, changes: list) -> str | None:
        """Apply one alert; returns why it is refused, or None. Appends what changed to ``changes``."""
        store = self.store
        subject = f"{alert.gate}:{alert.device}" if alert.kind == "device" else f"person:{alert.person_id}"
        known = store.alerts.get(alert.alert_id)
        if known is not None and (known["kind"], known["subject"]) != (alert.kind, subject):
            return f"alert_id belongs to {known['subject']}, not {subject}"
        if alert.kind == "inactivity" and alert.state == "raised" and \
                inactivity_alert_id(self.site, alert.person_id, alert.last_seen_epoch) != alert.alert_id:
            return "alert_id is not the one this person's last sighting gives"
        if alert.state == "raised" or alert.kind == "device":
            if known is None:
                detail = str(alert.payload.get("detail") or alert.payload.get("last_seen") or "")[:500]
                said = from_wire(alert.payload.get("detail_code"), alert.payload.get("detail_params"))
                if said is not None and said.text == detail and len(dumps(said.wire())) <= MAX_DETAIL_PARAMS:
                    detail = said  # its code and parameters kept beside the text: the console says it in Chinese
                store.alerts.add(alert.alert_id, alert.kind, subject, alert.ts_epoch, detail)
                changes.append((alert.payload, alert.kind, subject))
                if self.notices is not None:
                    self.notices.alert_raised(alert.alert_id, alert.kind, subject, alert.ts_epoch)
            if alert.kind == "device" and alert.state == "cleared" and (known is None or known["state"] == "raised"):
                store.alerts.clear(alert.alert_id, alert.ts_epoch)  # a gate's own device: its word suffices
                if known is not None:
                    changes.append((alert.payload, alert.kind, subject))
                if self.notices is not None:
                    self.notices.alert_cleared(alert.alert_id, alert.ts_epoch)
            if alert.seq is not None:
                store.alert_log.mark_applied(alert.gate, alert.seq)
            if alert.kind == "inactivity":
                for waiting in store.alert_log.waiting_for_alert(alert.alert_id):
                    self._try_clear(waiting, changes)
            return None
        if not alert.event_id:
            return "a cleared inactivity alert must name the sighting's event_id"
        if alert.seq is None:
            return "a cleared inactivity alert must carry its seq"
        self._try_clear(store.alert_log.get(alert.gate, alert.seq), changes)
        return None

    def _try_clear(self, logged: dict, changes: list) -> None:
        """A logged ``cleared``: applied when the office holds its alert and the sighting it names; refused
        (and no longer waiting) when that sighting does not clear it; else it waits."""
        store, payload = self.store, logged["payload"]
        row = store.alerts.get(logged["alert_id"])
        event = store.events.sighting(logged["event_id"])
        if row is None or event is None:
            return  # waits: the raise or the sighting has not arrived yet
        store.alert_log.mark_applied(logged["gate"], logged["seq"])
        try:
            last_seen = parse_iso(row["detail"])
        except (TypeError, ValueError):
            last_seen = None
        problem = ("its alert names nobody" if not row["subject"].startswith("person:")
                   else f"event {logged['event_id']} is not a sighting of this person" if
                   row["subject"] != f"person:{event['person_id']}" or event["decision"] != "open"
                   else f"event {logged['event_id']} is not after the last sighting of this episode"
                   if last_seen is None or event["ts_epoch"] <= last_seen else None)
        if problem:
            _LOG.warning("alert %s: a cleared from gate %s refused: %s", logged["alert_id"], logged["gate"], problem)
            self.store.after_commit(lambda: self.quarantine(logged["gate"], logged["topic"],
                                                            ("alert", f"alert {logged['alert_id']}: {problem}"),
                                                            dumps(payload).encode("utf-8")))
            return
        if row["state"] == "raised":
            store.alerts.clear(row["alert_id"], event["ts_epoch"])
            changes.append((payload, "inactivity", row["subject"]))
            if self.notices is not None:
                self.notices.alert_cleared(row["alert_id"], event["ts_epoch"], gate=event["gate"])

    # -- the archive's other sources ---------------------------------------------------------
    def event_arrived(self, event_id: str) -> None:
        """After an event's commit: a ``cleared`` that waited for this sighting is applied now."""
        changes: list = []
        with self.store.transaction():
            for waiting in self.store.alert_log.waiting(event_id):
                self._try_clear(waiting, changes)
        self._tell(changes)

    def status_seen(self, gate: str, alert_seq) -> None:
        """A gate's status names its newest alert seq: the first one starts tracking, later ones show a
        gap at the end of the stream (alerts lost while the office was away are asked for again)."""
        if not isinstance(alert_seq, int) or isinstance(alert_seq, bool) or alert_seq < 0:
            return
        if self.store.alert_peers.get(gate) is None:
            with self.store.transaction():
                self.store.alert_peers.baseline(gate, alert_seq)
            return
        self.gaps.status_seen(gate, alert_seq)

    def _tell(self, changes: list) -> None:
        for payload, kind, subject in changes:
            self.announce({**payload, "kind": kind, "subject": subject})

    def _refuse(self, gate, topic, reason: str, raw: bytes) -> str:
        _LOG.warning("archive: refused an alert on %s: %s", topic, reason)
        self.quarantine(gate or "?", topic, ("alert", reason), raw)
        return "quarantined"

