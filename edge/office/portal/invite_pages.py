"""Invitations, by a resident (DESIGN 8): a visitor on foot gets a QR pass for the resident's unit, a car whose
plate is not registered is registered for a window of at most a day; listed and cancelled, own unit only.

    GET    /my/api/invites             {"unit", "per_day", "left_today", "invites": [...]}, newest first
    POST   /my/api/invites             {"plate", "class": "family"|"visitor", "hours", "from"?} a car, or
                                       {"name", "hours", "from"?} a visitor on foot (→ the pass's "token" and its
                                       QR image "qr_png_base64", a PNG the office does not keep) → 201
    GET    /my/api/invites/<id>/pass   a visitor's pass shown again (the same token), while it may be used
    DELETE /my/api/invites/<id>        cancel: a car's window ends now, a visitor's pass is revoked
    GET    /my/invites                 the page: the two forms, the pass to save or share, the list

``from`` is a day (``YYYY-MM-DD``: today from now, a later day from its start) or a time
(``YYYY-MM-DDTHH:MM``, site time); none: now. The rules (the window, a plate already registered, the daily
limit ``portal.invites_per_unit_per_day``) are ``edge.registry.invites``'s; the committee turns the feature
off with ``portal.invites``. Another unit's invitation and one that does not exist are the same 404. Every
write is audited with the resident's number masked, refusals too (never the visitor's name).
"""

from __future__ import annotations

from datetime import timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import GateAnswer
from edge.office.console.fields import digits
from edge.office.portal.context import PortalArea, PortalContext
from edge.registry.invites import MAX_DAYS_AHEAD, MAX_HOURS, NAME_MAX, Invitations, Inviter, InviteRefused
from edge.schemas.phrases import tell


class InvitePages(PortalArea):
    def __init__(self, ctx: PortalContext):
        from edge.registry.passes import PassError, pass_issuer

        super().__init__(ctx)
        try:
            self.pass_key = pass_issuer(ctx.config)  # read once: the office's pass.key
        except PassError:
            self.pass_key = None  # no passes: section; a visitor's invitation says so (409)

    def invitations(self) -> Invitations:
        ctx = self.ctx
        return Invitations(ctx.store, ctx.zone, clock=ctx.now, pass_key=self.pass_key,
                           per_unit_per_day=ctx.config.portal.invites_per_unit_per_day)

    @staticmethod
    def inviter(resident: dict) -> Inviter:
        return Inviter(resident["unit"], resident["person_id"], f"portal:{resident['masked']}")

    # -- reading -----------------------------------------------------------------------------------
    def data(self, resident: dict) -> dict:
        ctx, unit = self.ctx, resident["unit"]
        invitations = self.invitations()
        rows = invitations.of_unit(unit)
        names = ctx.store.console.names(r["by_person_id"] for r in rows)
        per_day = ctx.config.portal.invites_per_unit_per_day
        today = ctx.today().isoformat()
        made_today = sum(1 for r in rows if r["made_at"].startswith(today))
        # The resident's own unit only: who of the household invited (a name), never another unit's number.
        shown = [{k: v for k, v in r.items() if k not in ("made_by", "by_person_id", "unit")}
                 | {"by": names[r["by_person_id"]]["name"] if r["by_person_id"] in names else None} for r in rows]
        return {"unit": unit, "per_day": per_day, "left_today": max(0, per_day - made_today), "invites": shown}

    @route("/my/api/invites", "GET")
    async def api_list(self, request: Request) -> Response:
        self.ctx.feature("invites")
        return JSONResponse(self.data(self.ctx.resident_of(request)))

    # -- writing -----------------------------------------------------------------------------------
    @route("/my/api/invites", "POST")
    async def api_make(self, request: Request) -> Response:
        ctx = self.ctx
        ctx.feature("invites")
        resident = ctx.resident_of(request)
        data = await ctx.body_of(request)
        car = data.get("plate") is not None
        if car == (data.get("name") is not None):
            raise GateAnswer(400, tell("give a plate (a car) or a name (a visitor on foot)"), field="plate")
        action = "invite_car" if car else "invite_visitor"
        detail = {"hours": data.get("hours"), "from": data.get("from")}
        if car:
            detail.update(plate=data.get("plate"), vehicle_class=data.get("class"))
        detail = {k: str(v)[:40] for k, v in detail.items() if v is not None}
        invitations, who = self.invitations(), self.inviter(resident)

        def make() -> dict:  # on the pool: a write, and for a visitor the pass's image drawn
            if car:
                return invitations.car(who, plate=data.get("plate"), vehicle_class=data.get("class"),
                                       hours=data.get("hours"), start=data.get("from"))
            return invitations.visitor(who, name=data.get("name"), hours=data.get("hours"), start=data.get("from"))

        try:
            made = await ctx.run_blocking(make)
        except InviteRefused as exc:
            ctx.audit(resident["masked"], action, None, {**detail, "field": exc.field}, "refused")
            raise GateAnswer(exc.status, exc.said, field=exc.field) from None
        ctx.audit(resident["masked"], action, f"invite:{made['id']}",
                  {**detail, "valid_from": made["valid_from"], "valid_until": made["valid_until"]}, "ok")
        ctx.published()
        return JSONResponse(made, status_code=201)

    @route("/my/api/invites/{invite_id}", "DELETE")
    async def api_cancel(self, request: Request) -> Response:
        ctx = self.ctx
        ctx.feature("invites")
        resident = ctx.resident_of(request)
        invite_id = ctx.path_number(request, "invite_id", resident, "invite_cancel",
                                    lambda raw: tell("no invitation {id}", id=raw))
        try:
            cancelled = self.invitations().cancel(invite_id, by=f"portal:{resident['masked']}", unit=resident["unit"])
        except InviteRefused as exc:
            ctx.audit(resident["masked"], "invite_cancel", f"invite:{invite_id}", {"field": exc.field}, "refused")
            raise GateAnswer(exc.status, exc.said, field=exc.field) from None
        ctx.audit(resident["masked"], "invite_cancel", f"invite:{invite_id}", {"kind": cancelled["kind"]}, "ok")
        ctx.published()
        return JSONResponse(cancelled)

    @route("/my/api/invites/{invite_id}/pass", "GET")
    async def api_pass(self, request: Request) -> Response:
        ctx = self.ctx
        ctx.feature("invites")
        resident = ctx.resident_of(request)
        raw = request.path_params["invite_id"]
        try:
            shown = await ctx.run_blocking(lambda: self.invitations().pass_of(digits(raw), unit=resident["unit"]))
        except InviteRefused as exc:
            raise GateAnswer(exc.status, exc.said, field=exc.field) from None
        return JSONResponse(shown)

    # -- the page ------------------------------------------------------------------------------------
    @route("/my/invites", "GET")
    async def page(self, request: Request) -> Response:
        ctx = self.ctx
        resident = ctx.resident_of(request)
        on = ctx.config.portal.invites
        today = ctx.today()
        return ctx.page(request, "invites.html", invites=self.data(resident) if on else None,
                        max_hours=MAX_HOURS, name_max=NAME_MAX, today=today.isoformat(),
                        last_day=(today + timedelta(days=MAX_DAYS_AHEAD)).isoformat(),
                        can_pass=self.pass_key is not None)
