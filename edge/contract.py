"""The MQTT contract (DESIGN 4.3) in one place: topics, payload builders, the status / last-will pair.

    P = <topic_prefix>/<site>
    P/<gate>/status            retained; last will {"state": "offline"}
    P/<gate>/event/<kind>      entry | exit | denied | stranger | session (a parking-session transition)
    P/alert/inactivity         care-watch residents unseen too long (alert_id equal on every gate)
    P/<gate>/alert/device      cameras, barriers, broker, disk, outbox
    P/<gate>/cmd/<verb>        open | pay | reload | correct (subscribed; signed)
    P/<gate>/cmd/result        {"request_id", "ok", "error"}
    P/<requester>/req/<verb>   replay | resync (to a gate or the office), signed by the requester
    P/registry/<kind>/<key>    retained, signed by the office: person | vehicle | pass records (DESIGN 6.4)
    P/registry/head|settings   retained, signed: what a complete copy holds; the site's settings
    P/office/status            retained; last will {"state": "offline"}
    P/office/resync/<gate>     the office's "page sent" after answering that gate's resync request

Every payload carries ``"v": CONTRACT_VERSION`` and every event its gate's ``"seq"``. What peers send
is parsed here too, one decoder per payload kind (``parse_event``, ``parse_status``, ``parse_command_body`` …,
listed below ``Refused``): unknown fields are ignored, an unknown kind is kept (for its seq) but not applied,
and only a payload that breaks a field a receiver uses is refused. The gate-name rule is here as well.
"""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import dataclass

from edge import __version__
from edge.schemas.phrases import Phrase, fields

# The contract version every payload carries as "v". Fields are only ever added within a version;
# a receiver ignores fields (and event kinds) it does not know, and refuses only a payload whose "v"
# is not one it speaks (a payload without "v" comes from a gate older than the field: read as 1).
CONTRACT_VERSION = 1
EVENT_KINDS = ("entry", "exit", "denied", "stranger", "session")
COMMAND_VERBS = ("open", "pay", "reload", "correct")
MAX_EVENT_BYTES = 16384
MAX_STATUS_BYTES = 65536  # a gate's status: a few cameras and barriers, its registry, storage and clock parts
_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# One namespace for ids that every gate must compute identically (inactivity episodes).
ALERT_NAMESPACE = uuid.UUID("5b0f7f5e-2d8e-4c1e-9d5a-6a1f0c3e2b71")


# -- what a gate may be called ---------------------------------------------------------------------
# A name that ends up inside MQTT topics and file names (site, gate, camera, barrier): no '/', '+', '#',
# spaces. The config's Identifier type, the key writer, the command line and the console all ask here.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
IDENTIFIER_MAX = 64
_IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
# Topic levels under P that are not gates (DESIGN 4.3): a gate may not be called so.
RESERVED_GATE_NAMES = ("registry", "office", "alert")


def is_identifier(name) -> bool:
    """True when ``name`` may name a site, gate, camera or barrier (letters, digits, '-', '_', '.',
    starting with a letter or digit, at most 64)."""
    return isinstance(name, str) and len(name) <= IDENTIFIER_MAX and _IDENTIFIER.match(name) is not None


def is_reserved_gate_name(name) -> bool:
    """True for the topic levels that are not gates (``P/registry/…``, ``P/office/…``, ``P/alert/…``)."""
    return name in RESERVED_GATE_NAMES


def is_topic_name(text) -> bool:
    """A gate, event kind or verb as a received topic level names it: 1-64 letters, digits, '-' or '_'
    (a level that is not one is not ours to read)."""
    return isinstance(text, str) and _NAME.match(text) is not None


class GateNameError(ValueError):
    """``name`` may not be a gate's; ``reserved`` tells a reserved name from one that is no identifier."""

    def __init__(self, name, reserved: bool):
        self.name, self.reserved = name, reserved
        super().__init__(
            f"{name!r} is a reserved name ({', '.join(sorted(RESERVED_GATE_NAMES))}), not a gate" if reserved else
            f"{name!r} is not a gate name (letters, digits, '-', '_', '.', starting with a letter or digit)")


def check_gate_name(name) -> str:
    """``name`` when a gate may be called so, else ``GateNameError``."""
    if not is_identifier(name):
        raise GateNameError(name, reserved=False)
    if is_reserved_gate_name(name):
        raise GateNameError(name, reserved=True)
    return name


class Topics:
    """Every topic of one site as one box sees them (a gate, or the office as ``office``). A service builds
    it once from its config (``Topics.of``) where it is wired and hands it to the parts that publish or
    subscribe; ``for_gate`` gives the same site's topics as another gate sees them."""

    def __init__(self, prefix: str, site: str, gate: str):
        self.base = f"{prefix.rstrip('/')}/{site}"
        self.gate = gate

    @classmethod
    def of(cls, config) -> Topics:
        """The topics of the box ``config`` describes: its ``mqtt.topic_prefix``, ``site`` and ``gate``."""
        return cls(config.mqtt.topic_prefix, config.site, config.gate)

    def for_gate(self, gate: str) -> Topics:
        """The same site's topics as ``gate`` sees them (a command sent to it, the office's answer to it)."""
        other = copy.copy(self)
        other.gate = gate
        return other

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

    def request(self, verb: str, requester: str | None = None) -> str:
        return f"{self.base}/{requester or self.gate}/req/{verb}"

    def requests(self, verb: str = "+") -> str:
        """Every requester's requests of ``verb``: ``P/+/req/<verb>``."""
        return f"{self.base}/+/req/{verb}"

    def registry(self, kind: str, key=None) -> str:
        """``P/registry/person/7``, ``P/registry/vehicle/沪A12345``, ``P/registry/head`` …"""
        return f"{self.base}/registry/{kind}" + (f"/{key}" if key is not None else "")

    @property
    def resync_answers(self) -> str:
        """Where the office says "page sent" after answering this gate's resync request."""
        return f"{self.base}/office/resync/{self.gate}"

    @property
    def registry_all(self) -> str:
        return f"{self.base}/registry/#"

    def parse_registry_topic(self, topic: str) -> tuple[str, str | None] | None:
        """(kind, key) of a registry topic: ("person", "7"), ("head", None) …, else None."""
        prefix = f"{self.base}/registry/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix):].split("/")
        if len(parts) == 1 and parts[0] in ("head", "settings"):
            return parts[0], None
        if len(parts) == 2 and parts[0] in ("person", "vehicle", "pass") and parts[1]:
            return parts[0], parts[1]
        return None


def version_problem(payload: dict) -> str | None:
    """Why a received payload's contract version cannot be read here, or None when it can."""
    version = payload.get("v", CONTRACT_VERSION)
    if isinstance(version, bool) or not isinstance(version, int):
        return f"v must be a whole number, got {version!r}"
    if version != CONTRACT_VERSION:
        return f"contract version {version} is not {CONTRACT_VERSION}, the one this gate-edge speaks; upgrade it"
    return None


def dumps(payload: dict) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=False)


def event_payload(*, event_id, seq, ts, site, gate, lane, kind, credential, subject, decision,
                  reason: Phrase | str, fee_cents, session_id) -> dict:
    """``reason``: a phrase (``edge.schemas.phrases``) adds ``reason_code`` and ``reason_params`` after ``reason``."""
    return {
        "v": CONTRACT_VERSION,
        "event_id": event_id,
        "seq": seq,
        "ts": ts,
        "site": site,
        "gate": gate,
        "lane": lane,
        "kind": kind,
        "credential": credential,
        "subject": subject,
        "decision": decision,
        **fields("reason", reason),
        "fee_cents": fee_cents,
        "session_id": session_id,
    }


def subject(type_: str, person_id=None, plate=None, vehicle_class=None, unit: str | None = None) -> dict:
    """An event's subject. ``visitor`` (someone a resident invited, let in by a visitor pass) names the
    ``unit`` they came to (an added field) and never a person: it is nobody's sighting."""
    made = {"type": type_, "person_id": person_id, "plate": plate, "class": vehicle_class}
    if unit is not None:
        made["unit"] = unit
    return made


def session_fields(transition: str, paid_cents: int | None = None) -> dict:
    """What a ``session`` event adds to the event fields: the transition (``superseded``: a new entry
    of the same car replaced the session; ``paid``: a payment that leaves the car still held;
    ``corrected``: the session's plate and class from now on, ``edge.rules.reconcile``)."""
    fields = {"transition": transition}
    if paid_cents is not None:
        fields["paid_cents"] = paid_cents
    return fields


# -- the site registry (DESIGN 6.4); signed by the office with registry.key (edge.keys.sign_record) ----
def vector_text(vector) -> str:
    """A face template on the wire: base64 of little-endian float32."""
    import base64

    import numpy as np

    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def vector_of(text: str):
    import base64

    import numpy as np

    return np.frombuffer(base64.b64decode(text, validate=True), dtype="<f4").astype(np.float32)


def person_record(*, person_id: int, unit: str, care_watch: bool, registered_at: str, templates, epoch: int,
                  version: int, ts: str, away_until: str | None = None, away_since: str | None = None) -> dict:
    """A person as gates need them: no name, no phone, no contacts, no reason for an absence (those stay at
    the office). ``away_until``/``away_since`` (added fields, present only while the person is paused:
    ``edge.rules.away``): ISO-8601 instants, when the pause ends and when it was set."""
    record = {"v": CONTRACT_VERSION, "person_id": person_id, "unit": unit, "care_watch": bool(care_watch),
              "registered_at": registered_at,
              "templates": [{"encoder": encoder, "vector": vector_text(vector)} for encoder, vector in templates],
              "epoch": epoch, "version": version, "ts": ts}
    if away_until is not None:
        record.update(away_until=away_until, away_since=away_since)
    return record


def vehicle_record(*, plate: str, vehicle_class: str, person_id, valid_from, valid_until, epoch: int, version: int,
                   ts: str, valid_from_at: str | None = None, valid_until_at: str | None = None) -> dict:
    """A vehicle as gates need it. ``valid_from_at``/``valid_until_at`` (added fields, present only for an
    invited car's window: ``edge.registry.invites``): ISO-8601 instants with their offset that narrow the
    whole days ``valid_from``/``valid_until``, which still cover the window for gates older than them."""
    record = {"v": CONTRACT_VERSION, "plate": plate, "class": vehicle_class, "person_id": person_id,
              "valid_from": valid_from, "valid_until": valid_until, "epoch": epoch, "version": version, "ts": ts}
    if valid_from_at is not None or valid_until_at is not None:
        record.update(valid_from_at=valid_from_at, valid_until_at=valid_until_at)
    return record


def pass_revocation(*, pass_id: str, epoch: int, version: int, ts: str) -> dict:
    return {"v": CONTRACT_VERSION, "pass_id": pass_id, "revoked": True, "epoch": epoch, "version": version, "ts": ts}


def tombstone(kind: str, key, *, epoch: int, version: int, ts: str) -> dict:
    """A signed deletion: ``{"person_id": 7, "deleted": true, …}`` or ``{"plate": …, "deleted": true, …}``."""
    field = {"person": "person_id", "vehicle": "plate"}[kind]
    return {"v": CONTRACT_VERSION, field: key, "deleted": True, "epoch": epoch, "version": version, "ts": ts}


def head_record(*, epoch: int, version: int, people: int, vehicles: int, passes_revoked: int, digest: str,
                ts: str) -> dict:
    """What a complete copy holds; ``digest`` (an added field) covers every record's key, epoch and version."""
    return {"v": CONTRACT_VERSION, "epoch": epoch, "version": version, "people": people, "vehicles": vehicles,
            "passes_revoked": passes_revoked, "digest": digest, "ts": ts}


def settings_record(*, settings: dict, gates: dict, epoch: int, version: int, ts: str) -> dict:
    """The site settings (face_encoder, policy, parking, inactivity) and the gates' public keys by name."""
    return {"v": CONTRACT_VERSION, **settings, "gates": gates, "epoch": epoch, "version": version, "ts": ts}


def resync_request(*, request_id: str, after_epoch: int, after_version: int, limit: int, ts: str) -> dict:
    """A gate asking the office for the registry records after (epoch, version), ``limit`` at a time."""
    return {"v": CONTRACT_VERSION, "request_id": request_id, "target": "office", "from_epoch": after_epoch,
            "from_version": after_version, "limit": limit, "ts": ts}


REPLAY_STREAMS = ("events", "alerts")


def replay_request(*, request_id: str, target: str, from_seq: int, to_seq: int | None, ts: str,
                   stream: str = "events") -> dict:
    """Ask ``target`` (a gate, or the office for a gate that is down) to publish its events from_seq..to_seq
    again (to_seq None: up to its newest), on their usual topics with the same event_id and seq;
    ``stream`` "alerts": its alerts by their own seq (the field is left out for events, as before)."""
    body = {"v": CONTRACT_VERSION, "request_id": request_id, "target": target, "from_seq": from_seq,
            "to_seq": to_seq, "ts": ts}
    if stream != "events":
        body["stream"] = stream
    return body


def resync_page_end(*, request_id: str, count: int, last: tuple[int, int], limit: int) -> dict:
    """The office, after a resync page: how many records it sent and the last one's (epoch, version), so
    the gate can tell whether the broker delivered them all (it may drop some beyond its queue limit)."""
    return {"v": CONTRACT_VERSION, "request_id": request_id, "count": count, "last_epoch": last[0],
            "last_version": last[1], "complete": count < limit}


def status_payload(state: str, ts: str, cameras: dict | None = None, barriers: dict | None = None,
                   outbox: int | None = None, **parts) -> dict:
    """A gate's status; ``parts`` are the added fields (``registry`` …), never new states."""
    return {"v": CONTRACT_VERSION, "state": state, "version": __version__, "ts": ts, "cameras": cameras or {},
            "barriers": barriers or {}, "outbox": outbox, **parts}


def office_status_payload(state: str, ts: str, gates: dict) -> dict:
    return {"v": CONTRACT_VERSION, "state": state, "version": __version__, "ts": ts, "gates": gates}


def offline_will(ts: str | None = None) -> dict:
    return {"v": CONTRACT_VERSION, "state": "offline", "version": __version__, "ts": ts}


def inactivity_alert_id(site: str, person_id: int, last_seen_epoch: float) -> str:
    """The same id on every gate for one episode: derived from who and when they were last seen, to
    the millisecond exactly as events carry it (``ts``, ISO-8601 cut to milliseconds). The gate that saw
    the person holds the full-precision time, its peers the time read back from the event: both name
    the same instant here (rounding the epoch instead once gave .778 at one gate and .777 at the other,
    so the office received two alerts for one absence)."""
    from datetime import UTC, datetime

    instant = datetime.fromtimestamp(last_seen_epoch, UTC).isoformat(timespec="milliseconds")
    return str(uuid.uuid5(ALERT_NAMESPACE, f"{site}:inactivity:{person_id}:{instant}"))


def inactivity_payload(alert_id, state, person_id, unit, last_seen, hours, ts) -> dict:
    return {"v": CONTRACT_VERSION, "alert_id": alert_id, "state": state, "person_id": person_id, "unit": unit,
            "last_seen": last_seen, "hours": hours, "ts": ts}


def device_alert_payload(alert_id, device, state, detail: Phrase | str, ts) -> dict:
    """``detail``: a phrase (``edge.schemas.phrases``) adds ``detail_code`` and ``detail_params`` after ``detail``."""
    return {"v": CONTRACT_VERSION, "alert_id": alert_id, "device": device, "state": state,
            **fields("detail", detail), "ts": ts}


def command_result(request_id, ok: bool, error: str | None = None, **extra) -> dict:
    """``extra``: added fields (``due_cents`` after a pay: what the car still owes)."""
    return {"v": CONTRACT_VERSION, "request_id": request_id, "ok": ok, "error": error, **extra}


# -- what is received: one decoder per payload kind ------------------------------------------------
# Every receiver hands the raw bytes to its kind's decoder, once, and gets the parsed object or one
# ``Refused`` whose message says what is wrong (never any other exception):
#   parse_event, parse_alert, parse_status      a gate's event, alert, status (P/<gate>/…)
#   parse_office_status                         the office's status (P/office/status)
#   parse_command_body, parse_command_result    P/<gate>/cmd/<verb> (its signature: edge.site.remote), cmd/result
#   parse_replay_request, parse_resync_request  P/<requester>/req/replay | req/resync
#   parse_registry_record, parse_resync_page_end  P/registry/<kind>[/<key>], P/office/resync/<gate>
# Signatures are edge.keys': a decoder that must check one at a set point takes it as ``verify(object)``
# (the problem, or None), so what is refused first stays the same.
class Refused(ValueError):
    """A received payload that breaks a field the receiver uses; the message says which and why.
    ``payload``: the JSON object, when it was one (a receiver may tell whether it was meant for it)."""

    def __init__(self, message: str, payload: dict | None = None):
        super().__init__(message)
        self.payload = payload


MAX_COMMAND_BYTES = 4096


def _json_object(raw: bytes, *, what: str = "payload", max_bytes: int | None = None,
                 not_json: str = "not UTF-8 JSON", not_object: str = "payload must be a JSON object") -> dict:
    """``raw`` as a JSON object, or ``Refused`` (too large, not UTF-8 JSON, not an object)."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise Refused(f"{what} too large ({len(raw)} bytes, max {max_bytes})")
    try:
        payload = json.loads(bytes(raw).decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise Refused(not_json) from None
    if not isinstance(payload, dict):
        raise Refused(not_object)
    return payload


@dataclass(frozen=True)
class PeerEvent:
    """A peer's event, as far as a receiver uses it; ``payload`` is the whole object as received."""

    payload: dict
    event_id: str
    seq: int | None  # None from gates older than the field
    ts_epoch: float
    gate: str
    kind: str
    known_kind: bool  # False: a kind this version does not know (stored for its seq, never applied)
    lane: str | None
    decision: str | None
    subject_type: str | None
    person_id: int | None
    plate: str | None
    vehicle_class: str | None
    session_id: str | None
    fee_cents: int | None
    transition: str | None
    paid_cents: int | None

    @property
    def opened(self) -> bool:
        return self.decision == "open"


def _field(payload: dict, name: str, types, *, required: bool = False, nullable: bool = True):
    value = payload.get(name)
    if value is None:
        if required or (name in payload and not nullable):
            raise Refused(f"{name} is missing")
        return None
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise Refused(f"{name} must be {_type_names(types)}, got {value!r}")
    if not isinstance(value, types):
        raise Refused(f"{name} must be {_type_names(types)}, got {type(value).__name__}")
    if isinstance(value, int) and abs(value) >= 2**53:
        raise Refused(f"{name} is out of range")
    if isinstance(value, str) and len(value) > 200:
        raise Refused(f"{name} is too long")
    return value


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    return " or ".join({"str": "a string", "int": "a whole number", "dict": "an object", "bool": "true or false",
                         "float": "a number"}.get(t.__name__, t.__name__) for t in types)


def _peer_object(raw: bytes) -> dict:
    """A peer's event or alert as a JSON object of this contract version, or ``Refused``."""
    payload = _json_object(raw, max_bytes=MAX_EVENT_BYTES)
    problem = version_problem(payload)
    if problem:
        raise Refused(problem)
    return payload


def parse_event(raw: bytes, topic_gate: str | None = None) -> PeerEvent:
    """A peer's event, or ``Refused`` naming the field that cannot be used (never any other exception)."""
    from edge.timeutil import parse_iso

    payload = _peer_object(raw)
    event_id = _field(payload, "event_id", str, required=True)
    if not _NAME.match(event_id):
        raise Refused("event_id must be 1-64 letters, digits, - or _")
    gate = _field(payload, "gate", str, required=True)
    if topic_gate is not None and gate != topic_gate:
        raise Refused(f"gate {gate[:64]!r} on gate {topic_gate!r}'s topic")
    kind = _field(payload, "kind", str, required=True)
    seq = _field(payload, "seq", int)
    if seq is not None and seq < 1:
        raise Refused(f"seq must be 1 or more, got {seq}")
    try:
        ts_epoch = parse_iso(_field(payload, "ts", str, required=True))
    except (ValueError, OverflowError) as exc:
        raise Refused(f"ts: {exc}") from None
    known = kind in EVENT_KINDS
    subject = _field(payload, "subject", dict) or {} if known else {}
    person_id = _field(subject, "person_id", int) if known else None
    event = PeerEvent(
        payload=payload, event_id=event_id, seq=seq, ts_epoch=ts_epoch, gate=gate, kind=kind, known_kind=known,
        lane=_field(payload, "lane", str) if known else None,
        decision=_field(payload, "decision", str) if known else None,
        subject_type=_field(subject, "type", str) if known else None,
        person_id=person_id,
        plate=_field(subject, "plate", str) if known else None,
        vehicle_class=_field(subject, "class", str) if known else None,
        session_id=_field(payload, "session_id", str) if known else None,
        fee_cents=_field(payload, "fee_cents", int) if known else None,
        transition=_field(payload, "transition", str) if known else None,
        paid_cents=_field(payload, "paid_cents", int) if known else None,
    )
    if event.fee_cents is not None and event.fee_cents < 0:
        raise Refused(f"fee_cents must be 0 or more, got {event.fee_cents}")
    if kind == "session" and (event.session_id is None or event.transition is None):
        raise Refused("a session event needs session_id and transition")
    return event


# A gate's status: what a receiver reads of each part ({name: type}); a part that is present must be this.
_STATUS_PARTS = {"state": str, "version": str, "ts": str, "cameras": dict, "barriers": dict, "outbox": int,
                 "registry": dict, "parking": dict, "storage": dict, "clock": dict, "clock_offset_s": (int, float),
                 "seq": int, "alert_seq": int}
_REGISTRY_PARTS = {"source": str, "epoch": int, "version": int, "people": int, "vehicles": int, "synced": bool}


def parse_status(raw: bytes | dict) -> dict:
    """A gate's status (``P/<gate>/status``, or its last will) as received, once every part a receiver
    reads has the right shape; ``Refused`` naming the first part that has not (never any other exception).

    Checked: ``state`` (required), ``version``, ``ts``, ``outbox``, ``clock_offset_s``; ``cameras`` and
    ``barriers`` (objects of objects); ``parking``, ``storage``, ``clock`` (objects); ``registry``
    {source, epoch, version, people, vehicles, synced}; ``seq`` and ``alert_seq`` (0 or more) and
    ``seq_skipped`` and ``alert_seq_skipped`` (lists of [first, last] ranges). Other fields pass as they are."""
    if isinstance(raw, (bytes, bytearray)):
        payload = _json_object(raw, what="status", max_bytes=MAX_STATUS_BYTES,
                               not_object="a status must be a JSON object")
    else:
        payload = raw
    if not isinstance(payload, dict):
        raise Refused("a status must be a JSON object")
    problem = version_problem(payload)
    if problem:
        raise Refused(problem)
    for name, types in _STATUS_PARTS.items():
        value = _field(payload, name, types, required=name == "state")
        if isinstance(value, int) and not isinstance(value, bool) and value < 0 and name != "clock_offset_s":
            raise Refused(f"{name} must be 0 or more, got {value}")
    for name in ("cameras", "barriers"):
        for key, part in (payload.get(name) or {}).items():
            if not isinstance(part, dict):
                raise Refused(f"{name}.{str(key)[:64]} must be an object, got {type(part).__name__}")
    for name, types in _REGISTRY_PARTS.items():
        try:
            value = _field(payload.get("registry") or {}, name, types)
        except Refused as exc:
            raise Refused(f"registry.{exc}") from None
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise Refused(f"registry.{name} must be 0 or more, got {value}")
    for name in ("seq_skipped", "alert_seq_skipped"):
        ranges = payload.get(name)
        if ranges is None:
            continue
        if not isinstance(ranges, list) or not all(
                isinstance(r, list) and len(r) == 2 and all(isinstance(x, int) and not isinstance(x, bool)
                                                            and 0 < x < 2**53 for x in r) and r[0] <= r[1]
                for r in ranges):
            raise Refused(f"{name} must be a list of [first, last] ranges of whole numbers from 1")
    return payload


@dataclass(frozen=True)
class PeerAlert:
    """A gate's alert as the office uses it (DESIGN 6.1); ``payload`` is the whole object as received."""

    payload: dict
    kind: str  # "device" or "inactivity" (from the topic)
    alert_id: str
    state: str  # "raised" or "cleared"
    gate: str | None  # None from gates older than the field (refused in site mode)
    seq: int | None  # None: published before it could be numbered (storage failed), or an older gate
    ts_epoch: float
    device: str | None
    person_id: int | None
    last_seen_epoch: float | None
    event_id: str | None  # a cleared inactivity alert: the sighting that cleared it


def parse_alert(raw: bytes, kind: str, topic_gate: str | None = None) -> PeerAlert:
    """A gate's alert on the ``kind`` topic, or ``Refused`` naming the field (never another exception)."""
    from edge.timeutil import parse_iso

    payload = _peer_object(raw)
    alert_id = _field(payload, "alert_id", str, required=True)
    state = _field(payload, "state", str, required=True)
    if state not in ("raised", "cleared"):
        raise Refused(f"state must be raised or cleared, got {state[:20]!r}")
    gate = _field(payload, "gate", str)
    if topic_gate is not None and gate is not None and gate != topic_gate:
        raise Refused(f"gate {gate[:64]!r} on gate {topic_gate!r}'s topic")
    seq = _field(payload, "seq", int)
    if seq is not None and seq < 1:
        raise Refused(f"seq must be 1 or more, got {seq}")
    try:
        ts_epoch = parse_iso(_field(payload, "ts", str, required=True))
        last_seen = _field(payload, "last_seen", str) if kind == "inactivity" else None
        last_seen_epoch = parse_iso(last_seen) if last_seen else None
    except (ValueError, OverflowError) as exc:
        raise Refused(f"ts: {exc}") from None
    person_id = _field(payload, "person_id", int, required=kind == "inactivity")
    event_id = _field(payload, "event_id", str)
    if kind == "inactivity" and last_seen_epoch is None:
        raise Refused("last_seen is missing")
    return PeerAlert(payload=payload, kind=kind, alert_id=alert_id, state=state, gate=gate, seq=seq,
                     ts_epoch=ts_epoch, device=_field(payload, "device", str) if kind == "device" else None,
                     person_id=person_id, last_seen_epoch=last_seen_epoch, event_id=event_id)


@dataclass(frozen=True)
class OfficeStatus:
    """The office's retained status as far as a gate reads it (its clock, while it is online)."""

    payload: dict
    state: object
    ts_epoch: float | None  # None unless online


def parse_office_status(raw: bytes) -> OfficeStatus:
    """The office's retained status (``P/office/status``), or ``Refused``: a JSON object whose ``ts`` can
    be read when its ``state`` is ``online``."""
    from edge.timeutil import parse_iso

    payload = _json_object(raw)
    state, ts_epoch = payload.get("state"), None
    if state == "online":
        try:
            ts_epoch = parse_iso(payload["ts"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise Refused(f"ts: {exc}") from None
    return OfficeStatus(payload=payload, state=state, ts_epoch=ts_epoch)


# -- commands and their results ---------------------------------------------------------------------
def parse_command_body(raw: bytes) -> dict:
    """A command's body (``P/<gate>/cmd/<verb>``): a JSON object of at most ``MAX_COMMAND_BYTES``. Its
    request id, version, signature and age are judged by ``edge.site.remote.parse_command``."""
    return _json_object(raw, max_bytes=MAX_COMMAND_BYTES, not_json="malformed JSON")


def parse_command_result(raw: bytes) -> dict:
    """A gate's answer on ``P/<gate>/cmd/result``: a JSON object (its ``request_id`` says to what)."""
    return _json_object(raw)


# -- requests between boxes -------------------------------------------------------------------------
@dataclass(frozen=True)
class ReplayRequest:
    """``P/<requester>/req/replay``: publish ``target``'s events (or alerts) from_seq..to_seq again."""

    payload: dict  # as received (signed)
    target: object
    from_seq: int
    to_seq: int | None
    stream: str
    ts_epoch: float


def parse_replay_request(raw: bytes) -> ReplayRequest:
    """A replay request, or ``Refused`` (with ``payload`` once it was a JSON object: a receiver answers
    only what names it as ``target``, and leaves the rest to that target)."""
    from edge.timeutil import parse_iso

    body = _json_object(raw, not_object="not an object")
    try:
        problem = version_problem(body)
        if problem:
            raise Refused(problem)
        from_seq, to_seq = body.get("from_seq"), body.get("to_seq")
        if not isinstance(from_seq, int) or from_seq < 1 or (to_seq is not None and not isinstance(to_seq, int)):
            raise Refused("from_seq and to_seq must be whole numbers")
        stream = body.get("stream", "events")
        if stream not in REPLAY_STREAMS:
            raise Refused(f"stream must be one of {', '.join(REPLAY_STREAMS)}")
        try:
            ts_epoch = parse_iso(body["ts"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            raise Refused(f"ts: {exc}") from None
    except Refused as exc:
        raise Refused(str(exc), payload=body) from None
    return ReplayRequest(payload=body, target=body.get("target"), from_seq=from_seq, to_seq=to_seq, stream=stream,
                         ts_epoch=ts_epoch)


@dataclass(frozen=True)
class ResyncRequest:
    """``P/<gate>/req/resync``: a gate asks the office for the registry records after ``after``."""

    payload: dict  # as received (signed)
    request_id: str
    after: tuple[int, int]  # (epoch, version)
    limit: int  # 1..1000
    ts_epoch: float


def parse_resync_request(raw: bytes, *, verify=None) -> ResyncRequest:
    """A resync request, or ``Refused``; ``verify(object)``: the requester's signature (its problem or
    None), checked once the version is known to be ours, before the fields."""
    from edge.timeutil import parse_iso

    body = _json_object(raw, not_json="not a JSON object", not_object="not a JSON object")
    problem = version_problem(body) or (verify(body) if verify is not None else None)
    if problem:
        raise Refused(problem, payload=body)
    try:
        ts_epoch = parse_iso(body["ts"])
        after = (int(body["from_epoch"]), int(body["from_version"]))
        limit = max(1, min(int(body.get("limit", 400)), 1000))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise Refused("needs ts, from_epoch and from_version", payload=body) from None
    return ResyncRequest(payload=body, request_id=str(body.get("request_id", "r"))[:64], after=after, limit=limit,
                         ts_epoch=ts_epoch)


# -- the site registry --------------------------------------------------------------------------------
def parse_registry_record(raw: bytes, kind: str, site: str, *, verify=None) -> dict:
    """A record on ``P/registry/<kind>[/<key>]`` of ``site``, or ``Refused``. ``verify(record)``: the
    office's signature (its problem or None), checked right after the version: a record that is not the
    office's is refused as such, whatever else is wrong with it."""
    record = _json_object(raw, not_object="not a JSON object")
    problem = version_problem(record) or (verify(record) if verify is not None else None)
    if problem:
        raise Refused(problem, payload=record)
    if record.get("kind") != kind or record.get("site") != site:
        raise Refused(f"a {record.get('kind')!r} record of site {record.get('site')!r} on this topic (signed for "
                      "another topic or site)", payload=record)
    if kind == "settings" and not all(isinstance(record.get(k), dict) for k in
                                      ("policy", "parking", "inactivity", "gates")):
        raise Refused("site settings without policy, parking, inactivity and gates", payload=record)
    if not all(isinstance(record.get(p), int) and not isinstance(record.get(p), bool) for p in ("epoch", "version")):
        raise Refused("epoch and version must be whole numbers", payload=record)
    return record


@dataclass(frozen=True)
class ResyncPageEnd:
    """``P/office/resync/<gate>``: what the office sent for one resync request (count, last position)."""

    request_id: object
    count: int
    last: tuple[int, int]  # (epoch, version) of the last record sent
    complete: bool  # fewer than asked: the walk is over


def parse_resync_page_end(raw: bytes) -> ResyncPageEnd:
    """The office's "page sent", or ``Refused``."""
    end = _json_object(raw)
    try:
        return ResyncPageEnd(request_id=end["request_id"], count=int(end["count"]),
                             last=(int(end["last_epoch"]), int(end["last_version"])),
                             complete=bool(end.get("complete")))
    except (KeyError, TypeError, ValueError) as exc:
        raise Refused(f"needs request_id, count, last_epoch and last_version ({exc})", payload=end) from None
