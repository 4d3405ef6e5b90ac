"""The console's QR passes (DESIGN 6.5): issue, list, revoke, and a printable page for a new pass.

    GET    /api/passes              every pass issued, newest first: subject, issued, valid_until, state
    POST   /api/passes              {"person_id"|"plate", "valid_hours"} → the pass, its token and its QR
                                    image ("qr_png_base64", a PNG); the office keeps neither token nor image
    DELETE /api/passes/<pass_id>    revoke (in site mode the signed revocation reaches every gate)
    GET    /passes                  the list and the issue forms
    POST   /passes                  the issue form (HTML): answers with the pass to print

Passes are signed with the office's ``passes.signing_key_file`` (``edge.registry.passes.pass_issuer``); without
a ``passes:`` section the office cannot issue and says so (409). Who may do what:
- an admin issues any pass up to ``passes.max_valid_hours`` and revokes any pass;
- a guard issues a visitor's pass of at most ``GUARD_MAX_VALID_HOURS`` and revokes the passes they
  issued here (the audit table records who issued each pass).
Each issue and revocation is audited, and so is each one refused to a guard (403, outcome "refused"),
as every console write is (``guard``'s audit rule).
"""

from __future__ import annotations

import base64
import re

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console import fields
from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.schemas.phrases import tell
from edge.timeutil import iso

# A guard at the lodge lets a visitor in for the day (a relative, a carer, a delivery van): 24 hours
# covers a visit that runs past midnight. A longer pass (a resident's alternative to face recognition,
# valid for months; a carer who comes every week) is a decision of the committee, made by an admin.
GUARD_MAX_VALID_HOURS = 24
PRESET_HOURS = (2, 4, 8, 24, 72, 168, 720, 2160, 8784)  # the issue form's choices, up to the user's bound
_PASS_ID = re.compile(r"^[0-9a-f]{12}$")


class Passes(ConsoleArea):
    """The QR passes issued here: list, issue (JSON and the printable page), revoke."""

    # -- reading -----------------------------------------------------------------------------
    def data(self, rows: list[dict] | None = None) -> list[dict]:
        """The passes (``rows`` of ``store.passes``; all of them, newest first, by default) as the API gives them."""
        store, zone = self.ctx.store, self.ctx.zone
        rows = list(reversed(store.passes.all())) if rows is None else rows
        people = store.console.names(r["person_id"] for r in rows)
        issuers = store.console.actors("pass_issue", (f"pass:{r['pass_id']}" for r in rows))
        now = self.ctx.now()
        out = []
        for r in rows:
            person = people.get(r["person_id"])
            state = "revoked" if r["revoked_epoch"] else "expired" if now > r["valid_until_epoch"] else "valid"
            out.append({
                "pass_id": r["pass_id"], "state": state,
                "subject": {"type": r["subject_type"], "person_id": r["person_id"], "plate": r["plate"],
                            **({"unit": r["unit"]} if r["unit"] else {})},
                "person": {"name": person["name"], "unit": person["unit"]} if person else None,
                "issued": iso(r["issued_epoch"], zone), "valid_until": iso(r["valid_until_epoch"], zone),
                "revoked": iso(r["revoked_epoch"], zone) if r["revoked_epoch"] else None,
                "issued_by": issuers.get(f"pass:{r['pass_id']}")})
        return out

    def bound(self, user: dict) -> int | None:
        """The longest pass ``user`` may issue (hours), or None when this office cannot issue passes."""
        section = self.ctx.config.passes
        if section is None:
            return None
        limit = section.max_valid_hours
        return limit if user["role"] == "admin" else min(limit, GUARD_MAX_VALID_HOURS)

    def may_revoke(self, user: dict, row: dict) -> bool:
        return row["state"] != "revoked" and (user["role"] == "admin" or row["issued_by"] == user["username"])

    @route("/api/passes", "GET")
    async def api_list(self, request: Request) -> Response:
        return JSONResponse(self.data())

    # -- issuing -----------------------------------------------------------------------------
    def issue(self, user: dict, data: dict) -> dict:
        """Check, sign, record and audit one pass; the answer carries the token and its QR image."""
        from edge.registry.passes import PassError, issue_token, pass_issuer, qr_png, record_pass

        ctx, store = self.ctx, self.ctx.store
        try:
            key = pass_issuer(ctx.config)
        except PassError as exc:
            raise HTTPException(409, tell("this office cannot issue passes: {detail}", detail=str(exc))) from None
        person_id = fields.whole(data.get("person_id"), "person_id")
        plate = fields.text(data, "plate", limit=20)
        if (person_id is None) == (plate is None):
            raise HTTPException(400, tell("give one of person_id or plate"))
        hours = fields.number(data.get("valid_hours"), "valid_hours")
        if hours is None:
            raise HTTPException(400, tell("valid_hours: how long the pass is valid, in hours"))
        limit = ctx.config.passes.max_valid_hours
        if hours > limit:
            raise HTTPException(400, tell("valid_hours: at most {limit} (passes.max_valid_hours)", limit=limit))
        if person_id is not None and store.people.find_by_id(person_id) is None:
            raise HTTPException(400, tell("person_id: no person {person_id}", person_id=person_id))
        if plate is not None:
            plate = fields.plate(plate)
            vehicle = store.vehicles.get(plate)
            if vehicle is not None and vehicle["class"] == "blocked":
                raise HTTPException(409, tell("{plate} is blocked: no pass opens the barrier for it", plate=plate))
        subject = {"person_id": person_id, "plate": plate, "valid_hours": hours}
        if hours > self.bound(user):
            ctx.audit(user, "pass_issue", None, subject, "refused")
            raise HTTPException(403, tell("a guard may issue passes of up to {hours} hours; a longer pass is issued by "
                                          "an admin", hours=GUARD_MAX_VALID_HOURS))
        token, claim = issue_token(key, person_id=person_id, plate=plate, valid_hours=hours, now=ctx.now())
        png = qr_png(token)
        with store.transaction():
            record_pass(store, claim)
            ctx.audit(user, "pass_issue", f"pass:{claim.pass_id}",
                      {**subject, "valid_until": iso(claim.valid_until, ctx.zone)}, "ok")
        person = store.people.find_by_id(person_id) if person_id is not None else None
        return {"pass_id": claim.pass_id, "subject": claim.subject(),
                "person": {"name": person["name"], "unit": person["unit"]} if person else None,
                "issued": iso(claim.issued, ctx.zone), "valid_until": iso(claim.valid_until, ctx.zone),
                "valid_hours": hours, "token": token, "qr_png_base64": base64.b64encode(png).decode("ascii")}

    @route("/api/passes", "POST")
    async def api_issue(self, request: Request) -> Response:
        user = self.ctx.need_role(request, "guard", "admin", write=("pass_issue", None))
        return JSONResponse(self.issue(user, await self.ctx.body_of(request)), status_code=201)

    @route("/api/passes/{pass_id}", "DELETE")
    async def api_revoke(self, request: Request) -> Response:
        from edge.registry.passes import revoke_pass

        ctx, store = self.ctx, self.ctx.store
        pass_id = request.path_params["pass_id"]
        user = ctx.need_role(request, "guard", "admin", write=("pass_revoke", f"pass:{pass_id}"))
        if not _PASS_ID.match(pass_id):
            raise HTTPException(400, tell("pass id: {value!r} is not a pass id (12 hexadecimal digits)", value=pass_id))
        found = store.passes.get(pass_id)
        if found is None:
            raise HTTPException(404, tell("no pass {pass_id}", pass_id=pass_id))
        row = self.data([found])[0]
        if row["state"] == "revoked":
            raise HTTPException(409, tell("pass {pass_id} is already revoked", pass_id=pass_id))
        if not self.may_revoke(user, row):
            ctx.audit(user, "pass_revoke", f"pass:{pass_id}", {"issued_by": row["issued_by"]}, "refused")
            raise HTTPException(403, tell("a guard may revoke only the passes they issued; ask an admin"))
        with store.transaction():
            revoke_pass(store, pass_id, ctx.now())
            ctx.audit(user, "pass_revoke", f"pass:{pass_id}", {"subject": row["subject"]}, "ok")
        ctx.published()
        return JSONResponse({"pass_id": pass_id, "revoked": True})

    # -- pages -------------------------------------------------------------------------------
    def list_page(self, request: Request, error: str | None = None, status: int = 200) -> Response:
        ctx = self.ctx
        user = ctx.user_of(request)
        bound = self.bound(user)
        rows = self.data()
        people = sorted(ctx.store.people.all(), key=lambda p: (p["unit"], p["name"]))
        response = ctx.page(request, "passes.html", passes=rows, people=people, bound=bound, error=error,
                            presets=[h for h in PRESET_HOURS if bound and h <= bound],
                            revocable={r["pass_id"] for r in rows if self.may_revoke(user, r)})
        response.status_code = status
        return response

    @route("/passes", "GET")
    async def page(self, request: Request) -> Response:
        return self.list_page(request)

    @route("/passes", "POST")
    async def page_issue(self, request: Request) -> Response:
        user = self.ctx.need_role(request, "guard", "admin", write=("pass_issue", None))
        data = await self.ctx.body_of(request)  # a body past its bound is the console's 413, not the form's
        try:
            issued = self.issue(user, data)
        except HTTPException as exc:
            return self.list_page(request, str(exc.detail), exc.status_code)
        return self.ctx.page(request, "pass_print.html", issued=issued)

