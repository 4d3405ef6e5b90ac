"""The console's reports (issue 18): the ``/reports`` page and its numbers as JSON and CSV. Any logged-in role.

    GET /reports?date=YYYY-MM-DD&days=N       the page: charts (SVG drawn here, ``edge.office.console.charts``), the
                                              numbers under each, a CSV link for each
    GET /api/reports                          the reports there are and their parameters
    GET /api/reports/<name>?date=|days=       one report's numbers (``edge.office.console.reports`` says what each
                                              counts); a bad parameter: 400 {"error"}; an unknown name: 404
    GET /api/reports/<name>.csv?…[&lang=en]   the same rows as CSV: a header row in the console's language,
                                              UTF-8 with a BOM (Excel set to Chinese), a file name to save as

The counting runs on the console's worker pool: a year of archive takes up to a second, and the event loop
keeps serving live streams meanwhile.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from edge.office.console import reports
from edge.office.console.area import route
from edge.office.console.catalogs import LANGS, gettext_for, pgettext_for
from edge.office.console.charts import PALETTE, Series, bar_chart, describe, line_chart, number_text
from edge.office.console.context import ConsoleArea
from edge.office.console.words import field as named
from edge.office.console.words import listing
from edge.schemas.phrases import N_, tell

ENTRIES, EXITS, GREEN, VERMILLION, PURPLE = PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3], PALETTE[4]
DAY_CHOICES = (7, 30, 90, 365)
# A report's columns as its CSV's header and its numbers' table say them.
COLUMN_WORDS = {"date": N_("date"), "hour": N_("hour"), "time": N_("time"), "gate": N_("gate"),
                "entries": N_("entries"), "exits": N_("exits"), "denied": N_("denied"), "strangers": N_("strangers"),
                "cars": N_("cars"), "raised": N_("raised"), "cleared": N_("cleared"), "payments": N_("payments"),
                "collected_yuan": N_("collected (yuan)")}


class ReportPages(ConsoleArea):
    """The reports' numbers (counted on the worker pool), as JSON, as CSV and as the page's charts."""

    def compute(self, name: str, params) -> dict:
        ctx = self.ctx
        return reports.build(name, params, store=ctx.store, zone=ctx.zone, now=ctx.now(),
                             gates=ctx.config.gates, capacity=ctx.config.site_settings.parking.capacity)

    def compute_all(self, day: str, days: str) -> dict:
        return {name: self.compute(name, {"date": day} if name in reports.ONE_DAY else {"date": day, "days": days})
                for name in reports.NAMES}

    @route("/api/reports")
    async def api_index(self, request: Request) -> Response:
        return JSONResponse({"reports": [
            {"name": name, "params": ["date"] if name in reports.ONE_DAY else ["date", "days"],
             "json": f"/api/reports/{name}", "csv": f"/api/reports/{name}.csv", "columns": list(reports.COLUMNS[name])}
            for name in reports.NAMES]})

    @route("/api/reports/{name}")
    async def api_report(self, request: Request) -> Response:
        ctx = self.ctx
        name = request.path_params["name"]
        as_csv = name.endswith(".csv")
        name = name.removesuffix(".csv")
        if name not in reports.NAMES:
            return ctx.error(request, 404, tell("no report {name!r}; reports: {names}", name=name[:60],
                                                names=", ".join(reports.NAMES)))
        params = dict(request.query_params)
        lang = params.pop("lang", None) or ctx.lang_of(request)
        if lang not in LANGS:
            return ctx.error(request, 400, tell("{field}: one of {items}", field=named("lang"), items=listing(LANGS)))
        try:
            report = await ctx.run_blocking(self.compute, name, params)
        except reports.BadParameter as exc:
            return ctx.error(request, 400, exc.said)
        if not as_csv:
            return JSONResponse(report)
        _ = gettext_for(lang)
        return Response(reports.csv_text(report, lambda column: _(COLUMN_WORDS[column])).encode("utf-8"),
                        media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{reports.filename(report)}"'})

    @route("/reports")
    async def page(self, request: Request) -> Response:
        ctx = self.ctx
        lang = ctx.lang_of(request)
        params = {k: request.query_params.get(k, "") for k in ("date", "days")}
        error = None
        try:
            chosen = reports.parse("passages-by-day", params, ctx.now(), ctx.zone)
        except reports.BadParameter as exc:
            error = str(exc)
            chosen = reports.parse("passages-by-day", {}, ctx.now(), ctx.zone)
        day, days = chosen["date"].isoformat(), str(chosen["days"])
        data = await ctx.run_blocking(self.compute_all, day, days)
        sections = _sections(gettext_for(lang), pgettext_for(lang), data)
        choices = sorted(set(DAY_CHOICES) | {chosen["days"]})
        return ctx.page(request, "reports.html", sections=sections, day=day, days=chosen["days"], choices=choices,
                        today=reports.today(ctx.now(), ctx.zone).isoformat(), error=error,
                        columns={name: [gettext_for(lang)(COLUMN_WORDS[c]) for c in reports.COLUMNS[name]]
                                 for name in reports.NAMES})


# -- the page's charts ------------------------------------------------------------------------
def _sum(values) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _yuan_text(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _day_label(row: dict) -> str:
    return row["date"][5:]  # MM-DD: the year is in the title


class _Charts:
    """The page's charts, drawn with the words of its language (``_``: its gettext, ``p``: its pgettext)."""

    def __init__(self, gettext, pgettext):
        self._, self.pgettext = gettext, pgettext
        _ = gettext
        self.words = {"total": _("total"), "highest": _("highest"), "no_data": _("no data")}

    def chart(self, kind, title, labels, series, x_label, y_label, value_text=number_text, **extra):
        draw = bar_chart if kind == "bar" else line_chart
        desc = describe(labels, series, value_text, self.words)
        return draw(title, labels, series, x_label=x_label, y_label=y_label, desc=desc, value_text=value_text, **extra)

    def passages(self, report: dict, label_of, key: str, title: str, refused_title: str, x_label: str, end: bool,
                 **dates) -> list[str]:
        """One chart of entries and exits per gate, then one of the refused (denied, strangers) at all gates;
        ``title`` and ``refused_title``: their English (marked where they are chosen)."""
        _ = self._
        buckets: dict = {}  # one per hour or day, in order (an hour's start: unique also on a DST day)
        for row in report["rows"]:
            buckets.setdefault(row[key], {})[row["gate"]] = row
        labels = [label_of(next(iter(rows.values()))) for rows in buckets.values()]

        def values(kind, gates):
            return [_sum(rows[g][kind] for g in gates) for rows in buckets.values()]

        charts = [self.chart("bar", _(title).format(gate=_("{gate} gate").format(gate=gate), **dates), labels,
                             [Series(_("entries"), values("entries", [gate]), ENTRIES),
                              Series(_("exits"), values("exits", [gate]), EXITS)], x_label, _("Count"),
                             label_from_end=end)
                  for gate in report["gates"]]
        refused = [Series(_("denied"), values("denied", report["gates"]), VERMILLION),
                   Series(_("strangers"), values("strangers", report["gates"]), PURPLE)]
        charts.append(self.chart("bar", _(refused_title).format(**dates), labels, refused, x_label, _("Count"),
                                 label_from_end=end))
        return charts


def _sections(gettext, pgettext, data: dict) -> list[dict]:
    """The page's sections, in order (the charts are drawn in this order: their ids count up)."""
    charts = _Charts(gettext, pgettext)
    _ = gettext
    by_hour, by_day = data["passages-by-hour"], data["passages-by-day"]
    span = {"first": by_day["first"], "last": by_day["last"]}
    return [
        {"id": "passages-by-hour", "heading": pgettext("report", "Passages"),
         "note": _("Entries and exits: times a gate let someone or a car through; denied: not let through; "
                   "strangers: unregistered faces. Cars held at a barrier are not counted."), "report": by_hour,
         "charts": charts.passages(by_hour, lambda r: r["hour"][:2], "from", N_("{gate}: passages per hour ({date})"),
                                   N_("Denied and strangers per hour (all gates, {date})"),
                                   _("Hour"), False, date=by_hour["date"])},
        {"id": "passages-by-day", "heading": None, "note": None, "report": by_day,
         "charts": charts.passages(by_day, _day_label, "date", N_("{gate}: passages per day ({first} to {last})"),
                                   N_("Denied and strangers per day (all gates, {first} to {last})"), _("Day"), True,
                                   **span)},
        _occupancy(charts, data["occupancy"]),
        _care_alerts(charts, data["care-alerts"], span),
        _fees(charts, data["fees"], span),
    ]


def _occupancy(charts: _Charts, occupancy: dict) -> dict:
    _, capacity = charts._, occupancy["capacity"]
    facts = []
    if occupancy.get("peak"):
        facts.append(_("Most in the day: {cars} cars ({time})").format(**occupancy["peak"]))
    if occupancy.get("now"):
        facts.append(_("Now: {cars} cars").format(cars=occupancy["now"]["cars"]))
    return {"id": "occupancy", "heading": _("Cars in the car park"),
            "note": _("Cars inside: cars that had entered and not yet left, counted as the gates count them; a car "
                      "whose exit was never read counts until it enters again. Hours still to come are not shown."),
            "report": occupancy,
            "facts": facts,
            "charts": [charts.chart("line", _("Cars inside at each full hour ({date})").format(date=occupancy["date"]),
                                    [r["time"][:2] for r in occupancy["rows"]],
                                    [Series(_("Cars inside"), [r["cars"] for r in occupancy["rows"]], ENTRIES)],
                                    _("Hour"), _("Cars"),
                                    reference=(capacity, _("capacity {n}").format(n=capacity)))]}


def _care_alerts(charts: _Charts, care: dict, span: dict) -> dict:
    _, pgettext = charts._, charts.pgettext
    return {"id": "care-alerts", "heading": _("Care-watch alerts"),
            "note": _("Raised: a care-watch resident not seen by any gate for too long; cleared: seen again since."),
            "report": care,
            "facts": [_("{raised} raised, {cleared} cleared").format(raised=care["total_raised"],
                                                                     cleared=care["total_cleared"])],
            "charts": [charts.chart("bar", _("Care-watch alerts per day ({first} to {last})").format(**span),
                                    [_day_label(r) for r in care["rows"]],
                                    [Series(_("raised"), [r["raised"] for r in care["rows"]], VERMILLION),
                                     Series(_("cleared"), [r["cleared"] for r in care["rows"]], GREEN)],
                                    _("Day"), pgettext("report column", "Alerts"), label_from_end=True)]}


def _fees(charts: _Charts, fees: dict, span: dict) -> dict:
    _ = charts._
    collected = [None if r["collected_cents"] is None else r["collected_cents"] / 100 for r in fees["rows"]]
    return {"id": "fees", "heading": _("Parking fees collected"),
            "note": _("Each payment counts on the day a gate recorded it (part payments too); amounts are the rise "
                      "of the total paid the gates recorded."), "report": fees,
            "facts": [_("Total {yuan} yuan, {n} payments").format(yuan=fees["total_yuan"], n=fees["total_payments"])],
            "charts": [charts.chart("bar", _("Parking fees received per day ({first} to {last})").format(**span),
                                    [_day_label(r) for r in fees["rows"]],
                                    [Series(_("Collected (yuan)"), collected, GREEN)],
                                    _("Day"), _("Yuan"), value_text=_yuan_text, label_from_end=True)]}
