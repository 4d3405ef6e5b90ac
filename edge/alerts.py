"""Alerts: device alerts (cameras, barriers, broker, disk, outbox) and care-watch inactivity alerts.

State lives in the registry's ``alerts`` table, so a restart neither repeats nor forgets an alert.
Raising or clearing writes the alert row and its outbox message in one transaction, through the journal
(``edge.durable.journal``). When the database cannot be written (``StorageFailure``), a device alert is
raised or cleared all the same: the journal keeps its message in memory (``edge.durable.memory_queue``),
published straight from there, and an overlay here remembers it until ``edge.durable.backfill`` has
written it (``forget``), so it is neither repeated nor lost.

    device       one open alert per device; alert_id is random per episode
    inactivity   one alert per episode (a resident unseen since a given sighting); alert_id is derived
                 from the person and that sighting, so every gate computes the same id; a resident away
                 (``edge.rules.away``) raises none until the pause ends, then counts from its end

A gate's alerts carry ``gate`` and a ``seq`` of their own (``store.alert_log``: a stream without holes,
numbered in the transaction that raises or clears, replayed like events), and in site mode ``kid`` and
``sig`` of the gate's identity key (DESIGN 6.1); a ``cleared`` inactivity alert names the ``event_id``
of the sighting that cleared it. One written while storage fails is signed and carries no ``seq``; it is
numbered when ``edge.durable.backfill`` writes it. Lock order (``edge.locks``): the store, then ``_lock``.
"""

from __future__ import annotations

import logging
import time
import uuid

from edge.contract import Topics, device_alert_payload, inactivity_alert_id, inactivity_payload
from edge.durable.journal import Entry, Journal
from edge.keys import sign_record
from edge.locks import ordered_lock
from edge.rules.away import Pause, episode_start
from edge.schemas.phrases import Phrase, fields, from_wire, say
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


class Alerts:
    def __init__(self, config, store, clock=time.time, wake=None, rules=None, *, signer=None,
                 numbered: bool = False, topics: Topics | None = None, journal: Journal | None = None,
                 notices=None):
        """``signer``: the gate's identity key (site mode), None: unsigned; ``numbered``: a gate's alerts
        get ``gate`` and their own ``seq`` (the office's own alerts are neither); ``topics``: the service's
        (``Topics.of(config)`` when not given); ``journal``: the service's durable writer (by default one
        without memory: a storage failure is raised); ``notices``: at the office, who is told of its own
        device alerts (``edge.office.notify.steps.Notices``: called in the transaction that writes the
        change)."""
        from edge.rules.site_rules import SiteRules

        self.config = config
        self.rules = rules or SiteRules(config)
        self.store = store
        self.clock = clock
        self.signer = signer
        self.numbered = numbered
        self.topics = topics or Topics.of(config)
        self.wake = wake or (lambda: None)
        self.journal = journal or Journal(store)
        self.notices = notices
        self._memory: dict[str, str | None] = {}  # device -> open alert id (None: cleared), not yet written
        self._lock = ordered_lock("alerts", reentrant=True)

    # -- one way out -------------------------------------------------------------------------
    def _send(self, topic: str, payload: dict, msg_id: str, now: float, sent_epoch: float | None = None) -> dict:
        """Inside the caller's transaction: number (a gate), sign (site mode), log and enqueue."""
        store = self.store
        if self.numbered:
            payload = {**payload, "gate": self.config.gate, "seq": store.alert_log.take_seq()}
        payload = self._signed(payload)
        if self.numbered:
            store.alert_log.add(self.config.gate, payload["seq"], payload, topic, now)
        store.outbox.enqueue(topic, payload, msg_id=msg_id, now=now, sent_epoch=sent_epoch)
        return payload

    def _signed(self, payload: dict) -> dict:
        payload = {k: v for k, v in payload.items() if k not in ("kid", "sig")}
        return sign_record(self.signer, payload) if self.signer is not None else payload

    # -- device alerts ---------------------------------------------------------------------
    def open_device_alert(self, device: str) -> dict | None:
        return self.store.alerts.open_device(device)

    def device(self, device: str, ok: bool, detail: Phrase | str | None = None) -> str | None:
        """Report a device's health; raises or clears its alert on a change. Returns the alert id used.
        ``detail``: what is wrong, or how it recovered, as a phrase (``edge.schemas.phrases``): the payload
        carries its text, code and parameters (a plain text, as a test may give, only itself); a clear
        without one says ``recovered``."""
        now = self.clock()
        # The store before our own lock (edge.locks): a thread inside a transaction that raises an alert
        # (a quarantined peer event) and one here must take them in the same order.
        with self.store.hold(), self._lock:
            if device in self._memory:  # its last change still waits in memory: keep the order
                return self._device_in_memory(device, ok, detail, now)
            change = self.journal.attempt(lambda: self._device_stored(device, ok, detail, now),
                                          lambda: (self._device_in_memory(device, ok, detail, now), None))
        if change is None:
            return None
        alert_id, state = change
        if state is not None:
            _LOG.warning("device alert %s: %s%s", state, device, f": {detail}" if state == "raised" else "")
            self.wake()
        return alert_id

    def _device_stored(self, device: str, ok: bool, detail: Phrase | str | None, now: float
                       ) -> tuple[str, str | None] | None:
        """Inside the journal's transaction: (alert id, "raised"/"cleared"/None when unchanged), or None: no
        alert and none needed."""
        store = self.store
        current = self.open_device_alert(device)
        if not ok and current is None:
            alert_id = str(uuid.uuid4())
            store.alerts.add(alert_id, "device", device, now, detail or "")
            payload = device_alert_payload(alert_id, device, "raised", detail or "", iso(now, self.config.zone))
            self._send(self.topics.device_alert, payload, f"alert:{alert_id}:raised", now)
            if self.notices is not None:
                self.notices.alert_raised(alert_id, "device", device, now)
            return alert_id, "raised"
        if ok and current is not None:
            alert_id = current["alert_id"]
            store.alerts.clear(alert_id, now)
            self._send(self.topics.device_alert,
                       device_alert_payload(alert_id, device, "cleared", detail or say("recovered"),
                                            iso(now, self.config.zone)),
                       f"alert:{alert_id}:cleared", now)
            if self.notices is not None:
                self.notices.alert_cleared(alert_id, now)
            return alert_id, "cleared"
        return (current["alert_id"], None) if current else None

    def _device_in_memory(self, device: str, ok: bool, detail: Phrase | str | None, now: float) -> str | None:
        """The same change, its message kept in memory and published from there (storage fails): decided
        from what memory knows, and unnumbered (numbered once ``edge.durable.backfill`` stores it)."""
        if device in self._memory:
            current = self._memory[device]
        else:
            try:
                row = self.open_device_alert(device)
            except StorageFailure:
                row = None  # cannot even read: an alert raised before is raised again (a new episode)
            current = row["alert_id"] if row else None
        if ok == (current is None):
            return current
        alert_id, state = (str(uuid.uuid4()), "raised") if not ok else (current, "cleared")
        said = (detail or "") if not ok else (detail or say("recovered"))
        payload = self.unnumbered(device_alert_payload(alert_id, device, state, said, iso(now, self.config.zone)))
        self.journal.keep([Entry("alert", self.topics.device_alert, payload, f"alert:{alert_id}:{state}", now,
                                 extra={"op": "raise" if not ok else "clear", "device": device,
                                        "alert_id": alert_id, **fields("detail", said)})])
        self._memory[device] = alert_id if not ok else None
        _LOG.warning("device alert %s (not stored: the database cannot be written; published from memory): %s%s",
                     state, device, f": {detail}" if not ok else "")
        self.wake()
        return alert_id

    def unnumbered(self, payload: dict) -> dict:
        """An alert that goes out before it can be numbered (storage fails): ``gate``, signed, no ``seq``."""
        if self.numbered:
            payload = {**payload, "gate": self.config.gate}
        return self._signed(payload)

    def stored_from_memory(self, item: dict) -> None:
        """Inside ``edge.durable.backfill``'s transaction: a device alert change that waited in memory, written now
        with its number (a receiver that got it unnumbered takes the numbered copy as the same change)."""
        store, extra, ts = self.store, item["extra"], item["ts"]
        alert_id = extra["alert_id"]
        if store.alerts.get(alert_id) is None:
            said = from_wire(extra.get("detail_code"), extra.get("detail_params"))
            store.alerts.add(alert_id, "device", extra["device"], ts, said or extra.get("detail") or "")
            if self.notices is not None:
                self.notices.alert_raised(alert_id, "device", extra["device"], ts)
        if extra["op"] == "clear":
            store.alerts.clear(alert_id, ts)
            if self.notices is not None:
                self.notices.alert_cleared(alert_id, ts)
        payload = {k: v for k, v in item["payload"].items() if k not in ("gate", "seq")}
        self._send(item["topic"], payload, item["msg_id"], ts, sent_epoch=item["published_epoch"])

    def adopt(self, device: str, alert_id: str) -> None:
        """An alert raised before the database opened (``edge.gate.waiting``), now waiting in memory."""
        with self._lock:
            self._memory[device] = alert_id

    def forget(self, device: str) -> None:
        """The device's alert changes kept in memory are all written now (``edge.durable.backfill``)."""
        with self._lock:
            self._memory.pop(device, None)

    # -- inactivity --------------------------------------------------------------------------
    def check_inactivity(self, now: float | None = None) -> list[dict]:
        """Raise one alert per care-watch resident unseen for threshold_hours (per episode)."""
        now = self.clock() if now is None else now
        threshold = self.rules.inactivity.threshold_hours * 3600
        store = self.store
        raised = []
        for person in store.people.care_watch():
            seen = unseen_since(person, now)
            if seen is None:
                continue  # away (edge.rules.away): no alert until the pause ends
            away_s = now - seen
            if away_s < threshold:
                continue
            alert_id = inactivity_alert_id(self.config.site, person["id"], seen)
            with store.transaction():
                if store.alerts.get(alert_id) or store.alerts.open_inactivity(person["id"]):
                    continue  # this episode was already raised (here, before a restart, or before adoption)
                store.alerts.add(alert_id, "inactivity", f"person:{person['id']}", now,
                                 f"last seen {iso(seen, self.config.zone)}")
                payload = inactivity_payload(alert_id, "raised", person["id"], person["unit"],
                                             iso(seen, self.config.zone), round(away_s / 3600, 1),
                                             iso(now, self.config.zone))
                payload = self._send(self.topics.inactivity, payload, f"alert:{alert_id}:raised", now)
            raised.append(payload)
            _LOG.warning("inactivity alert: person %s (unit %s) unseen for %.1f h", person["id"], person["unit"],
                         away_s / 3600)
        if raised:
            self.wake()
        return raised

    def person_seen(self, person_id: int, ts: float, event_id: str | None) -> None:
        """Inside the caller's transaction: clear the person's open inactivity alert, if any; the
        ``cleared`` names the sighting (``event_id``), which the office checks before applying it."""
        store = self.store
        for row in store.alerts.open_inactivity(person_id):
            store.alerts.clear(row["alert_id"], ts)
            payload = inactivity_payload(row["alert_id"], "cleared", person_id, row["unit"],
                                         iso(ts, self.config.zone), 0.0, iso(ts, self.config.zone))
            payload["event_id"] = event_id
            self._send(self.topics.inactivity, payload, f"alert:{row['alert_id']}:cleared", ts)


def unseen_since(person: dict, now: float) -> float | None:
    """Since when a care-watch resident (``store.people.care_watch()``'s row) is unseen: their last
    sighting; never seen since registration, when they were registered; None while they are away, and
    after a pause not ended by a sighting, its end (``edge.rules.away``). The one rule of "unseen": the
    gates' inactivity alerts and the office's roll call."""
    seen = person["seen"]
    since = seen if seen is not None else _epoch_of(person["created_at"], now)
    try:
        pause = Pause.of(person["away_until"], person["away_since"])
    except ValueError:
        pause = None  # the replica refuses an unreadable pause; a local gate has none
    return episode_start(since, pause, seen, now)


def _epoch_of(text: str, default: float) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return default
