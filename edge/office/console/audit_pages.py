"""The console's audit trail (DESIGN 6.5), for admins: every login and every write, who, when, what and
its outcome (``guard``'s audit rule says which writes are recorded).

    GET /api/audit?limit=N      the newest N entries (1 to 1000, 100 by default)
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.office.console.fields import digits
from edge.schemas.phrases import tell
from edge.timeutil import iso


class Audit(ConsoleArea):
    @route("/api/audit")
    async def api_audit(self, request: Request) -> Response:
        ctx = self.ctx
        ctx.need_role(request, "admin")
        limit = digits(request.query_params.get("limit") or "100")
        if limit is None:
            raise HTTPException(400, tell("limit: a whole number from 1 to 1000"))
        limit = max(1, min(limit, 1000))
        rows = ctx.store.console.audit_rows(limit)
        return JSONResponse([{**r, "ts": iso(r["ts_epoch"], ctx.zone)} for r in rows])
