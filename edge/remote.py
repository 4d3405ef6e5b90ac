"""Remote commands from the office (``P/<gate>/cmd/<verb>``): parsed, authenticated, fresh, not replayed.

A command is a JSON object ``{"request_id", "ts", ..., "sig"}`` where ``sig`` is the hex
HMAC-SHA256, under the shared key in ``mqtt.command_key_file``, of ``"<verb>\\n"`` followed by the
object without ``sig`` serialised with sorted keys and no spaces. ``ts`` is ISO-8601 with an offset
(or epoch seconds) and must be within ``command_window_s`` of the gate's clock; a ``request_id``
is accepted once (remembered in the registry, so a restart does not reopen the window).

    open  {"lane": "in"|"out", "barrier": id?}          open once, as the guard's button
    pay   {"session_id": id, "amount_cents": n}         record payment; opens if nothing is left due
    reload {}                                           re-read templates, vehicles and the pass key
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from dataclasses import dataclass

from edge.timeutil import parse_iso

MAX_PAYLOAD = 4096
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


def canonical(verb: str, body: dict) -> bytes:
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    return (verb + "\n" + json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)).encode()


def sign(key: bytes, verb: str, body: dict) -> dict:
    """The office's side: the body with its ``sig`` added."""
    return {**body, "sig": hmac.new(key, canonical(verb, body), hashlib.sha256).hexdigest()}


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
    verb: str, raw: bytes, key: bytes | None, window_s: float, seen, now: float | None = None
) -> Command:
    """Return the Command or raise CommandRefused (with the request id when one could be read).

    ``seen(request_id) -> bool`` records the id and says whether it had been seen before.
    """
    now = time.time() if now is None else now
    if len(raw) > MAX_PAYLOAD:
        raise CommandRefused(None, f"payload too large ({len(raw)} bytes, max {MAX_PAYLOAD})")
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise CommandRefused(None, "malformed JSON") from None
    if not isinstance(body, dict):
        raise CommandRefused(None, "payload must be a JSON object")
    request_id = body.get("request_id")
    if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
        raise CommandRefused(None, "request_id must be 1-64 letters, digits or ._:-")
    if verb not in ("open", "pay", "reload"):
        raise CommandRefused(request_id, f"unknown command {verb[:32]!r}")
    if key is None:
        raise CommandRefused(request_id, "commands are disabled on this gate (no mqtt.command_key_file)")
    sig = body.get("sig")
    expected = hmac.new(key, canonical(verb, body), hashlib.sha256).hexdigest()
    if not isinstance(sig, str) or not hmac.compare_digest(sig.lower(), expected):
        raise CommandRefused(request_id, "bad signature")
    try:
        ts = _ts_epoch(body.get("ts"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise CommandRefused(request_id, f"bad ts: {exc}") from None
    if abs(now - ts) > window_s:
        raise CommandRefused(
            request_id, f"stale: ts is {now - ts:.0f} s from the gate's clock (window {window_s:.0f} s)"
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


def remember_request(registry, window_s: float):
    """A ``seen`` function backed by the registry's seen_requests table (pruned to twice the window)."""

    def seen(request_id: str) -> bool:
        now = time.time()
        with registry.transaction():
            registry.conn.execute("DELETE FROM seen_requests WHERE ts_epoch < ?", [now - 2 * window_s])
            cursor = registry.conn.execute(
                "INSERT OR IGNORE INTO seen_requests(request_id, ts_epoch) VALUES (?, ?)", [request_id, now]
            )
            return cursor.rowcount == 0

    return seen
