"""The portal's front door, ``PortalGuard``: sessions, CSRF and body bounds for everything under ``/my/``.

- a resident's session is a random token in the cookie ``COOKIE`` (HttpOnly, SameSite=Lax, ``Path=/my/``,
  Secure when the browser spoke TLS, 30 days); the database keeps its SHA-256 with the person and the
  session's CSRF token (``store.portal``). It is a cookie of its own and a table of its own: no console route
  reads it, and the console's cookie means nothing here;
- the session lasts while its person is registered with the number they logged in with (an admin who
  changes the number or erases the person ends it at the next request);
- public: the login page, ``POST /my/login``, ``POST /my/verify`` (JSON bodies only: a cross-site form cannot
  send one without the browser asking first) and ``/my/static/``; anything else without a session is 401
  JSON under ``/my/api/`` and for writes, a redirect to the login page for a page;
- every other write carries the session's CSRF token in ``X-CSRF-Token`` (the page's ``<meta
  name="csrf-token">``), else 403;
- the client's address and scheme are the forwarded ones only from ``console.trusted_proxies``
  (``edge.office.console.proxies``, the console's one owner of the rule);
- a body is at most ``MAX_BODY_BYTES`` (a phone number, a date and a reason), counted as it arrives (413).
"""

from __future__ import annotations

import hmac

from starlette.responses import RedirectResponse

from edge.office.console.catalogs import language
from edge.office.console.context import error_answer
from edge.office.console.fields import digits
from edge.office.console.guard import SAFE, BodyTooLarge, bounded, cookie_value, session_hash
from edge.office.console.proxies import Proxies
from edge.office.portal.context import PortalContext
from edge.schemas.phrases import tell
from edge.store.portal import phone_key, phone_of

COOKIE = "gate_edge_my"
COOKIE_PATH = "/my/"
MAX_BODY_BYTES = 16 * 1024
PUBLIC_PAGES = ("/my/login",)
PUBLIC_WRITES = ("/my/login", "/my/verify")


def is_portal(path: str) -> bool:
    return path == "/my" or path.startswith("/my/")


class PortalGuard:
    def __init__(self, app, ctx: PortalContext):
        self.app = app
        self.ctx = ctx
        self.proxies = Proxies(ctx.config.console.trusted_proxies)

    def _resident(self, token: str | None) -> dict | None:
        """The session's person, while they are registered with the number they logged in with."""
        if not token:
            return None
        store = self.ctx.store
        row = store.portal.session(session_hash(token), self.ctx.now())
        if row is None:
            return None
        phone = phone_of(row["phone"])
        if phone is None or not hmac.compare_digest(phone_key(phone), row["phone_key"]):
            store.portal.end_session(row["token_hash"])  # the number changed: the session was for the old one
            return None
        from edge.office.portal.codes import masked

        return {"person_id": row["person_id"], "unit": row["unit"], "name": row["name"], "csrf": row["csrf"],
                "masked": masked(phone), "session_hash": row["token_hash"]}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        self.proxies.apply(scope, headers)
        lang = language(cookie_value(headers.get("cookie", ""), "lang"))
        resident = self._resident(cookie_value(headers.get("cookie", ""), COOKIE))
        scope.setdefault("state", {})["resident"] = resident
        if path == "/my":
            return await RedirectResponse("/my/", status_code=303)(scope, receive, send)
        writing = method not in SAFE
        public = path.startswith("/my/static/") or (path in PUBLIC_WRITES if writing else path in PUBLIC_PAGES)
        if resident is None and not public:
            if path.startswith("/my/api/") or writing:
                return await error_answer(401, tell("log in first (POST /my/login, then /my/verify)"), lang)(
                    scope, receive, send)
            return await RedirectResponse("/my/login", status_code=303)(scope, receive, send)
        declared = digits(headers.get("content-length", "").strip())
        if declared is not None and declared > MAX_BODY_BYTES:
            return await error_answer(413, BodyTooLarge(MAX_BODY_BYTES).detail, lang)(scope, receive, send)
        receive = bounded(receive, MAX_BODY_BYTES)
        if writing and path in PUBLIC_WRITES:
            if not headers.get("content-type", "").startswith("application/json"):
                return await error_answer(415, tell("send the fields as JSON (Content-Type: application/json)"),
                                          lang)(scope, receive, send)
        elif writing:
            sent = headers.get("x-csrf-token")
            if not sent or not hmac.compare_digest(sent.encode("utf-8", "replace"), resident["csrf"].encode()):
                return await error_answer(403, tell("bad or missing CSRF token (X-CSRF-Token header)"), lang)(
                    scope, receive, send)
        return await self.app(scope, receive, send)
