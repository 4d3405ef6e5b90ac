"""The console's routes (DESIGN 6.5): JSON under ``/api``, the pages that show the same data, login.

Security in one place, ``Guard`` (an ASGI middleware in front of every route):
- a session is a random token in an HttpOnly, SameSite=Strict cookie; the database keeps its SHA-256,
  the user, the role and the session's CSRF token (``store.console``);
- every route but ``/healthz``, ``/login`` and ``/static`` needs a session (401 JSON under ``/api``, a
  redirect to the login page otherwise);
- every write (POST, PUT, PATCH, DELETE; login aside) carries the session's CSRF token in the
  ``X-CSRF-Token`` header (JSON) or the ``csrf_token`` form field (HTML forms), else 403;
- logins are rate-limited per client address and per user name (``LoginLimiter``), each counted before its
  password is checked; the client's address and scheme are the forwarded ones only from a proxy listed in
  ``console.trusted_proxies`` (``proxies.Proxies``), and the cookie is ``Secure`` when the browser spoke TLS;
- a session lasts only while its user's role and password stay as they were at login and the user is in
  the users file (``users.UsersFile``): a change ends it at the next request;
- a request body is counted as it arrives and refused with 413 once it passes its bound, before more is
  read (``body_limit``: ``uploads.MAX_BODY_BYTES`` for multipart uploads, ``MAX_FORM_BYTES`` for anything
  else), whether or not it declared its length: nothing larger is ever buffered or spooled to disk.
Each write checks the role it needs and is written to the audit table with its outcome. The audit rule:
every write a logged-in user sends with the session's CSRF token is audited once the route decides on it:
done ("ok"), refused for the user's role or a guard's limits (403, "refused": a guard's registry write,
a pass too long for a guard or not theirs to revoke), refused by the registry's own checks ("refused":
photos, CSV rows) or by a gate ("refused", "no answer"). Not audited: a request without a session (401)
or without the session's CSRF token (403: not the user's own doing), a body over its bound (413), and
fields that are malformed (400) or name nothing (404), which change nothing and are answered at once.
Errors are JSON ``{"error", "message"}`` with a 4xx (or 504 when a gate does not answer): ``error`` in English
(what scripts and tests compare), ``message`` the same in the console's language (cookie ``lang``, as the pages;
``i18n.error_message``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import time
from collections import deque
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from edge import __version__
from edge.office.console.fields import digits
from edge.office.console.i18n import LANGS, device, error_message, message, translator
from edge.office.console.uploads import MAX_BODY_BYTES
from edge.timeutil import iso, parse_iso, start_of_day

HERE = Path(__file__).parent
COOKIE = "gate_edge_session"
SESSION_TTL_S = 12 * 3600
SAFE = ("GET", "HEAD", "OPTIONS")
PUBLIC = ("/healthz", "/login", "/static/", "/lang")
KINDS = ("entry", "exit", "denied", "stranger", "session")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_GATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
COMMAND_TIMEOUT_S = 10.0
# The largest body that is not an upload: a JSON write or an HTML form is a few hundred bytes (a note of
# 500 characters, a person's name and unit); a megabyte leaves room and bounds what a request may cost.
MAX_FORM_BYTES = 1024 * 1024


def body_limit(content_type: str) -> int:
    """The most a request body of ``content_type`` may carry: an upload's bound for multipart, else 1 MB."""
    return MAX_BODY_BYTES if content_type.lower().startswith("multipart/form-data") else MAX_FORM_BYTES


class BodyTooLarge(HTTPException):
    """A request body past ``body_limit``: 413, raised by the counting ``receive`` as soon as it is seen.
    The rest of the body is never handed to the app (uvicorn throws it away as it comes, after the answer)."""

    def __init__(self, limit: int):
        size = f"{limit // (1024 * 1024)} MB" if limit >= 1024 * 1024 else f"{limit} bytes"
        super().__init__(413, f"the request body is larger than {size}, the most this console accepts"
                              + ("; send fewer photos at a time" if limit == MAX_BODY_BYTES else ""))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def _lang(value: str | None) -> str:
    """The console's language from the ``lang`` cookie's value: zh unless it says another of ``LANGS``."""
    return value if value in LANGS else "zh"


def _error(status: int, text: str, lang: str, **extra) -> JSONResponse:
    """An error's JSON: ``error`` in English as ``text`` says it, ``message`` in ``lang`` (the page's)."""
    return JSONResponse({"error": text, "message": error_message(text, lang), **extra}, status_code=status)


class GateAnswer(HTTPException):
    """An error answered with more than its text (``extra``: a gate's result, its name)."""

    def __init__(self, status: int, text: str, **extra):
        super().__init__(status, text)
        self.extra = extra


class LoginLimiter:
    """At most ``per_user`` failed logins per ``window_s`` for one user name, and ``per_address`` from one
    client address (higher: the lodge's staff share one address).

    A login is counted as a failure *before* its password is checked (``reserve``), and only a right
    password takes its own count back (``succeeded``): so concurrent guesses cannot all be checked before
    the first of them counts, and one right password cannot wipe out the failures of others from the same
    address. A right password also clears its user name's failures (the user has proved who they are)."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window_s: float = 300.0, clock=time.monotonic):
        self.per_user, self.per_address, self.window_s, self.clock = per_user, per_address, window_s, clock
        self._failures: dict[str, deque] = {}

    def _recent(self, key: str) -> deque:
        now = self.clock()
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0][0] > self.window_s:
            failures.popleft()
        return failures

    def _limit(self, key: str) -> int:
        return self.per_address if key.startswith("addr:") else self.per_user

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self._limit(k) for k in keys)

    def reserve(self, *keys: str) -> object | None:
        """Count one attempt as failed for every key, before its password is checked: a ticket to hand
        to ``succeeded`` when it was right; None (nothing counted) when a key is already at its limit.
        Runs on the event loop's one thread: the test and the count are one step."""
        if self.blocked(*keys):
            return None
        ticket = (self.clock(), object())
        for key in keys:
            self._recent(key).append(ticket)
        return ticket

    def failed(self, *keys: str) -> None:
        ticket = (self.clock(), object())
        for key in keys:
            self._recent(key).append(ticket)

    def succeeded(self, *keys: str, ticket: object | None = None) -> None:
        """A right password: its own reserved count is taken back; a ``user:`` key is cleared. Without a
        ticket (tests, tools) every key is cleared."""
        for key in keys:
            if ticket is None or key.startswith("user:"):
                self._failures.pop(key, None)
            elif ticket in self._failures.get(key, ()):
                self._failures[key].remove(ticket)


class Guard:
    """Sessions, login-required and CSRF for every route (see the module's docstring)."""

    def __init__(self, app, console):
        from edge.office.console.proxies import Proxies
        from edge.office.console.users import UsersFile

        self.app = app
        self.console = console
        self.proxies = Proxies(console.config.console.trusted_proxies)
        self.users = UsersFile(console.config.console.users_file)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.proxies.apply(scope, headers)  # the client's own address and scheme, behind a trusted proxy
        token = _cookie(headers.get("cookie", ""), COOKIE)
        user = None
        if token:
            store = self.console.office.store
            user = store.console.session(_hash(token), self.console.clock())
            if user is not None and user["credential"] != self.users.credential(user["username"]):
                store.console.end_session(_hash(token))  # role or password changed, or the user removed
                user = None
        scope.setdefault("state", {})["user"] = user
        scope["state"]["session_hash"] = _hash(token) if token and user else None
        public = path == "/healthz" or path == "/login" or path == "/lang" or path.startswith("/static/")
        lang = _lang(_cookie(headers.get("cookie", ""), "lang"))
        if user is None and not public:
            if path.startswith("/api/") or scope["method"] not in SAFE:
                return await _error(401, "log in first (POST /login)", lang)(scope, receive, send)
            target = quote(path + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""))
            return await RedirectResponse(f"/login?next={target}", status_code=303)(scope, receive, send)
        limit = body_limit(headers.get("content-type", ""))
        declared = digits(headers.get("content-length", "").strip())
        if declared is not None and declared > limit:
            return await _error(413, BodyTooLarge(limit).detail, lang)(scope, receive, send)
        receive = _bounded(receive, limit)
        if scope["method"] not in SAFE and path != "/login":
            sent = headers.get("x-csrf-token")
            if sent is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                try:
                    body, receive = await _buffer(receive)
                except BodyTooLarge as exc:
                    return await _error(413, exc.detail, lang)(scope, receive, send)
                sent = (parse_qs(body.decode("utf-8", "replace")).get("csrf_token") or [None])[0]
            if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), user["csrf"].encode()):
                return await _error(403, "bad or missing CSRF token (X-CSRF-Token header or csrf_token field)",
                                    lang)(scope, receive, send)
        return await self.app(scope, receive, send)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _bounded(receive, limit: int):
    """``receive`` counting the body's bytes: ``BodyTooLarge`` (413) once more than ``limit`` have come, so
    that no reader (the CSRF check, a form, a multipart upload spooling to disk) takes in more."""
    seen = 0

    async def bounded():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return bounded


async def _buffer(receive):
    """Read the whole request body (``receive`` is ``_bounded``: at most its limit) and hand back a receive
    that replays it for the route."""
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    body = b"".join(chunks)
    replayed = False

    async def replay():
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def create_app(console) -> Starlette:
    office = console.office
    config = console.config
    store = office.store
    zone = config.zone
    limiter = console.limiter = LoginLimiter()
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    # -- helpers ---------------------------------------------------------------------------
    def user_of(request: Request) -> dict:
        return request.scope["state"]["user"]

    def need_role(request: Request, *roles: str, write: tuple[str, str | None] | None = None) -> dict:
        """The user, if their role is one of ``roles``, else 403. ``write``: (action, target) of a write,
        whose refusal is audited with outcome "refused" (the module's audit rule); reads are not audited."""
        user = user_of(request)
        if user["role"] not in roles:
            if write is not None:
                action, target = write
                audit(user, action, target[:80] if target else None, {"needs": list(roles)}, "refused")
            raise HTTPException(403, f"the {user['role']} role may not do this (needs {' or '.join(roles)})")
        return user

    def audit(user: dict, action: str, target: str | None, detail: dict, outcome: str) -> None:
        store.console.audit(console.clock(), user["username"], user["role"], action, target, detail, outcome)

    async def body_of(request: Request) -> dict:
        kind = request.headers.get("content-type", "")
        if kind.startswith("application/x-www-form-urlencoded") or kind.startswith("multipart/form-data"):
            form = await request.form()
            return {k: v for k, v in form.items() if k != "csrf_token"}
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except ValueError:
            raise HTTPException(400, "the body is not JSON") from None
        if not isinstance(data, dict):
            raise HTTPException(400, "the body must be a JSON object")
        return data

    def fmt(value) -> str:
        """An ISO time or an epoch in the site's time zone, as the committee reads it."""
        if value in (None, ""):
            return ""
        try:
            epoch = float(value) if isinstance(value, (int, float)) else parse_iso(str(value))
        except (TypeError, ValueError):
            return str(value)
        return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M:%S")

    def lang_of(request: Request) -> str:
        return _lang(request.cookies.get("lang"))

    def page(request: Request, name: str, **context) -> Response:
        lang = lang_of(request)
        user = user_of(request)
        return templates.TemplateResponse(request, name, {
            "t": translator(lang), "lang": lang, "user": user, "csrf": user["csrf"] if user else "",
            "fmt": fmt, "yuan": lambda cents: f"{(cents or 0) / 100:.2f}", "site": config.site,
            "message": lambda text: message(text, lang), "device": lambda name: device(name, lang),
            "page_name": name.removesuffix(".html"), **context})

    # -- data (the API and the pages share these) ----------------------------------------
    def events_data(params) -> list[dict]:
        since = until = None
        if params.get("since"):
            try:
                since = parse_iso(params["since"])
            except ValueError:
                raise HTTPException(400, f"since: {params['since']!r} is not an ISO time") from None
        if params.get("date"):
            try:
                day = date.fromisoformat(params["date"])
            except ValueError:
                raise HTTPException(400, f"date: {params['date']!r} is not YYYY-MM-DD") from None
            since = max(since or 0.0, start_of_day(day, zone))
            until = start_of_day(date.fromordinal(day.toordinal() + 1), zone)
        gate = params.get("gate") or None
        if gate is not None and not _GATE.match(gate):
            raise HTTPException(400, f"gate: {gate!r} is not a gate name")
        kind = params.get("kind") or None
        if kind is not None and kind not in KINDS:
            raise HTTPException(400, f"kind: one of {', '.join(KINDS)}")
        limit = digits(params.get("limit") or "100")
        if limit is None or not 1 <= limit <= 1000:
            raise HTTPException(400, "limit: a whole number from 1 to 1000")
        rows = store.console.events(since_epoch=since, until_epoch=until, gate=gate, kind=kind, limit=limit)
        return with_people(rows)

    def with_people(events: list[dict]) -> list[dict]:
        people = store.console.names((e.get("subject") or {}).get("person_id") for e in events)
        out = []
        for event in events:
            person = people.get((event.get("subject") or {}).get("person_id"))
            out.append({**event, "person": {"name": person["name"], "unit": person["unit"]} if person else None})
        return out

    def alerts_data(state: str) -> list[dict]:
        now = console.clock()
        gate_names = set(config.gates) | set(store.gates.all())
        rows = []
        for a in store.console.alerts(open_only=state == "open"):
            row = {"alert_id": a["alert_id"], "kind": a["kind"], "subject": a["subject"], "state": a["state"],
                   "raised": iso(a["raised_epoch"], zone), "detail": a["detail"],
                   "cleared": iso(a["cleared_epoch"], zone) if a["cleared_epoch"] else None,
                   "ack": ({"by": a["acked_by"], "note": a["ack_note"], "ts": iso(a["acked_epoch"], zone)}
                           if a["acked_epoch"] else None)}
            if a["kind"] == "inactivity":
                pid = a["person_id"] if a["person_id"] is not None else _person_id(a["subject"])
                seen = store.sightings.get(f"person:{pid}") if pid is not None else None
                last_epoch = seen["ts_epoch"] if seen else _epoch(a["detail"])
                row["person"] = {"person_id": pid, "name": a["person_name"], "unit": a["person_unit"],
                                 "phone": a["person_phone"]}
                row["last_seen"] = iso(last_epoch, zone) if last_epoch else None
                row["last_gate"] = seen["gate"] if seen else None
                row["hours_unseen"] = round((now - last_epoch) / 3600, 1) if last_epoch else None
            else:  # a gate's alert is "<gate>:<device>"; the office's own (a gate silent) is "<device>"
                gate, _, name = a["subject"].partition(":")
                row["gate"], row["device"] = (gate, name) if gate in gate_names else (None, a["subject"])
            rows.append(row)
        return rows

    def gates_data() -> dict:
        epoch, version = office.publisher.position()
        heard = store.gates.all()
        gates = []
        for name in sorted(set(config.gates) | set(heard)):
            seen = heard.get(name)
            status = seen["status"] if seen else {}
            synced = status.get("registry") or None
            current = bool(synced and synced.get("synced") and synced.get("epoch") == epoch
                           and synced.get("version") == version)
            gates.append({
                "gate": name, "expected": name in config.gates,
                "state": (seen or {}).get("state") or ("unknown" if seen else "never heard"),
                "last_heard": iso(seen["received_epoch"], zone) if seen else None,
                "age_s": round(office.silence_s(name), 1) if seen else None,
                "silent": office.silent(name),
                "version": status.get("version"), "cameras": status.get("cameras") or {},
                "barriers": status.get("barriers") or {}, "outbox": status.get("outbox"),
                "clock_offset_s": status.get("clock_offset_s"), "parking": status.get("parking"),
                "registry": synced, "registry_current": current,
                "status_problem": seen.get("problem") if seen else None,  # state "unreadable": why
            })
        return {"office_registry": {"epoch": epoch, "version": version}, "gates": gates}

    def parking_data() -> dict:
        from edge.rules.parking import parking_view

        return parking_view(store, config.site_settings.parking, zone, console.clock())

    # -- routes: public --------------------------------------------------------------------
    async def healthz(request: Request) -> Response:
        return JSONResponse({"version": __version__, **office.health()})

    async def login_page(request: Request) -> Response:
        return page(request, "login.html", error=None, next=_safe_next(request.query_params.get("next")))

    async def login(request: Request) -> Response:
        from edge.office.console.users import UsersFileError, authenticate

        wants_json = "text/html" not in request.headers.get("accept", "")
        form = await request.form()
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        target = _safe_next(str(form.get("next") or ""))
        client = request.client.host if request.client else "?"
        keys = (f"addr:{client}", f"user:{username}")

        def refuse(status: int, key: str, message: str) -> Response:
            if wants_json:
                return _error(status, message, lang_of(request))
            response = page(request, "login.html", error=key, next=target)
            response.status_code = status
            return response

        ticket = limiter.reserve(*keys)  # counted as failed until the password proves right
        if ticket is None:
            return refuse(429, "too_many", "too many failed logins; wait a few minutes")
        if not username or not password:
            return refuse(400, "bad_login", "username and password are both needed")
        try:
            user = await console.run_blocking(authenticate, config.console.users_file, username, password)
        except UsersFileError as exc:
            return refuse(500, "bad_login", str(exc))
        if user is None:
            store.console.audit(console.clock(), username[:64], None, "login", None, {"client": client}, "refused")
            return refuse(401, "bad_login", "wrong user name or password")
        limiter.succeeded(*keys, ticket=ticket)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with store.transaction():
            store.console.add_session(_hash(token), user["name"], user["role"], csrf, console.clock(), SESSION_TTL_S,
                                      user["credential"])
            store.console.audit(console.clock(), user["name"], user["role"], "login", None, {"client": client}, "ok")
        response = (JSONResponse({"user": user["name"], "role": user["role"], "csrf_token": csrf}) if wants_json
                    else RedirectResponse(target, status_code=303))
        # Secure when the browser spoke TLS: to uvicorn itself, or to a trusted proxy that says so (Guard).
        response.set_cookie(COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    async def logout(request: Request) -> Response:
        if request.scope["state"].get("session_hash"):
            store.console.end_session(request.scope["state"]["session_hash"])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def set_lang(request: Request) -> Response:
        lang = request.query_params.get("to")
        response = RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        if lang in LANGS:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", path="/")
        return response

    # -- routes: the API ---------------------------------------------------------------------
    async def api_events(request: Request) -> Response:
        return JSONResponse(events_data(request.query_params))

    async def api_stream(request: Request) -> Response:
        queue = console.broadcaster.listen()
        lang = lang_of(request)

        async def stream():
            try:
                yield ": connected\n\nretry: 2000\n\n"
                quiet = 0.0
                while not console.closing.is_set():
                    try:
                        kind, payload = await asyncio.wait_for(queue.get(), 1.0)
                    except TimeoutError:
                        quiet += 1.0
                        if quiet >= 15:
                            quiet = 0.0
                            yield ": keep-alive\n\n"
                        continue
                    quiet = 0.0
                    if kind == "event":  # with the words the page shows, in the page's language
                        payload = {**with_people([payload])[0], "reason_text": message(payload.get("reason"), lang)}
                    elif kind == "alert" and payload.get("device"):
                        payload = {**payload, "device_text": device(payload["device"], lang)}
                    data = json.dumps(payload, ensure_ascii=False, default=str)
                    yield f"event: {kind}\ndata: {data}\n\n"
            finally:
                console.broadcaster.forget(queue)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def api_alerts(request: Request) -> Response:
        state = request.query_params.get("state", "open")
        if state not in ("open", "all"):
            raise HTTPException(400, "state: open or all")
        return JSONResponse(alerts_data(state))

    async def api_ack(request: Request) -> Response:
        alert_id = request.path_params["alert_id"]
        user = need_role(request, "guard", "admin", write=("ack", f"alert:{alert_id}"))
        data = await body_of(request)
        note = data.get("note")
        if not isinstance(note, str) or not note.strip():
            raise HTTPException(400, "note: say what was done (e.g. visited, all well)")
        if len(note) > 500:
            raise HTTPException(400, "note: at most 500 characters")
        with store.transaction():
            if not store.console.ack_alert(alert_id, console.clock(), user["username"], note.strip()):
                raise HTTPException(404, f"no alert {alert_id}")
            audit(user, "ack", f"alert:{alert_id}", {"note": note.strip()}, "ok")
        row = store.console.alert(alert_id)
        console.broadcaster("ack", {"alert_id": alert_id, "by": user["username"], "note": note.strip()})
        return JSONResponse({"ok": True, "alert_id": alert_id, "ack": {
            "by": row["acked_by"], "note": row["ack_note"], "ts": iso(row["acked_epoch"], zone)}})

    async def api_gates(request: Request) -> Response:
        return JSONResponse(gates_data())

    async def api_parking(request: Request) -> Response:
        return JSONResponse(parking_data())

    async def command(user: dict, action: str, target: str, gate: str, verb: str, fields: dict,
                      detail: dict) -> Response:
        from edge.site.command_client import CommandError, command_key

        try:
            key = command_key(config)
        except CommandError as exc:
            raise HTTPException(409, f"the office cannot sign commands: {exc}") from None
        try:
            result = await console.run_blocking(
                lambda: office.commands.send(gate, verb, fields, COMMAND_TIMEOUT_S, key=key))
        except CommandError as exc:
            audit(user, action, target, {**detail, "gate": gate, **fields, "error": str(exc)}, "no answer")
            raise HTTPException(504, str(exc)) from None
        ok = result.get("ok") is True
        audit(user, action, target, {**detail, "gate": gate, **fields, "result": result}, "ok" if ok else "refused")
        if not ok:
            raise GateAnswer(409, f"gate {gate} refused: {result.get('error')}", result=result, gate=gate)
        return JSONResponse({"ok": True, "gate": gate, "result": result})

    async def api_pay(request: Request) -> Response:
        session_id = request.path_params["session_id"]
        user = need_role(request, "guard", "admin", write=("pay", f"session:{session_id}"))
        data = await body_of(request)
        amount = data.get("amount_cents")
        if isinstance(amount, str):
            amount = digits(amount.strip())  # an HTML form's field
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= 10_000_000:
            raise HTTPException(400, "amount_cents: a whole number of cents, 0 or more")
        view = parking_data()
        session = next((s for s in view["held"] if s["session_id"] == session_id), None)
        session = session or next((s for s in view["open"] if s["session_id"] == session_id), None)
        if session is None:
            raise HTTPException(404, f"no open parking session {session_id}")
        gate = session.get("held_gate") or session.get("entry_gate")
        if not gate:
            raise HTTPException(409, f"session {session_id}: no gate knows where the car is")
        return await command(user, "pay", f"session:{session_id}", gate, "pay",
                             {"session_id": session_id, "amount_cents": amount},
                             {"plate": session["plate"], "fee_due_cents": session["fee_due_cents"]})

    async def api_open(request: Request) -> Response:
        gate = request.path_params["gate"]
        user = need_role(request, "guard", "admin", write=("open", f"gate:{gate}"))
        if gate not in config.gates:
            raise HTTPException(404, f"no gate {gate!r} at this site (gates: {', '.join(sorted(config.gates))})")
        data = await body_of(request)
        lane, barrier, reason = data.get("lane"), data.get("barrier") or None, data.get("reason")
        if lane not in ("in", "out"):
            raise HTTPException(400, "lane: in or out")
        if barrier is not None and (not isinstance(barrier, str) or not _GATE.match(barrier)):
            raise HTTPException(400, "barrier: a barrier id")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise HTTPException(400, "reason: why the gate is opened (up to 200 characters)")
        fields = {"lane": lane, **({"barrier": barrier} if barrier else {})}
        return await command(user, "open", f"gate:{gate}", gate, "open", fields, {"reason": reason.strip()})

    async def api_audit(request: Request) -> Response:
        need_role(request, "admin")
        limit = digits(request.query_params.get("limit") or "100")
        if limit is None:
            raise HTTPException(400, "limit: a whole number from 1 to 1000")
        limit = max(1, min(limit, 1000))
        rows = store.console.audit_rows(limit)
        return JSONResponse([{**r, "ts": iso(r["ts_epoch"], zone)} for r in rows])

    async def api_query(request: Request) -> Response:
        return JSONResponse(query_data(request.query_params))

    def query_data(params) -> dict:
        from edge.plates import InvalidPlate
        from edge.registry.query import query_person, query_plate
        from edge.store import RegistryError

        plate, person = params.get("plate"), params.get("person")
        if bool(plate) == bool(person):
            raise HTTPException(400, "give one of plate=P or person=ID")
        if plate:
            try:
                return query_plate(store, config, plate)
            except InvalidPlate as exc:
                raise HTTPException(400, str(exc)) from None
        person_id = digits(person)
        if person_id is None:
            raise HTTPException(400, f"person: {person[:40]!r} is not a person id")
        try:
            return query_person(store, config, person_id)
        except RegistryError as exc:
            raise HTTPException(404, str(exc)) from None

    # -- pages -----------------------------------------------------------------------------
    async def home(request: Request) -> Response:
        return RedirectResponse("/alerts", status_code=303)

    async def alerts_page(request: Request) -> Response:
        rows = alerts_data("all")
        open_rows = [a for a in rows if a["state"] == "raised" and a["ack"] is None]
        return page(request, "alerts.html", care=[a for a in open_rows if a["kind"] == "inactivity"],
                    devices=[a for a in open_rows if a["kind"] != "inactivity"],
                    acked=[a for a in rows if a["ack"] is not None][:10])

    async def passages_page(request: Request) -> Response:
        params = dict(request.query_params)
        params.setdefault("limit", "200")
        return page(request, "passages.html", events=events_data(params), filters=params, kinds=KINDS,
                    gate_names=sorted(set(config.gates) | set(store.console.event_gates())))

    async def gates_page(request: Request) -> Response:
        return page(request, "gates.html", data=gates_data())

    async def parking_page(request: Request) -> Response:
        return page(request, "parking.html", data=parking_data())

    async def query_page(request: Request) -> Response:
        answer, error = None, None
        if request.query_params.get("plate"):
            try:
                answer = query_data({"plate": request.query_params["plate"]})
            except HTTPException as exc:
                error = exc.detail
        return page(request, "query.html", answer=answer, error=error, plate=request.query_params.get("plate", ""))

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(exc.status_code, str(exc.detail), lang_of(request), **getattr(exc, "extra", {}))

    def error(request: Request, status: int, text: str, **extra) -> Response:
        """An error's JSON answered without raising (``extra``: more fields, e.g. an import's problems)."""
        return _error(status, text, lang_of(request), **extra)

    # What a part of the console in a module of its own needs from this one (one owner for sessions,
    # roles, the audit, body parsing and page rendering): ``routes(kit) -> list[Route]`` in each.
    kit = Kit(console=console, office=office, config=config, store=store, zone=zone, need_role=need_role,
              audit=audit, body_of=body_of, page=page, fmt=fmt, user_of=user_of, lang_of=lang_of, error=error,
              command=command, templates=templates, gates_data=gates_data)
    from edge.office.console import registry_pages, report_pages

    extra_routes = registry_pages.routes(kit) + report_pages.routes(kit)

    routes = [
        Route("/healthz", healthz),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/lang", set_lang),
        Route("/api/events", api_events),
        Route("/api/events/stream", api_stream),
        Route("/api/alerts", api_alerts),
        Route("/api/alerts/{alert_id}/ack", api_ack, methods=["POST"]),
        Route("/api/gates", api_gates),
        Route("/api/parking", api_parking),
        Route("/api/parking/{session_id}/pay", api_pay, methods=["POST"]),
        Route("/api/gates/{gate}/open", api_open, methods=["POST"]),
        Route("/api/query", api_query),
        Route("/api/audit", api_audit),
        Route("/", home),
        Route("/alerts", alerts_page),
        Route("/passages", passages_page),
        Route("/gates", gates_page),
        Route("/parking", parking_page),
        Route("/query", query_page),
        *extra_routes,
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, console)


class Kit:
    """The shared helpers of ``create_app`` handed to the console's other route modules."""

    def __init__(self, **parts):
        self.__dict__.update(parts)


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//elsewhere`` or a scheme)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/alerts"


def _person_id(subject: str) -> int | None:
    return digits(subject.removeprefix("person:"))


def _epoch(text) -> float | None:
    try:
        return parse_iso(str(text))
    except (TypeError, ValueError):
        return None
