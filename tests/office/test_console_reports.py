"""The console's reports (issue 18): passages per hour and day, the car park's occupancy, care-watch alerts
and fees per day, their CSV and their SVG charts.

An office archive is filled through the office's own archiving path (``PeerReceiver.receive``: the event
stored once, its parking transition applied) with known events at two gates over two days, some a moment
either side of midnight in Asia/Shanghai (16:00 UTC: a report counting UTC days would move them); then
the routes are driven over HTTP on a real site (mosquitto, office, a gate), where a payment made at the
console must show in the day's fees."""

from __future__ import annotations

import csv
import io
import uuid
import xml.etree.ElementTree as ET
from datetime import date, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from edge import contract
from edge.config.rules import ParkingConfig
from edge.office.console import reports
from edge.office.console.charts import Series, bar_chart, line_chart, nice_ticks
from edge.site.peers import PeerReceiver
from edge.store import Store
from edge.timeutil import iso

ZONE = ZoneInfo("Asia/Shanghai")
D1, D2 = date(2026, 11, 29), date(2026, 11, 30)
SVG = "{http://www.w3.org/2000/svg}"


def at(day: date, clock: str) -> float:
    hours, minutes, seconds = (clock.split(":") + ["0"])[:3]
    return datetime(day.year, day.month, day.day, int(hours), int(minutes), tzinfo=ZONE).timestamp() + float(seconds)


NOW = at(D2, "18:30")


class Archive:
    """An office's store, filled the way the office archives what the gates publish."""

    def __init__(self):
        self.store = Store(":memory:")
        self.receiver = PeerReceiver(self.store, alerts=None, site_mode=True, clock=lambda: NOW,
                                     rules=SimpleNamespace(parking=ParkingConfig()), zone=ZONE, follow_people=False)
        self.seq = {}

    def event(self, gate, when, kind, decision, *, lane=None, person=None, plate=None, klass=None, session=None,
              fee=None, **extra) -> dict:
        self.seq[gate] = self.seq.get(gate, 0) + 1
        subject = (contract.subject("vehicle", plate=plate, vehicle_class=klass) if plate
                   else contract.subject("person", person_id=person) if person else contract.subject("unknown"))
        payload = contract.event_payload(
            event_id=str(uuid.uuid4()), seq=self.seq[gate], ts=iso(when, ZONE), site="tianlin12", gate=gate,
            lane=lane or ("out" if kind == "exit" else "in"), kind=kind, credential="plate" if plate else "face",
            subject=subject, decision=decision, reason="test", fee_cents=fee, session_id=session)
        payload.update(extra)
        outcome = self.receiver.receive(gate, contract.dumps(payload).encode("utf-8"), f"gate/tianlin12/{gate}/event")
        assert outcome == "applied", outcome
        return payload


@pytest.fixture(scope="module")
def archive():
    a = Archive()
    ev = a.event
    # -- D1 -------------------------------------------------------------------------------
    ev("east", at(D1, "10:00"), "entry", "open", plate="沪B00002", klass="resident", session="s2")
    ev("west", at(D1, "20:00"), "entry", "open", plate="沪D00004", klass="visitor", session="s5")
    ev("west", at(D1, "21:40"), "exit", "hold", plate="沪D00004", klass="visitor", session="s5", fee=1000)
    ev("west", at(D1, "21:45"), "exit", "open", plate="沪D00004", klass="visitor", session="s5", fee=1000,
       credential="remote", request_id="r1")  # paid in full at the console: the barrier opened
    ev("east", at(D1, "23:59:30"), "entry", "open", plate="沪A00001", klass="visitor", session="s1")
    ev("east", at(D1, "23:59:59.5"), "entry", "open", person=7)
    # -- D2 -------------------------------------------------------------------------------
    ev("east", at(D2, "00:00"), "exit", "open", person=7)  # midnight exactly: the new day's first hour
    ev("west", at(D2, "02:20"), "exit", "hold", plate="沪A00001", klass="visitor", session="s1", fee=500)
    ev("west", at(D2, "02:25"), "session", "hold", plate="沪A00001", klass="visitor", session="s1", fee=300,
       **contract.session_fields("paid", 200))  # a part payment: 2 yuan of 5
    ev("west", at(D2, "02:30"), "exit", "open", plate="沪A00001", klass="visitor", session="s1", fee=500)  # the rest
    ev("west", at(D2, "07:00"), "entry", "open", plate="沪C00003", klass="resident", session="s3")
    ev("west", at(D2, "08:15"), "entry", "open", person=8)
    ev("west", at(D2, "08:20"), "stranger", "deny")
    ev("east", at(D2, "09:00"), "entry", "open", plate="沪C00003", klass="resident", session="s4")  # no exit read
    ev("east", at(D2, "09:00"), "session", None, plate="沪C00003", klass="resident", session="s3",
       **contract.session_fields("superseded"))
    ev("east", at(D2, "09:05"), "denied", "deny", plate="沪X99999", klass="blocked")
    ev("west", at(D2, "10:00"), "entry", "hold", plate="沪F00006", klass="visitor")  # lot full: not in
    ev("east", at(D2, "11:00"), "entry", "open", plate="沪E00005", klass="visitor", session="s6")
    ev("west", at(D2, "12:10"), "exit", "open", plate="沪C00003", klass="resident", session="s4", fee=0)
    ev("east", at(D2, "13:00"), "session", None, plate="沪E00005", klass="visitor", session="s6", fee=0,
       **contract.session_fields("paid", 800))  # paid in advance
    ev("east", at(D2, "14:00"), "exit", "open", plate="沪E00005", klass="visitor", session="s6", fee=0)
    # -- care-watch alerts, as the office archives them (and a device alert, not counted) ---------
    alerts = a.store.alerts
    alerts.add("a1", "inactivity", "person:7", at(D1, "09:00"), "")
    alerts.add("a2", "inactivity", "person:9", at(D1, "23:59:59"), "")
    alerts.add("a3", "inactivity", "person:10", at(D2, "00:00"), "")
    alerts.clear("a1", at(D2, "08:15"))
    alerts.add("d1", "device", "east:cam-in", at(D2, "03:00"), "camera down")
    yield a
    a.store.close()


def build(archive, name, **params):
    return reports.build(name, {k: str(v) for k, v in params.items()}, store=archive.store, zone=ZONE, now=NOW,
                         gates={"east": None, "west": None}, capacity=306)


def test_passages_per_hour_count_what_the_gates_let_through_in_local_hours(archive):
    d2 = build(archive, "passages-by-hour", date=D2)
    assert d2["date"] == "2026-11-30" and d2["gates"] == ["east", "west"] and len(d2["rows"]) == 48
    by = {(r["hour"], r["gate"]): r for r in d2["rows"]}
    assert by["00:00", "east"] == {**by["00:00", "east"], "entries": 0, "exits": 1, "denied": 0, "strangers": 0}
    assert by["00:00", "east"]["from"] == "2026-11-30T00:00:00.000+08:00"
    assert (by["02:00", "west"]["exits"], by["02:00", "west"]["entries"]) == (1, 0)  # the held exit is not one
    assert by["08:00", "west"] == {**by["08:00", "west"], "entries": 1, "strangers": 1}
    assert by["09:00", "east"] == {**by["09:00", "east"], "entries": 1, "denied": 1, "exits": 0}
    assert by["10:00", "west"]["entries"] == 0  # held at the entry (lot full): did not pass
    assert by["18:00", "east"]["entries"] == 0 and by["19:00", "east"]["entries"] is None  # still to come
    assert d2["totals"] == {"east": {"entries": 2, "exits": 2, "denied": 1, "strangers": 0},
                            "west": {"entries": 2, "exits": 2, "denied": 0, "strangers": 1}}
    d1 = {(r["hour"], r["gate"]): r for r in build(archive, "passages-by-hour", date=D1)["rows"]}
    assert d1["23:00", "east"]["entries"] == 2  # 23:59:30 and 23:59:59.5 stay on the first day
    assert d1["21:00", "west"]["exits"] == 1 and d1["21:00", "west"]["entries"] == 0


def test_passages_per_day_use_the_sites_midnight(archive):
    report = build(archive, "passages-by-day", date=D2, days=3)
    assert (report["first"], report["last"], report["days"]) == ("2026-11-28", "2026-11-30", 3)
    by = {(r["date"], r["gate"]): r for r in report["rows"]}
    assert len(report["rows"]) == 6
    assert by["2026-11-28", "east"] == {"date": "2026-11-28", "gate": "east", "entries": 0, "exits": 0,
                                        "denied": 0, "strangers": 0}
    assert by["2026-11-29", "east"] == {**by["2026-11-29", "east"], "entries": 3, "exits": 0}
    assert by["2026-11-29", "west"] == {**by["2026-11-29", "west"], "entries": 1, "exits": 1}
    assert by["2026-11-30", "east"] == {**by["2026-11-30", "east"], "entries": 2, "exits": 2, "denied": 1}
    assert by["2026-11-30", "west"] == {**by["2026-11-30", "west"], "entries": 2, "exits": 2, "strangers": 1}
    assert build(archive, "passages-by-day")["days"] == 30  # the default: the last 30 days, today included


def test_occupancy_is_the_cars_inside_at_each_full_hour(archive):
    d2 = build(archive, "occupancy", date=D2)
    cars = {r["time"]: r["cars"] for r in d2["rows"]}
    assert list(cars)[0] == "00:00" and list(cars)[-1] == "24:00" and len(cars) == 25
    expected = {"00:00": 2, "01:00": 2, "02:00": 2, "03:00": 1, "06:00": 1, "07:00": 2, "08:00": 2,
                "09:00": 2,  # the car that entered again: counted once (its first stay was superseded then)
                "11:00": 3, "12:00": 3, "13:00": 2, "14:00": 1, "18:00": 1, "19:00": None, "24:00": None}
    assert {k: cars[k] for k in expected} == expected
    assert d2["capacity"] == 306 and d2["peak"] == {"time": "11:00", "cars": 3} and d2["now"]["cars"] == 1
    assert "entered and not yet left" in d2["definition"]
    d1 = {r["time"]: r["cars"] for r in build(archive, "occupancy", date=D1)["rows"]}
    assert (d1["09:00"], d1["10:00"], d1["20:00"], d1["21:00"], d1["22:00"], d1["24:00"]) == (0, 1, 2, 2, 1, 2)
    assert "now" not in build(archive, "occupancy", date=D1)


def test_care_watch_alerts_per_day(archive):
    report = build(archive, "care-alerts", date=D2, days=2)
    assert report["rows"] == [{"date": "2026-11-29", "raised": 2, "cleared": 0},
                              {"date": "2026-11-30", "raised": 1, "cleared": 1}]
    assert (report["total_raised"], report["total_cleared"]) == (3, 1)


def test_fees_per_day_are_the_payments_the_gates_recorded(archive):
    report = build(archive, "fees", date=D2, days=2)
    assert report["rows"] == [
        {"date": "2026-11-29", "payments": 1, "collected_cents": 1000, "collected_yuan": "10.00"},
        # 2 yuan in part, the other 3 when the barrier opened; 8 yuan paid in advance
        {"date": "2026-11-30", "payments": 3, "collected_cents": 1300, "collected_yuan": "13.00"}]
    assert (report["total_cents"], report["total_payments"]) == (2300, 4)


def test_csv_has_a_bom_a_header_row_and_the_rows():
    archive = SimpleNamespace(store=Store(":memory:"))
    report = build(archive, "fees", date=D2, days=2)
    t = {"date": "日期", "payments": "收费笔数", "collected_yuan": "收费金额（元）"}.get
    text = reports.csv_text(report, t)
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows == [["日期", "收费笔数", "收费金额（元）"], ["2026-11-29", "0", "0.00"], ["2026-11-30", "0", "0.00"]]
    assert reports.filename(report) == "fees-2026-11-30-2d.csv"
    hourly = build(archive, "passages-by-hour", date=D2)
    lines = list(csv.reader(io.StringIO(reports.csv_text(hourly, str)[1:])))
    assert lines[0] == ["date", "hour", "gate", "entries", "exits", "denied", "strangers"]
    assert lines[1] == ["2026-11-30", "00:00", "east", "0", "0", "0", "0"]
    assert lines[-1] == ["2026-11-30", "23:00", "west", "", "", "", ""]  # still to come: empty, not 0
    archive.store.close()


@pytest.mark.parametrize("name,params,problem", [
    ("passages-by-hour", {"date": "2026-13-01"}, "date"), ("passages-by-hour", {"date": "yesterday"}, "date"),
    ("passages-by-hour", {"date": "2026-12-01"}, "after today"), ("occupancy", {"days": "3"}, "days"),
    ("fees", {"days": "0"}, "days"), ("fees", {"days": "367"}, "days"), ("fees", {"days": "x"}, "days"),
    ("fees", {"date": "1999-12-31"}, "before"), ("nothing", {}, "no report"),
    ("fees", {"days": "²"}, "days"), ("care-alerts", {"days": "٣"}, "days"), ("fees", {"days": "３"}, "days"),
    ("fees", {"days": "+7"}, "days"), ("fees", {"days": "1_0"}, "days"),
])
def test_bad_parameters_are_refused_with_the_reason(name, params, problem):
    with pytest.raises(reports.BadParameter, match=problem):
        reports.parse(name, params, NOW, ZONE)


def test_hours_of_a_daylight_saving_day_are_the_local_hours():
    newyork = ZoneInfo("America/New_York")
    spring = reports.hours_of(date(2026, 3, 8), newyork)
    assert len(spring) == 23 and [h[0] for h in spring[:3]] == ["00:00", "01:00", "03:00"]
    autumn = reports.hours_of(date(2026, 11, 1), newyork)
    assert len(autumn) == 25 and [h[0] for h in autumn[:3]] == ["00:00", "01:00", "01:00"]
    assert len(reports.hours_of(D2, ZONE)) == 24


# -- the charts ---------------------------------------------------------------------------------
def svg_of(markup) -> ET.Element:
    return ET.fromstring(str(markup))


def test_bar_chart_is_svg_with_a_title_a_text_alternative_labelled_axes_and_a_bar_per_value():
    labels = [f"{h:02d}" for h in range(24)]
    entries = [h * 3 for h in range(24)]
    markup = bar_chart("东门：每小时通行 <2026-11-30>", labels,
                       [Series("进入", entries), Series("离开", [None] * 12 + [1] * 12)],
                       x_label="时刻", y_label="次数")
    root = svg_of(markup)  # well-formed XML: the title's < and > were escaped
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "东门：每小时通行 <2026-11-30>"
    desc = root.find(f"{SVG}desc").text
    assert "进入: total 828, highest 69 (23)" in desc and "离开: total 12" in desc
    bars = root.findall(f".//{SVG}rect[@class='bar']")
    assert len(bars) == 24 + 12  # no bar for a value still to come
    blue = [b for b in bars if b.get("fill") == "#0072B2"]  # Okabe-Ito blue, then orange
    assert len(blue) == 24 and {b.get("fill") for b in bars} == {"#0072B2", "#B06E00"}
    assert blue[23].find(f"{SVG}title").text == "23 · 进入: 69"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "时刻" in texts and "次数" in texts and "进入" in texts and "离开" in texts and "00" in texts
    heights = [float(b.get("height")) for b in blue]
    assert heights == sorted(heights) and heights[0] == 0 and heights[-1] > 100
    assert "<script" not in str(markup)


def test_line_chart_draws_points_a_gap_for_unknown_values_and_the_reference_line():
    values = [2, 2, 3, None, None]
    root = svg_of(line_chart("在场车辆", ["00", "01", "02", "03", "04"], [Series("车辆", values)],
                             x_label="时刻", y_label="车辆数", reference=(306, "车位 306 个")))
    assert len(root.findall(f".//{SVG}circle")) == 3
    assert len(root.findall(f".//{SVG}path[@class='line']")) == 1
    assert root.find(f".//{SVG}line[@class='reference']") is not None
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "车位 306 个" in texts and "3" in texts  # each value written at its point
    assert root.find(f"{SVG}title").text == "在场车辆"


def test_nice_ticks_are_round_and_reach_the_top():
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(306)[-1] >= 306 and len(nice_ticks(306)) <= 8
    assert all(float(t).is_integer() for t in nice_ticks(3))


# -- over HTTP, on a real site --------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from console_site import console_site

    with console_site(tmp_path_factory.mktemp("reports")) as state:
        yield state


def test_reports_need_a_session(site):
    import httpx

    assert httpx.get(f"{site.url}/api/reports/fees").status_code == 401
    assert httpx.get(f"{site.url}/api/reports/fees.csv").status_code == 401
    answer = httpx.get(f"{site.url}/reports")
    assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/reports"


def test_a_passage_and_a_payment_at_the_gate_show_in_todays_reports(site, guard):
    from console_site import held_exit
    from mqtt_helpers import wait_for

    held = held_exit(site, "苏E54321")
    answer = guard.post(f"/api/parking/{held['session_id']}/pay", json={"amount_cents": held["fee_cents"]})
    assert answer.status_code == 200, answer.text
    assert wait_for(lambda: guard.get("/api/reports/fees", params={"days": "1"}).json()["total_cents"]
                    == held["fee_cents"], 10)
    fees = guard.get("/api/reports/fees", params={"days": "1"}).json()
    assert fees["rows"][0]["payments"] == 1 and fees["days"] == 1
    hourly = guard.get("/api/reports/passages-by-hour").json()
    east = [r for r in hourly["rows"] if r["gate"] == "east" and r["entries"] is not None]
    assert sum(r["entries"] for r in east) >= 1 and sum(r["exits"] for r in east) >= 1  # in, and out once paid
    assert hourly["date"] == fees["last"] and set(hourly["gates"]) >= {"east", "west"}
    index = guard.get("/api/reports").json()["reports"]
    assert [r["name"] for r in index] == list(reports.NAMES)


def test_csv_download_is_excel_ready(site, guard):
    answer = guard.get("/api/reports/passages-by-day.csv", params={"days": "7"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")
    assert 'filename="passages-by-day-' in answer.headers["content-disposition"]
    assert answer.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert rows[0] == ["日期", "道闸", "进入", "离开", "拒绝", "陌生人"]  # the console's language: Chinese first
    assert len(rows) == 1 + 7 * 2  # 7 days × 2 gates (east and west are the site's gates)
    english = guard.get("/api/reports/fees.csv", params={"lang": "en"})
    assert english.content.decode("utf-8-sig").splitlines()[0] == "date,payments,collected (yuan)"


@pytest.mark.parametrize("path,params,status", [
    ("/api/reports/fees", {"days": "0"}, 400), ("/api/reports/fees", {"date": "2026-02-30"}, 400),
    ("/api/reports/occupancy", {"days": "2"}, 400), ("/api/reports/fees.csv", {"days": "many"}, 400),
    ("/api/reports/fees", {"lang": "fr"}, 400), ("/api/reports/nothing", {}, 404),
    ("/api/reports/nothing.csv", {}, 404),
    ("/api/reports/fees", {"days": "²"}, 400), ("/api/reports/passages-by-day.csv", {"days": "²"}, 400),
    ("/api/reports/care-alerts", {"days": "٣"}, 400),
])
def test_bad_report_requests_are_4xx_json(guard, path, params, status):
    answer = guard.get(path, params=params)
    assert answer.status_code == status and answer.json()["error"]


@pytest.mark.parametrize("days", ["²", "٣", "３"])
def test_the_reports_page_says_a_bad_number_of_days_is_wrong(guard, days):
    page = guard.get("/reports", params={"days": days})  # the page's way with a bad parameter: a notice
    assert page.status_code == 200 and "参数不正确" in page.text and "not a whole number" in page.text
    assert page.text.count("<svg") == 9


def test_the_reports_page_shows_every_chart_with_its_numbers(site, guard):
    page = guard.get("/reports")
    assert page.status_code == 200
    html = page.text
    assert 'href="/reports"' in html and "统计报表" in html
    assert html.count("<svg") == 3 + 3 + 1 + 1 + 1  # per gate and refused, per hour and per day; the rest
    for name in reports.NAMES:
        assert f'id="{name}"' in html and f"/api/reports/{name}.csv?" in html
    assert "在场车辆" in html and "车位 306 个" in html and "<script>" not in html.split("</header>")[1]
    bad = guard.get("/reports", params={"date": "someday"})
    assert bad.status_code == 200 and "参数不正确" in bad.text and bad.text.count("<svg") == 9
    guard.cookies.set("lang", "en")
    english = guard.get("/reports", params={"days": "7"})
    assert "Cars inside at each full hour" in english.text and "last 7 days" in english.text


def test_every_chart_colour_stands_out_from_the_card_at_3_to_1():
    """Bars and lines are read by committee members who are not young: WCAG 1.4.11 asks 3:1 of
    graphical objects against what is beside them (the chart's white card)."""
    from test_console import contrast

    from edge.office.console.charts import AXIS, CARD, INK, PALETTE

    for colour in PALETTE:
        assert contrast(colour, CARD) >= 3.0, colour
    assert contrast(INK, CARD) >= 4.5 and contrast(AXIS, CARD) >= 4.5
