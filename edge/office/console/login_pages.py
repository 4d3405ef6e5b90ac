"""The console's login, logout and language (DESIGN 6.5): the routes that open and end a session.

    GET  /login              the login page (``next``: where to go after it, a path on this site only)
    POST /login              a form or a script (``Accept`` without text/html: JSON with the CSRF token);
                             limited per user name and per client address (``ctx.limiter``), audited
    POST /logout             ends the session
    GET  /lang?to=zh|en      the console's language (cookie ``lang``), then back to ``next``

The session itself (its cookie, its CSRF token, how long it lasts) is checked by ``guard.Guard``.
"""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from edge.office.console.area import route
from edge.office.console.catalogs import LANGS
from edge.office.console.context import ConsoleArea
from edge.office.console.guard import COOKIE, SESSION_TTL_S, session_hash
from edge.schemas.phrases import N_, tell


def safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//elsewhere`` or a scheme)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/alerts"


class Login(ConsoleArea):
    """Opening a session (checked against the users file, limited, audited) and ending it; the language."""

    @route("/login", "GET")
    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "login.html", error=None, next=safe_next(request.query_params.get("next")))

    @route("/login", "POST")
    async def login(self, request: Request) -> Response:
        from edge.office.console.users import UsersFileError, authenticate

        ctx, store = self.ctx, self.ctx.store
        wants_json = "text/html" not in request.headers.get("accept", "")
        form = await request.form()
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        target = safe_next(str(form.get("next") or ""))
        client = request.client.host if request.client else "?"
        keys = (f"addr:{client}", f"user:{username}")

        def refuse(status: int, said: str, message) -> Response:
            """``said``: what the login page says (marked English); ``message``: the JSON error."""
            if wants_json:
                return ctx.error(request, status, message)
            response = ctx.page(request, "login.html", error=said, next=target)
            response.status_code = status
            return response

        ticket = ctx.limiter.reserve(*keys)  # counted as failed until the password proves right
        if ticket is None:
            return refuse(429, N_("Too many attempts; try again later"),
                          tell("too many failed logins; wait a few minutes"))
        if not username or not password:
            return refuse(400, N_("Wrong user name or password"), tell("username and password are both needed"))
        try:
            user = await ctx.run_blocking(authenticate, ctx.config.console.users_file, username, password)
        except UsersFileError as exc:
            return refuse(500, N_("Wrong user name or password"), str(exc))
        if user is None:
            store.console.audit(ctx.now(), username[:64], None, "login", None, {"client": client}, "refused")
            return refuse(401, N_("Wrong user name or password"), tell("wrong user name or password"))
        ctx.limiter.succeeded(*keys, ticket=ticket)
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with store.transaction():
            store.console.add_session(session_hash(token), user["name"], user["role"], csrf, ctx.now(),
                                      SESSION_TTL_S, user["credential"])
            store.console.audit(ctx.now(), user["name"], user["role"], "login", None, {"client": client}, "ok")
        response = (JSONResponse({"user": user["name"], "role": user["role"], "csrf_token": csrf}) if wants_json
                    else RedirectResponse(target, status_code=303))
        # Secure when the browser spoke TLS: to uvicorn itself, or to a trusted proxy that says so (Guard).
        response.set_cookie(COOKIE, token, max_age=SESSION_TTL_S, httponly=True, samesite="strict", path="/",
                            secure=request.url.scheme == "https")
        return response

    @route("/logout", "POST")
    async def logout(self, request: Request) -> Response:
        if request.scope["state"].get("session_hash"):
            self.ctx.store.console.end_session(request.scope["state"]["session_hash"])
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @route("/lang")
    async def set_lang(self, request: Request) -> Response:
        lang = request.query_params.get("to")
        response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        if lang in LANGS:
            response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax", path="/")
        return response
