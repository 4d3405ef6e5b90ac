"""Events from the other gates of the site: last-seen times and parking sessions, applied once each.

Every gate publishes its events; every gate subscribes to ``P/+/event/#``. A peer event is stored
with ``origin = 'peer'`` under its ``event_id`` (so a re-sent event changes nothing), then:
a person let through is "seen"; a vehicle entry opens the session it names; a vehicle exit closes it.
"""

from __future__ import annotations

import json
import logging

from edge.contract import EVENT_KINDS, dumps
from edge.timeutil import parse_iso

_LOG = logging.getLogger(__name__)
MAX_EVENT_BYTES = 16384


def parse_peer_event(payload: bytes) -> dict | None:
    """The event as a dict if it has the contract's shape, else None (never raises)."""
    if len(payload) > MAX_EVENT_BYTES:
        return None
    try:
        event = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(event, dict):
        return None
    if not isinstance(event.get("event_id"), str) or event.get("kind") not in EVENT_KINDS:
        return None
    if not isinstance(event.get("gate"), str) or not isinstance(event.get("subject"), dict):
        return None
    try:
        event["_epoch"] = parse_iso(event["ts"])
    except (TypeError, ValueError, KeyError):
        return None
    return event


def apply_peer_event(registry, alerts, gate: str, payload: bytes) -> bool:
    """Apply one peer event; True when it was new."""
    event = parse_peer_event(payload)
    if event is None:
        _LOG.warning("ignored a malformed event from gate %s", gate)
        return False
    if event["gate"] != gate:
        _LOG.warning("ignored an event claiming gate %r on gate %r's topic", event["gate"], gate)
        return False
    subj = event["subject"]
    now = event.pop("_epoch")
    person_id = subj.get("person_id") if isinstance(subj.get("person_id"), int) else None
    plate = subj.get("plate") if isinstance(subj.get("plate"), str) else None
    session_id = event.get("session_id") if isinstance(event.get("session_id"), str) else None
    with registry.transaction() as db:
        cursor = registry.conn.execute(
            "INSERT OR IGNORE INTO events(event_id, ts, ts_epoch, gate, lane, kind, credential, subject_type, "
            "person_id, plate, vehicle_class, decision, reason, fee_cents, session_id, origin, payload) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'peer', ?)",
            [event["event_id"], event["ts"], now, gate, str(event.get("lane")), event["kind"],
             str(event.get("credential")), str(subj.get("type")), person_id, plate,
             subj.get("class") if isinstance(subj.get("class"), str) else None, str(event.get("decision")),
             str(event.get("reason"))[:500],
             event.get("fee_cents") if isinstance(event.get("fee_cents"), int) else None, session_id, dumps(event)],
        )
        if cursor.rowcount == 0:
            return False  # seen before: idempotent
        opened = event.get("decision") == "open"
        if subj.get("type") == "person" and person_id is not None and opened:
            registry.note_seen(f"person:{person_id}", now, gate, event["event_id"])
            alerts.person_seen(db, person_id, now)
        if subj.get("type") == "vehicle" and plate:
            if opened:
                registry.note_seen(f"plate:{plate}", now, gate, event["event_id"])
            if session_id and opened and event["kind"] == "entry":
                registry.conn.execute(
                    "INSERT OR IGNORE INTO parking_sessions(session_id, plate, vehicle_class, state, entry_epoch, "
                    "entry_gate, entry_event_id) VALUES (?, ?, ?, 'open', ?, ?, ?)",
                    [session_id, plate, subj.get("class") if isinstance(subj.get("class"), str) else None, now, gate,
                     event["event_id"]],
                )
            elif session_id and opened and event["kind"] == "exit":
                registry.conn.execute(
                    "UPDATE parking_sessions SET state = 'closed', exit_epoch = ?, exit_gate = ?, exit_event_id = ?, "
                    "fee_cents = ? WHERE session_id = ? AND state = 'open'",
                    [now, gate, event["event_id"], event.get("fee_cents") or 0, session_id],
                )
    return True
