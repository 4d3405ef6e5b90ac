"""The console's gates (DESIGN 6.5): what each gate last said of itself, and a remote open.

    GET  /api/gates                 each gate's cameras, barriers, outbox, clock offset, parking, registry copy
                                    against the office's, last heard and whether it is silent
    POST /api/gates/<gate>/open     {"lane": "in"|"out", "barrier"?, "reason"}: a signed ``open`` to the gate
                                    (guards and admins), audited with the gate's answer
    GET  /gates                     the page

``Gates.data`` is the one owner of "which gate has the office's registry": the registry pages show it too.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.contract import is_identifier
from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.schemas.phrases import tell
from edge.timeutil import iso


class Gates(ConsoleArea):
    """The gates as the office last heard them, and the guard's remote open."""

    def data(self) -> dict:
        office, config, zone = self.ctx.office, self.ctx.config, self.ctx.zone
        epoch, version = office.publisher.position()
        heard = self.ctx.store.gates.all()
        gates = []
        for name in sorted(set(config.gates) | set(heard)):
            seen = heard.get(name)
            status = seen["status"] if seen else {}
            synced = status.get("registry") or None
            current = bool(synced and synced.get("synced") and synced.get("epoch") == epoch
                           and synced.get("version") == version)
            gates.append({
                "gate": name, "expected": name in config.gates,
                "state": (seen or {}).get("state") or ("unknown" if seen else "never heard"),
                "last_heard": iso(seen["received_epoch"], zone) if seen else None,
                "age_s": round(office.silent_gates.silence_s(name), 1) if seen else None,
                "silent": office.silent_gates.silent(name),
                "version": status.get("version"), "cameras": status.get("cameras") or {},
                "barriers": status.get("barriers") or {}, "outbox": status.get("outbox"),
                "clock_offset_s": status.get("clock_offset_s"), "parking": status.get("parking"),
                "registry": synced, "registry_current": current,
                "status_problem": seen.get("problem") if seen else None,  # state "unreadable": why
            })
        return {"office_registry": {"epoch": epoch, "version": version}, "gates": gates}

    @route("/api/gates")
    async def api_list(self, request: Request) -> Response:
        return JSONResponse(self.data())

    @route("/gates")
    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "gates.html", data=self.data())

    @route("/api/gates/{gate}/open", "POST")
    async def api_open(self, request: Request) -> Response:
        ctx = self.ctx
        gate = request.path_params["gate"]
        user = ctx.need_role(request, "guard", "admin", write=("open", f"gate:{gate}"))
        if gate not in ctx.config.gates:
            raise HTTPException(404, tell("no gate {gate!r} at this site (gates: {gates})", gate=gate,
                                          gates=", ".join(sorted(ctx.config.gates))))
        data = await ctx.body_of(request)
        lane, barrier, reason = data.get("lane"), data.get("barrier") or None, data.get("reason")
        if lane not in ("in", "out"):
            raise HTTPException(400, tell("lane: in or out"))
        if barrier is not None and not is_identifier(barrier):
            raise HTTPException(400, tell("barrier: a barrier id"))
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
            raise HTTPException(400, tell("reason: why the gate is opened (up to {limit} characters)", limit=200))
        fields = {"lane": lane, **({"barrier": barrier} if barrier else {})}
        return await ctx.command(user, "open", f"gate:{gate}", gate, "open", fields, {"reason": reason.strip()})
