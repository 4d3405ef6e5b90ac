"""The console's web app (DESIGN 6.5): JSON under ``/api``, the pages that show the same data, login.

``create_app(console)`` builds one ``context.ConsoleContext`` and asks each area (``AREAS``: an
``area.Area``'s ``routes``, or registry_pages' that joins four) for its routes: login and
language (``login_pages``), alerts (``alert_pages``), passages and their live stream (``passage_pages``),
gates and the remote open (``gate_pages``), parking and payment (``parking_pages``), the vehicle query
(``query_pages``), the audit trail (``audit_pages``), people, vehicles, the CSV import and QR passes
(``registry_pages``, ``import_pages``, ``pass_pages``), one person's contacts and pause (``person_pages``),
residents' invitations (``invite_pages``),
the reports (``report_pages``) and who was told of an alert, a channel's test message (``notify_pages``),
the channels' page (``channel_pages``); then it puts ``guard.Guard`` (sessions, CSRF, body bounds: the
security rules and the audit rule are in its docstring) in front of them all. Any ``HTTPException`` a route
raises is answered as ``{"error", "message"}``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from edge import __version__
from edge.office.console import (
    alert_pages,
    audit_pages,
    channel_pages,
    gate_pages,
    invite_pages,
    login_pages,
    notify_pages,
    parking_pages,
    passage_pages,
    person_pages,
    query_pages,
    registry_pages,
    report_pages,
)
from edge.office.console.context import HERE, ConsoleContext
from edge.office.console.guard import Guard

AREAS = (login_pages.Login.routes, passage_pages.Passages.routes, alert_pages.Alerts.routes, gate_pages.Gates.routes,
         parking_pages.Parking.routes, query_pages.Query.routes, audit_pages.Audit.routes, registry_pages.routes,
         person_pages.Person.routes, report_pages.ReportPages.routes, notify_pages.Notifications.routes,
         channel_pages.Channels.routes, invite_pages.InvitePages.routes)  # each: ctx -> its routes


def create_app(console) -> Guard:
    """The console's ASGI app for ``console`` (a ``Console``, or a stand-in with office, config and clock)."""
    ctx = ConsoleContext.of(console)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"version": __version__, **ctx.office.health()})

    async def home(request: Request) -> Response:
        return RedirectResponse("/alerts", status_code=303)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return ctx.error(request, exc.status_code, exc.detail, **getattr(exc, "extra", {}))

    routes = [Route("/healthz", healthz), Route("/", home)]
    for area_routes in AREAS:
        routes += area_routes(ctx)
    routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return Guard(app, ctx)
