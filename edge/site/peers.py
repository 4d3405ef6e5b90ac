"""Events from the other gates of the site: never lost, never trusted blindly, applied once each.

Every gate (and the office) subscribes to ``P/+/event/#``. ``PeerReceiver.receive`` parses a peer's
event with the contract (``edge.contract.parse_event``), checks that it is plausible, stores it once
under its ``event_id`` and applies it, all in one transaction, before the message is acknowledged to
the broker (``edge.site.mqtt_link``: manual acknowledgement), then notes the peer's ``seq``:

    a person let through          seen (and their open inactivity alert cleared)
    a vehicle event               the parking transition it carries (edge.rules.parking.Parking.apply_event)
    an unknown kind               stored for its seq, nothing applied

Plausibility, not blind trust (refused events are never applied; they raise a ``peer-events`` device
alert, the office archives it, whose detail counts the refusals by kind and gate since the start; the
first KEEP_PER_MINUTE refusals a minute from one gate are logged and kept in ``quarantine`` as a bounded
summary, the rest of that minute are only counted: junk on a gate's topic cannot fill the disk or the log):
    - not an event of the contract (malformed, too large, wrong version, another gate's name on the topic);
    - dated more than FUTURE_S ahead of this clock (old events are normal: backlogs and replays);
    - a seq its gate already used for another event;
    - in site mode, a gate the office's site settings do not list, or a signature that does not verify
      with that gate's own key (DESIGN 6.1);
    - an exit whose fee is more than the stay could cost, or that left before its session entered.
Replayed and out-of-order events are applied once and never refused for their order.

Gaps: for each peer, the seq up to which nothing is missing is kept (``store.peers``); a gap that is
still open after GAP_WAIT_S, or the loss of our broker session, leads to a ``req/replay`` to that gate
(see ``replay_request``), answered by the gate or, when it is down, by the office's archive.

Person ids mean the same person at every gate only in site mode (the office's ids). A gate in local
mode keeps its own registry, so a peer's ``person_id`` names somebody else here: it is never applied
(plates and parking sessions still are), and while care-watch residents are registered here the gate
raises a ``site`` device alert: their passages at the other gate are not counted, the site needs the
office.
"""

from __future__ import annotations

import logging
import math
import time

from edge.contract import Refused, parse_event
from edge.keys import verifier_from_pem, verify_record
from edge.rules.parking import Parking
from edge.schemas.phrases import Phrase, say
from edge.site.gaps import Gaps

_LOG = logging.getLogger(__name__)
FUTURE_S = 300.0  # an event dated further ahead of our clock than this is refused
KEEP_PER_MINUTE = 20  # refusals a minute from one gate that are logged and kept; the rest are counted


class PeerReceiver:
    """Other gates' events into one database (a gate's, or the office's archive)."""

    def __init__(self, store, alerts, *, site_mode: bool = False, clock=time.time, rules=None, zone=None,
                 gate_keys=None, follow_people: bool = True, on_new=None, on_seen=None):
        """``gate_keys()``: {gate: Verifier} of the site's gates (site mode), None = no signature check;
        ``follow_people``: apply sightings and clear inactivity alerts (a gate; the office archives);
        ``on_new(payload)``: called after the commit of each new event (the office's live console);
        ``on_seen(person_id, ts, gate)``: inside the transaction, each person let through (site mode; the
        office: the sighting ends their pause, ``edge.office.away``)."""
        self.on_new = on_new
        self.on_seen = on_seen
        self.store = store
        self.alerts = alerts
        self.site_mode = site_mode
        self.clock = clock
        self.rules = rules
        self.zone = zone
        self.gate_keys = gate_keys
        self.follow_people = follow_people
        self.parking = Parking(store, rules, zone)
        self.quarantined = 0  # refusals since the start (kept or only counted)
        self.not_kept = 0  # of them, only counted (beyond KEEP_PER_MINUTE a minute from one gate)
        self.refusals: dict[str, dict[str, int]] = {}  # gate -> kind of refusal -> count since the start
        self._minute: dict[str, dict] = {}  # gate -> {"start" (monotonic), "kept", "counted"} this minute
        self._since = clock()
        self.gaps = Gaps(store, store.peers, clock)

    # -- receiving -------------------------------------------------------------------------
    def receive(self, gate: str, payload: bytes, topic: str | None = None) -> str:
        """"applied", "kept" (unknown kind), "duplicate" or "quarantined"; never raises on bad input."""
        try:
            event = parse_event(payload, topic_gate=gate)
        except Refused as exc:
            return self._quarantine(gate, topic, ("malformed", f"not a usable event: {exc}"), payload)
        now = self.clock()
        problem = self._implausible(gate, event, now)
        if problem:
            return self._quarantine(gate, topic, problem, payload)
        with self.store.transaction():
            outcome = self.store.events.add_peer(event.payload, event.ts_epoch)
            if outcome == "conflict":
                return self._quarantine(gate, topic, ("seq reused", f"seq {event.seq} already belongs to another "
                                                      f"event of gate {gate}"), payload)
            if outcome == "duplicate":
                return "duplicate"  # a re-send or a replay: applied once
            if event.seq is not None:
                self.store.peers.arrived(gate, event.seq, now)
                self.gaps.arrived(gate)
            if event.known_kind:
                self._apply(gate, event)
            else:
                _LOG.debug("stored event %s of unknown kind %r from gate %s without applying it", event.event_id,
                           event.kind[:32], gate)
        if self.on_new is not None:
            self.on_new(event.payload)
        return "applied" if event.known_kind else "kept"

    def _implausible(self, gate: str, event, now: float) -> tuple[str, str] | None:
        """(kind of refusal, reason), or None when the event is plausible."""
        if event.ts_epoch > now + FUTURE_S:
            return "future", f"dated {event.ts_epoch - now:.0f} s ahead of this clock (window {FUTURE_S:.0f} s)"
        if self.gate_keys is not None:
            keys = self.gate_keys() or {}
            verifier = keys.get(gate)
            if verifier is None:
                return "unknown gate", f"gate {gate!r} is not one of the site's gates"
            problem = verify_record(verifier, event.payload)
            if problem:
                return "signature", f"{problem} (gate {gate}'s own key)"
        if event.kind == "exit" and event.session_id and event.fee_cents:
            session = self.store.sessions.get(event.session_id)
            if session is not None and session.get("entry_event_id") and self.rules is not None:
                if event.ts_epoch < session["entry_epoch"] - 60:
                    return "implausible", "an exit before its session's entry"
                # Generous: the sending gate's rules may differ from ours for a while (a rate change rolling
                # out), so the bound is four times every started hour at our rate, never less than a day's.
                hours = max(24, math.ceil((event.ts_epoch - session["entry_epoch"]) / 3600))
                most = 4 * hours * max(self.rules.parking.rate_per_hour_cents, 100)
                if event.fee_cents > most:
                    return "implausible", (f"a fee of {event.fee_cents} cents, more than the stay can cost (at "
                                           f"most {most})")
        return None

    def _apply(self, gate: str, event) -> None:
        now = event.ts_epoch
        if event.subject_type == "person":
            if not self.site_mode:
                if self.store.people.care_watch():
                    self.alerts.device("site", False, say("site_own_registry", gate=gate))
            elif event.person_id is not None and event.opened:
                self.store.sightings.note(f"person:{event.person_id}", now, gate, event.event_id)
                if self.follow_people:
                    self.alerts.person_seen(event.person_id, now, event.event_id)
                if self.on_seen is not None:
                    self.on_seen(event.person_id, now, gate)
        if event.subject_type == "vehicle" and event.plate and event.opened:
            self.store.sightings.note(f"plate:{event.plate}", now, gate, event.event_id)
        self.parking.apply_event(event)  # the same transitions as the gate that decided

    def _quarantine(self, gate: str, topic: str | None, problem: tuple[str, str], payload: bytes) -> str:
        """Refused: counted by kind; logged and kept as a summary unless the gate already had
        KEEP_PER_MINUTE refusals this minute; the ``peer-events`` alert's detail follows the counts."""
        kind, reason = problem
        self.quarantined += 1
        counts = self.refusals.setdefault(gate, {})
        counts[kind] = counts.get(kind, 0) + 1
        minute = self._minute.get(gate)
        if minute is None or time.monotonic() - minute["start"] >= 60.0:
            if minute is not None and minute["counted"]:
                _LOG.warning("gate %s: %d more peer events refused in that minute were counted, not kept or logged",
                             gate, minute["counted"])
            minute = self._minute[gate] = {"start": time.monotonic(), "kept": 0, "counted": 0}
        if minute["kept"] < KEEP_PER_MINUTE:
            minute["kept"] += 1
            _LOG.warning("quarantined an event on gate %s's topic: %s", gate, reason)
            if minute["kept"] == KEEP_PER_MINUTE:
                _LOG.warning("gate %s: %d peer events refused this minute: more are counted (the peer-events "
                             "alert), not kept or logged, until the minute is over", gate, KEEP_PER_MINUTE)
            with self.store.transaction():
                self.store.quarantine.add(gate, topic, reason, payload, self.clock())
        else:
            minute["counted"] += 1
            self.not_kept += 1
        detail = self.refusal_summary(gate, reason)
        alert_id = self.alerts.device("peer-events", False, detail)
        if alert_id is not None:  # already open: its detail follows the counts (not published again)
            with self.store.transaction():
                self.store.alerts.set_detail(alert_id, detail)
        return "quarantined"

    def refusal_summary(self, gate: str | None = None, reason: str | None = None) -> Phrase:
        """The ``peer-events`` alert's detail: refusals by gate and kind since the start, the last reason."""
        from edge.timeutil import iso

        per_gate = "; ".join(f"gate {g}: " + ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))
                             for g, kinds in sorted(self.refusals.items()))
        return say("peer_events_refused", refused=self.quarantined, since=iso(self._since, self.zone),
                   per_gate=per_gate, only_counted=self.not_kept or None, per_minute=KEEP_PER_MINUTE,
                   last_gate=gate if reason else None, last_reason=reason[:200] if reason else None)

    # -- gaps (edge.site.gaps) -------------------------------------------------------------------
    def gaps_to_ask(self, now: float | None = None) -> list[tuple[str, int, int]]:
        return self.gaps.to_ask(now)

    def status_seen(self, gate: str, status: dict) -> None:
        """A peer's retained status (as ``contract.parse_status`` read it) names its newest seq (a gap at
        the end of its stream is seen too) and the seqs it skipped, if any (``seq_skipped``: never used, so
        never asked for)."""
        self.gaps.status_seen(gate, status.get("seq"), status.get("seq_skipped") or [])

    def after_session_lost(self) -> list[tuple[str, int, None]]:
        return self.gaps.after_session_lost()

    def asked(self, gate: str) -> None:
        self.gaps.asked(gate)


def site_gate_keys(store):
    """{gate: Verifier} from the office's signed site settings as this gate holds them (None before)."""
    cache = {}

    def keys():
        settings = store.records.get("settings")
        if settings is None:
            return {}
        version = settings.get("version")
        if cache.get("version") != version:
            cache["version"] = version
            cache["keys"] = {name: verifier_from_pem([entry.get("public_key", "")])
                             for name, entry in (settings.get("gates") or {}).items() if isinstance(entry, dict)}
        return cache["keys"]

    return keys


def apply_peer_event(store, alerts, gate: str, payload: bytes, *, site_mode: bool = False,
                     clock=time.time) -> bool:
    """Apply one peer event from ``gate``'s topic without signature checks; True when it was new."""
    receiver = PeerReceiver(store, alerts, site_mode=site_mode, clock=clock)
    return receiver.receive(gate, payload) in ("applied", "kept")
