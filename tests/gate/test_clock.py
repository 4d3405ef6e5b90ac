"""The daemon's one clock (edge.timeutil): the system's, or the site demo's declared simulated time."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from test_config import BASE, problems_of

from edge.config import load_config
from edge.timeutil import advance_simulated, clock_from_config


def test_simulated_time_is_declared_in_the_config_and_shared_through_one_file(write_config, tmp_path):
    path = write_config(BASE + "clock:\n  mode: simulated\n  offset_file: clock-offset\n")
    config = load_config(path)
    gate_clock, office_clock = clock_from_config(config), clock_from_config(config)
    assert gate_clock.simulated and abs(gate_clock() - time.time()) < 1
    advance_simulated(tmp_path / "clock-offset", 49 * 3600)
    # Every process reading the file follows the fast-forward, and a second one adds to the first.
    assert abs(gate_clock() - time.time() - 49 * 3600) < 1 and abs(office_clock() - gate_clock()) < 1
    assert advance_simulated(tmp_path / "clock-offset", 60) == 49 * 3600 + 60


def test_a_real_clock_is_the_default_and_reads_no_file(minimal_config):
    clock = clock_from_config(load_config(minimal_config))
    assert not clock.simulated and abs(clock() - time.time()) < 1


def test_the_clock_section_refuses_what_it_cannot_mean(write_config):
    assert any("clock.offset_file" in p for p in problems_of(write_config(BASE + "clock:\n  mode: simulated\n")))
    problems = problems_of(write_config(BASE + "clock:\n  offset_file: x\n"))
    assert any("only read with clock.mode: simulated" in p for p in problems), problems
    problems = problems_of(write_config(BASE + "clock:\n  mode: fast\n"))
    assert any("unknown value 'fast'; use one of: real, simulated" in p for p in problems), problems


# -- the clock defences (edge.gate.clockwatch) ------------------------------------------------------------

DAY = 86400.0


class Monotonic:
    """The monotonic side of the injected clock: moves only when told (with the wall clock, or not)."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def office_status(ts_epoch: float) -> bytes:
    import json
    from zoneinfo import ZoneInfo

    from edge.timeutil import iso

    return json.dumps({"v": 1, "state": "online", "version": "x", "ts": iso(ts_epoch, ZoneInfo("Asia/Shanghai")),
                       "gates": {}}).encode()


@pytest.fixture
def watched(minimal_config):
    from edge.alerts import Alerts
    from edge.gate.clockwatch import ClockWatch
    from edge.gate.jobs import Jobs
    from edge.store import Store
    from edge.timeutil import FixedClock

    config = load_config(minimal_config)
    clock, mono = FixedClock(1_790_000_000.0), Monotonic()
    store = Store(":memory:")
    alerts = Alerts(config, store, clock=clock)
    watch = ClockWatch(config, store, alerts, clock, monotonic=mono, chronyc=None)
    jobs = Jobs(config, store, alerts, clock=clock, clockwatch=watch)
    yield SimpleNamespace(config=config, clock=clock, mono=mono, store=store, alerts=alerts, watch=watch, jobs=jobs)
    store.close()


def step(w, wall_s: float, mono_s: float | None = None) -> None:
    w.clock.advance(wall_s)
    w.mono.now += wall_s if mono_s is None else mono_s


def test_a_clock_that_jumps_two_days_ahead_raises_no_burst_of_care_alerts(watched):
    """The gate booted two days behind (no real-time clock, a power cut): what it stamped since then is
    moved onto the right time once the time is confirmed; what it stamped before, on a right clock, is not."""
    w = watched
    store = w.store
    back = store.people.add("刚回家", "1-101", care_watch=True)
    away = store.people.add("真的没回来", "1-102", care_watch=True)
    # Seen a day before the power cut, on a clock that was right (the true "now" is w.clock() + 2 days).
    store.sightings.note(f"person:{away}", w.clock() + DAY, "east", "e2")
    w.watch.tick()
    step(w, 5)
    store.sightings.note(f"person:{back}", w.clock(), "east", "e1")  # seen just now, on the wrong clock
    assert w.jobs.inactivity() == []
    # chrony (or someone) sets the clock: two days ahead at once, in five real seconds.
    step(w, 2 * DAY + 5, mono_s=5)
    assert w.watch.tick() == pytest.approx(2 * DAY)
    assert store.alerts.open_device("clock") is not None and not w.watch.confirmed
    assert w.jobs.inactivity() == []  # held: the time is not confirmed
    # The office's status agrees with the new time: confirmed, and the stamp taken on the wrong clock moves.
    w.watch.office_status(office_status(w.clock() - 2))
    assert w.watch.confirmed and w.watch.offset_s == pytest.approx(2)
    assert store.sightings.get(f"person:{back}")["ts_epoch"] == pytest.approx(w.clock() - 5, abs=1)
    assert store.alerts.open_device("clock") is None
    assert w.jobs.inactivity() == []
    # A day later: the resident who came home is fine; the one last seen before the power cut is not.
    step(w, DAY + 60)
    raised = w.jobs.inactivity()
    assert [a["person_id"] for a in raised] == [away] and raised[0]["hours"] == pytest.approx(48.0, abs=0.1)


def test_the_confirmation_survives_a_restart_and_a_wrong_clock_keeps_its_alert(watched):
    from edge.gate.clockwatch import ClockWatch

    w = watched
    w.watch.tick()
    step(w, 3 * DAY, mono_s=5)
    w.watch.tick()
    again = ClockWatch(w.config, w.store, w.alerts, w.clock, monotonic=w.mono, chronyc=None)
    assert not again.confirmed and len(again.jumps) == 1 and again.jumps[0][2] == pytest.approx(3 * DAY - 5)
    # The office says we are a day ahead: still unconfirmed, the alert stays, the status says by how much.
    again.office_status(office_status(w.clock() - DAY))
    assert not again.confirmed and w.store.alerts.open_device("clock") is not None
    assert again.status()["clock_offset_s"] == pytest.approx(DAY) and again.status()["clock"]["source"] == "office"


def test_the_demos_declared_fast_forward_is_not_a_jump(tmp_path, minimal_config):
    from edge.alerts import Alerts
    from edge.gate.clockwatch import ClockWatch
    from edge.store import Store
    from edge.timeutil import Clock

    config = load_config(minimal_config)
    clock, mono = Clock(offset_file=str(tmp_path / "offset")), Monotonic()
    with Store(":memory:") as store:
        watch = ClockWatch(config, store, Alerts(config, store, clock=clock), clock, monotonic=mono, chronyc=None)
        watch.tick()
        advance_simulated(tmp_path / "offset", 2 * DAY)
        time.sleep(0.01)
        assert watch.tick() is None and watch.confirmed and store.alerts.open_device("clock") is None


def test_commands_are_judged_on_the_offices_time(watched):
    w = watched
    w.watch.office_status(office_status(w.clock() + 3600))  # this gate booted an hour behind
    assert w.watch.offset_s == pytest.approx(-3600) and w.watch.office_now() == pytest.approx(w.clock() + 3600)
    assert "3600 s from the office" in w.store.alerts.open_device("clock")["detail"]
    w.watch.office_status(office_status(w.clock()))
    assert w.store.alerts.open_device("clock") is None
    assert w.watch.status()["clock"]["confirmed"] and w.watch.status()["clock_offset_s"] == 0


def test_after_a_jump_the_interval_jobs_run_now_not_when_the_old_clock_said(watched):
    from datetime import UTC, datetime, timedelta

    w = watched
    w.jobs.start()
    try:
        w.jobs.replan()
        soon = datetime.now(UTC) + timedelta(seconds=1)
        jobs = w.jobs.schedule.scheduler.get_jobs()
        interval = [j for j in jobs if j.id in ("inactivity", "status", "device_health")]
        assert interval and all(j.next_run_time <= soon for j in interval)
        retention = w.jobs.schedule.scheduler.get_job("retention")
        assert retention.next_run_time > soon  # a nightly job keeps its hour
    finally:
        w.jobs.close()


def test_the_offices_jobs_are_planned_again_when_its_wall_clock_jumps(monkeypatch):
    """The office has no ClockWatch: its supervision looks at the wall clock against the monotonic one."""
    from edge import lifecycle

    runs = []
    schedule = lifecycle.Schedule("UTC")
    schedule.every(600, lambda: runs.append(1), id="gaps")
    schedule.start()
    try:
        schedule.follow_the_clock()
        schedule.follow_the_clock()  # no jump: nothing runs before its time
        time.sleep(0.5)
        assert runs == []
        real = time.time
        monkeypatch.setattr(lifecycle.time, "time", lambda: real() - 3600)  # set back an hour
        schedule.follow_the_clock()
        monkeypatch.undo()
        deadline = time.monotonic() + 5
        while not runs and time.monotonic() < deadline:
            time.sleep(0.05)
        assert runs == [1]  # now, not in an hour and ten minutes
    finally:
        schedule.close()
