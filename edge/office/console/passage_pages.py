"""The console's passages (DESIGN 6.5): entries, exits, denials and strangers from every gate, as they happen.

    GET /api/events?since=|date=|gate=|kind=|limit=    the archived events, each with its person's name and unit
    GET /api/events/stream                             server-sent events: each event, alert and acknowledgement
                                                       the archive announces (``Console.broadcaster``), with the
                                                       words the page shows in its language; a keep-alive
                                                       comment every 15 s of quiet
    GET /passages                                      the page, filterable by gate, kind and date
"""

from __future__ import annotations

import asyncio
import json
from datetime import date

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from edge.contract import is_identifier
from edge.office.console.area import route
from edge.office.console.catalogs import device, said
from edge.office.console.context import ConsoleArea
from edge.office.console.fields import digits
from edge.office.console.words import field as named
from edge.office.console.words import listing
from edge.schemas.phrases import tell
from edge.timeutil import parse_iso, start_of_day

KINDS = ("entry", "exit", "denied", "stranger", "session")
KEEP_ALIVE_S = 15


class Passages(ConsoleArea):
    """The archive's events as the API, the page and the live stream show them."""

    def data(self, params) -> list[dict]:
        """The events ``params`` asks for (``since``, ``date``, ``gate``, ``kind``, ``limit``), with people."""
        zone = self.ctx.zone
        since = until = None
        if params.get("since"):
            try:
                since = parse_iso(params["since"])
            except ValueError:
                raise HTTPException(400, tell("since: {value!r} is not an ISO time", value=params["since"])) from None
        if params.get("date"):
            try:
                day = date.fromisoformat(params["date"])
            except ValueError:
                raise HTTPException(400, tell("date: {value!r} is not YYYY-MM-DD", value=params["date"])) from None
            since = max(since or 0.0, start_of_day(day, zone))
            until = start_of_day(date.fromordinal(day.toordinal() + 1), zone)
        gate = params.get("gate") or None
        if gate is not None and not is_identifier(gate):
            raise HTTPException(400, tell("gate: {value!r} is not a gate name", value=gate))
        kind = params.get("kind") or None
        if kind is not None and kind not in KINDS:
            raise HTTPException(400, tell("{field}: one of {items}", field=named("kind"), items=listing(KINDS)))
        limit = digits(params.get("limit") or "100")
        if limit is None or not 1 <= limit <= 1000:
            raise HTTPException(400, tell("limit: a whole number from 1 to 1000"))
        rows = self.ctx.store.console.events(since_epoch=since, until_epoch=until, gate=gate, kind=kind, limit=limit)
        return self.with_people(rows)

    def with_people(self, events: list[dict]) -> list[dict]:
        """``events``, each with ``person``: the name and unit of the person it names (None if none)."""
        people = self.ctx.store.console.names((e.get("subject") or {}).get("person_id") for e in events)
        out = []
        for event in events:
            person = people.get((event.get("subject") or {}).get("person_id"))
            out.append({**event, "person": {"name": person["name"], "unit": person["unit"]} if person else None})
        return out

    @route("/api/events")
    async def api_list(self, request: Request) -> Response:
        return JSONResponse(self.data(request.query_params))

    @route("/api/events/stream")
    async def api_stream(self, request: Request) -> Response:
        queue = self.ctx.console.broadcaster.listen()  # listening before the answer starts
        return StreamingResponse(self.stream(queue, self.ctx.lang_of(request)), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def stream(self, queue: asyncio.Queue, lang: str):
        """The live stream's text until the console closes (or the browser goes)."""
        console = self.ctx.console
        try:
            yield ": connected\n\nretry: 2000\n\n"
            quiet = 0.0
            while not console.closing.is_set():
                try:
                    kind, payload = await asyncio.wait_for(queue.get(), 1.0)
                except TimeoutError:
                    quiet += 1.0
                    if quiet >= KEEP_ALIVE_S:
                        quiet = 0.0
                        yield ": keep-alive\n\n"
                    continue
                quiet = 0.0
                data = json.dumps(self.announced(kind, payload, lang), ensure_ascii=False, default=str)
                yield f"event: {kind}\ndata: {data}\n\n"
        finally:
            console.broadcaster.forget(queue)

    def announced(self, kind: str, payload: dict, lang: str) -> dict:
        """An announcement with the words the page shows, in the page's language."""
        if kind == "event":
            return {**self.with_people([payload])[0], "reason_text": said(payload, "reason", lang)}
        if kind == "alert" and payload.get("device"):
            return {**payload, "device_text": device(payload["device"], lang)}
        return payload

    @route("/passages")
    async def page(self, request: Request) -> Response:
        params = dict(request.query_params)
        params.setdefault("limit", "200")
        ctx = self.ctx
        return ctx.page(request, "passages.html", events=self.data(params), filters=params, kinds=KINDS,
                        gate_names=sorted(set(ctx.config.gates) | set(ctx.store.console.event_gates())))
