"""Logging in to the portal and out (DESIGN 8): the routes that open and end a resident's session.

    GET  /my/login     the page: a mobile number, then the code it receives
    POST /my/login     {"phone"} → 200 {"ok", "phone" (masked), "expires_in_s"} whether or not the number is
                       registered; 429 past a limit; 400 for what is not a mobile number
    POST /my/verify    {"phone", "code"} → 200 {"ok", "unit", "csrf_token"} and the session's cookie; 401 a wrong
                       or expired code, 429 too many tries
    POST /my/logout    ends the session

The rules are ``codes.LoginCodes``'; the session's cookie and what it lets through are ``guard.PortalGuard``'s.
Every request for a code and every try is audited (the number masked; nothing says whether it is registered).
"""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from edge.office.console.area import route
from edge.office.console.guard import session_hash
from edge.office.portal.codes import CODE_TTL_S, SESSION_TTL_S, Refused, masked
from edge.office.portal.context import PortalArea
from edge.office.portal.guard import COOKIE, COOKIE_PATH
from edge.store.portal import phone_of


class Login(PortalArea):
    @route("/my/login", "GET")
    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "login.html", code_minutes=CODE_TTL_S // 60)

    @staticmethod
    def client(request: Request) -> str:
        return request.client.host if request.client else "?"

    def who(self, phone) -> str:
        """The number as the audit keeps it (masked); what was typed when it is not a number."""
        found = phone_of(phone)
        return masked(found) if found else "?"

    async def caller(self, request: Request) -> tuple[dict, str, str]:
        """What a login step starts from: the request's body, the client's address, who (as the audit keeps it)."""
        self.ctx.feature("login")
        data = await self.ctx.body_of(request)
        return data, self.client(request), self.who(data.get("phone"))

    def refused(self, exc: Refused, action: str, who: str, client: str) -> HTTPException:
        """A login step's refusal as answered, audited unless the number was malformed (that changes nothing:
        the console's audit rule)."""
        if exc.status != 400:
            self.ctx.audit(who, action, None, {"client": client, "refused": exc.reason}, "refused")
        return HTTPException(exc.status, exc.said)

    @route("/my/login", "POST")
    async def ask(self, request: Request) -> Response:
        ctx = self.ctx
        data, client, who = await self.caller(request)
        try:
            shown = await ctx.run_blocking(ctx.codes.ask, data.get("phone"), client)
        except Refused as exc:
            raise self.refused(exc, "portal_code", who, client) from None
        ctx.audit(who, "portal_code", None, {"client": client}, "ok")
        return JSONResponse({"ok": True, "phone": shown, "expires_in_s": CODE_TTL_S})

    @route("/my/verify", "POST")
    async def verify(self, request: Request) -> Response:
        ctx = self.ctx
        data, client, who = await self.caller(request)

        def new_session(person_id: int, key: str, now: float) -> tuple[str, str]:
            token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            ctx.store.portal.add_session(session_hash(token), person_id, key, csrf, now, SESSION_TTL_S)
            ctx.audit(who, "portal_login", f"person:{person_id}", {"client": client}, "ok")
            return token, csrf

        try:
            login = await ctx.run_blocking(ctx.codes.verify, data.get("phone"), data.get("code"), new_session)
        except Refused as exc:
            raise self.refused(exc, "portal_login", who, client) from None
        person = ctx.store.people.get(login.person_id)
        response = JSONResponse({"ok": True, "unit": person["unit"], "name": person["name"],
                                 "csrf_token": login.csrf})
        # Secure when the browser spoke TLS: to uvicorn itself, or to a trusted proxy that says so (the guard).
        response.set_cookie(COOKIE, login.token, max_age=SESSION_TTL_S, httponly=True, samesite="lax",
                            path=COOKIE_PATH, secure=request.url.scheme == "https")
        return response

    @route("/my/logout", "POST")
    async def logout(self, request: Request) -> Response:
        resident = self.ctx.resident_of(request)
        self.ctx.store.portal.end_session(resident["session_hash"])
        self.ctx.audit(resident["masked"], "portal_logout", f"person:{resident['person_id']}", {}, "ok")
        wants_json = "application/json" in request.headers.get("accept", "")
        response = JSONResponse({"ok": True}) if wants_json else RedirectResponse("/my/login", status_code=303)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response

