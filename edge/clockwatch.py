"""What a gate knows about its own wall clock (DESIGN 6; README, "One time for the site").

A Pi has no real-time clock and the site's network may have no time server, so the wall clock can be
wrong at boot and then jump when it is set. ``ClockWatch`` owns:

- **jumps**: wall time moving unlike the monotonic clock between two ticks (beyond ``JUMP_S``), the
  declared moves of the demo's simulated clock aside. A jump raises the ``clock`` device alert and is
  remembered (``kv clock_jumps``: the wall time just before it and its size), so the sightings stamped
  before it can be read on the corrected time (``corrected``): a resident seen an hour before the clock
  jumped two days ahead has been away an hour, not two days;
- **confirmation**: after a jump the time is unconfirmed, and inactivity alerts wait (``confirmed``),
  until the office's status (or chrony, when it runs here) says our clock agrees within
  ``clock.max_offset_s``. A real two-day absence still raises its alert once the time is confirmed;
- **the offset from the office's clock** (``offset_s``, reported in the gate's status as
  ``clock_offset_s``): beyond ``clock.max_offset_s`` the ``clock`` device alert is raised; commands from
  the office are judged on the office's time (``office_now``), so a gate whose clock is behind does not
  refuse them as stale.

Nothing here stops residents from getting in: an unsynchronised clock only raises alerts.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import time

_LOG = logging.getLogger(__name__)
JUMP_S = 30.0  # wall time and the monotonic clock disagreeing by more than this between two ticks
KEEP_JUMPS_S = 60 * 86400  # a jump matters for sightings before it: kept while such sightings count
CHRONY_EVERY_S = 60.0


class ClockWatch:
    def __init__(self, config, store, alerts, clock, *, monotonic=time.monotonic, chronyc: str | None = "auto"):
        self.config = config
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.monotonic = monotonic
        self.max_offset_s = config.clock.max_offset_s
        self.chronyc = shutil.which("chronyc") if chronyc == "auto" else chronyc
        self.offset_s: float | None = None  # our clock minus the office's (positive: we are ahead)
        self.source: str | None = None  # what last told us the time: "office" or "chrony"
        self._last: tuple[float, float, float] | None = None  # (wall, monotonic, declared offset)
        self._chrony_at = -CHRONY_EVERY_S
        self.jumps: list[list[float]] = json.loads(store.kv_get("clock_jumps") or "[]")
        self.confirmed = store.kv_get("clock_unconfirmed") is None

    # -- jumps ---------------------------------------------------------------------------------
    def tick(self) -> float | None:
        """Called every few seconds (the jobs): the size of a jump seen since the last tick, if any."""
        wall, mono = self.clock(), self.monotonic()
        declared = float(getattr(self.clock, "offset_s", 0.0) or 0.0)
        last, self._last = self._last, (wall, mono, declared)
        if self.chronyc and mono - self._chrony_at >= CHRONY_EVERY_S:
            self._chrony_at = mono
            self._ask_chrony()
        if last is None:
            return None
        jump = (wall - last[0]) - (mono - last[1]) - (declared - last[2])
        if abs(jump) <= JUMP_S:
            return None
        before = last[0] + (mono - last[1])  # where the wall clock would be had it not jumped
        self.jumps = [j for j in self.jumps if j[0] > wall - KEEP_JUMPS_S] + [[before - (declared - last[2]), jump]]
        self.confirmed = False
        with self.store.transaction():
            self.store.kv_set("clock_jumps", json.dumps(self.jumps))
            self.store.kv_set("clock_unconfirmed", "1")
        self.alerts.device("clock", False, f"the wall clock jumped {jump:+.0f} s; care-watch alerts wait until "
                                           "the office's clock or the time server confirms the time")
        return jump

    def corrected(self, epoch: float) -> float:
        """A time stamped on this clock, moved by every jump that came after it."""
        return epoch + sum(by for before, by in self.jumps if epoch <= before)

    # -- what the office and the time server say --------------------------------------------
    def office_status(self, payload: bytes) -> None:
        """The office's retained status (at most a minute old while the office runs): its ``ts``."""
        from edge.timeutil import parse_iso

        try:
            status = json.loads(payload.decode("utf-8"))
            if status.get("state") != "online":
                return
            office_ts = parse_iso(status["ts"])
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            return
        self._observed(self.clock() - office_ts, "office")

    def _ask_chrony(self) -> None:
        try:
            out = subprocess.run([self.chronyc, "-c", "tracking"], capture_output=True, text=True, timeout=2)
            fields = out.stdout.strip().split(",")
            if out.returncode == 0 and len(fields) >= 14 and fields[13].strip() == "Normal":
                self._observed(float(fields[4]), "chrony")
        except (OSError, ValueError, subprocess.SubprocessError):
            pass

    def _observed(self, offset_s: float, source: str) -> None:
        self.offset_s, self.source = round(offset_s, 3), source
        agrees = abs(offset_s) <= self.max_offset_s
        if agrees and not self.confirmed:
            self.confirmed = True
            with self.store.transaction():
                self.store.kv_delete("clock_unconfirmed")
            _LOG.warning("clock: the time is confirmed by %s (offset %.1f s)", source, offset_s)
        self.alerts.device("clock", agrees and self.confirmed,
                           "" if agrees else f"this gate's clock is {offset_s:+.0f} s from the {source}'s "
                                             f"(more than clock.max_offset_s {self.max_offset_s:g})")

    def office_now(self) -> float:
        """The office's time as best we know it (commands are judged on it)."""
        return self.clock() - (self.offset_s if self.source == "office" and self.offset_s is not None else 0.0)

    def status(self) -> dict:
        return {"clock_offset_s": self.offset_s,
                "clock": {"confirmed": self.confirmed, "source": self.source,
                          "mode": getattr(getattr(self.config, "clock", None), "mode", "real")}}
