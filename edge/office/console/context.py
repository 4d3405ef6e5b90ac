"""What every area of the console shares (``ConsoleContext``), and the shape of its answers.

Each area module (``alert_pages``, ``passage_pages``, ``gate_pages``, ``parking_pages``, ``registry_pages``,
``pass_pages``, ``report_pages``, ``query_pages``, ``login_pages``, ``audit_pages``...) has its
``ConsoleArea`` (``area.Area``) built on one ``ConsoleContext``, built once by ``app.create_app``: the console,
its office, config and store, the templates, the login limiter, and the helpers every route uses (the user and
the role a route needs, the audit, the request's body, a page, an error, a signed command to a gate). One owner
for each of these.

Errors are JSON ``{"error", "message"}`` with a 4xx (or 504 when a gate does not answer): ``error`` in
English (what scripts and tests compare), ``message`` the same in the console's language (cookie ``lang``,
as the pages): each error is written as a message marked for the catalog (``edge.schemas.phrases.tell``),
said from it (``catalogs.say_in``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from edge.office.console import catalogs
from edge.office.console.area import Area
from edge.office.console.catalogs import language
from edge.office.console.login_limiter import LoginLimiter
from edge.office.console.words import api_word, listing, word
from edge.schemas.phrases import Said, from_wire, tell
from edge.timeutil import parse_iso

if TYPE_CHECKING:
    from edge.config.site import OfficeConfig
    from edge.office.console import Console
    from edge.office.service import Office
    from edge.store.database import Store

HERE = Path(__file__).parent
SHARED_TEMPLATES = HERE.parent / "templates"  # the console's and the portal's: their pages' head
COMMAND_TIMEOUT_S = 10.0


def error_answer(status: int, said: Said | str, lang: str, **extra) -> JSONResponse:
    """An error's JSON: ``error`` in English, ``message`` in ``lang`` (the page's) from the catalog; a plain
    text (another module's own words, not marked) is both."""
    return JSONResponse({"error": str(said), "message": catalogs.say_in(said, lang), **extra}, status_code=status)


def page_templates(folder: Path = HERE / "templates") -> Jinja2Templates:
    """The pages' templates (the console's, or ``folder``'s: the portal's), then those the console and the portal
    share (``SHARED_TEMPLATES``), with Jinja2's i18n extension saying each in its ``lang`` (``catalogs``)."""
    made = Jinja2Templates(directory=[folder, SHARED_TEMPLATES])
    catalogs.install(made.env)
    return made


def refusal_of(result: dict) -> Said | str:
    """Why a gate refused a command: the phrase its result names (``error_code``, ``error_params``: said in
    the page's language), else its ``error`` as written."""
    return from_wire(result.get("error_code"), result.get("error_params")) or str(result.get("error"))


class GateAnswer(HTTPException):
    """An error answered with more than its text (``extra``: a gate's result, its name)."""

    def __init__(self, status: int, text: str, **extra):
        super().__init__(status, text)
        self.extra = extra


@dataclass
class WebContext:
    """What the console's and the portal's areas share (``ConsoleContext``, ``portal.context.PortalContext``):
    the server, the office, its config and store, the zone and the templates; the clock, the worker pool,
    waking the link, reading a body and the language, answering an error.

    ``console`` is the running ``Console`` (``clock``, ``run_blocking``, ``broadcaster``, ``closing``) or, in
    tests, a stand-in with ``office``, ``config`` and ``clock``; ``config`` is the console's (which may differ
    from the office's in a test)."""

    console: Console
    office: Office
    config: OfficeConfig
    store: Store
    zone: ZoneInfo
    templates: Jinja2Templates

    # -- time and work off the event loop -------------------------------------------------------
    def now(self) -> float:
        """The console's clock (the office's: the demo's simulated time)."""
        return self.console.clock()

    def run_blocking(self, fn, *args):
        """Await ``fn(*args)`` on the console's worker pool."""
        return self.console.run_blocking(fn, *args)

    def published(self) -> None:
        """Wake the office's MQTT link to send a registry change at once (none in a test without one)."""
        if getattr(self.office, "link", None) is not None:
            self.office.link.wake()

    # -- what a request says -------------------------------------------------------------------
    @staticmethod
    async def body_of(request: Request) -> dict:
        """A form's fields (without its CSRF token) or a JSON object; 400 for any other body."""
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
            raise HTTPException(400, tell("the body is not JSON")) from None
        if not isinstance(data, dict):
            raise HTTPException(400, tell("the body must be a JSON object"))
        return data

    @staticmethod
    def lang_of(request: Request) -> str:
        return language(request.cookies.get("lang"))

    # -- answers ---------------------------------------------------------------------------------
    def error(self, request: Request, status: int, text: Said | str, **extra) -> Response:
        """An error's JSON answered without raising (``extra``: more fields, e.g. an import's problems)."""
        return error_answer(status, text, self.lang_of(request), **extra)


@dataclass
class ConsoleContext(WebContext):
    """The console's shared dependencies, handed explicitly to each area's ``routes(ctx)``: ``WebContext``'s and
    the login limiter. The audit rule the helpers serve is ``guard``'s module docstring's."""

    limiter: LoginLimiter

    @classmethod
    def of(cls, console: Console) -> ConsoleContext:
        """The context of ``console``; its login limiter is also ``console.limiter`` (tools and tests reset it)."""
        limiter = console.limiter = LoginLimiter()
        return cls(console=console, office=console.office, config=console.config, store=console.office.store,
                   zone=console.config.zone, templates=page_templates(),
                   limiter=limiter)

    # -- who asks, and what they may do --------------------------------------------------------
    @staticmethod
    def user_of(request: Request) -> dict:
        return request.scope["state"]["user"]

    def need_role(self, request: Request, *roles: str, write: tuple[str, str | None] | None = None) -> dict:
        """The user, if their role is one of ``roles``, else 403. ``write``: (action, target) of a write,
        whose refusal is audited with outcome "refused" (the audit rule); reads are not audited."""
        user = self.user_of(request)
        if user["role"] not in roles:
            if write is not None:
                action, target = write
                self.audit(user, action, target[:80] if target else None, {"needs": list(roles)}, "refused")
            raise HTTPException(403, tell("the {role} role may not do this (needs {roles})",
                                          role=api_word(user["role"]), roles=listing(roles, "or")))
        return user

    def audit(self, user: dict, action: str, target: str | None, detail: dict, outcome: str) -> None:
        self.store.console.audit(self.now(), user["username"], user["role"], action, target, detail, outcome)

    # -- answers ---------------------------------------------------------------------------------
    def fmt(self, value) -> str:
        """An ISO time or an epoch in the site's time zone, as the committee reads it."""
        if value in (None, ""):
            return ""
        try:
            epoch = float(value) if isinstance(value, (int, float)) else parse_iso(str(value))
        except (TypeError, ValueError):
            return str(value)
        return datetime.fromtimestamp(epoch, self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def page(self, request: Request, name: str, **context) -> Response:
        """The template ``name`` with what every page shows (user, CSRF token, language, site) and ``context``."""
        lang = self.lang_of(request)
        user = self.user_of(request)
        return self.templates.TemplateResponse(request, name, {
            "lang": lang, "user": user, "csrf": user["csrf"] if user else "",
            "fmt": self.fmt, "yuan": lambda cents: f"{(cents or 0) / 100:.2f}", "site": self.config.site,
            "said": lambda payload, field: catalogs.said(payload, field, lang),
            "device": lambda name: catalogs.device(name, lang),
            "word": lambda table, value: word(catalogs.gettext_for(lang), table, value),
            "page_name": name.removesuffix(".html"), **context})

    # -- signed commands to a gate ---------------------------------------------------------------
    async def command(self, user: dict, action: str, target: str, gate: str, verb: str, fields: dict,
                      detail: dict) -> Response:
        """Send ``verb`` signed with the office's command key to ``gate`` and wait for its answer (on the
        pool, at most ``COMMAND_TIMEOUT_S``); audited with the gate's answer, or "no answer" (504)."""
        from edge.site.command_client import CommandError, command_key

        try:
            key = command_key(self.config)
        except CommandError as exc:
            raise HTTPException(409, tell("the office cannot sign commands: {detail}", detail=exc.said)) from None
        try:
            result = await self.run_blocking(
                lambda: self.office.commands.send(gate, verb, fields, COMMAND_TIMEOUT_S, key=key))
        except CommandError as exc:
            self.audit(user, action, target, {**detail, "gate": gate, **fields, "error": str(exc)}, "no answer")
            raise HTTPException(504, exc.said) from None
        ok = result.get("ok") is True
        self.audit(user, action, target, {**detail, "gate": gate, **fields, "result": result},
                   "ok" if ok else "refused")
        if not ok:
            raise GateAnswer(409, tell("gate {gate} refused: {detail}", gate=gate, detail=refusal_of(result)),
                             result=result, gate=gate)
        return JSONResponse({"ok": True, "gate": gate, "result": result})


class ConsoleArea(Area):
    """An area of the console (``area.Area``) on the ``ConsoleContext``."""

    ctx: ConsoleContext
