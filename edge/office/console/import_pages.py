"""The console's CSV import (DESIGN 4.4 formats): ``GET /import`` (the page) and ``POST /api/import``.

``POST /api/import`` (admin; multipart/form-data): ``csv``, one people.csv- or vehicles.csv-shaped file,
and ``photo``, the photo files its photo column names (repeatable; a name may carry a folder, as the
CSV writes it). The files go into a private folder under the office's state directory (``uploads``) and
``edge.registry.importer.import_csv`` imports all rows or none: an ``ImportRejected`` answers 400 ``{"error",
"problems": [every bad row]}`` naming the file as it was sent. Photos are turned into templates with the
office's encoder and, unless ``enrolment.keep_photos``, not kept.
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console.area import route
from edge.office.console.context import ConsoleArea, ConsoleContext
from edge.office.console.uploads import (
    MAX_CSV_BYTES,
    MAX_IMPORT_PHOTOS,
    MAX_PHOTO_BYTES,
    Enrolment,
    check_length,
    files_of,
    hide,
    private_folder,
    safe_name,
    save,
)
from edge.registry.importer import PEOPLE_COLUMNS, VEHICLE_COLUMNS
from edge.schemas.phrases import tell


class Import(ConsoleArea):
    """A people.csv or vehicles.csv with its photos, imported whole or not at all (admins)."""

    def __init__(self, ctx: ConsoleContext, enrolment: Enrolment):
        super().__init__(ctx)
        self.enrolment = enrolment

    @route("/import")
    async def page(self, request: Request) -> Response:
        self.ctx.need_role(request, "admin")
        return self.ctx.page(request, "import.html", people_columns=",".join(PEOPLE_COLUMNS),
                             vehicle_columns=",".join(VEHICLE_COLUMNS))

    @route("/api/import", "POST")
    async def api_import(self, request: Request) -> Response:
        from edge.registry.importer import ImportRejected, import_csv

        ctx, enrolment = self.ctx, self.enrolment
        user = ctx.need_role(request, "admin", write=("import", None))
        check_length(request)
        if not request.headers.get("content-type", "").startswith("multipart/form-data"):
            raise HTTPException(415, tell("send multipart/form-data: the CSV as csv, its photos as photo"))
        async with request.form(max_files=MAX_IMPORT_PHOTOS + 1, max_fields=20) as form:
            sheets = files_of(form, "csv")
            if len(sheets) != 1:
                raise HTTPException(400, tell("csv: send one CSV file (people.csv or vehicles.csv)"))
            photos = files_of(form, "photo")
            if len(photos) > MAX_IMPORT_PHOTOS:
                raise HTTPException(400, tell("photo: at most {count} photos in one import", count=MAX_IMPORT_PHOTOS))
            csv_name = safe_name(sheets[0].filename or "upload.csv", "csv").rsplit("/", 1)[-1]
            with private_folder(enrolment.uploads) as folder:
                path = await save(sheets[0], folder, csv_name, MAX_CSV_BYTES, "csv")
                for upload in photos:
                    await save(upload, folder, safe_name(upload.filename, "photo"), MAX_PHOTO_BYTES, "photo")

                def run():
                    with enrolment.enroller.lock:  # the import enrols with the shared models, one at a time
                        return import_csv(ctx.store, path, enroller_factory=enrolment.enroller.get)

                try:
                    result = await ctx.run_blocking(run)
                except ImportRejected as exc:
                    problems = [hide(folder, p) for p in exc.problems]
                    ctx.audit(user, "import", csv_name, {"problems": len(problems), "photos": len(photos)},
                              "refused")
                    return ctx.error(request, 400, tell("{name}: nothing imported, {count} problem(s)", name=csv_name,
                                                        count=len(problems)), problems=problems)
        ctx.audit(user, "import", csv_name, {"kind": result["kind"], "created": len(result["created"]),
                                             "updated": len(result["updated"]),
                                             "templates": result.get("templates", 0)}, "ok")
        ctx.published()
        return JSONResponse(result)
