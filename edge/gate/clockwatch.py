"""What a gate knows about its own wall clock (README, "One time for the site").

A Pi has no real-time clock and the site's network may have no time server, so the wall clock can be
wrong at boot and then jump when it is set. ``ClockWatch`` owns:

- **jumps**: wall time moving unlike the monotonic clock between two ticks (beyond ``JUMP_S``), the
  declared moves of the demo's simulated clock aside. Its own thread ticks on the monotonic clock every
  few seconds (a scheduler on wall time stalls when the clock is set back), raises the ``clock`` device
  alert and tells the daemon (``on_jump``: the jobs re-plan their next runs). A jump is remembered
  (``kv clock_jumps``: the stretch of wall time this process stamped before it, and its size);
- **confirmation**: after a jump the time is unconfirmed and inactivity alerts wait (``confirmed``)
  until the office's status (or chrony, when it runs here) says our clock agrees within
  ``clock.max_offset_s``. Then the clock that was wrong is known: what this gate stamped on it since
  it started (its own sightings, its open parking sessions' entries) is moved onto the right time, so a
  resident seen an hour before the clock jumped two days ahead has been away an hour, and a real
  two-day absence (seen before a power cut, on a clock that was right) still raises its alert;
- **the offset from the office's clock** (``offset_s``, ``clock_offset_s`` in the gate's status), from
  the office's retained status (published every minute, so up to a minute old: ``max_offset_s`` is
  120 s by default); beyond the bound the ``clock`` alert is raised. Commands from the office are judged
  on the office's time (``office_now``), so a gate whose clock is behind does not refuse them as stale.

Nothing here stops residents from getting in: an unsynchronised clock only raises alerts.
Known limit: after a jump *back*, this gate's new sightings are older than the ones stamped before it
and do not replace them until the time is confirmed and the old ones are moved back.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import threading
import time

from edge.schemas.phrases import say

_LOG = logging.getLogger(__name__)
JUMP_S = 30.0  # wall time and the monotonic clock disagreeing by more than this between two ticks
TICK_S = 5.0
CHRONY_EVERY_S = 60.0


class ClockWatch:
    def __init__(self, config, store, alerts, clock, *, monotonic=time.monotonic, chronyc: str | None = "auto"):
        self.config = config
        self.gate = config.gate
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.monotonic = monotonic
        self.max_offset_s = config.clock.max_offset_s
        self.chronyc = shutil.which("chronyc") if chronyc == "auto" else chronyc
        self.offset_s: float | None = None  # our clock minus the office's (positive: we are ahead)
        self.source: str | None = None  # what last told us the time: "office" or "chrony"
        self._last: tuple[float, float, float] | None = None  # (wall, monotonic, declared offset)
        self._chrony_at = float("-inf")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.on_jump = None
        # [since, before, by]: this process stamped wall times from ``since`` to ``before`` on a clock
        # that then jumped by ``by`` seconds (kept until the time is confirmed).
        self.jumps: list[list[float]] = json.loads(store.kv_get("clock_jumps") or "[]")
        self.confirmed = not self.jumps
        self._since = _read(clock)[0]  # our stamps from here on are on the current clock

    # -- the watcher's thread ------------------------------------------------------------------
    def start(self, on_jump=None) -> ClockWatch:
        self.on_jump = on_jump
        self.tick()
        self._thread = threading.Thread(target=self._run, name="gate-edge-clockwatch", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):  # Event.wait runs on the monotonic clock
            try:
                if self.tick() is not None and self.on_jump is not None:
                    self.on_jump()
            except Exception:
                _LOG.exception("clock watch: a tick failed; it runs again in %s s", TICK_S)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- jumps ---------------------------------------------------------------------------------
    def tick(self) -> float | None:
        """The size of a jump seen since the last tick, if any (and chrony asked, once a minute)."""
        with self._lock:
            wall, declared = _read(self.clock)
            mono = self.monotonic()
            last, self._last = self._last, (wall, mono, declared)
            if self.chronyc and mono - self._chrony_at >= CHRONY_EVERY_S:
                self._chrony_at = mono
                self._ask_chrony()
            if last is None:
                return None
            jump = (wall - last[0]) - (mono - last[1]) - (declared - last[2])
            if abs(jump) <= JUMP_S:
                return None
            before = last[0] + (mono - last[1])  # where the old clock would be now
            self.jumps.append([self._since, before, jump])
            self._since = wall
            self.confirmed = False
            with self.store.transaction():
                self.store.kv_set("clock_jumps", json.dumps(self.jumps))
        self.alerts.device("clock", False, say("clock_jumped", jump_s=jump))
        return jump

    def _confirm(self, source: str, offset_s: float) -> None:
        """The clock is right now: move what this gate stamped on the wrong clock onto the right time."""
        moved = 0
        with self.store.transaction():
            later = 0.0  # a stamp before several jumps moves by all of them
            for since, before, by in reversed(self.jumps):
                later += by
                moved += self.store.sightings.shift(self.gate, since, before, later)
                moved += self.store.sessions.shift_entries(self.gate, since, before, later)
            self.store.kv_delete("clock_jumps")
        self.jumps, self.confirmed = [], True
        _LOG.warning("clock: the time is confirmed by %s (offset %.1f s); %d stamps moved onto it",
                     source, offset_s, moved)

    # -- what the office and the time server say --------------------------------------------
    def office_status(self, payload: bytes) -> None:
        """The office's retained status (at most a minute old while the office runs): its ``ts``."""
        from edge.contract import Refused, parse_office_status

        try:
            status = parse_office_status(payload)
        except Refused:
            return
        if status.state == "online":
            self._observed(self.clock() - status.ts_epoch, "office")

    def _ask_chrony(self) -> None:
        try:
            out = subprocess.run([self.chronyc, "-c", "tracking"], capture_output=True, text=True, timeout=2)
            fields = out.stdout.strip().split(",")
            if out.returncode == 0 and len(fields) >= 14 and fields[13].strip() == "Normal":
                # chrony's "System time" is how far the system clock is *behind* true time (positive:
                # slow); our offset is ours minus the reference, so the sign turns.
                self._observed(-float(fields[4]), "chrony")
        except (OSError, ValueError, subprocess.SubprocessError):
            pass

    def _observed(self, offset_s: float, source: str) -> None:
        self.offset_s, self.source = round(offset_s, 3), source
        agrees = abs(offset_s) <= self.max_offset_s
        if agrees and not self.confirmed:
            self._confirm(source, offset_s)
        self.alerts.device("clock", agrees and self.confirmed, None if agrees else say(
            "clock_offset", offset_s=offset_s, source=source, max_offset_s=self.max_offset_s))

    def office_now(self) -> float:
        """The office's time as best we know it (commands are judged on it)."""
        return self.clock() - (self.offset_s if self.source == "office" and self.offset_s is not None else 0.0)

    def status(self) -> dict:
        return {"clock_offset_s": self.offset_s,
                "clock": {"confirmed": self.confirmed, "source": self.source,
                          "mode": getattr(getattr(self.config, "clock", None), "mode", "real")}}


def _read(clock) -> tuple[float, float]:
    """(wall time, the declared simulated offset in it) in one reading."""
    read = getattr(clock, "read", None)
    return read() if read is not None else (clock(), 0.0)
