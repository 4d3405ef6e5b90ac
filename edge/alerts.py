"""Alerts: device alerts (cameras, barriers, broker, disk, outbox) and care-watch inactivity alerts.

State lives in the registry's ``alerts`` table, so a restart neither repeats nor forgets an alert.
Raising or clearing writes the alert row and its outbox message in one transaction.

    device       one open alert per device; alert_id is random per episode
    inactivity   one alert per episode (a resident unseen since a given sighting); alert_id is derived
                 from the person and that sighting, so every gate computes the same id
"""

from __future__ import annotations

import logging
import time
import uuid

from edge.contract import Topics, device_alert_payload, inactivity_alert_id, inactivity_payload
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

    # -- device alerts ---------------------------------------------------------------------
    def open_device_alert(self, device: str) -> dict | None:
        return self.registry.alerts.open_device(device)

    def device(self, device: str, ok: bool, detail: str = "") -> str | None:
        """Report a device's health; raises or clears its alert on a change. Returns the alert id used."""
        now = self.clock()
        store = self.registry
        with store.transaction():
            current = self.open_device_alert(device)
            if not ok and current is None:
                alert_id = str(uuid.uuid4())
                store.alerts.add(alert_id, "device", device, now, detail)
                payload = device_alert_payload(alert_id, device, "raised", detail, iso(now, self.config.zone))
                store.outbox.enqueue(self.topics.device_alert, payload, msg_id=f"alert:{alert_id}:raised", now=now)
                _LOG.warning("device alert raised: %s: %s", device, detail)
            elif ok and current is not None:
                alert_id = current["alert_id"]
                store.alerts.clear(alert_id, now)
                store.outbox.enqueue(self.topics.device_alert,
                                     device_alert_payload(alert_id, device, "cleared", detail or "recovered",
                                                          iso(now, self.config.zone)),
                                     msg_id=f"alert:{alert_id}:cleared", now=now)
                _LOG.warning("device alert cleared: %s", device)
            else:
                return current["alert_id"] if current else None
        self.wake()
        return alert_id

    # -- inactivity --------------------------------------------------------------------------
    def check_inactivity(self, now: float | None = None, corrected=None) -> list[dict]:
        """Raise one alert per care-watch resident unseen for threshold_hours (per episode).
        ``corrected(epoch)``: a sighting's time moved by the wall-clock jumps after it (ClockWatch)."""
        now = self.clock() if now is None else now
        corrected = corrected or (lambda epoch: epoch)
        threshold = self.rules.inactivity.threshold_hours * 3600
        store = self.registry
        raised = []
        for person in store.people.care_watch():
            seen = person["seen"]
            if seen is None:
                # Never seen since registration: the episode starts when they were registered.
                seen = _epoch_of(person["created_at"], now)
            away_s = now - corrected(seen)
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
