"""The console's vehicle query (DESIGN 6.5): what ``gate-edge query`` answers, for a plate or a person.

    GET /api/query?plate=P | ?person=ID     registration, permit, last seen, open session, fee due now
                                            (``edge.registry.query``)
    GET /query?plate=P                      the page: a plate's answer, or why there is none
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import ConsoleArea
from edge.office.console.fields import digits
from edge.office.console.words import field as named
from edge.schemas.phrases import tell


class Query(ConsoleArea):
    """The registry's answer for one plate or one person."""

    def data(self, params) -> dict:
        from edge.plates import InvalidPlate
        from edge.registry.query import query_person, query_plate
        from edge.store import RegistryError

        store, config = self.ctx.store, self.ctx.config
        plate, person = params.get("plate"), params.get("person")
        if bool(plate) == bool(person):
            raise HTTPException(400, tell("give one of plate=P or person=ID"))
        if plate:
            try:
                return query_plate(store, config, plate)
            except InvalidPlate as exc:
                raise HTTPException(400, exc.said) from None
        person_id = digits(person)
        if person_id is None:
            raise HTTPException(400, tell("{field}: {value!r} is not a person id", field=named("person"),
                                          value=person[:40]))
        try:
            return query_person(store, config, person_id)
        except RegistryError as exc:
            raise HTTPException(404, exc.said) from None

    @route("/api/query")
    async def api_query(self, request: Request) -> Response:
        return JSONResponse(self.data(request.query_params))

    @route("/query")
    async def page(self, request: Request) -> Response:
        answer, error = None, None
        if request.query_params.get("plate"):
            try:
                answer = self.data({"plate": request.query_params["plate"]})
            except HTTPException as exc:
                error = exc.detail
        return self.ctx.page(request, "query.html", answer=answer, error=error,
                             plate=request.query_params.get("plate", ""))
