"""Alerts: device alerts (cameras, barriers, broker, disk, outbox) and care-watch inactivity alerts.

State lives in the registry's ``alerts`` table, so a restart neither repeats nor forgets an alert.
Raising or clearing writes the alert row and its outbox message in one transaction. When the database
cannot be written (``StorageFailure``), a device alert is raised or cleared all the same: its message
waits in memory (``edge.pending``), published straight from there, and an overlay here remembers it
until ``edge.backfill`` has written it (``forget``), so it is neither repeated nor lost.

    device       one open alert per device; alert_id is random per episode
    inactivity   one alert per episode (a resident unseen since a given sighting); alert_id is derived
                 from the person and that sighting, so every gate computes the same id
"""

from __future__ import annotations

import logging
import threading
import time
import uuid

from edge.contract import Topics, device_alert_payload, inactivity_alert_id, inactivity_payload
from edge.store import StorageFailure
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


class Alerts:
    def __init__(self, config, registry, clock=time.time, wake=None, rules=None):
        from edge.site_rules import SiteRules

        self.config = config
        self.rules = rules or SiteRules(config)
        self.registry = registry
        self.clock = clock
        self.topics = Topics(config.mqtt.topic_prefix, config.site, config.gate)
        self.wake = wake or (lambda: None)
        # Set by the daemon: where a device alert waits when it cannot be written, and whom to tell.
        self.pending = None
        self.on_storage_failure = None
        self._memory: dict[str, str | None] = {}  # device -> open alert id (None: cleared), not yet written
        self._lock = threading.RLock()

    # -- device alerts ---------------------------------------------------------------------
    def open_device_alert(self, device: str) -> dict | None:
        return self.registry.alerts.open_device(device)

    def device(self, device: str, ok: bool, detail: str = "") -> str | None:
        """Report a device's health; raises or clears its alert on a change. Returns the alert id used."""
        now = self.clock()
        with self._lock:
            if device in self._memory:  # its last change still waits in memory: keep the order
                return self._device_in_memory(device, ok, detail, now)
            try:
                change = self._device_stored(device, ok, detail, now)
            except StorageFailure as exc:
                if self.pending is None:
                    raise
                if self.on_storage_failure is not None:
                    self.on_storage_failure(exc)
                return self._device_in_memory(device, ok, detail, now)
        if change is None:
            return None
        alert_id, state = change
        if state is not None:
            _LOG.warning("device alert %s: %s%s", state, device, f": {detail}" if state == "raised" else "")
            self.wake()
        return alert_id

    def _device_stored(self, device: str, ok: bool, detail: str, now: float) -> tuple[str, str | None] | None:
        """(alert id, "raised"/"cleared"/None when unchanged), or None: no alert and none needed."""
        store = self.registry
        with store.transaction():
            current = self.open_device_alert(device)
            if not ok and current is None:
                alert_id = str(uuid.uuid4())
                store.alerts.add(alert_id, "device", device, now, detail)
                payload = device_alert_payload(alert_id, device, "raised", detail, iso(now, self.config.zone))
                store.outbox.enqueue(self.topics.device_alert, payload, msg_id=f"alert:{alert_id}:raised", now=now)
                return alert_id, "raised"
            if ok and current is not None:
                alert_id = current["alert_id"]
                store.alerts.clear(alert_id, now)
                store.outbox.enqueue(self.topics.device_alert,
                                     device_alert_payload(alert_id, device, "cleared", detail or "recovered",
                                                          iso(now, self.config.zone)),
                                     msg_id=f"alert:{alert_id}:cleared", now=now)
                return alert_id, "cleared"
            return (current["alert_id"], None) if current else None

    def _device_in_memory(self, device: str, ok: bool, detail: str, now: float) -> str | None:
        """The same change, its message kept in memory and published from there (storage fails)."""
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
        text = detail if not ok else (detail or "recovered")
        payload = device_alert_payload(alert_id, device, state, text, iso(now, self.config.zone))
        self.pending.add("alert", self.topics.device_alert, payload, f"alert:{alert_id}:{state}", ts=now,
                         extra={"op": "raise" if not ok else "clear", "device": device, "alert_id": alert_id,
                                "detail": text})
        self._memory[device] = alert_id if not ok else None
        _LOG.warning("device alert %s (not stored: the database cannot be written; published from memory): %s%s",
                     state, device, f": {detail}" if not ok else "")
        self.wake()
        return alert_id

    def adopt(self, device: str, alert_id: str) -> None:
        """An alert raised before the database opened (``edge.storage_wait``), now waiting in memory."""
        with self._lock:
            self._memory[device] = alert_id

    def forget(self, device: str) -> None:
        """The device's alert changes kept in memory are all written now (``edge.backfill``)."""
        with self._lock:
            self._memory.pop(device, None)

    # -- inactivity --------------------------------------------------------------------------
    def check_inactivity(self, now: float | None = None) -> list[dict]:
        """Raise one alert per care-watch resident unseen for threshold_hours (per episode)."""
        now = self.clock() if now is None else now
        threshold = self.rules.inactivity.threshold_hours * 3600
        store = self.registry
        raised = []
        for person in store.people.care_watch():
            seen = person["seen"]
            if seen is None:
                # Never seen since registration: the episode starts when they were registered.
                seen = _epoch_of(person["created_at"], now)
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
                store.outbox.enqueue(self.topics.inactivity, payload, msg_id=f"alert:{alert_id}:raised", now=now)
            raised.append(payload)
            _LOG.warning("inactivity alert: person %s (unit %s) unseen for %.1f h", person["id"], person["unit"],
                         away_s / 3600)
        if raised:
            self.wake()
        return raised

    def person_seen(self, person_id: int, ts: float) -> None:
        """Inside the caller's transaction: clear the person's open inactivity alert, if any."""
        store = self.registry
        for row in store.alerts.open_inactivity(person_id):
            store.alerts.clear(row["alert_id"], ts)
            payload = inactivity_payload(row["alert_id"], "cleared", person_id, row["unit"],
                                         iso(ts, self.config.zone), 0.0, iso(ts, self.config.zone))
            store.outbox.enqueue(self.topics.inactivity, payload, msg_id=f"alert:{row['alert_id']}:cleared", now=ts)


def _epoch_of(text: str, default: float) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return default
