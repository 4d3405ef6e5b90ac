"""The life cycle of a long-running service, the same for the gate daemon and the office (DESIGN 3).

One stop ``threading.Event`` that every loop waits on; the parts' closers run in reverse start order,
each once (``close()`` may be called twice, and from a ``finally`` after a start that failed half-way);
SIGTERM and SIGINT set the stop event; systemd is told (``edge.sdnotify``) STATUS=starting, READY=1,
WATCHDOG=1 while the service is healthy, STOPPING=1. What a service does is its own: it registers a
closer for each part it starts (``on_close``) and says whether it is healthy (``supervise``).

Its periodic work runs on one APScheduler BackgroundScheduler (``Schedule``: the gate's jobs, the
office's): a job never raises into the scheduler, a storage failure is told to the storage guard, and
after a jump of the wall clock (on which the scheduler plans) every interval job is planned again from now.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from edge import sdnotify
from edge.store import StorageFailure

_LOG = logging.getLogger(__name__)
JUMP_S = 2.0  # wall time and the monotonic clock disagreeing by more than this between two looks: a jump


class Service:
    """Subclassed by ``edge.gate.daemon.Daemon`` and ``edge.office.service.Office``."""

    SUPERVISE_EVERY_S = 1.0  # how often ``run`` calls ``supervise`` (at most the watchdog's period)

    def __init__(self):
        self.stop = threading.Event()
        self._closers: list[Callable[[], object]] = []

    def on_close(self, closer: Callable[[], object]) -> None:
        """Run ``closer`` at ``close()``: after the closers of every part started later."""
        self._closers.append(closer)

    def starting(self) -> None:
        sdnotify.notify("STATUS=starting")

    def ready(self, clock) -> None:
        """Every part is started: systemd's start is over."""
        sdnotify.notify("READY=1\nSTATUS=running")
        if getattr(clock, "simulated", False):
            _LOG.warning("SIMULATED TIME (clock.mode: simulated, a demo): the clock reads %s", clock.offset_file)

    def stop_on_signals(self) -> None:
        """SIGTERM and SIGINT stop the service cleanly, also while it is still starting (systemd may stop a
        service whose status already said online)."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop.set())

    def supervise(self) -> bool:
        """Called every SUPERVISE_EVERY_S by ``run``: mend what can be mended; True while healthy (the
        watchdog is pinged only then, so a service stuck for good is restarted by systemd)."""
        return True

    def run(self) -> int:
        """The main thread until a signal: supervision and the watchdog; returns the exit code."""
        self.stop_on_signals()
        watchdog = sdnotify.watchdog_interval_s()
        interval = min(watchdog, self.SUPERVISE_EVERY_S) if watchdog else self.SUPERVISE_EVERY_S
        while not self.stop.wait(interval):
            healthy = self.supervise()
            if watchdog and healthy:
                sdnotify.notify("WATCHDOG=1")
        return 0

    def close(self) -> None:
        """Stop every part in reverse start order. Safe to call twice."""
        sdnotify.notify("STOPPING=1")
        self.stop.set()
        while self._closers:
            closer = self._closers.pop()
            try:
                closer()
            except Exception:
                _LOG.exception("error while stopping")


class Schedule:
    """One service's jobs on a BackgroundScheduler: a run that finds the previous one still running is
    skipped, missed runs are coalesced into one, and each job is wrapped: a failure is logged and the
    job runs again at its next time; a storage failure is told to ``guard`` (one line, not a traceback
    every few seconds)."""

    def __init__(self, timezone, *, guard=None):
        self.guard = guard  # the storage guard (``failed(exc)``), or None
        self.scheduler = BackgroundScheduler(timezone=timezone, job_defaults={"coalesce": True, "max_instances": 1})
        self._looked: tuple[float, float] | None = None  # (wall, monotonic) at the last follow_the_clock

    def every(self, seconds: float, job: Callable[[], object], *, id: str, first_in: float | None = None) -> None:
        """Run ``job`` every ``seconds``; the first time after ``first_in`` seconds (None: after ``seconds``)."""
        first = {} if first_in is None else {"next_run_time": soon(first_in)}
        self.scheduler.add_job(self._safe(job), "interval", seconds=seconds, id=id, **first)

    def daily(self, job: Callable[[], object], *, id: str, hour: int, minute: int) -> None:
        """Run ``job`` every day at ``hour:minute``, the service's time zone."""
        self.scheduler.add_job(self._safe(job), "cron", hour=hour, minute=minute, id=id)

    def start(self) -> Schedule:
        self.scheduler.start()
        return self

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def replan(self) -> None:
        """After a wall-clock jump: every interval job runs now and then at its interval again (the
        scheduler plans on wall time, so a clock set back would hold them all for as long as the jump)."""
        for job in self.scheduler.get_jobs():
            if isinstance(job.trigger, IntervalTrigger):
                job.modify(next_run_time=datetime.now(UTC))
        _LOG.warning("clock: the wall clock jumped; the jobs are planned again from now")

    def follow_the_clock(self) -> None:
        """Re-plan when the wall clock jumped since the last look: for a service without the gate's
        ``ClockWatch``, called from its supervision (which waits on the monotonic clock)."""
        looked, self._looked = self._looked, (time.time(), time.monotonic())
        if looked is not None and abs((self._looked[0] - looked[0]) - (self._looked[1] - looked[1])) > JUMP_S:
            self.replan()

    def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def _safe(self, job):
        def run():
            try:
                job()
            except StorageFailure as exc:
                if self.guard is None:
                    _LOG.exception("job %s failed; it runs again at its next time", job.__name__)
                else:
                    _LOG.info("job %s: storage failure (%s); it runs again at its next time", job.__name__, exc)
                    self.guard.failed(exc)
            except Exception:
                _LOG.exception("job %s failed; it runs again at its next time", job.__name__)

        run.__name__ = job.__name__
        return run


def soon(seconds: float = 1.0) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)
