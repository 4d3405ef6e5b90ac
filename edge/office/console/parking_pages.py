"""The console's parking (DESIGN 6.5): capacity and occupancy, open sessions, held exits and their fees.

    GET  /api/parking                         ``edge.rules.parking.parking_view`` on the console's clock
    POST /api/parking/<session_id>/pay        {"amount_cents"}: payment received (guards and admins): a signed
                                              ``pay`` to the gate holding the car (or where it came in), audited
                                              with the gate's answer
    POST /api/parking/<session_id>/correct    {"plate"}: the session's car is this plate (a reading was wrong): a
                                              signed ``correct`` to the gate holding the session (issue 31)
    POST /api/parking/exits/<event_id>/correct  {"session_id"}: the car held at that exit with no session of its
                                              own is this session's: a signed ``correct`` to the exit's gate
    GET  /parking                             the page

A correction that waives the fee needs an admin: to a resident's plate (its registration valid at the entry), or
naming a resident's session for a held car; guards make the others. Every correction is audited (``correct``,
with the gate's answer), and refused here, before anything is sent, when the session is not open, the plate is
not one, is the session's already or is blocked, or the exit no longer waits; and when that plate's car has
another open session (409, ``correction_car_in_lot``: that session, the gate and time it entered; the gate
refuses the same, as its result's ``error_code``, should the office not know that session yet).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console import fields
from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.office.console.fields import digits
from edge.rules.parking import car_in_lot, in_lot_refusal
from edge.schemas.phrases import tell


class Parking(ConsoleArea):
    """The site's parking as the office's archive knows it, and the fee taken at the lodge."""

    def data(self) -> dict:
        from edge.rules.parking import parking_view

        ctx = self.ctx
        return parking_view(ctx.store, ctx.config.site_settings.parking, ctx.zone, ctx.now())

    @route("/api/parking")
    async def api_view(self, request: Request) -> Response:
        return JSONResponse(self.data())

    @route("/parking")
    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "parking.html", data=self.data())

    @route("/api/parking/{session_id}/pay", "POST")
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
        gate = self._gate_of(session, session_id)
        return await ctx.command(user, "pay", f"session:{session_id}", gate, "pay",
                                 {"session_id": session_id, "amount_cents": amount},
                                 {"plate": session["plate"], "fee_due_cents": session["fee_due_cents"]})

    def _open_session(self, session_id: str) -> dict:
        session = self.ctx.store.sessions.get(session_id)
        if session is None or session["state"] != "open":
            raise HTTPException(404, tell("no open parking session {session_id}", session_id=session_id))
        return session

    @staticmethod
    def _gate_of(session: dict, session_id: str) -> str:
        """The gate that holds the session's car, or the one it came in by; 409 when no gate knows."""
        gate = session.get("held_gate") or session.get("entry_gate")
        if not gate:
            raise HTTPException(409, tell("session {session_id}: no gate knows where the car is",
                                          session_id=session_id))
        return gate

    async def _correction(self, request: Request, param: str, kind: str) -> tuple[str, str, dict, dict]:
        """A correction's start: what the path's ``param`` names, its audit target ``<kind>:<it>``, the user (a
        guard or an admin: ``need_role``'s audit rule) and the body."""
        named = request.path_params[param]
        target = f"{kind}:{named}"
        user = self.ctx.need_role(request, "guard", "admin", write=("correct", target))
        return named, target, user, await self.ctx.body_of(request)

    def _waives_fee(self, request: Request, plate: str, session: dict, target: str) -> None:
        """An admin, when ``plate`` is a resident's (valid at the session's entry): the fee is waived."""
        from edge.rules.permits import effective_class

        ctx = self.ctx
        if effective_class(ctx.store.vehicles.get(plate), session["entry_epoch"], ctx.zone) == "resident":
            ctx.need_role(request, "admin", write=("correct", target))

    @route("/api/parking/{session_id}/correct", "POST")
    async def api_correct(self, request: Request) -> Response:
        ctx = self.ctx
        session_id, target, user, data = await self._correction(request, "session_id", "session")
        plate = fields.plate(data.get("plate"))
        session = self._open_session(session_id)
        if plate == session["plate"]:
            raise HTTPException(400, tell("session {session_id} is {plate} already", session_id=session_id,
                                          plate=plate))
        registered = ctx.store.vehicles.get(plate)
        if registered is not None and registered["class"] == "blocked":
            raise HTTPException(409, tell("{plate} is a blocked vehicle: a correction never lets it out", plate=plate))
        other = car_in_lot(session_id, ctx.store.sessions.entries_for(plate))
        if other is not None:  # that car has a stay of its own: which is the phantom is the guard's to say
            raise HTTPException(409, in_lot_refusal(plate, other, ctx.zone).said)
        self._waives_fee(request, plate, session, target)
        gate = self._gate_of(session, session_id)
        return await ctx.command(user, "correct", target, gate, "correct", {"session_id": session_id, "plate": plate},
                                 {"was": session["plate"]})

    @route("/api/parking/exits/{event_id}/correct", "POST")
    async def api_correct_exit(self, request: Request) -> Response:
        ctx = self.ctx
        event_id, target, user, data = await self._correction(request, "event_id", "exit")
        session_id = fields.text(data, "session_id", limit=64, required=True)
        held = next((h for h in self.data()["unmatched"] if h["event_id"] == event_id), None)
        if held is None:
            raise HTTPException(404, tell("no car waits for the guard at exit {event_id}", event_id=event_id))
        session = self._open_session(session_id)
        self._waives_fee(request, session["plate"], session, target)
        return await ctx.command(user, "correct", target, held["gate"], "correct",
                                 {"session_id": session_id, "exit_event_id": event_id},
                                 {"read_plate": held["plate"], "plate": session["plate"]})
