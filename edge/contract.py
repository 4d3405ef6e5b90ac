"""The MQTT contract (DESIGN 4.3) in one place: topics, payload builders, the status / last-will pair.

    P = <topic_prefix>/<site>
    P/<gate>/status            retained; last will {"state": "offline"}
    P/<gate>/event/<kind>      entry | exit | denied | stranger
    P/alert/inactivity         care-watch residents unseen too long (alert_id equal on every gate)
    P/<gate>/alert/device      cameras, barriers, broker, disk, outbox
    P/<gate>/cmd/<verb>        open | pay | reload (subscribed; signed)
    P/<gate>/cmd/result        {"request_id", "ok", "error"}
"""

from __future__ import annotations

import json
import uuid

from edge import __version__

EVENT_KINDS = ("entry", "exit", "denied", "stranger")
COMMAND_VERBS = ("open", "pay", "reload")
# One namespace for ids that every gate must compute identically (inactivity episodes).
ALERT_NAMESPACE = uuid.UUID("5b0f7f5e-2d8e-4c1e-9d5a-6a1f0c3e2b71")


class Topics:
    def __init__(self, prefix: str, site: str, gate: str):
        self.base = f"{prefix.rstrip('/')}/{site}"
        self.gate = gate

    def status(self, gate: str | None = None) -> str:
        return f"{self.base}/{gate or self.gate}/status"

    def event(self, kind: str, gate: str | None = None) -> str:
        return f"{self.base}/{gate or self.gate}/event/{kind}"

    @property
    def peer_events(self) -> str:
        return f"{self.base}/+/event/#"

    @property
    def inactivity(self) -> str:
        return f"{self.base}/alert/inactivity"

    @property
    def device_alert(self) -> str:
        return f"{self.base}/{self.gate}/alert/device"

    def command(self, verb: str = "+") -> str:
        return f"{self.base}/{self.gate}/cmd/{verb}"

    @property
    def command_result(self) -> str:
        return f"{self.base}/{self.gate}/cmd/result"

    def parse_event_topic(self, topic: str) -> tuple[str, str] | None:
        """(gate, kind) of an event topic under this site, else None."""
        if not topic.startswith(self.base + "/"):
            return None
        parts = topic[len(self.base) + 1 :].split("/")
        if len(parts) == 3 and parts[1] == "event" and parts[2] in EVENT_KINDS:
            return parts[0], parts[2]
        return None

    def parse_command_topic(self, topic: str) -> str | None:
        prefix = f"{self.base}/{self.gate}/cmd/"
        if topic.startswith(prefix):
            verb = topic[len(prefix) :]
            return verb if "/" not in verb else None
        return None


def dumps(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def event_payload(*, event_id, ts, site, gate, lane, kind, credential, subject, decision, reason, fee_cents,
                  session_id) -> dict:
    return {
        "event_id": event_id,
        "ts": ts,
        "site": site,
        "gate": gate,
        "lane": lane,
        "kind": kind,
        "credential": credential,
        "subject": subject,
        "decision": decision,
        "reason": reason,
        "fee_cents": fee_cents,
        "session_id": session_id,
    }


def subject(type_: str, person_id=None, plate=None, vehicle_class=None) -> dict:
    return {"type": type_, "person_id": person_id, "plate": plate, "class": vehicle_class}


def status_payload(state: str, ts: str, cameras: dict | None = None, barriers: dict | None = None,
                   outbox: int | None = None) -> dict:
    return {"state": state, "version": __version__, "ts": ts, "cameras": cameras or {}, "barriers": barriers or {},
            "outbox": outbox}


def offline_will(ts: str | None = None) -> dict:
    return {"state": "offline", "version": __version__, "ts": ts}


def inactivity_alert_id(site: str, person_id: int, last_seen_epoch: float) -> str:
    """The same id on every gate for one episode: derived from who and when they were last seen."""
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{site}:inactivity:{person_id}:{round(last_seen_epoch, 3)}"))


def inactivity_payload(alert_id, state, person_id, unit, last_seen, hours, ts) -> dict:
    return {"alert_id": alert_id, "state": state, "person_id": person_id, "unit": unit, "last_seen": last_seen,
            "hours": hours, "ts": ts}


def device_alert_payload(alert_id, device, state, detail, ts) -> dict:
    return {"alert_id": alert_id, "device": device, "state": state, "detail": detail, "ts": ts}


def command_result(request_id, ok: bool, error: str | None = None) -> dict:
    return {"request_id": request_id, "ok": ok, "error": error}
