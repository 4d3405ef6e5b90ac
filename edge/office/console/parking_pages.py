"""The console's parking (DESIGN 6.5): capacity and occupancy, open sessions, held exits and their fees.

    GET  /api/parking                         ``edge.rules.parking.parking_view`` on the console's clock
    POST /api/parking/<session_id>/pay        {"amount_cents"}: payment received (guards and admins): a signed
                                              ``pay`` to the gate holding the car (or where it came in), audited
                                              with the gate's answer
    GET  /parking                             the page
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.office.console.context import ConsoleContext
from edge.office.console.fields import digits
from edge.schemas.phrases import tell


def routes(ctx: ConsoleContext) -> list[Route]:
    parking = Parking(ctx)
    return [
        Route("/api/parking", parking.api_view),
        Route("/api/parking/{session_id}/pay", parking.api_pay, methods=["POST"]),
        Route("/parking", parking.page),
    ]


class Parking:
    """The site's parking as the office's archive knows it, and the fee taken at the lodge."""

    def __init__(self, ctx: ConsoleContext):
        self.ctx = ctx

    def data(self) -> dict:
        from edge.rules.parking import parking_view

        ctx = self.ctx
        return parking_view(ctx.store, ctx.config.site_settings.parking, ctx.zone, ctx.now())

    async def api_view(self, request: Request) -> Response:
        return JSONResponse(self.data())

    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "parking.html", data=self.data())

    async def api_pay(self, request: Request) -> Response:
        ctx = self.ctx
        session_id = request.path_params["session_id"]
        user = ctx.need_role(request, "guard", "admin", write=("pay", f"session:{session_id}"))
        data = await ctx.body_of(request)
        amount = data.get("amount_cents")
        if isinstance(amount, str):
            amount = digits(amount.strip())  # an HTML form's field
        if isinstance(amount, bool) or not isinstance(amount, int) or not 0 <= amount <= 10_000_000:
            raise HTTPException(400, tell("amount_cents: a whole number of cents, 0 or more"))
        view = self.data()
        session = next((s for s in view["held"] if s["session_id"] == session_id), None)
        session = session or next((s for s in view["open"] if s["session_id"] == session_id), None)
        if session is None:
            raise HTTPException(404, tell("no open parking session {session_id}", session_id=session_id))
        gate = session.get("held_gate") or session.get("entry_gate")
        if not gate:
            raise HTTPException(409, tell("session {session_id}: no gate knows where the car is",
                                          session_id=session_id))
        return await ctx.command(user, "pay", f"session:{session_id}", gate, "pay",
                                 {"session_id": session_id, "amount_cents": amount},
                                 {"plate": session["plate"], "fee_due_cents": session["fee_due_cents"]})
