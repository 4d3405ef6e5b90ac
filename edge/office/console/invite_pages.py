"""The committee's view of residents' invitations (DESIGN 8: the committee stays in charge).

    GET    /api/invites          every unit's invitations, newest first, with who made each (the person's
                                 name and unit beside the portal's label)
    DELETE /api/invites/<id>     an admin cancels any invitation: a car's window ends now, a visitor's pass is
                                 revoked (signed, to every gate); audited
    GET    /invites              the same list as a page, with a cancel button for an admin

Residents make invitations in the portal (``/my/api/invites``); the rules are ``edge.registry.invites``'s.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import ConsoleArea, ConsoleContext, GateAnswer
from edge.office.console.fields import digits
from edge.schemas.phrases import tell


def invitations(ctx: ConsoleContext):
    """The office's ``Invitations`` on the console's clock (the portal's are the same rules on the same store)."""
    from edge.registry.invites import Invitations

    return Invitations(ctx.store, ctx.zone, clock=ctx.now)


class InvitePages(ConsoleArea):
    def data(self) -> list[dict]:
        rows = invitations(self.ctx).recent()
        people = self.ctx.store.console.names(r["by_person_id"] for r in rows)
        return [{**r, "person": ({"name": people[r["by_person_id"]]["name"], "unit": people[r["by_person_id"]]["unit"]}
                                 if r["by_person_id"] in people else None)} for r in rows]

    @route("/api/invites", "GET")
    async def api_list(self, request: Request) -> Response:
        return JSONResponse(self.data())

    @route("/api/invites/{invite_id}", "DELETE")
    async def api_cancel(self, request: Request) -> Response:
        from edge.registry.invites import InviteRefused

        ctx = self.ctx
        raw = request.path_params["invite_id"]
        target = f"invite:{raw}"[:80]
        user = ctx.need_role(request, "admin", write=("invite_cancel", target))
        invite_id = digits(raw)
        if invite_id is None:
            raise HTTPException(400, tell("invitation id: {value!r} is not a number", value=raw))
        try:
            cancelled = invitations(ctx).cancel(invite_id, by=f"console:{user['username']}")
        except InviteRefused as exc:
            raise GateAnswer(exc.status, exc.said, field=exc.field) from None
        ctx.audit(user, "invite_cancel", target, {"unit": cancelled["unit"], "kind": cancelled["kind"]}, "ok")
        ctx.published()
        return JSONResponse(cancelled)

    @route("/invites", "GET")
    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "invites.html", invites=self.data())
