"""One person at the console (DESIGN 7): their contacts and their pause (away), as JSON and as a page.

    GET    /api/people/<id>/contacts    [{name, phone, relation, consent_at}] in the console's order (logged in)
    PUT    /api/people/<id>/contacts    {"contacts": [...]}: the list becomes exactly this (admin)
    PUT    /api/people/<id>/away        {"until": "YYYY-MM-DD", "reason"}: paused until the end of that day (admin)
    DELETE /api/people/<id>/away        the pause ends now (admin)
    GET    /people/<id>                 the person, their contacts and their pause; the forms for an admin

Contacts stay at the office (``store.contacts``: never in a registry record); the pause goes on the signed
person record through ``edge.office.away.Absences``, whose rule is ``edge.rules.away``'s. Writes are audited
(``guard``'s audit rule) with counts and dates only: no contact's name or phone, no reason, so erasing the
person leaves nothing of them in the audit. A bad field is a 400 whose ``error`` names it and whose
``field`` gives its place (``contacts[1].phone``, ``until``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import ConsoleArea, GateAnswer
from edge.office.console.registry_pages import person_id_of
from edge.office.console.words import field as named
from edge.rules.away import MAX_DAYS, REASON_MAX, AwayRefused
from edge.schemas.phrases import ptell, tell
from edge.store.contacts import MAX_CONTACTS, RELATIONS, contact_problems, where


class Person(ConsoleArea):
    """A person's contacts and pause: read, replace, set, end."""

    @property
    def absences(self):
        return self.ctx.office.absences

    def person(self, request: Request) -> dict:
        """The person the path names; 404 when there is none."""
        person_id = person_id_of(request.path_params["person_id"])
        row = self.ctx.store.people.find_by_id(person_id)
        if row is None:
            raise HTTPException(404, tell("no person {person_id}", person_id=person_id))
        return row

    def today(self):
        return datetime.fromtimestamp(self.ctx.now(), self.ctx.zone).date()

    # -- contacts ------------------------------------------------------------------------------
    @route("/api/people/{person_id}/contacts", "GET")
    async def api_contacts(self, request: Request) -> Response:
        person = self.person(request)
        return JSONResponse(self.ctx.store.contacts.all_of(person["id"]))

    @route("/api/people/{person_id}/contacts", "PUT")
    async def api_replace_contacts(self, request: Request) -> Response:
        ctx = self.ctx
        user = ctx.need_role(request, "admin", write=("contacts_replace",
                                                      f"person:{request.path_params['person_id']}"[:80]))
        person = self.person(request)
        data = await ctx.body_of(request)
        if "contacts" not in data:
            raise GateAnswer(400, tell("contacts: required, a list (empty to remove every contact)"), field="contacts")
        contacts = data["contacts"]
        problems = contact_problems(contacts, self.today())
        if problems:
            index, key, why = problems[0]
            said = (tell("{field}: {why}", field=named(key), why=why) if index is None else
                    ptell("contact field", "contact {number}: {field}: {why}", number=index + 1, field=named(key),
                          why=why))
            raise GateAnswer(400, said, field=where(index, key))
        with ctx.store.transaction():
            stored = ctx.store.contacts.replace(person["id"], contacts, self.today())
            ctx.audit(user, "contacts_replace", f"person:{person['id']}",
                      {"contacts": len(stored), "consenting": sum(c["consent_at"] is not None for c in stored)}, "ok")
        return JSONResponse({"person_id": person["id"], "contacts": stored})

    # -- away ------------------------------------------------------------------------------------
    @route("/api/people/{person_id}/away", "PUT")
    async def api_set_away(self, request: Request) -> Response:
        ctx = self.ctx
        user = ctx.need_role(request, "admin", write=("away_set", f"person:{request.path_params['person_id']}"[:80]))
        person = self.person(request)
        data = await ctx.body_of(request)
        try:
            with ctx.store.transaction():
                change = self.absences.set(person["id"], data.get("until"), data.get("reason"), user["username"])
                ctx.audit(user, "away_set", f"person:{person['id']}", {"last_day": change.last_day}, "ok")
        except AwayRefused as exc:
            raise GateAnswer(400, exc.said, field=exc.field) from None
        ctx.published()
        return JSONResponse({"person_id": person["id"], "away": self.absences.of_person(
            ctx.store.people.get(person["id"]))})

    @route("/api/people/{person_id}/away", "DELETE")
    async def api_end_away(self, request: Request) -> Response:
        ctx = self.ctx
        user = ctx.need_role(request, "admin", write=("away_end", f"person:{request.path_params['person_id']}"[:80]))
        person = self.person(request)
        with ctx.store.transaction():
            change = self.absences.end(person["id"], user["username"])
            if change is None:
                raise HTTPException(404, tell("person {person_id} is not away", person_id=person["id"]))
            ctx.audit(user, "away_end", f"person:{person['id']}", {"ended": change.until}, "ok")
        ctx.published()
        return JSONResponse({"person_id": person["id"], "away": None, "ended": change.until})

    # -- the page -----------------------------------------------------------------------------------
    @route("/people/{person_id}")
    async def page(self, request: Request) -> Response:
        person = self.person(request)
        today = self.today()
        return self.ctx.page(request, "person.html", person=person,
                             contacts=self.ctx.store.contacts.all_of(person["id"]),
                             away=self.absences.of_person(person), relations=RELATIONS, max_contacts=MAX_CONTACTS,
                             max_days=MAX_DAYS, reason_max=REASON_MAX,
                             first_allowed=(today + timedelta(days=1)).isoformat(),
                             last_allowed=(today + timedelta(days=MAX_DAYS)).isoformat())
