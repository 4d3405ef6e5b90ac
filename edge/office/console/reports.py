"""The console's reports (issue 18): what each one counts, over which hours or days, as rows for JSON and CSV.

Hours and days are the site's (``config.zone``): a day runs from its local midnight to the next, an hour
from a local full hour to the next, whatever their length on a daylight-saving day. The counting itself is
``store.reports`` (the data layer); the facts come from their one owner each:

    passages-by-hour  ?date=   the archive's events per hour and gate: entries and exits let through (an
                               entry or exit event with decision ``open``), denials (``denied`` events),
                               strangers (``stranger`` events); held cars are not passages
    passages-by-day   ?days=   the same per day
    occupancy         ?date=   cars inside the car park at each full hour: parking sessions opened and
                               not yet closed (the gates' own count, ``parking_sessions``)
    care-alerts       ?days=   care-watch (inactivity) alerts raised and cleared per day
    fees              ?days=   money received per day: each payment recorded by a gate (a ``session``
                               event ``paid``, or the exit it opened) adds what the session's total paid
                               rose by; nothing is computed from tariffs here

A report over days takes ``days`` (1-366, default 30) ending with ``date`` (default today); a report of
one day takes ``date`` (default today). A bad parameter raises ``BadParameter`` (400 at the API).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from edge.office.console.fields import digits
from edge.office.console.words import field as named
from edge.schemas.phrases import tell
from edge.timeutil import iso, start_of_day

ONE_DAY = ("passages-by-hour", "occupancy")
OVER_DAYS = ("passages-by-day", "care-alerts", "fees")
NAMES = ("passages-by-hour", "passages-by-day", "occupancy", "care-alerts", "fees")
DEFAULT_DAYS, MAX_DAYS = 30, 366
EARLIEST = date(2000, 1, 1)
PASSAGE_COUNTS = ("entries", "exits", "denied", "strangers")
COLUMNS = {
    "passages-by-hour": ("date", "hour", "gate", *PASSAGE_COUNTS),
    "passages-by-day": ("date", "gate", *PASSAGE_COUNTS),
    "occupancy": ("date", "time", "cars"),
    "care-alerts": ("date", "raised", "cleared"),
    "fees": ("date", "payments", "collected_yuan"),
}
OCCUPANCY_DEFINITION = ("cars inside the car park at each full hour of the day: parking sessions that had "
                        "entered and not yet left, as the gates count them; a stay whose exit was never read "
                        "counts until the same car entered again; null for hours still to come")
FEES_DEFINITION = ("money received per day: each payment a gate recorded (a session event 'paid', or the exit "
                   "it opened) counts what the session's total paid rose by, on the day it was recorded")


class BadParameter(ValueError):
    """A report's parameter that cannot be used; the message names it and what it should be (``said``,
    marked for the console's catalog)."""

    def __init__(self, said):
        self.said = said
        super().__init__(str(said))


def today(now: float, zone) -> date:
    return datetime.fromtimestamp(now, zone).date()


def parse(name: str, params, now: float, zone) -> dict:
    """{"date": day} for a report of one day, {"date": last day, "days": n} for one over days."""
    if name not in NAMES:
        raise BadParameter(tell("no report {name!r}; reports: {names}", name=name, names=", ".join(NAMES)))
    current = today(now, zone)
    day = current
    text = (params.get("date") or "").strip()
    if text:
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BadParameter(tell("{field}: {value!r} is not a date; write YYYY-MM-DD, e.g. {example}",
                                    field=named("date"), value=text[:40], example="2026-11-30")) from None
        if day > current:
            raise BadParameter(tell("date: {day} is after today ({today})", day=str(day), today=str(current)))
        if day < EARLIEST:
            raise BadParameter(tell("date: {day} is before {earliest}", day=str(day), earliest=str(EARLIEST)))
    if name in ONE_DAY:
        if params.get("days"):
            raise BadParameter(tell("days: {name} covers one day; give date=YYYY-MM-DD", name=name))
        return {"date": day}
    text = (params.get("days") or "").strip()
    days = DEFAULT_DAYS
    if text:
        days = digits(text)
        if days is None or not 1 <= days <= MAX_DAYS:
            raise BadParameter(tell("days: {value!r} is not a whole number from 1 to {most}", value=text[:40],
                                    most=MAX_DAYS))
    return {"date": day, "days": days}


def hours_of(day: date, zone) -> list[tuple[str, float, float]]:
    """(local "HH:MM" of its start, start, end) for each hour of the day (23 or 25 on a DST change)."""
    start, end = start_of_day(day, zone), start_of_day(day + timedelta(days=1), zone)
    hours, lo = [], start
    while lo < end:
        hours.append((datetime.fromtimestamp(lo, zone).strftime("%H:%M"), lo, min(lo + 3600, end)))
        lo += 3600
    return hours


def days_of(last: date, days: int, zone) -> list[tuple[date, float, float]]:
    """(day, its local midnight, the next) for the ``days`` days ending with ``last``."""
    first = last - timedelta(days=days - 1)
    return [(d, start_of_day(d, zone), start_of_day(d + timedelta(days=1), zone))
            for d in (first + timedelta(days=i) for i in range(days))]


def build(name: str, params, *, store, zone, now: float, gates, capacity: int) -> dict:
    """The report ``name`` for the query parameters ``params`` (``BadParameter`` when they are wrong)."""
    args = parse(name, params, now, zone)
    if name == "passages-by-hour":
        return passages_by_hour(store, zone, args["date"], now, gates)
    if name == "passages-by-day":
        return passages_by_day(store, zone, args["date"], args["days"], now, gates)
    if name == "occupancy":
        return occupancy(store, zone, args["date"], now, capacity)
    if name == "care-alerts":
        return care_alerts(store, zone, args["date"], args["days"], now)
    return fees(store, zone, args["date"], args["days"], now)


def _head(name: str, zone, **fields) -> dict:
    return {"report": name, "timezone": str(zone), **fields, "columns": list(COLUMNS[name])}


def _passages(store, buckets, now: float, gates) -> tuple[list[str], dict]:
    """The gates to show and {(bucket, gate): counts}; a bucket still to come counts None."""
    found = {(r["bucket"], r["gate"]): r for r in store.reports.passages([(lo, hi) for _, lo, hi in buckets])}
    names = sorted(set(gates) | {gate for _, gate in found})
    counts = {}
    for index, (_, lo, _) in enumerate(buckets):
        for gate in names:
            row = found.get((index, gate))
            counts[index, gate] = ({k: None for k in PASSAGE_COUNTS} if lo > now
                                   else {k: int(row[k]) if row else 0 for k in PASSAGE_COUNTS})
    return names, counts


def _totals(names, counts) -> dict:
    return {gate: {k: sum(c[k] or 0 for (_, g), c in counts.items() if g == gate) for k in PASSAGE_COUNTS}
            for gate in names}


def passages_by_hour(store, zone, day: date, now: float, gates) -> dict:
    hours = hours_of(day, zone)
    names, counts = _passages(store, hours, now, gates)
    rows = [{"date": day.isoformat(), "hour": label, "from": iso(lo, zone), "gate": gate, **counts[index, gate]}
            for index, (label, lo, _) in enumerate(hours) for gate in names]
    return {**_head("passages-by-hour", zone, date=day.isoformat()), "gates": names, "rows": rows,
            "totals": _totals(names, counts)}


def passages_by_day(store, zone, last: date, days: int, now: float, gates) -> dict:
    buckets = days_of(last, days, zone)
    names, counts = _passages(store, buckets, now, gates)
    rows = [{"date": d.isoformat(), "gate": gate, **counts[index, gate]}
            for index, (d, _, _) in enumerate(buckets) for gate in names]
    return {**_head("passages-by-day", zone, first=buckets[0][0].isoformat(), last=last.isoformat(), days=days),
            "gates": names, "rows": rows, "totals": _totals(names, counts)}


def occupancy(store, zone, day: date, now: float, capacity: int) -> dict:
    """Cars inside at 00:00, 01:00 … 24:00 of ``day`` (the full hours still to come: None)."""
    hours = hours_of(day, zone)
    moments = [(label, lo) for label, lo, _ in hours] + [("24:00", hours[-1][2])]
    past = [lo for _, lo in moments if lo <= now]
    cars = store.reports.occupancy(past) if past else []
    rows = [{"date": day.isoformat(), "time": label, "at": iso(lo, zone), "cars": cars[i] if i < len(cars) else None}
            for i, (label, lo) in enumerate(moments)]
    known = [r for r in rows if r["cars"] is not None]
    peak = max(known, key=lambda r: r["cars"]) if known else None
    report = {**_head("occupancy", zone, date=day.isoformat()), "capacity": capacity,
              "definition": OCCUPANCY_DEFINITION, "rows": rows,
              "peak": {"time": peak["time"], "cars": peak["cars"]} if peak else None}
    if day == today(now, zone):
        report["now"] = {"at": iso(now, zone), "cars": store.reports.occupancy([now])[0]}
    return report


def care_alerts(store, zone, last: date, days: int, now: float) -> dict:
    buckets = days_of(last, days, zone)
    found = store.reports.alerts([(lo, hi) for _, lo, hi in buckets], "inactivity")
    rows = [{"date": d.isoformat(), "raised": found[i]["raised"] if lo <= now else None,
             "cleared": found[i]["cleared"] if lo <= now else None} for i, (d, lo, _) in enumerate(buckets)]
    return {**_head("care-alerts", zone, first=buckets[0][0].isoformat(), last=last.isoformat(), days=days),
            "rows": rows, "total_raised": sum(r["raised"] or 0 for r in rows),
            "total_cleared": sum(r["cleared"] or 0 for r in rows)}


def yuan(cents: int | None) -> str | None:
    return None if cents is None else f"{cents / 100:.2f}"


def fees(store, zone, last: date, days: int, now: float) -> dict:
    buckets = days_of(last, days, zone)
    found = {r["bucket"]: r for r in store.reports.payments([(lo, hi) for _, lo, hi in buckets])}
    rows = []
    for index, (d, lo, _) in enumerate(buckets):
        row = found.get(index)
        cents = None if lo > now else int(row["collected_cents"]) if row else 0
        rows.append({"date": d.isoformat(), "payments": None if lo > now else int(row["payments"]) if row else 0,
                     "collected_cents": cents, "collected_yuan": yuan(cents)})
    total = sum(r["collected_cents"] or 0 for r in rows)
    return {**_head("fees", zone, first=buckets[0][0].isoformat(), last=last.isoformat(), days=days),
            "definition": FEES_DEFINITION, "rows": rows, "total_cents": total, "total_yuan": yuan(total),
            "total_payments": sum(r["payments"] or 0 for r in rows)}


def csv_text(report: dict, header) -> str:
    """The report's rows as CSV (a header row of ``header(column)``, then one line per row), with a BOM so
    that Excel set to Chinese reads it as UTF-8."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([header(c) for c in report["columns"]])
    for row in report["rows"]:
        writer.writerow(["" if row.get(c) is None else row[c] for c in report["columns"]])
    return "\ufeff" + out.getvalue()


def filename(report: dict) -> str:
    day = report.get("date") or report.get("last")
    span = f"-{report['days']}d" if "days" in report else ""
    return f"{report['report']}-{day}{span}.csv"
