"""The life cycle of a long-running service, the same for the gate daemon and the office (DESIGN 3).

One stop ``threading.Event`` that every loop waits on; the parts' closers run in reverse start order,
each once (``close()`` may be called twice, and from a ``finally`` after a start that failed half-way);
SIGTERM and SIGINT set the stop event; systemd is told (``edge.sdnotify``) STATUS=starting, READY=1,
WATCHDOG=1 while the service is healthy, STOPPING=1. What a service does is its own: it registers a
closer for each part it starts (``on_close``) and says whether it is healthy (``supervise``).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

from edge import sdnotify

_LOG = logging.getLogger(__name__)


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
