"""The OpenCV camera driver: RTSP URLs, V4L2 devices, video files and still images.

A capture thread reads continuously and keeps only the newest frame (RTSP never lags behind by a
growing buffer); consumers ask for "a frame newer than the one I had". A lost stream is reopened with
capped exponential back-off; frames/s, last-frame age and reconnect count are exposed for the status
topic. Frames are handed out as RGB uint8 arrays.

A live source that stops sending without closing (a frozen camera or server) is down as soon as no
frame came for ``stall_s`` (5 s, or ``down_alert_s`` when shorter, at least 1 s): whoever looks at the
camera (status, the health job) sees it down even while the capture thread is still blocked in a read,
and OpenCV's FFmpeg open/read timeouts make that read give up so the stream is reopened. ``down_alert_s``
counts from the last frame, frozen or closed alike. Frames/s is counted over a window of about 5 s that
restarts whenever the source is (re)opened, so the frames FFmpeg buffers while opening are spread over
the time they took, not reported as hundreds per second.

    file sources   paced at the file's fps (or ``fps:``), or as fast as possible (realtime: false), or
                   frame by frame as the analysis takes them (every_frame: true; timestamps then
                   follow the video); at the end: start again (loop: true) or report "ended"
    still images   the picture, repeatedly, at ``fps`` (default 5), re-read when the file changes:
                   a snapshot that an IP camera uploads, or a pass held up to the camera

Every frame carries two stamps: ``ts``, the injected wall clock (what events say), and ``mono``, the
monotonic clock (what windows and cooldowns measure: a wall-clock jump, or the demo's simulated clock
moving two days, never ends a cooldown). In every_frame mode both follow the video from the moment the
file was opened.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edge.schemas.phrases import Phrase, say

_LOG = logging.getLogger(__name__)
STILL_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
STALL_S = 5.0  # a live source with no frame for this long is down (down_alert_s when shorter)
OPEN_TIMEOUT_S = 10.0  # FFmpeg: connect, describe and probe a stream
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


class Frame:
    """One captured frame. Kept as OpenCV gives it (BGR); converted to RGB only if someone looks at it,
    since most frames of a 25 fps stream are replaced by a newer one before any analysis."""

    __slots__ = ("seq", "ts", "mono", "_bgr", "_rgb")

    def __init__(self, seq: int, ts: float, bgr: np.ndarray, mono: float | None = None):
        self.seq = seq
        self.ts = ts  # wall-clock epoch when captured (video time in every_frame mode)
        # monotonic seconds when captured (video time in every_frame mode): what windows measure
        self.mono = time.monotonic() if mono is None else mono
        self._bgr = bgr
        self._rgb = None

    @property
    def image(self) -> np.ndarray:
        """The frame as RGB (what the recognisers take)."""
        if self._rgb is None:
            self._rgb = cv2.cvtColor(self._bgr, cv2.COLOR_BGR2RGB)
        return self._rgb


class Camera:
    """One camera; ``start()`` launches its capture thread, ``close()`` stops it (idempotent)."""

    def __init__(self, config, stop: threading.Event | None = None, clock=time.time):
        self.config = config
        self.id = config.id
        self._stop = stop or threading.Event()
        self._own_stop = threading.Event()
        self._clock = clock
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0
        self._taken = 0  # highest sequence number a consumer has taken (every_frame mode)
        self._thread: threading.Thread | None = None
        self.state = "starting"  # starting | ok | down | ended
        self.reconnects = 0
        self.down_since: float | None = time.monotonic()
        self._rate = FrameRate()
        self._last_mono: float | None = None
        self.down_why: Phrase | None = None  # why it went down last (edge.schemas.phrases)

    # -- consumer side ---------------------------------------------------------------------
    def start(self) -> Camera:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"gate-edge-camera-{self.id}", daemon=True)
            self._thread.start()
        return self

    def latest(self) -> Frame | None:
        with self._cond:
            return self._frame

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """The newest frame with a sequence number above ``seq``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while (self._frame is None or self._frame.seq <= seq) and not self._stopping():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.2))
            if self._frame is None or self._frame.seq <= seq:
                return None
            self._taken = max(self._taken, self._frame.seq)
            self._cond.notify_all()
            return self._frame

    def stats(self) -> dict:
        self.watch()
        age = None if self._last_mono is None else round(time.monotonic() - self._last_mono, 2)
        with self._cond:
            fps = 0.0 if self.state in ("down", "starting") else self._rate.fps
        return {
            "state": self.state,
            "fps": round(fps, 1),
            "last_frame_age_s": age,
            "reconnects": self.reconnects,
            "frames": self._seq,
        }

    def down_for(self) -> float:
        """Seconds since the last frame when down (0 while frames flow or after a file ended)."""
        self.watch()
        if self.state in ("ok", "ended") or self.down_since is None:
            return 0.0
        return time.monotonic() - self.down_since

    @property
    def stall_s(self) -> float:
        """No frame from a live source for this long: it is down."""
        return max(1.0, min(STALL_S, self.config.down_alert_s))

    def watch(self) -> None:
        """The watchdog: a live source whose last frame is older than ``stall_s`` is down, even while
        the capture thread is still blocked in a read that has not returned."""
        if self.config.is_file:
            return  # files pace themselves and may wait for the analysis (every_frame)
        with self._cond:
            if self.state != "ok" or self._last_mono is None:
                return
            age = time.monotonic() - self._last_mono
            if age <= self.stall_s:
                return
            self.state, self.down_since = "down", self._last_mono
            self.down_why = say("camera_frozen", seconds=age, source=self._shown())
        _LOG.warning("camera %s: down (%s)", self.id, self.last_error)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        self._own_stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    # -- capture thread --------------------------------------------------------------------
    def _stopping(self) -> bool:
        return self._stop.is_set() or self._own_stop.is_set()

    def _wait(self, seconds: float) -> bool:
        """Sleep unless stopping; True when stopping."""
        end = time.monotonic() + seconds
        while not self._stopping():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._own_stop.wait(min(left, 0.1))
        return True

    def _publish(self, bgr: np.ndarray, ts: float | None = None, mono: float | None = None) -> None:
        """Hand out a frame; ``ts``/``mono`` given in every_frame mode (video time), else now."""
        now = time.monotonic()
        with self._cond:
            self._rate.tick(now)
            self._last_mono = now
            self._seq += 1
            self._frame = Frame(self._seq, self._clock() if ts is None else ts, bgr, now if mono is None else mono)
            was, self.state, self.down_since = self.state, "ok", None
            self._cond.notify_all()
        if was != "ok":
            _LOG.info("camera %s: frames flowing", self.id)

    @property
    def last_error(self) -> str:
        """Why it went down last, in English ("" before it ever did)."""
        return self.down_why.text if self.down_why is not None else ""

    def _mark_down(self, why: Phrase) -> None:
        with self._cond:
            was, self.state = self.state, "down"
            if was == "ok" and self._last_mono is not None:
                self.down_since = self._last_mono  # down since its last frame, not since we noticed
            elif was != "down":
                self.down_since = self.down_since or time.monotonic()
            self.down_why = why
        if was != "down":
            _LOG.warning("camera %s: down (%s)", self.id, why)

    def _restart_rate(self) -> None:
        with self._cond:
            self._rate.restart(time.monotonic())

    def _run(self) -> None:
        backoff = 0.5
        first = True
        while not self._stopping():
            if not first:
                self.reconnects += 1
            first = False
            frames_before = self._seq
            try:
                finished = self._capture_once()
            except Exception as exc:  # a driver bug must not kill the thread silently
                _LOG.exception("camera %s: capture failed", self.id)
                self._mark_down(say("camera_error", error=str(exc)))
                finished = False
            if finished:
                self.state = "ended"
                self.down_since = None
                _LOG.info("camera %s: file ended", self.id)
                return
            if self._seq > frames_before:
                backoff = 0.5  # it worked for a while: start the back-off again from the bottom
            if self._wait(backoff):
                return
            backoff = min(backoff * 2, self.config.reconnect_max_s)

    def _source(self):
        source = self.config.source
        if isinstance(source, int) or str(source).isdigit():
            return int(source)
        return str(source)

    def _capture_once(self) -> bool:
        """Open the source and read until it fails (False) or a non-looping file ends (True)."""
        source = self._source()
        if isinstance(source, str) and Path(source).suffix.lower() in STILL_SUFFIXES and self.config.is_file:
            return self._still(Path(source))
        self._restart_rate()
        capture = self._open(source)
        try:
            if not capture.isOpened():
                self._mark_down(say("camera_cannot_open", source=self._shown()))
                return False
            capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
            is_file = self.config.is_file
            fps = self.config.fps or capture.get(cv2.CAP_PROP_FPS) or 25.0
            every_frame = is_file and self.config.every_frame
            period = 1.0 / fps if (is_file and self.config.realtime and not every_frame) else 0.0
            next_at = time.monotonic()
            started, started_mono, index = self._clock(), time.monotonic(), 0
            got_any = False
            while not self._stopping():
                began = time.monotonic()
                ok, bgr = capture.read()
                if not ok or bgr is None:
                    if is_file and got_any:
                        if not self.config.loop:
                            return True
                        # Start the file again; if it vanished meanwhile this is a reconnect like any other.
                        capture.release()
                        capture = self._open(source)
                        got_any = False
                        if not capture.isOpened():
                            self._mark_down(say("camera_cannot_reopen", source=self._shown()))
                            return False
                        continue
                    waited = time.monotonic() - began
                    self._mark_down(say("camera_read_timeout", seconds=waited, source=self._shown())
                                    if waited >= 0.9 * self.stall_s else say("camera_no_frame", source=self._shown()))
                    return False
                got_any = True
                if every_frame:
                    self._publish(bgr, started + index / fps, started_mono + index / fps)
                    index += 1
                    if not self._wait_taken():
                        return False
                    continue
                self._publish(bgr)
                if period:
                    next_at += period
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        if self._wait(delay):
                            return False
                    else:
                        next_at = time.monotonic()
            return False
        finally:
            capture.release()

    def _open(self, source):
        """A VideoCapture; streams get FFmpeg's open and read timeouts (a read blocked on a frozen
        server gives up after ``stall_s`` instead of about 30 s or more)."""
        if isinstance(source, str) and "://" in source:
            return cv2.VideoCapture(source, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self.stall_s * 1000),
            ])
        return cv2.VideoCapture(source)

    def _wait_taken(self) -> bool:
        """every_frame mode: block until a consumer took the frame just published (False: stopping)."""
        with self._cond:
            while self._taken < self._seq and not self._stopping():
                self._cond.wait(0.2)
        return not self._stopping()

    @staticmethod
    def _read_still(path: Path):
        try:
            data = np.fromfile(str(path), dtype=np.uint8)
        except OSError:
            return None
        bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
        return bgr

    def _still(self, path: Path) -> bool:
        bgr = self._read_still(path)
        if bgr is None:
            self._mark_down(say("camera_cannot_read_image", path=str(path)))
            return False
        stamp = path.stat().st_mtime_ns
        self._restart_rate()
        period = 1.0 / (self.config.fps or 5.0)
        while not self._stopping():
            try:
                current = path.stat().st_mtime_ns
            except OSError:
                self._mark_down(say("camera_image_gone", path=str(path)))
                return False
            if current != stamp:
                fresh = self._read_still(path)
                if fresh is not None:  # a half-written upload keeps the previous picture for now
                    bgr, stamp = fresh, current
            self._publish(bgr)
            if self._wait(period if self.config.realtime else 0.01):
                return False
        return False

    def _shown(self) -> str:
        """The source for logs, without credentials in RTSP URLs."""
        from edge.config.base import mask_credentials

        return mask_credentials(str(self.config.source))
