"""Events from the other gates of the site: last-seen times and parking sessions, applied once each.

Every gate publishes its events; every gate subscribes to ``P/+/event/#``. A peer event is parsed by
the contract (``edge.contract.parse_event``), stored once under its ``event_id`` (a re-sent event
changes nothing), then applied:

    a person let through          seen (and their open inactivity alert cleared)
    a vehicle entry that opened   opens the session it names        (edge.parking.Parking.apply_event:
    a vehicle exit that opened    closes it                          the gates and the office make the
    a vehicle exit held           the car waits there for its fee     same transitions the same way)
    session / superseded          closes the session the car's new entry replaced
    session / paid                records what has been paid so far

An event of a kind this gate does not know is stored (its ``seq`` counts) and otherwise ignored.

Person ids mean the same person at every gate only in site mode (the office's ids). A gate in local
mode keeps its own registry, so a peer's ``person_id`` names somebody else here: it is never applied
(plates and parking sessions still are), and while care-watch residents are registered here the
gate raises a ``site`` device alert: their passages at the other gate are not counted, the site needs
the office.
"""

from __future__ import annotations

import logging

from edge.contract import Refused, parse_event
from edge.parking import Parking

_LOG = logging.getLogger(__name__)


def apply_peer_event(registry, alerts, gate: str, payload: bytes, *, site_mode: bool = False) -> bool:
    """Apply one peer event from ``gate``'s topic; True when it was new."""
    try:
        event = parse_event(payload, topic_gate=gate)
    except Refused as exc:
        _LOG.warning("refused an event on gate %s's topic: %s", gate, exc)
        return False
    with registry.transaction():
        outcome = registry.events.add_peer(event.payload, event.ts_epoch)
        if outcome == "conflict":
            _LOG.warning("refused event %s from gate %s: seq %s already belongs to another event", event.event_id,
                         gate, event.seq)
            return False
        if outcome == "duplicate":
            return False  # seen before: idempotent
        if not event.known_kind:
            _LOG.debug("stored event %s of unknown kind %r from gate %s without applying it", event.event_id,
                       event.kind[:32], gate)
            return True
        _apply(registry, alerts, gate, event, site_mode)
    return True


def _apply(registry, alerts, gate: str, event, site_mode: bool) -> None:
    now = event.ts_epoch
    if event.subject_type == "person" and not site_mode:
        if registry.people.care_watch():
            alerts.device("site", False, f"gate {gate} publishes on this site, but this gate keeps its own "
                          "registry: care-watch residents who pass there are not seen here; set up the "
                          "office's site registry (README, The site)")
    elif event.subject_type == "person" and event.person_id is not None and event.opened:
        registry.sightings.note(f"person:{event.person_id}", now, gate, event.event_id)
        alerts.person_seen(event.person_id, now)
    if event.subject_type != "vehicle" or not event.plate:
        return
    if event.opened:
        registry.sightings.note(f"plate:{event.plate}", now, gate, event.event_id)
    Parking(registry, None, None).apply_event(event)  # the same transitions as the gate that decided
