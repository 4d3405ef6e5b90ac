"""QR passes: signed, expiring tokens that stand for a person, a vehicle or a resident's visitor.

Local mode (a single gate, shared secret ``passes.secret_file``):

    token  = "GE1:" + base32( payload | mac )        (QR alphanumeric mode: compact codes)
    payload = version(1) kind(1) issued(4) valid_until(4) pass_id(6) subject(…)
              kind 1 = person (subject: 4-byte id), 2 = vehicle (subject: UTF-8 plate),
                   3 = visitor (subject: UTF-8 unit; issued: the start of the visit, which may be a later day)
    mac     = HMAC-SHA256(key, "gate-edge-pass" | payload)[:12]

Site mode (issued by the office with its ``pass.key``, verified by every gate with ``pass.pub`` in
``passes.public_keys``):

    token  = "GE2:" + base32( payload | kid(8) | signature(64) )
    payload = as above, with version 2
    signature = Ed25519(pass.key, "gate-edge-pass" | payload);  kid = the key id's 8 bytes (edge.keys)

A GE1 token is refused at a site-mode gate and a GE2 token at a local gate, each with its reason. A
pass is valid when its signature verifies, it has not expired, it was not revoked (registry ``passes``
table) and its subject is still registered (a visitor pass: someone still lives in its unit).
``pass_checker(config)`` and ``pass_issuer(config)`` load what a config holds for that; ``qr_png(token)``
draws a pass to print, save or share.

A visitor pass (a resident's invitation, ``edge.registry.invites``) stands for the unit the visitor comes
to, never for a person: using it is nobody's sighting. A gate older than kind 3 does not read it as a pass
(no event, nothing opens).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import struct
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edge.keys import KeyFileError, Signer, Verifier, load_signer, load_verifier, read_secret
from edge.schemas.phrases import Phrase, say

PREFIX = "GE1:"
VERSION = 1
PREFIX_SITE = "GE2:"
VERSION_SITE = 2
_KID_BYTES = 8
_SIG_BYTES = 64
KIND_PERSON, KIND_VEHICLE, KIND_VISITOR = 1, 2, 3
_KINDS = {KIND_PERSON: "person", KIND_VEHICLE: "vehicle", KIND_VISITOR: "visitor"}
MAX_UNIT_BYTES = 64  # the unit a visitor pass names (UTF-8): the code stays small enough to scan well
_HEADER = struct.Struct(">BBII6s")
_MAC_BYTES = 12
_DOMAIN = b"gate-edge-pass"


class PassError(ValueError):
    """A pass that cannot be issued (bad subject, no key) — with the reason."""


@dataclass(frozen=True)
class PassClaim:
    """What a token says (only trustworthy once ``check_pass`` has verified it)."""

    pass_id: str
    subject_type: str  # person | vehicle | visitor
    person_id: int | None
    plate: str | None
    issued: int  # a visitor pass: the start of the visit
    valid_until: int
    unit: str | None = None  # a visitor pass: the unit the visitor comes to

    def subject(self) -> dict:
        made = {"type": self.subject_type, "person_id": self.person_id, "plate": self.plate}
        if self.unit is not None:
            made["unit"] = self.unit
        return made


@dataclass(frozen=True)
class PassCheck:
    valid: bool
    said: Phrase  # why (edge.schemas.phrases: pass_valid, pass_expired, ...)
    claim: PassClaim | None

    @property
    def reason(self) -> str:
        return self.said.text

    def to_dict(self) -> dict:
        return {
            "valid": self.valid,
            "reason": self.reason,
            "pass_id": self.claim.pass_id if self.claim else None,
            "subject": self.claim.subject() if self.claim else None,
        }


def read_key(path) -> bytes:
    if path is None:
        raise PassError("passes.secret_file is not set in the config; create a key: "
                        "gate-edge keys new --local --dir /etc/gate-edge")
    try:
        return read_secret(path)
    except KeyFileError as exc:
        raise PassError(str(exc)) from None


def pass_checker(config) -> bytes | Verifier | None:
    """What a gate verifies passes with: the office's public keys (site mode), the shared secret
    (local mode), or None (passes off). Raises PassError naming the file when a key cannot be read."""
    passes = config.passes
    try:
        if getattr(passes, "public_keys", None):
            return load_verifier(passes.public_keys)
        if getattr(passes, "signing_key_file", None):  # the office checks its own passes
            signer = load_signer(passes.signing_key_file)
            return Verifier([signer.public_key], [signer.path])
    except KeyFileError as exc:
        raise PassError(str(exc)) from None
    if getattr(passes, "secret_file", None):
        return read_key(passes.secret_file)
    return None


def pass_issuer(config) -> bytes | Signer:
    """What passes are issued with: the office's ``pass.key`` (``passes.signing_key_file``) or a local
    gate's shared secret. A site-mode gate holds only public keys and cannot issue."""
    passes = config.passes
    if passes is None:
        raise PassError("passes.signing_key_file is not set in the config; name the office's pass.key "
                        "(gate-edge keys new --dir DIR writes it)")
    signing = getattr(passes, "signing_key_file", None)
    try:
        if signing:
            return load_signer(signing)
    except KeyFileError as exc:
        raise PassError(str(exc)) from None
    if getattr(passes, "public_keys", None):
        raise PassError("this gate holds only the office's public pass key (passes.public_keys); "
                        "issue passes at the office")
    return read_key(getattr(passes, "secret_file", None))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + payload, hashlib.sha256).digest()[:_MAC_BYTES]


def issue_token(key: bytes | Signer, *, person_id: int | None = None, plate: str | None = None,
                unit: str | None = None, valid_hours: float, now: float | None = None,
                valid_from: float | None = None, pass_id: bytes | None = None) -> tuple[str, PassClaim]:
    """Sign a pass for one person, plate or (a visitor's) unit, valid ``valid_hours`` from ``now``, or from
    ``valid_from`` (a visitor pass for a later time of day or a later day)."""
    if sum(subject is not None for subject in (person_id, plate, unit)) != 1:
        raise PassError("a pass is for one person (--person) or one plate (--plate)")
    if valid_hours <= 0:
        raise PassError(f"--valid-hours must be positive, got {valid_hours}")
    if valid_from is not None and unit is None:
        raise PassError("only a visitor pass starts later than it is issued")
    now = int(time.time() if now is None else now)
    if valid_from is not None:
        now = int(max(now, valid_from))
    until = int(now + valid_hours * 3600)
    raw_id = pass_id or os.urandom(6)
    if person_id is not None:
        kind, subject = KIND_PERSON, struct.pack(">I", person_id)
    elif plate is not None:
        kind, subject = KIND_VEHICLE, plate.encode("utf-8")
    else:
        kind, subject = KIND_VISITOR, unit.strip().encode("utf-8")
        if not subject or len(subject) > MAX_UNIT_BYTES:
            raise PassError(f"a visitor pass names a unit of 1 to {MAX_UNIT_BYTES} bytes, got {unit!r}")
    if isinstance(key, Signer):
        payload = _HEADER.pack(VERSION_SITE, kind, now, until, raw_id) + subject
        signature = bytes.fromhex(key.sign(_DOMAIN + payload))
        token = PREFIX_SITE + _b32(payload + bytes.fromhex(key.kid) + signature)
    else:
        payload = _HEADER.pack(VERSION, kind, now, until, raw_id) + subject
        token = PREFIX + _b32(payload + _mac(key, payload))
    return token, _claim(kind, now, until, raw_id, subject)


def _b32(blob: bytes) -> str:
    return base64.b32encode(blob).decode("ascii").rstrip("=")


def _claim(kind, issued, until, raw_id, subject) -> PassClaim:
    if kind == KIND_PERSON:
        return PassClaim(raw_id.hex(), "person", struct.unpack(">I", subject)[0], None, issued, until)
    if kind == KIND_VISITOR:
        return PassClaim(raw_id.hex(), "visitor", None, None, issued, until, unit=subject.decode("utf-8"))
    return PassClaim(raw_id.hex(), "vehicle", None, subject.decode("utf-8"), issued, until)


def parse_token(token: str) -> tuple[PassClaim, bytes, bytes] | None:
    """(claim, payload, mac) of a well-formed token, or None for anything else.

    For a GE2 token the last part is ``kid(8) | signature(64)`` rather than the 12-byte mac."""
    if not isinstance(token, str) or len(token) > 300:
        return None
    if token.startswith(PREFIX) and len(token) <= 200:
        version_wanted, tail = VERSION, _MAC_BYTES
    elif token.startswith(PREFIX_SITE):
        version_wanted, tail = VERSION_SITE, _KID_BYTES + _SIG_BYTES
    else:
        return None
    body = token[len(PREFIX):]
    if not body.isascii():
        return None
    try:
        blob = base64.b32decode(body + "=" * (-len(body) % 8))
    except (ValueError, base64.binascii.Error):
        return None
    if _b32(blob) != body:
        return None  # a non-canonical spelling (changed padding bits): not a token we issued
    if len(blob) < _HEADER.size + tail + 1:
        return None
    payload, mac = blob[:-tail], blob[-tail:]
    version, kind, issued, until, raw_id = _HEADER.unpack_from(payload)
    subject = payload[_HEADER.size:]
    if version != version_wanted or kind not in _KINDS:
        return None
    if kind == KIND_PERSON and len(subject) != 4:
        return None
    try:
        return _claim(kind, issued, until, raw_id, subject), payload, mac
    except UnicodeDecodeError:
        return None


SHARED_AT_SITE_GATE = say("pass_shared_key_at_site").text
SITE_AT_LOCAL_GATE = say("pass_site_key_at_local_gate").text


def check_pass(token: str, key: bytes | Verifier | None, store=None, now: float | None = None) -> PassCheck:
    """Verify a scanned token: signature, expiry, revocation and that its subject is registered.

    ``key`` is what the gate holds (``pass_checker``): the shared secret for GE1 tokens, or a Verifier of
    the office's public pass keys for GE2 tokens; a token of the other kind is refused with the reason."""
    parsed = parse_token(token)
    if parsed is None:
        return PassCheck(False, say("pass_not_ours"), None)
    claim, payload, mac = parsed
    site_token = token.startswith(PREFIX_SITE)
    if key is None:
        return PassCheck(False, say("pass_no_key"), claim)
    if isinstance(key, Verifier):
        if not site_token:
            return PassCheck(False, say("pass_shared_key_at_site"), claim)
        kid, signature = mac[:_KID_BYTES].hex(), mac[_KID_BYTES:]
        if kid not in key.kids:
            return PassCheck(False, say("pass_unknown_key", kid=kid), claim)
        if not key.verify(kid, _DOMAIN + payload, signature.hex()):
            return PassCheck(False, say("pass_forged"), claim)
    elif site_token:
        return PassCheck(False, say("pass_site_key_at_local_gate"), claim)
    elif not hmac.compare_digest(mac, _mac(key, payload)):
        return PassCheck(False, say("pass_forged"), claim)
    now = time.time() if now is None else now
    if now > claim.valid_until:
        return PassCheck(False, say("pass_expired"), claim)
    if now < claim.issued - 300:
        return PassCheck(False, say("pass_not_begun" if claim.subject_type == "visitor" else "pass_not_yet_valid"),
                         claim)
    if store is not None:
        row = store.passes.get(claim.pass_id)
        if row is None and not site_token:
            return PassCheck(False, say("pass_unknown"), claim)
        # A GE2 pass is the office's: a gate knows it by its signature, and only its revocation.
        if store.passes.revoked(claim.pass_id):  # here, or by the office (a signed revocation record)
            return PassCheck(False, say("pass_revoked"), claim)
        if claim.subject_type == "person" and store.people.find_by_id(claim.person_id) is None:
            return PassCheck(False, say("pass_person_gone"), claim)
        if claim.subject_type == "visitor" and not store.people.find(claim.unit):
            return PassCheck(False, say("pass_unit_gone"), claim)
    return PassCheck(True, say("pass_valid"), claim)


def record_pass(store, claim: PassClaim) -> None:
    store.passes.record(claim.pass_id, claim.subject_type, claim.person_id, claim.plate, claim.issued,
                        claim.valid_until, unit=claim.unit)


def qr_png(token: str) -> bytes:
    """The pass's QR code as PNG bytes (drawn by models.qr, the one owner of the QR library)."""
    from models.qr import write_qr_png

    with tempfile.TemporaryDirectory(prefix="gate-edge-qr-") as folder:
        path = Path(folder) / "pass.png"
        write_qr_png(token, path)
        return path.read_bytes()


def revoke_pass(store, pass_id: str, now: float | None = None) -> bool:
    return store.passes.revoke(pass_id, time.time() if now is None else now)
