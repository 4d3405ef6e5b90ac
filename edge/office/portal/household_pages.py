"""My household (DESIGN 8): the resident's own unit, its people and its vehicles, as JSON and as the home page.

    GET /my/api/household   {"unit", "people": [{person_id, name, care_watch, away_until, away, away_via}],
                             "vehicles": [{plate, class, valid_from, valid_until, valid_now, open_session,
                             fee_due_cents}]}
    GET /my/                the same, as the page a resident opens on a phone

Only the unit of the session's person (``PortalContext.resident_of``), read from the registry at each request:
nothing of another unit. The registry's reads are ``edge.registry.query.query_household``'s (the fee due is
``edge.rules.parking``'s, as the exit and the console say it); a pause in force is ``Absences.of_person``'s.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.portal.context import PortalArea
from edge.registry.query import query_household
from edge.rules.away import MAX_DAYS, REASON_MAX


class Household(PortalArea):
    def data(self, unit: str) -> dict:
        ctx, now = self.ctx, self.ctx.now()
        found = query_household(ctx.store, ctx.config, unit, now)
        people = []
        for person in found["people"]:
            row = ctx.store.people.find_by_id(person["person_id"])
            away = ctx.office.absences.of_person(row, now) if row is not None else None
            people.append({**person, "away_until": away["last_day"] if away else None,
                           "away": {k: away[k] for k in ("until", "last_day", "reason")} if away else None,
                           "away_via": away["via"] if away else None})
        vehicles = [{"plate": v["plate"], "class": v["class"], "valid_from": v["permit"]["valid_from"],
                     "valid_until": v["permit"]["valid_until"], "valid_now": v["permit"]["valid_now"],
                     "open_session": v["open_session"], "fee_due_cents": v["fee_due_cents"]}
                    for v in found["vehicles"]]
        return {"unit": unit, "people": people, "vehicles": vehicles}

    @route("/my/api/household")
    async def api(self, request: Request) -> Response:
        self.ctx.feature("household")
        resident = self.ctx.resident_of(request)
        return JSONResponse(await self.ctx.run_blocking(self.data, resident["unit"]))

    @route("/my/")
    async def page(self, request: Request) -> Response:
        ctx = self.ctx
        resident = ctx.resident_of(request)
        household = await ctx.run_blocking(self.data, resident["unit"]) if ctx.config.portal.household else None
        from datetime import timedelta

        today = ctx.today()
        return ctx.page(request, "household.html", household=household, max_days=MAX_DAYS, reason_max=REASON_MAX,
                        first_allowed=(today + timedelta(days=1)).isoformat(),
                        last_allowed=(today + timedelta(days=MAX_DAYS)).isoformat())
