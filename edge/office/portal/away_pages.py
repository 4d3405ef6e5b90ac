"""Away, by a resident (DESIGN 7 and 8): pause care-watch for a person of their own unit, or end the pause.

    PUT    /my/api/away/<person_id>   {"until": "YYYY-MM-DD", "reason"} → {"person_id", "away"}
    DELETE /my/api/away/<person_id>   the pause ends now → {"person_id", "away": null, "ended"}

The same path as the console's admin routes (``edge.office.console.person_pages``): ``Absences`` (its rule is
``edge.rules.away``'s: at most 60 days, the duty recipients and the person's contacts told), with ``by`` the
resident's masked number (``portal:139****5678``) and ``how`` ``portal``, so the console lists who set it.
A person of another unit, and a person who does not exist, are the same 404: nothing says which. Every
write is audited, refusals too (the number masked; no reason, as the console's).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import GateAnswer
from edge.office.portal.context import PortalArea
from edge.rules.away import AwayRefused
from edge.schemas.phrases import tell


class Away(PortalArea):
    def asked(self, request: Request, action: str) -> tuple[dict, dict]:
        """The resident asking (the feature on), and the person the path names, of the resident's own unit; 404
        (audited) for anyone else."""
        ctx = self.ctx
        ctx.feature("away")
        resident = ctx.resident_of(request)

        def own(number: int) -> dict | None:
            row = ctx.store.people.find_by_id(number)
            return row if row is not None and row["unit"] == resident["unit"] else None

        person = ctx.path_number(request, "person_id", resident, action,
                                 lambda raw: tell("no person {person_id} in your household", person_id=raw),
                                 find=own, detail={"unit": resident["unit"]})
        return resident, person

    @route("/my/api/away/{person_id}", "PUT")
    async def set(self, request: Request) -> Response:
        ctx = self.ctx
        resident, person = self.asked(request, "away_set")
        data = await ctx.body_of(request)
        target = f"person:{person['id']}"
        try:
            with ctx.store.transaction():
                change = ctx.office.absences.set(person["id"], data.get("until"), data.get("reason"),
                                                 f"portal:{resident['masked']}", how="portal")
                ctx.audit(resident["masked"], "away_set", target, {"last_day": change.last_day}, "ok")
        except AwayRefused as exc:
            ctx.audit(resident["masked"], "away_set", target, {"field": exc.field}, "refused")
            raise GateAnswer(400, exc.said, field=exc.field) from None
        ctx.published()
        row = ctx.store.people.get(person["id"])
        away = ctx.office.absences.of_person(row)
        return JSONResponse({"person_id": person["id"],
                             "away": {k: away[k] for k in ("until", "last_day", "reason")} if away else None})

    @route("/my/api/away/{person_id}", "DELETE")
    async def end(self, request: Request) -> Response:
        ctx = self.ctx
        resident, person = self.asked(request, "away_end")
        target = f"person:{person['id']}"
        with ctx.store.transaction():
            change = ctx.office.absences.end(person["id"], f"portal:{resident['masked']}", how="portal")
            if change is not None:
                ctx.audit(resident["masked"], "away_end", target, {"ended": change.until}, "ok")
        if change is None:
            raise HTTPException(404, tell("person {person_id} is not away", person_id=person["id"]))
        ctx.published()
        return JSONResponse({"person_id": person["id"], "away": None, "ended": change.until})
