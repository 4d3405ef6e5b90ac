"""Remote commands from the office (``P/<gate>/cmd/<verb>``): parsed, authenticated, fresh, not replayed.

A command is a JSON object ``{"request_id", "ts", "v": 1, ..., "sig"}`` where ``sig`` is the hex
HMAC-SHA256, under the shared key in ``mqtt.command_key_file``, of the UTF-8 bytes of

    "<site>/<gate>/<verb>\\n" + json.dumps(object without "sig", sort_keys=True,
                                            separators=(",", ":"), ensure_ascii=False)

so a command signed for one gate (or site, or verb) is refused by every other: replayed on
``.../west/cmd/open``, an ``open`` signed for east is a bad signature. Site and gate are config
identifiers (letters, digits, ``-_.``), which cannot contain "/". ``ts`` is ISO-8601 with an offset
(or epoch seconds) and must be within ``command_window_s`` of the gate's clock, behind ("stale") or
ahead ("from the future", a clock problem); a ``request_id`` is accepted once (remembered in the
registry, so a restart does not reopen the window). Fields a gate does not know are signed like the
others and ignored. ``new_command`` builds a signed command (``gate-edge cmd``, the demo, tests).

A gate in site mode (``mqtt.command_public_keys``) takes instead commands signed by the office's
``command.key`` (Ed25519, ``edge.keys``): the body carries ``"kid"`` (signed with the rest) and ``sig``
is the hex Ed25519 signature of the same bytes. Each gate takes only its own kind: a command signed
with a shared key is refused by a site-mode gate, and an Ed25519 one by a gate with a shared key.
``command_checker(config)`` loads what a gate verifies with; ``command_signer(config)`` what signs.

    open  {"lane": "in"|"out", "barrier": id?}          open once, as the guard's button
    pay   {"session_id": id, "amount_cents": n}         record payment; opens if nothing is left due
    reload {}                                           re-read templates, vehicles and the pass key
    correct {"session_id": id, "plate": P?, "exit_event_id": id?}
                                                        the session's car is plate P, and/or the car held
                                                        at that exit is the session's (edge.gate.corrections)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from edge.contract import COMMAND_VERBS, CONTRACT_VERSION, Refused, parse_command_body, version_problem
from edge.keys import Signer, Verifier, load_signer, load_verifier, read_secret
from edge.timeutil import iso, parse_iso

_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True)
class Command:
    verb: str
    request_id: str
    body: dict


class CommandRefused(Exception):
    def __init__(self, request_id, error: str):
        super().__init__(error)
        self.request_id = request_id
        self.error = error


def canonical(verb: str, body: dict, *, site: str, gate: str) -> bytes:
    """The exact bytes signed: ``"<site>/<gate>/<verb>\\n"`` + the body without ``sig``, canonical JSON."""
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    text = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{site}/{gate}/{verb}\n{text}".encode()


def sign(key: bytes | Signer, verb: str, body: dict, *, site: str, gate: str) -> dict:
    """The office's side: the body with its ``sig`` added, valid only on ``<site>/<gate>/cmd/<verb>``.

    With a shared key (bytes): HMAC-SHA256. With a Signer (the office's command.key): ``kid`` is added
    to the body, then signed with the rest (Ed25519)."""
    if isinstance(key, Signer):
        unsigned = {**{k: v for k, v in body.items() if k != "sig"}, "kid": key.kid}
        return {**unsigned, "sig": key.sign(canonical(verb, unsigned, site=site, gate=gate))}
    digest = hmac.new(key, canonical(verb, body, site=site, gate=gate), hashlib.sha256).hexdigest()
    return {**body, "sig": digest}


SHARED_AT_SITE_GATE = "signed with a shared key; this gate takes commands signed by the office's command key"
SITE_AT_LOCAL_GATE = ("signed with the office's command key; this gate takes commands signed with its shared "
                      "key (mqtt.command_key_file)")
BAD_SIGNATURE = "bad signature (signed for another site, gate or command, or with another key)"


def command_checker(config) -> bytes | Verifier | None:
    """What a gate verifies commands with: a Verifier of ``mqtt.command_public_keys`` (site mode), the
    shared secret of ``mqtt.command_key_file`` (local mode), or None (commands off). KeyFileError names
    the file that cannot be used."""
    mqtt = config.mqtt
    if getattr(mqtt, "command_public_keys", None):
        return load_verifier(mqtt.command_public_keys)
    if mqtt.command_key_file:
        return read_secret(mqtt.command_key_file)
    return None


def command_signer(config) -> bytes | Signer | None:
    """What signs commands for a config: the office's ``commands.signing_key_file`` (Ed25519), else a
    local gate's shared ``mqtt.command_key_file``; None when it holds neither."""
    commands = getattr(config, "commands", None)
    signing = getattr(commands, "signing_key_file", None)
    if signing:
        return load_signer(signing)
    key_file = getattr(getattr(config, "mqtt", None), "command_key_file", None)
    return read_secret(key_file) if key_file else None


def _signature_problem(key: bytes | Verifier, verb: str, body: dict, *, site: str, gate: str) -> str | None:
    sig = body.get("sig")
    # A non-ASCII sig (compare_digest would raise TypeError on it) is simply wrong.
    if not isinstance(sig, str) or not sig.isascii():
        return BAD_SIGNATURE
    message = canonical(verb, body, site=site, gate=gate)
    if isinstance(key, Verifier):
        kid = body.get("kid")
        if kid is None:
            return SHARED_AT_SITE_GATE
        if not isinstance(kid, str) or kid not in key.kids:
            return f"signed with unknown key {str(kid)[:32]}"
        return None if key.verify(kid, message, sig.lower()) else BAD_SIGNATURE
    if hmac.compare_digest(sig.lower(), hmac.new(key, message, hashlib.sha256).hexdigest()):
        return None  # a "kid" in an HMAC-signed body is just another signed field
    if "kid" in body and len(sig) == 128:
        return SITE_AT_LOCAL_GATE
    return BAD_SIGNATURE


def new_command(verb: str, *, site: str, gate: str, key: bytes | Signer, now: float | None = None,
                zone: ZoneInfo | None = None, request_id: str | None = None, **fields) -> dict:
    """A signed command for ``<site>/<gate>/cmd/<verb>``: a random request_id, ``ts`` (ISO-8601 with
    the zone's offset; UTC without one), ``"v"``, the fields, then ``sig``. The one place that builds
    a command."""
    body = {
        "request_id": request_id or f"cmd-{secrets.token_hex(8)}",
        "ts": iso(time.time() if now is None else now, zone or ZoneInfo("UTC")),
        "v": CONTRACT_VERSION,
        **fields,
    }
    return sign(key, verb, body, site=site, gate=gate)


def _ts_epoch(value) -> float:
    if isinstance(value, bool):
        raise ValueError("ts must be a timestamp")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("ts must be finite")
        return float(value)
    if isinstance(value, str):
        return parse_iso(value)
    raise ValueError("ts must be ISO-8601 with an offset, or epoch seconds")


def parse_command(
    verb: str, raw: bytes, key: bytes | Verifier | None, window_s: float, seen, now: float | None = None, *,
    site: str, gate: str,
) -> Command:
    """Return the Command or raise CommandRefused (with the request id when one could be read).

    ``site`` and ``gate`` are this gate's: the signature must cover them. ``key`` is what the gate holds
    (``command_checker``): the shared secret, or a Verifier of the office's command keys.
    ``seen(request_id) -> bool`` records the id and says whether it had been seen before.
    """
    now = time.time() if now is None else now
    try:
        body = parse_command_body(raw)
    except Refused as exc:
        raise CommandRefused(None, str(exc)) from None
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise CommandRefused(None, "request_id must be 1-64 letters, digits or ._:-")
    if verb not in COMMAND_VERBS:
        raise CommandRefused(request_id, f"unknown command {verb[:32]!r}")
    if key is None:
        raise CommandRefused(request_id, "commands are disabled on this gate (no mqtt.command_key_file "
                                         "or mqtt.command_public_keys)")
    # Before the signature: another contract version may sign differently, and saying so helps more.
    problem = version_problem(body)
    if problem:
        raise CommandRefused(request_id, problem)
    problem = _signature_problem(key, verb, body, site=site, gate=gate)
    if problem:
        raise CommandRefused(request_id, problem)
    try:
        ts = _ts_epoch(body.get("ts"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise CommandRefused(request_id, f"bad ts: {exc}") from None
    behind = now - ts
    if behind > window_s:
        raise CommandRefused(
            request_id, f"stale: ts is {behind:.0f} s behind the gate's clock (window {window_s:.0f} s)"
        )
    if -behind > window_s:
        raise CommandRefused(
            request_id,
            f"from the future: ts is {-behind:.0f} s ahead of the gate's clock (window {window_s:.0f} s); "
            "check the clocks",
        )
    if seen(request_id):
        raise CommandRefused(request_id, "replayed request_id")
    _check_body(verb, request_id, body)
    return Command(verb, request_id, body)


def _check_body(verb: str, request_id: str, body: dict) -> None:
    if verb == "open" and body.get("lane", "in") not in ("in", "out"):
        raise CommandRefused(request_id, "lane must be 'in' or 'out'")
    if verb == "open" and "barrier" in body and not isinstance(body["barrier"], str):
        raise CommandRefused(request_id, "barrier must be a barrier id")
    if verb == "pay":
        if not isinstance(body.get("session_id"), str):
            raise CommandRefused(request_id, "pay needs session_id")
        amount = body.get("amount_cents")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0 or amount > 10_000_000:
            raise CommandRefused(request_id, "pay needs amount_cents, a whole number of cents >= 0")
    if verb == "correct":
        if not isinstance(body.get("session_id"), str) or not body["session_id"]:
            raise CommandRefused(request_id, "correct needs session_id")
        for name, most in (("plate", 16), ("exit_event_id", 64)):
            if name in body and (not isinstance(body[name], str) or not 0 < len(body[name]) <= most):
                raise CommandRefused(request_id, f"correct: {name} must be a text of 1 to {most} characters")
        if "plate" not in body and "exit_event_id" not in body:
            raise CommandRefused(request_id, "correct needs plate or exit_event_id (or both)")


def remember_request(store, window_s: float):
    """A ``seen`` function backed by the registry's seen_requests table (pruned to twice the window)."""

    def seen(request_id: str) -> bool:
        return store.requests.remember(request_id, time.time(), window_s)

    return seen
