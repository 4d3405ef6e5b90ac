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
from starlette.routing import Route

from edge.office.console import reports
from edge.office.console.charts import PALETTE, Series, bar_chart, describe, line_chart, number_text
from edge.office.console.context import ConsoleContext
from edge.office.console.i18n import LANGS, translator

ENTRIES, EXITS, GREEN, VERMILLION, PURPLE = PALETTE[0], PALETTE[1], PALETTE[2], PALETTE[3], PALETTE[4]
DAY_CHOICES = (7, 30, 90, 365)


def routes(ctx: ConsoleContext) -> list[Route]:
    pages = ReportPages(ctx)
    return [
        Route("/reports", pages.page),
        Route("/api/reports", pages.api_index),
        Route("/api/reports/{name}", pages.api_report),
    ]


class ReportPages:
    """The reports' numbers (counted on the worker pool), as JSON, as CSV and as the page's charts."""

    def __init__(self, ctx: ConsoleContext):
        self.ctx = ctx

    def compute(self, name: str, params) -> dict:
        ctx = self.ctx
        return reports.build(name, params, store=ctx.store, zone=ctx.zone, now=ctx.now(),
                             gates=ctx.config.gates, capacity=ctx.config.site_settings.parking.capacity)

    def compute_all(self, day: str, days: str) -> dict:
        return {name: self.compute(name, {"date": day} if name in reports.ONE_DAY else {"date": day, "days": days})
                for name in reports.NAMES}

    async def api_index(self, request: Request) -> Response:
        return JSONResponse({"reports": [
            {"name": name, "params": ["date"] if name in reports.ONE_DAY else ["date", "days"],
             "json": f"/api/reports/{name}", "csv": f"/api/reports/{name}.csv", "columns": list(reports.COLUMNS[name])}
            for name in reports.NAMES]})

    async def api_report(self, request: Request) -> Response:
        ctx = self.ctx
        name = request.path_params["name"]
        as_csv = name.endswith(".csv")
        name = name.removesuffix(".csv")
        if name not in reports.NAMES:
            return ctx.error(request, 404, f"no report {name[:60]!r}; reports: {', '.join(reports.NAMES)}")
        params = dict(request.query_params)
        lang = params.pop("lang", None) or ctx.lang_of(request)
        if lang not in LANGS:
            return ctx.error(request, 400, f"lang: one of {', '.join(LANGS)}")
        try:
            report = await ctx.run_blocking(self.compute, name, params)
        except reports.BadParameter as exc:
            return ctx.error(request, 400, str(exc))
        if not as_csv:
            return JSONResponse(report)
        t = translator(lang)
        return Response(reports.csv_text(report, lambda column: t(f"col_{column}")).encode("utf-8"),
                        media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{reports.filename(report)}"'})

    async def page(self, request: Request) -> Response:
        ctx = self.ctx
        t = translator(ctx.lang_of(request))
        params = {k: request.query_params.get(k, "") for k in ("date", "days")}
        error = None
        try:
            chosen = reports.parse("passages-by-day", params, ctx.now(), ctx.zone)
        except reports.BadParameter as exc:
            error = str(exc)
            chosen = reports.parse("passages-by-day", {}, ctx.now(), ctx.zone)
        day, days = chosen["date"].isoformat(), str(chosen["days"])
        data = await ctx.run_blocking(self.compute_all, day, days)
        sections = _sections(t, data)
        choices = sorted(set(DAY_CHOICES) | {chosen["days"]})
        return ctx.page(request, "reports.html", sections=sections, day=day, days=chosen["days"], choices=choices,
                        today=reports.today(ctx.now(), ctx.zone).isoformat(), error=error,
                        columns={name: [t(f"col_{c}") for c in reports.COLUMNS[name]] for name in reports.NAMES})


# -- the page's charts ------------------------------------------------------------------------
def _sum(values) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _yuan_text(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}"


def _day_label(row: dict) -> str:
    return row["date"][5:]  # MM-DD: the year is in the title


class _Charts:
    """The page's charts, drawn with the words of its language (``t``)."""

    def __init__(self, t):
        self.t = t
        self.words = {"total": t("rep_total"), "highest": t("rep_highest"), "no_data": t("rep_no_data")}

    def chart(self, kind, title, labels, series, x_label, y_label, value_text=number_text, **extra):
        draw = bar_chart if kind == "bar" else line_chart
        desc = describe(labels, series, value_text, self.words)
        return draw(title, labels, series, x_label=x_label, y_label=y_label, desc=desc, value_text=value_text, **extra)

    def passages(self, report: dict, label_of, key: str, title_key: str, refused_key: str, x_label: str, end: bool,
                 **dates) -> list[str]:
        """One chart of entries and exits per gate, then one of the refused (denied, strangers) at all gates."""
        t = self.t
        buckets: dict = {}  # one per hour or day, in order (an hour's start: unique also on a DST day)
        for row in report["rows"]:
            buckets.setdefault(row[key], {})[row["gate"]] = row
        labels = [label_of(next(iter(rows.values()))) for rows in buckets.values()]

        def values(kind, gates):
            return [_sum(rows[g][kind] for g in gates) for rows in buckets.values()]

        charts = [self.chart("bar", t(title_key).format(gate=t("rep_gate").format(gate=gate), **dates), labels,
                             [Series(t("col_entries"), values("entries", [gate]), ENTRIES),
                              Series(t("col_exits"), values("exits", [gate]), EXITS)], x_label, t("rep_count"),
                             label_from_end=end)
                  for gate in report["gates"]]
        refused = [Series(t("col_denied"), values("denied", report["gates"]), VERMILLION),
                   Series(t("col_strangers"), values("strangers", report["gates"]), PURPLE)]
        charts.append(self.chart("bar", t(refused_key).format(**dates), labels, refused, x_label, t("rep_count"),
                                 label_from_end=end))
        return charts


def _sections(t, data: dict) -> list[dict]:
    """The page's sections, in order (the charts are drawn in this order: their ids count up)."""
    charts = _Charts(t)
    by_hour, by_day = data["passages-by-hour"], data["passages-by-day"]
    span = {"first": by_day["first"], "last": by_day["last"]}
    return [
        {"id": "passages-by-hour", "heading": t("rep_passages"), "note": t("rep_passages_note"), "report": by_hour,
         "charts": charts.passages(by_hour, lambda r: r["hour"][:2], "from", "rep_by_hour", "rep_refused_hour",
                                   t("rep_hour"), False, date=by_hour["date"])},
        {"id": "passages-by-day", "heading": None, "note": None, "report": by_day,
         "charts": charts.passages(by_day, _day_label, "date", "rep_by_day", "rep_refused_day", t("rep_day"), True,
                                   **span)},
        _occupancy(charts, data["occupancy"]),
        _care_alerts(charts, data["care-alerts"], span),
        _fees(charts, data["fees"], span),
    ]


def _occupancy(charts: _Charts, occupancy: dict) -> dict:
    t, capacity = charts.t, occupancy["capacity"]
    facts = []
    if occupancy.get("peak"):
        facts.append(t("rep_peak").format(**occupancy["peak"]))
    if occupancy.get("now"):
        facts.append(t("rep_now").format(cars=occupancy["now"]["cars"]))
    return {"id": "occupancy", "heading": t("rep_occupancy"), "note": t("rep_occupancy_note"), "report": occupancy,
            "facts": facts,
            "charts": [charts.chart("line", t("rep_occupancy_title").format(date=occupancy["date"]),
                                    [r["time"][:2] for r in occupancy["rows"]],
                                    [Series(t("rep_cars_inside"), [r["cars"] for r in occupancy["rows"]], ENTRIES)],
                                    t("rep_hour"), t("rep_cars"),
                                    reference=(capacity, t("rep_capacity").format(n=capacity)))]}


def _care_alerts(charts: _Charts, care: dict, span: dict) -> dict:
    t = charts.t
    return {"id": "care-alerts", "heading": t("rep_care"), "note": t("rep_care_note"), "report": care,
            "facts": [t("rep_care_total").format(raised=care["total_raised"], cleared=care["total_cleared"])],
            "charts": [charts.chart("bar", t("rep_care_title").format(**span), [_day_label(r) for r in care["rows"]],
                                    [Series(t("col_raised"), [r["raised"] for r in care["rows"]], VERMILLION),
                                     Series(t("col_cleared"), [r["cleared"] for r in care["rows"]], GREEN)],
                                    t("rep_day"), t("rep_alerts"), label_from_end=True)]}


def _fees(charts: _Charts, fees: dict, span: dict) -> dict:
    t = charts.t
    collected = [None if r["collected_cents"] is None else r["collected_cents"] / 100 for r in fees["rows"]]
    return {"id": "fees", "heading": t("rep_fees"), "note": t("rep_fees_note"), "report": fees,
            "facts": [t("rep_fees_total").format(yuan=fees["total_yuan"], n=fees["total_payments"])],
            "charts": [charts.chart("bar", t("rep_fees_title").format(**span), [_day_label(r) for r in fees["rows"]],
                                    [Series(t("rep_collected"), collected, GREEN)],
                                    t("rep_day"), t("rep_yuan"), value_text=_yuan_text, label_from_end=True)]}
