"""The portal's web app and how it shares the console's listener.

``create_portal_app(console)`` builds one ``context.PortalContext`` and asks each area (``AREAS``) for its
routes, serves ``/my/static/``, and puts ``guard.PortalGuard`` in front of them all; an ``HTTPException``
a route raises is answered as ``{"error", "message"}`` like the console's. ``site_app(console)`` is what the
listener serves: ``/my`` and below to the portal (or, when ``portal.enabled`` is false, a 404 saying so),
everything else to the console's app (``edge.office.console.app.create_app``).

An area is a ``context.PortalArea`` (``edge.office.console.area.Area``) whose routes all start with ``/my/``;
add its ``routes`` to ``AREAS``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from edge.office.console.catalogs import language
from edge.office.console.context import error_answer
from edge.office.console.guard import cookie_value
from edge.office.portal import away_pages, household_pages, invite_pages, login_pages
from edge.office.portal.codes import LoginCodes
from edge.office.portal.context import HERE, PortalContext, portal_templates
from edge.office.portal.guard import PortalGuard, is_portal
from edge.schemas.phrases import tell

AREAS = (login_pages.Login.routes, household_pages.Household.routes, away_pages.Away.routes,
         invite_pages.InvitePages.routes)  # each: ctx -> its routes


def portal_context(console) -> PortalContext:
    office = console.office
    delivery = getattr(office, "delivery", None)
    codes = LoginCodes(console.config, office.store, clock=console.clock, alerts=getattr(office, "alerts", None),
                       wake=delivery.wake if delivery is not None else None)
    return PortalContext(console=console, office=office, config=console.config, store=office.store,
                         zone=console.config.zone, templates=portal_templates(), codes=codes)


def create_portal_app(console) -> PortalGuard:
    """The portal's ASGI app for ``console`` (a ``Console``, or a stand-in with office, config, clock and
    run_blocking)."""
    ctx = portal_context(console)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        return ctx.error(request, exc.status_code, exc.detail, **getattr(exc, "extra", {}))

    routes = []
    for area_routes in AREAS:
        routes += area_routes(ctx)
    routes.append(Mount("/my/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error})
    return PortalGuard(app, ctx)


async def _not_enabled(scope, receive, send):
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
    lang = language(cookie_value(headers.get("cookie", ""), "lang"))
    await error_answer(404, tell("the residents' portal is not turned on here (portal.enabled)"), lang)(
        scope, receive, send)


class SiteApp:
    """One listener, two apps: ``/my`` and below to the portal, the rest to the console."""

    def __init__(self, console_app, portal_app):
        self.console_app = console_app
        self.portal_app = portal_app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and is_portal(scope["path"]):
            return await self.portal_app(scope, receive, send)
        return await self.console_app(scope, receive, send)


def site_app(console) -> SiteApp:
    from edge.office.console.app import create_app

    portal = create_portal_app(console) if console.config.portal.enabled else _not_enabled
    return SiteApp(create_app(console), portal)
