"""The OpenCV camera driver: RTSP URLs, V4L2 devices, video files and still images.

A capture thread reads continuously and keeps only the newest frame (RTSP never lags behind by a
growing buffer); consumers ask for "a frame newer than the one I had". A lost stream is reopened with
capped exponential back-off; frames/s, last-frame age and reconnect count are exposed for the status
topic. Frames are handed out as RGB uint8 arrays.

``Camera`` is what the daemon, the pipeline and the health job use; it puts together its parts:

    drivers.camera_frames   the newest frame (``Frame``, ``NewestFrame``) and the stop every wait obeys
    drivers.camera_sources  opening the source by its kind (stream, device, video file, still image) and
                            reading it until it fails: one pass, repeated here with back-off
    drivers.camera_health   state, since when down and why, frames/s, reconnects, and the watchdog that
                            calls a frozen live source down within ``stall_s``

Every frame carries two stamps: ``ts``, the injected wall clock (what events say), and ``mono``, the
monotonic clock (what windows and cooldowns measure: a wall-clock jump, or the demo's simulated clock
moving two days, never ends a cooldown). In every_frame mode both follow the video from the moment the
file was opened.
"""

from __future__ import annotations

import logging
import threading
import time

from drivers.camera_frames import CameraStop, Frame, NewestFrame
from drivers.camera_health import CameraHealth
from drivers.camera_sources import SourceReader, shown
from edge.schemas.phrases import Phrase, say

_LOG = logging.getLogger(__name__)


class Camera:
    """One camera; ``start()`` launches its capture thread, ``close()`` stops it (idempotent).

    The capture thread opens the source and reads it (``SourceReader``), and when that fails opens it
    again after a pause that doubles up to ``reconnect_max_s``; consumers take frames from
    ``NewestFrame``; the status and the health job read ``CameraHealth``."""

    def __init__(self, config, stop: threading.Event | None = None, clock=time.time):
        self.config = config
        self.id = config.id
        self._stop = CameraStop(stop)
        self._frames = NewestFrame(self._stop)
        self._shown_source = shown(config)
        self.health = CameraHealth(config, self._frames.cond, self._shown_source)
        self._reader = SourceReader(config, clock, self._frames, self.health, self._stop, self._shown_source)
        self._thread: threading.Thread | None = None

    # -- consumer side ---------------------------------------------------------------------
    def start(self) -> Camera:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"gate-edge-camera-{self.id}", daemon=True)
            self._thread.start()
        return self

    def latest(self) -> Frame | None:
        return self._frames.latest()

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """The newest frame with a sequence number above ``seq``, waiting up to ``timeout`` seconds."""
        return self._frames.wait_newer(seq, timeout)

    # -- health, for the status topic and the health job --------------------------------------
    @property
    def state(self) -> str:
        """starting | ok | down | ended"""
        return self.health.state

    @property
    def reconnects(self) -> int:
        return self.health.reconnects

    @property
    def down_since(self) -> float | None:
        return self.health.down_since

    @property
    def down_why(self) -> Phrase | None:
        """Why it went down last (edge.schemas.phrases)."""
        return self.health.down_why

    @property
    def last_error(self) -> str:
        """Why it went down last, in English ("" before it ever did)."""
        return self.health.last_error

    @property
    def stall_s(self) -> float:
        """No frame from a live source for this long: it is down."""
        return self.health.stall_s

    def stats(self) -> dict:
        return self.health.stats(self._frames.seq)

    def down_for(self) -> float:
        """Seconds since the last frame when down (0 while frames flow or after a file ended)."""
        return self.health.down_for()

    def watch(self) -> None:
        """The watchdog: a live source whose last frame is older than ``stall_s`` is down."""
        self.health.watch()

    # -- the thread ------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._stop.set()
        self._frames.wake()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def _run(self) -> None:
        backoff = 0.5
        first = True
        while not self._stop():
            if not first:
                self.health.reconnects += 1
            first = False
            frames_before = self._frames.seq
            try:
                finished = self._reader.read_once()
            except Exception as exc:  # a driver bug must not kill the thread silently
                _LOG.exception("camera %s: capture failed", self.id)
                self.health.mark_down(say("camera_error", error=str(exc)))
                finished = False
            if finished:
                self.health.ended()
                return
            if self._frames.seq > frames_before:
                backoff = 0.5  # it worked for a while: start the back-off again from the bottom
            if self._stop.wait(backoff):
                return
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    def _shown(self) -> str:
        """The source for logs, without credentials in RTSP URLs."""
        return self._shown_source
