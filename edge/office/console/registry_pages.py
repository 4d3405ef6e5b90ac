"""The console's registry (DESIGN 6.5): people and vehicles, as JSON under ``/api`` and as pages.

    GET  /api/people            everyone registered (guards may read), with their pause (``away``) if any
    POST /api/people            JSON or multipart: name, unit, phone, care_watch, face_consent, photo files
    DELETE /api/people/<id>     erase the person everywhere (templates, photos, passes revoked)
    GET  /api/vehicles · POST /api/vehicles · DELETE /api/vehicles/<plate>
    GET  /people · /vehicles    the same data, the forms, and each gate's registry sync state
    GET  /registry/sync         that state alone (an HTML fragment the pages fetch again every few seconds)

Writes need the ``admin`` role and are audited, as every console write is (``guard``'s audit rule): done
("ok"), or refused for the user's role (a guard's write: 403, outcome "refused", with the target the
request named and nothing it sent). Every change goes through the store, whose registry
publisher signs it and queues it for every gate; the MQTT link is woken to send it at once. Face
templates are computed here, at the office (``uploads.SharedEnroller``); the photos are not kept unless
``enrolment.keep_photos``. The CSV import lives in ``import_pages``, QR passes in ``pass_pages``, one
person's contacts and pause in ``person_pages``.
"""

from __future__ import annotations

from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from edge.office.console import fields, import_pages, pass_pages
from edge.office.console.area import route
from edge.office.console.context import ConsoleArea, ConsoleContext
from edge.office.console.gate_pages import Gates
from edge.office.console.uploads import (
    MAX_PHOTO_BYTES,
    MAX_PHOTOS_PER_PERSON,
    Enrolment,
    SharedEnroller,
    check_length,
    clear_uploads,
    files_of,
    hide_in,
    private_folder,
    safe_name,
    save,
    uploads_dir,
)
from edge.office.console.words import api_word, listing
from edge.office.console.words import field as named
from edge.schemas.phrases import Listing, ptell, tell
from edge.store import VEHICLE_CLASSES
from edge.store.people import NAME_MAX, PHONE_MAX, UNIT_MAX, person_problems

VEHICLE_FIELDS = ("plate", "class", "person_id", "valid_from", "valid_until")  # what the console sets
SYNC_FIELDS = ("gate", "expected", "state", "silent", "age_s", "registry", "registry_current")  # of Gates.data()


def routes(ctx: ConsoleContext) -> list[Route]:
    enrolment = Enrolment(SharedEnroller(ctx.config), uploads_dir(ctx.config))
    clear_uploads(enrolment.uploads)  # photos a killed office left behind

    async def sync_fragment(request: Request) -> Response:
        return ctx.page(request, "_registry_sync.html", sync=sync_data(ctx))

    return [
        *People.routes(ctx, enrolment),
        *Vehicles.routes(ctx),
        Route("/registry/sync", sync_fragment),
        *import_pages.Import.routes(ctx, enrolment),
        *pass_pages.Passes.routes(ctx),
    ]


def sync_data(ctx: ConsoleContext) -> dict:
    """The office's registry position and each gate's copy of it (``Gates.data``: one owner of that fact)."""
    gates = Gates(ctx).data()
    return {"office_registry": gates["office_registry"], "people": ctx.store.people.count(),
            "vehicles": ctx.store.vehicles.count(),
            "gates": [{k: g[k] for k in SYNC_FIELDS} for g in gates["gates"]]}


def person_id_of(value) -> int:
    person_id = fields.digits(value)
    if person_id is None:
        raise HTTPException(400, tell("{field}: {value!r} is not a person id", field=named("person id"),
                                      value=str(value)[:40]))
    return person_id


class People(ConsoleArea):
    """The people registered: list, register (with face photos), erase."""

    def __init__(self, ctx: ConsoleContext, enrolment: Enrolment):
        super().__init__(ctx)
        self.enrolment = enrolment

    def data(self) -> list[dict]:
        now = self.ctx.now()
        return [{"person_id": p["id"], "name": p["name"], "unit": p["unit"], "phone": p["phone"],
                 "care_watch": bool(p["care_watch"]), "care_watch_consent_at": p["care_watch_consent_at"],
                 "face_consent": p["face_consent_at"] is not None, "face_consent_at": p["face_consent_at"],
                 "templates": p["templates"], "plates": sorted(p["plates"].split(",")) if p["plates"] else [],
                 "registered_at": p["created_at"], "away": self.ctx.office.absences.of_person(p, now)}
                for p in self.ctx.store.people.all()]

    @route("/api/people", "GET")
    async def api_list(self, request: Request) -> Response:
        return JSONResponse(self.data())

    @route("/people")
    async def page(self, request: Request) -> Response:
        return self.ctx.page(request, "people.html", people=self.data(), sync=sync_data(self.ctx),
                             max_photos=MAX_PHOTOS_PER_PERSON, keep_photos=self.ctx.config.enrolment.keep_photos)

    @staticmethod
    def fields(data: dict) -> dict:
        name = fields.text(data, "name", limit=NAME_MAX, required=True)
        unit = fields.text(data, "unit", limit=UNIT_MAX, required=True)
        phone = fields.text(data, "phone", limit=PHONE_MAX)
        for field, why in person_problems(name, unit, phone):
            raise HTTPException(400, ptell("person field", "{field}: {why}", field=named(field), why=why))
        return {"name": name, "unit": unit, "phone": phone, "care_watch": fields.flag(data, "care_watch"),
                "face_consent": fields.flag(data, "face_consent")}

    @route("/api/people", "POST")
    async def api_add(self, request: Request) -> Response:
        ctx = self.ctx
        user = ctx.need_role(request, "admin", write=("person_add", None))
        check_length(request)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            return await self.add(user, self.fields(await ctx.body_of(request)), [], None)
        async with request.form(max_files=MAX_PHOTOS_PER_PERSON + 1, max_fields=50) as form:
            data = {k: v for k, v in form.multi_items() if not isinstance(v, UploadFile) and k != "csrf_token"}
            person = self.fields(data)
            photos = files_of(form, "photo")
            if len(photos) > MAX_PHOTOS_PER_PERSON:
                raise HTTPException(400, tell("photo: at most {count} photos of one person",
                                              count=MAX_PHOTOS_PER_PERSON))
            if photos and not person["face_consent"]:
                raise HTTPException(400, tell("face_consent: face photos need the person's consent to face recognition "
                                              "(tick it, or register without photos: a QR pass is the alternative)"))
            with private_folder(self.enrolment.uploads) as folder:
                paths = []
                for number, upload in enumerate(photos, 1):
                    try:
                        name = safe_name(upload.filename, "photo").rsplit("/", 1)[-1]
                    except HTTPException:
                        name = f"photo-{number}.jpg"
                    if any(p.name == name for p in paths):
                        name = f"{number}-{name}"
                    paths.append(await save(upload, folder, name, MAX_PHOTO_BYTES, "photo"))
                return await self.add(user, person, paths, folder)

    async def add(self, user: dict, person: dict, photos: list, folder) -> Response:
        """Templates first (every photo checked; nothing written if one is refused), then one transaction."""
        from edge.registry.enrol import EnrolmentError

        ctx, store = self.ctx, self.ctx.store
        self.not_registered(person)  # before the photos are enrolled for nothing
        templates, images, encoder = [], [], None
        if photos:
            def enrol():
                with self.enrolment.enroller.lock:
                    enroller = self.enrolment.enroller.get()
                    return (*enroller.templates_for(photos), enroller.encoder_name)

            try:
                templates, images, encoder = await ctx.run_blocking(enrol)
            except EnrolmentError as exc:
                # The audit counts the photos; it keeps no file name (it may be the person's name).
                ctx.audit(user, "person_add", None, {"photos": len(photos), "refused": "photo"}, "refused")
                raise HTTPException(400, tell("photo: {why}; nothing was stored", why=Listing(
                    [hide_in(folder, problem) for problem in exc.problems], "then"))) from None
        with store.transaction():
            self.not_registered(person)  # again, in the transaction: the same form sent twice at once
            person_id = store.people.add(person["name"], person["unit"], person["phone"], person["care_watch"],
                                         face_consent=person["face_consent"] or bool(templates))
            ids = store.templates.add(person_id, encoder, templates, images) if templates else []
            ctx.audit(user, "person_add", f"person:{person_id}",
                      {"templates": len(ids), "care_watch": person["care_watch"],
                       "face_consent": person["face_consent"], "photos_kept": len(images)}, "ok")
        ctx.published()
        return JSONResponse({"person_id": person_id, "template_ids": ids, "photos_kept": len(images)}, status_code=201)

    def not_registered(self, person: dict) -> None:
        same = self.ctx.store.people.find(person["unit"], person["name"])
        if same:
            raise HTTPException(409, tell("{name} in {unit} is already registered (person {person_id})",
                                          name=person["name"], unit=person["unit"], person_id=same[0]["id"]))

    @route("/api/people/{person_id}", "DELETE")
    async def api_remove(self, request: Request) -> Response:
        ctx, store = self.ctx, self.ctx.store
        user = ctx.need_role(request, "admin", write=("person_remove", f"person:{request.path_params['person_id']}"))
        person_id = person_id_of(request.path_params["person_id"])
        if store.people.find_by_id(person_id) is None:
            raise HTTPException(404, tell("no person {person_id}", person_id=person_id))
        with store.transaction():
            passes = [p["pass_id"] for p in store.passes.all()
                      if p["person_id"] == person_id and p["revoked_epoch"] is None]
            plates = [v["plate"] for v in store.vehicles.of_person(person_id)]
            erased = store.people.remove(person_id, ctx.now())  # revokes their passes too
            answer = {**erased, "passes_revoked": passes, "vehicles_without_owner": plates}
            # No name, unit or phone in the audit: erasing someone erases them here too.
            ctx.audit(user, "person_remove", f"person:{person_id}", {k: v for k, v in answer.items()
                                                                      if k != "person_id"}, "ok")
        ctx.published()
        return JSONResponse(answer)


class Vehicles(ConsoleArea):
    """The vehicles registered: list, register or update, remove."""

    def data(self) -> list[dict]:
        from edge.rules.permits import permit_valid

        ctx = self.ctx
        rows = ctx.store.vehicles.all()
        owners = ctx.store.console.names(v["person_id"] for v in rows)
        now = ctx.now()
        out = []
        for v in rows:
            owner = owners.get(v["person_id"])
            out.append({"plate": v["plate"], "class": v["class"], "person_id": v["person_id"],
                        "owner": {"name": owner["name"], "unit": owner["unit"]} if owner else None,
                        "valid_from": v["valid_from"], "valid_until": v["valid_until"],
                        "valid_now": permit_valid(v, now, ctx.zone), "registered_at": v["created_at"]})
        return out

    @route("/api/vehicles", "GET")
    async def api_list(self, request: Request) -> Response:
        return JSONResponse(self.data())

    @route("/vehicles")
    async def page(self, request: Request) -> Response:
        people = sorted(self.ctx.store.people.all(), key=lambda p: (p["unit"], p["name"]))
        return self.ctx.page(request, "vehicles.html", vehicles=self.data(), people=people,
                             classes=VEHICLE_CLASSES, sync=sync_data(self.ctx))

    def given(self, data: dict) -> dict:
        """The plate and the fields the request gives, checked. A field given blank (or null) clears it; a
        field not given at all is left out (``merged`` keeps its registered value)."""
        from edge.timeutil import InvalidDay, parse_day

        vehicle = {"plate": fields.plate(data.get("plate"))}
        if "class" in data or "vehicle_class" in data:
            vehicle_class = data.get("class", data.get("vehicle_class"))
            if vehicle_class not in VEHICLE_CLASSES:
                raise HTTPException(400, tell("{field}: one of {items}", field=named("class"),
                                              items=listing(VEHICLE_CLASSES)))
            vehicle["class"] = vehicle_class
        if "person_id" in data:
            person_id = fields.whole(data["person_id"], "person_id")
            if person_id is not None and self.ctx.store.people.find_by_id(person_id) is None:
                raise HTTPException(400, tell("person_id: no person {person_id}", person_id=person_id))
            vehicle["person_id"] = person_id
        for field in ("valid_from", "valid_until"):
            if field in data:
                value = fields.text(data, field, limit=10)
                try:
                    vehicle[field] = parse_day(value, field=named(field)).isoformat() if value else None
                except InvalidDay as exc:
                    raise HTTPException(400, exc.said) from None
        return vehicle

    @staticmethod
    def merged(given: dict, existing: dict | None) -> dict:
        """The vehicle as it will be: ``existing`` (None: a new plate) with the fields ``given``; 400 when
        it would be a resident's or family car without its owner, or valid until before it is valid from."""
        if existing is None and "class" not in given:
            raise HTTPException(400, tell("{field}: one of {items}", field=named("class"),
                                          items=listing(VEHICLE_CLASSES)))
        vehicle = {k: existing[k] if existing else None for k in VEHICLE_FIELDS}
        vehicle.update(given)
        if vehicle["person_id"] is None and vehicle["class"] in ("resident", "family"):
            had = None if existing is None or "person_id" in given else vehicle["plate"]
            klass = api_word(vehicle["class"])
            if had is None:
                raise HTTPException(400, tell("person_id: a {items} vehicle needs its owner", items=klass))
            raise HTTPException(400, tell("person_id: a {items} vehicle needs its owner; {plate} has no owner "
                                          "registered", items=klass, plate=had))
        if vehicle["valid_from"] and vehicle["valid_until"] and vehicle["valid_from"] > vehicle["valid_until"]:
            raise HTTPException(400, tell("valid_until: before valid_from ({day})", day=vehicle["valid_from"]))
        return vehicle

    @route("/api/vehicles", "POST")
    async def api_add(self, request: Request) -> Response:
        """Register a plate, or update a registered one: fields the request does not give keep their
        registered value (owner, class, validity); a field given blank or null is cleared."""
        ctx = self.ctx
        user = ctx.need_role(request, "admin", write=("vehicle_add", None))
        given = self.given(await ctx.body_of(request))
        plate = given["plate"]
        with ctx.store.transaction():
            vehicle = self.merged(given, ctx.store.vehicles.get(plate))
            created = ctx.store.vehicles.upsert(plate, vehicle["class"], vehicle["person_id"],
                                                valid_from=vehicle["valid_from"], valid_until=vehicle["valid_until"],
                                                keep=("documents",))
            ctx.audit(user, "vehicle_add", f"vehicle:{plate}",
                      {**{k: vehicle[k] for k in VEHICLE_FIELDS if k != "plate"},
                       "given": [k for k in VEHICLE_FIELDS if k in given and k != "plate"], "created": created}, "ok")
        ctx.published()
        row = ctx.store.vehicles.get(plate)
        return JSONResponse({**{k: row[k] for k in VEHICLE_FIELDS}, "created": created},
                            status_code=201 if created else 200)

    @route("/api/vehicles/{plate}", "DELETE")
    async def api_remove(self, request: Request) -> Response:
        ctx = self.ctx
        user = ctx.need_role(request, "admin", write=("vehicle_remove", f"vehicle:{request.path_params['plate']}"))
        plate = fields.plate(request.path_params["plate"])
        if ctx.store.vehicles.get(plate) is None:
            raise HTTPException(404, tell("no vehicle {plate}", plate=plate))
        with ctx.store.transaction():
            ctx.store.vehicles.remove(plate)
            ctx.audit(user, "vehicle_remove", f"vehicle:{plate}", {}, "ok")
        ctx.published()
        return JSONResponse({"plate": plate, "removed": True})

