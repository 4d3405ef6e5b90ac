"""A camera's health as its status and the health job see it: its state (starting | ok | down | ended),
since when it is down and why, frames/s, the last frame's age and the reconnect count; and the watchdog
that calls a live source down when no frame came for ``stall_s``.

A live source that stops sending without closing (a frozen camera or server) is down as soon as no
frame came for ``stall_s`` (5 s, or ``down_alert_s`` when shorter, at least 1 s): whoever looks at the
camera (status, the health job) sees it down even while the capture thread is still blocked in a read.
``down_alert_s`` counts from the last frame, frozen or closed alike. Frames/s is counted over a window of
about 5 s that restarts whenever the source is (re)opened, so the frames FFmpeg buffers while opening are
spread over the time they took, not reported as hundreds per second.
"""

from __future__ import annotations

import logging
import threading
import time

from edge.schemas.phrases import Phrase, say

# The camera's one log (drivers.camera), whichever of its modules writes a line.
_LOG = logging.getLogger("drivers.camera")
STALL_S = 5.0  # a live source with no frame for this long is down (down_alert_s when shorter)
FPS_WINDOW_S = 5.0


class FrameRate:
    """Frames/s over consecutive windows of about ``FPS_WINDOW_S``; ``restart()`` when a source opens.

    A window starts when the source is opened (not at its first frame), so a burst of frames buffered
    during the open counts over the seconds it took to arrive."""

    def __init__(self):
        self.restart(time.monotonic())

    def restart(self, now: float) -> None:
        self._start, self._count, self._last, self._previous = now, 0, None, None

    def tick(self, now: float) -> None:
        if self._count and now - self._start >= FPS_WINDOW_S:
            self._previous = (self._count + 1) / (now - self._start)
            self._start, self._count = now, 0
        else:
            self._count += 1
        self._last = now

    @property
    def fps(self) -> float:
        span = 0.0 if self._last is None else self._last - self._start
        if self._previous is not None and span < 1.0:
            return self._previous  # the window just rolled over: too short to say yet
        return self._count / span if span > 0 else 0.0


class CameraHealth:
    """Changed by the capture thread (a frame came, down and why, a reconnect, a file ended), read by
    anyone. Its fields are guarded by ``lock``, the camera's one lock (``NewestFrame.cond``)."""

    def __init__(self, config, lock: threading.Condition, shown: str):
        self.config = config
        self._lock = lock
        self._shown = shown  # the source without credentials (drivers.camera_sources.shown)
        self.state = "starting"  # starting | ok | down | ended
        self.reconnects = 0
        self.down_since: float | None = time.monotonic()
        self.down_why: Phrase | None = None  # why it went down last (edge.schemas.phrases)
        self._rate = FrameRate()
        self._last_mono: float | None = None

    @property
    def stall_s(self) -> float:
        """No frame from a live source for this long: it is down."""
        return max(1.0, min(STALL_S, self.config.down_alert_s))

    @property
    def last_error(self) -> str:
        """Why it went down last, in English ("" before it ever did)."""
        return self.down_why.text if self.down_why is not None else ""

    def watch(self) -> None:
        """The watchdog: a live source whose last frame is older than ``stall_s`` is down, even while
        the capture thread is still blocked in a read that has not returned."""
        if self.config.is_file:
            return  # files pace themselves and may wait for the analysis (every_frame)
        with self._lock:
            if self.state != "ok" or self._last_mono is None:
                return
            age = time.monotonic() - self._last_mono
            if age <= self.stall_s:
                return
            self.state, self.down_since = "down", self._last_mono
            self.down_why = say("camera_frozen", seconds=age, source=self._shown)
        _LOG.warning("camera %s: down (%s)", self.config.id, self.last_error)

    def stats(self, frames: int) -> dict:
        """What the status topic shows (after the watchdog had its look); ``frames``: captured so far."""
        self.watch()
        age = None if self._last_mono is None else round(time.monotonic() - self._last_mono, 2)
        with self._lock:
            fps = 0.0 if self.state in ("down", "starting") else self._rate.fps
        return {
            "state": self.state,
            "fps": round(fps, 1),
            "last_frame_age_s": age,
            "reconnects": self.reconnects,
            "frames": frames,
        }

    def down_for(self) -> float:
        """Seconds since the last frame when down (0 while frames flow or after a file ended)."""
        self.watch()
        if self.state in ("ok", "ended") or self.down_since is None:
            return 0.0
        return time.monotonic() - self.down_since

    # -- the capture thread's side ----------------------------------------------------------------
    def frame_came(self, now: float) -> str:
        """A frame arrived at ``now`` (monotonic; the caller holds the lock): ok. The state before."""
        self._rate.tick(now)
        self._last_mono = now
        was, self.state, self.down_since = self.state, "ok", None
        return was

    def mark_down(self, why: Phrase) -> None:
        with self._lock:
            was, self.state = self.state, "down"
            if was == "ok" and self._last_mono is not None:
                self.down_since = self._last_mono  # down since its last frame, not since we noticed
            elif was != "down":
                self.down_since = self.down_since or time.monotonic()
            self.down_why = why
        if was != "down":
            _LOG.warning("camera %s: down (%s)", self.config.id, why)

    def restart_rate(self) -> None:
        """The source is (re)opened: a new frames/s window."""
        with self._lock:
            self._rate.restart(time.monotonic())

    def ended(self) -> None:
        """A file that does not loop came to its end: not down, and no frames to expect."""
        self.state = "ended"
        self.down_since = None
        _LOG.info("camera %s: file ended", self.config.id)
