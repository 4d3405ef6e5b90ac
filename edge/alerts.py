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
from edge.outbox import enqueue
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


class Alerts:
    def __init__(self, config, registry, clock=time.time, wake=None):
        self.config = config
        self.registry = registry
        self.clock = clock
        self.topics = Topics(config.mqtt.topic_prefix, config.site, config.gate)
        self.wake = wake or (lambda: None)

    # -- device alerts ---------------------------------------------------------------------
    def open_device_alert(self, device: str) -> dict | None:
        return self.registry.query_one(
            "SELECT * FROM alerts WHERE kind = 'device' AND subject = ? AND state = 'raised'", (device,)
        )

    def device(self, device: str, ok: bool, detail: str = "") -> str | None:
        """Report a device's health; raises or clears its alert on a change. Returns the alert id used."""
        now = self.clock()
        with self.registry.transaction() as db:
            current = self.open_device_alert(device)
            if not ok and current is None:
                alert_id = str(uuid.uuid4())
                db["alerts"].insert({"alert_id": alert_id, "kind": "device", "subject": device, "state": "raised",
                                     "raised_epoch": now, "cleared_epoch": None, "detail": detail})
                enqueue(db, self.topics.device_alert,
                        device_alert_payload(alert_id, device, "raised", detail, iso(now, self.config.zone)),
                        msg_id=f"alert:{alert_id}:raised", now=now)
                _LOG.warning("device alert raised: %s: %s", device, detail)
            elif ok and current is not None:
                alert_id = current["alert_id"]
                db.execute("UPDATE alerts SET state = 'cleared', cleared_epoch = ? WHERE alert_id = ?", [now, alert_id])
                enqueue(db, self.topics.device_alert,
                        device_alert_payload(alert_id, device, "cleared", detail or "recovered",
                                             iso(now, self.config.zone)),
                        msg_id=f"alert:{alert_id}:cleared", now=now)
                _LOG.warning("device alert cleared: %s", device)
            else:
                return current["alert_id"] if current else None
        self.wake()
        return alert_id

    # -- inactivity --------------------------------------------------------------------------
    def check_inactivity(self, now: float | None = None) -> list[dict]:
        """Raise one alert per care-watch resident unseen for threshold_hours (per episode)."""
        now = self.clock() if now is None else now
        threshold = self.config.inactivity.threshold_hours * 3600
        raised = []
        people = self.registry.query(
            "SELECT p.id, p.unit, p.created_at, s.ts_epoch AS seen FROM people p "
            "LEFT JOIN last_seen s ON s.subject = 'person:' || p.id WHERE p.care_watch = 1"
        )
        for person in people:
            seen = person["seen"]
            if seen is None:
                # Never seen since registration: the episode starts when they were registered.
                seen = _epoch_of(person["created_at"], now)
            if now - seen < threshold:
                continue
            alert_id = inactivity_alert_id(self.config.site, person["id"], seen)
            with self.registry.transaction() as db:
                if self.registry.query_one("SELECT 1 FROM alerts WHERE alert_id = ?", (alert_id,)):
                    continue  # this episode was already raised (here, or before a restart)
                db["alerts"].insert({"alert_id": alert_id, "kind": "inactivity", "subject": f"person:{person['id']}",
                                     "state": "raised", "raised_epoch": now, "cleared_epoch": None,
                                     "detail": f"last seen {iso(seen, self.config.zone)}"})
                payload = inactivity_payload(alert_id, "raised", person["id"], person["unit"],
                                             iso(seen, self.config.zone), round((now - seen) / 3600, 1),
                                             iso(now, self.config.zone))
                enqueue(db, self.topics.inactivity, payload, msg_id=f"alert:{alert_id}:raised", now=now)
            raised.append(payload)
            _LOG.warning("inactivity alert: person %s (unit %s) unseen for %.1f h", person["id"], person["unit"],
                         (now - seen) / 3600)
        if raised:
            self.wake()
        return raised

    def person_seen(self, db, person_id: int, ts: float) -> None:
        """Inside the caller's transaction: clear the person's open inactivity alert, if any."""
        rows = list(db.query(
            "SELECT a.alert_id, a.detail, p.unit FROM alerts a JOIN people p ON a.subject = 'person:' || p.id "
            "WHERE a.kind = 'inactivity' AND a.state = 'raised' AND a.subject = ?", [f"person:{person_id}"]))
        for row in rows:
            db.execute("UPDATE alerts SET state = 'cleared', cleared_epoch = ? WHERE alert_id = ?",
                       [ts, row["alert_id"]])
            payload = inactivity_payload(row["alert_id"], "cleared", person_id, row["unit"],
                                         iso(ts, self.config.zone), 0.0, iso(ts, self.config.zone))
            enqueue(db, self.topics.inactivity, payload, msg_id=f"alert:{row['alert_id']}:cleared", now=ts)


def _epoch_of(text: str, default: float) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(text).timestamp()
    except (TypeError, ValueError):
        return default
