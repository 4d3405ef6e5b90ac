"""What every area of the portal shares (``PortalContext``), and the shape of its answers.

Each area (a ``PortalArea``, in ``login_pages``, ``household_pages``, ``away_pages``, ``invite_pages``, and any
added later) is built on one ``PortalContext``, built once by ``app.create_portal_app``: the console (the
server the portal shares), the office, its config and store, the templates, the login codes, and the helpers
every route uses (the resident asking, a feature the committee may have turned off, the audit, the body,
a page, an error). Errors are the console's: JSON ``{"error", "message"}``, ``error`` in English,
``message`` in the page's language (Chinese unless the ``lang`` cookie says en).

A resident is the session's person (``resident_of``): ``person_id``, ``unit``, ``name``, ``masked`` (their
number as the audit shows it). Their unit is read from the registry at each request: a person moved to
another unit sees that unit's household, a person erased has no session any more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from edge.office.console import catalogs
from edge.office.console.area import Area
from edge.office.console.context import WebContext, page_templates
from edge.office.console.fields import digits
from edge.office.console.words import word
from edge.schemas.phrases import Said, tell

if TYPE_CHECKING:
    from edge.office.portal.codes import LoginCodes

HERE = Path(__file__).parent
FEATURES = ("login", "household", "invites", "away")
ROLE = "resident"  # the audit's role of a portal write


def portal_templates() -> Jinja2Templates:
    return page_templates(HERE / "templates")


@dataclass
class PortalContext(WebContext):
    """The portal's shared dependencies: ``WebContext``'s (the console's server, the office...) and the login
    codes."""

    codes: LoginCodes

    # -- time ------------------------------------------------------------------------------------
    def today(self):
        return datetime.fromtimestamp(self.now(), self.zone).date()

    # -- who asks, and what they may do --------------------------------------------------------
    @staticmethod
    def resident_of(request: Request) -> dict:
        return request.scope["state"]["resident"]

    def feature(self, name: str) -> None:
        """403 when the committee turned ``name`` (one of ``FEATURES``) off in ``portal:``."""
        if not getattr(self.config.portal, name):
            raise HTTPException(403, tell("the committee has turned this off (portal.{feature})", feature=name))

    def audit(self, who: str, action: str, target: str | None, detail: dict, outcome: str) -> None:
        """A portal write in the console's audit: ``who`` is ``portal:<masked number>``, the role ``resident``."""
        self.store.console.audit(self.now(), f"portal:{who}", ROLE, action, target, detail, outcome)

    def path_number(self, request: Request, param: str, resident: dict, action: str, said: Callable[[str], Said],
                    *, find: Callable[[int], Any] = lambda number: number, detail: dict | None = None):
        """What the path's number ``param`` names for ``resident``: ``find(number)``, the number itself by default.
        When it is no number or ``find`` answers None (not there, or not the resident's: the same answer), the
        refusal is audited (``action`` on ``<param without _id>:<as typed>``, ``detail``) and answered 404
        ``said(as typed)``."""
        raw = request.path_params[param]
        number = digits(raw)
        found = find(number) if number is not None else None
        if found is None:
            self.audit(resident["masked"], action, f"{param.removesuffix('_id')}:{raw}"[:80], detail or {}, "refused")
            raise HTTPException(404, said(raw[:20]))
        return found

    # -- answers ---------------------------------------------------------------------------------
    def page(self, request: Request, name: str, **context) -> Response:
        lang = self.lang_of(request)
        resident = request.scope.get("state", {}).get("resident")
        return self.templates.TemplateResponse(request, name, {
            "lang": lang, "resident": resident, "csrf": resident["csrf"] if resident else "",
            "site": self.config.site, "portal": self.config.portal,
            "yuan": lambda cents: f"{(cents or 0) / 100:.2f}",
            "word": lambda table, value: word(catalogs.gettext_for(lang), table, value),
            "page_name": name.removesuffix(".html"), **context})


class PortalArea(Area):
    """An area of the portal (``edge.office.console.area.Area``) on the ``PortalContext``."""

    ctx: PortalContext
