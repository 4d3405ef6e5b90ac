"""QR passes: signed, expiring tokens that stand for a person or a vehicle.

    token  = "GE1:" + base32( payload | mac )        (QR alphanumeric mode: compact codes)
    payload = version(1) kind(1) issued(4) valid_until(4) pass_id(6) subject(…)
              kind 1 = person (subject: 4-byte id), 2 = vehicle (subject: UTF-8 plate)
    mac     = HMAC-SHA256(key, "gate-edge-pass" | payload)[:12]

The key is read from ``passes.secret_file``. A pass is valid when its MAC verifies, it has not
expired, it was not revoked (registry ``passes`` table) and its subject is still registered.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import time
from dataclasses import dataclass

PREFIX = "GE1:"
VERSION = 1
KIND_PERSON, KIND_VEHICLE = 1, 2
_HEADER = struct.Struct(">BBII6s")
_MAC_BYTES = 12
_DOMAIN = b"gate-edge-pass"


class PassError(ValueError):
    """A pass that cannot be issued (bad subject, no key) — with the reason."""


@dataclass(frozen=True)
class PassClaim:
    """What a token says (only trustworthy once ``check_pass`` has verified it)."""

    pass_id: str
    subject_type: str  # person | vehicle
    person_id: int | None
    plate: str | None
    issued: int
    valid_until: int

    def subject(self) -> dict:
        return {"type": self.subject_type, "person_id": self.person_id, "plate": self.plate}


@dataclass(frozen=True)
class PassCheck:
    valid: bool
    reason: str
    claim: PassClaim | None

    def to_dict(self) -> dict:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "pass_id": self.claim.pass_id if self.claim else None,
            "subject": self.claim.subject() if self.claim else None,
        }


def read_key(path) -> bytes:
    if path is None:
        raise PassError("passes.secret_file is not set in the config; create a key: head -c 32 /dev/urandom > pass.key")
    with open(path, "rb") as handle:
        key = handle.read().strip()
    if len(key) < 16:
        raise PassError(f"{path}: the pass key must be at least 16 bytes (head -c 32 /dev/urandom > {path})")
    return key


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def issue_token(key: bytes, *, person_id: int | None = None, plate: str | None = None, valid_hours: float,
                now: float | None = None, pass_id: bytes | None = None) -> tuple[str, PassClaim]:
    if (person_id is None) == (plate is None):
        raise PassError("a pass is for one person (--person) or one plate (--plate)")
    if valid_hours <= 0:
        raise PassError(f"--valid-hours must be positive, got {valid_hours}")
    now = int(time.time() if now is None else now)
    until = int(now + valid_hours * 3600)
    raw_id = pass_id or os.urandom(6)
    if person_id is not None:
        kind, subject = KIND_PERSON, struct.pack(">I", person_id)
    else:
        kind, subject = KIND_VEHICLE, plate.encode("utf-8")
    payload = _HEADER.pack(VERSION, kind, now, until, raw_id) + subject
    token = PREFIX + base64.b32encode(payload + _mac(key, payload)).decode("ascii").rstrip("=")
    return token, _claim(kind, now, until, raw_id, subject)


def _claim(kind, issued, until, raw_id, subject) -> PassClaim:
    if kind == KIND_PERSON:
        return PassClaim(raw_id.hex(), "person", struct.unpack(">I", subject)[0], None, issued, until)
    return PassClaim(raw_id.hex(), "vehicle", None, subject.decode("utf-8"), issued, until)


def parse_token(token: str) -> tuple[PassClaim, bytes, bytes] | None:
    """(claim, payload, mac) of a well-formed token, or None for anything else."""
    if not isinstance(token, str) or not token.startswith(PREFIX) or len(token) > 200:
        return None
    body = token[len(PREFIX):]
    try:
        blob = base64.b32decode(body + "=" * (-len(body) % 8))
    except (ValueError, base64.binascii.Error):
        return None
    if base64.b32encode(blob).decode("ascii").rstrip("=") != body:
        return None  # a non-canonical spelling (changed padding bits): not a token we issued
    if len(blob) < _HEADER.size + _MAC_BYTES + 1:
        return None
    payload, mac = blob[:-_MAC_BYTES], blob[-_MAC_BYTES:]
    version, kind, issued, until, raw_id = _HEADER.unpack_from(payload)
    subject = payload[_HEADER.size:]
    if version != VERSION or kind not in (KIND_PERSON, KIND_VEHICLE):
        return None
    if kind == KIND_PERSON and len(subject) != 4:
        return None
    try:
        return _claim(kind, issued, until, raw_id, subject), payload, mac
    except UnicodeDecodeError:
        return None


def check_pass(token: str, key: bytes | None, registry=None, now: float | None = None) -> PassCheck:
    """Verify a scanned token: signature, expiry, revocation and that its subject is registered."""
    parsed = parse_token(token)
    if parsed is None:
        return PassCheck(False, "not a gate-edge pass", None)
    claim, payload, mac = parsed
    if key is None:
        return PassCheck(False, "cannot verify: no pass key configured", claim)
    if not hmac.compare_digest(mac, _mac(key, payload)):
        return PassCheck(False, "forged: signature does not verify", claim)
    now = time.time() if now is None else now
    if now > claim.valid_until:
        return PassCheck(False, "expired", claim)
    if now < claim.issued - 300:
        return PassCheck(False, "not valid yet (issued in the future: check the clock)", claim)
    if registry is not None:
        row = registry.passes.get(claim.pass_id)
        if row is None:
            return PassCheck(False, "unknown pass (not issued by this site's registry)", claim)
        if row["revoked_epoch"] is not None:
            return PassCheck(False, "revoked", claim)
        if claim.subject_type == "person" and registry.people.find_by_id(claim.person_id) is None:
            return PassCheck(False, "its person is no longer registered", claim)
    return PassCheck(True, "valid", claim)


def record_pass(registry, claim: PassClaim) -> None:
    registry.passes.record(claim.pass_id, claim.subject_type, claim.person_id, claim.plate, claim.issued,
                           claim.valid_until)


def revoke_pass(registry, pass_id: str, now: float | None = None) -> bool:
    return registry.passes.revoke(pass_id, time.time() if now is None else now)
