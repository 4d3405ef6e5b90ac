"""The console's front door, ``Guard``: an ASGI middleware in front of every route, security in one place.

- a session is a random token in an HttpOnly, SameSite=Strict cookie; the database keeps its SHA-256,
  the user, the role and the session's CSRF token (``store.console``);
- every route but ``/healthz``, ``/login`` and ``/static`` needs a session (401 JSON under ``/api``, a
  redirect to the login page otherwise);
- every write (POST, PUT, PATCH, DELETE; login aside) carries the session's CSRF token in the
  ``X-CSRF-Token`` header (JSON) or the ``csrf_token`` form field (HTML forms), else 403;
- logins are rate-limited per client address and per user name (``login_limiter.LoginLimiter``), each
  counted before its password is checked; the client's address and scheme are the forwarded ones only from
  a proxy listed in ``console.trusted_proxies`` (``proxies.Proxies``), and the cookie is ``Secure`` when the
  browser spoke TLS;
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
or without the session's CSRF token (403: not the user's own doing), a body over its bound (413),
fields that are malformed (400) or name nothing (404), and what the office refuses itself before it
sends a command (409: a blocked plate, a car already in the lot, no command key), which change nothing
and are answered at once.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import parse_qs, quote

from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse

from edge.office.console.context import ConsoleContext, language
from edge.office.console.context import error_answer as _error  # the guard's refusals: {"error", "message"}
from edge.office.console.fields import digits
from edge.office.console.uploads import MAX_BODY_BYTES
from edge.schemas.phrases import tell

COOKIE = "gate_edge_session"
SESSION_TTL_S = 12 * 3600
SAFE = ("GET", "HEAD", "OPTIONS")
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
        if limit < 1024 * 1024:
            said = tell("the request body is larger than {size} bytes, the most this console accepts", size=limit)
        elif limit == MAX_BODY_BYTES:
            said = tell("the request body is larger than {mb} MB, the most this console accepts; send fewer photos "
                        "at a time", mb=limit // (1024 * 1024))
        else:
            said = tell("the request body is larger than {mb} MB, the most this console accepts",
                        mb=limit // (1024 * 1024))
        super().__init__(413, said)


def session_hash(token: str) -> str:
    """What the database keeps of a session's token (never the token itself)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


class Guard:
    """Sessions, login-required and CSRF for every route (see the module's docstring)."""

    def __init__(self, app, ctx: ConsoleContext):
        from edge.office.console.proxies import Proxies
        from edge.office.console.users import UsersFile

        self.app = app
        self.ctx = ctx
        self.proxies = Proxies(ctx.config.console.trusted_proxies)
        self.users = UsersFile(ctx.config.console.users_file)

    def _user(self, token: str | None) -> dict | None:
        """The session's user, while their role and password are still those of the login."""
        if not token:
            return None
        store = self.ctx.store
        user = store.console.session(session_hash(token), self.ctx.now())
        if user is not None and user["credential"] != self.users.credential(user["username"]):
            store.console.end_session(session_hash(token))  # role or password changed, or the user removed
            user = None
        return user

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.proxies.apply(scope, headers)  # the client's own address and scheme, behind a trusted proxy
        token = cookie_value(headers.get("cookie", ""), COOKIE)
        user = self._user(token)
        scope.setdefault("state", {})["user"] = user
        scope["state"]["session_hash"] = session_hash(token) if token and user else None
        public = path == "/healthz" or path == "/login" or path == "/lang" or path.startswith("/static/")
        lang = language(cookie_value(headers.get("cookie", ""), "lang"))
        if user is None and not public:
            if path.startswith("/api/") or scope["method"] not in SAFE:
                return await _error(401, tell("log in first (POST /login)"), lang)(scope, receive, send)
            target = quote(path + ("?" + scope["query_string"].decode("latin-1") if scope["query_string"] else ""))
            return await RedirectResponse(f"/login?next={target}", status_code=303)(scope, receive, send)
        limit = body_limit(headers.get("content-type", ""))
        declared = digits(headers.get("content-length", "").strip())
        if declared is not None and declared > limit:
            return await _error(413, BodyTooLarge(limit).detail, lang)(scope, receive, send)
        receive = bounded(receive, limit)
        if scope["method"] not in SAFE and path != "/login":
            sent = headers.get("x-csrf-token")
            if sent is None and headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
                try:
                    body, receive = await _buffer(receive)
                except BodyTooLarge as exc:
                    return await _error(413, exc.detail, lang)(scope, receive, send)
                sent = (parse_qs(body.decode("utf-8", "replace")).get("csrf_token") or [None])[0]
            if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), user["csrf"].encode()):
                return await _error(403, tell("bad or missing CSRF token (X-CSRF-Token header or csrf_token field)"),
                                    lang)(scope, receive, send)
        return await self.app(scope, receive, send)


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def bounded(receive, limit: int):
    """``receive`` counting the body's bytes: ``BodyTooLarge`` (413) once more than ``limit`` have come, so
    that no reader (the CSRF check, a form, a multipart upload spooling to disk) takes in more."""
    seen = 0

    async def counted():
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return counted


async def _buffer(receive):
    """Read the whole request body (``receive`` is ``bounded``: at most its limit) and hand back a receive
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

