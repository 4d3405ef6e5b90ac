"""Opening a camera's source by its kind and reading it until it fails: one pass, which the camera's
capture thread (drivers.camera) repeats with back-off.

    streams, devices  OpenCV's VideoCapture; an RTSP (or any URL) source gets FFmpeg's open and read
                      timeouts, so a read blocked on a frozen server gives up after ``stall_s``
    file sources      paced at the file's fps (or ``fps:``), or as fast as possible (realtime: false), or
                      frame by frame as the analysis takes them (every_frame: true; timestamps then
                      follow the video); at the end: start again (loop: true) or report "ended"
    still images      the picture, repeatedly, at ``fps`` (default 5), re-read when the file changes:
                      a snapshot that an IP camera uploads, or a pass held up to the camera

Each frame read is put in the camera's ``NewestFrame`` together with its health's "a frame came"; a
failure is told to its health with the reason (edge.schemas.phrases).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from drivers.camera_frames import CameraStop, NewestFrame
from drivers.camera_health import CameraHealth
from edge.schemas.phrases import say

# The camera's one log (drivers.camera), whichever of its modules writes a line.
_LOG = logging.getLogger("drivers.camera")
STILL_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
OPEN_TIMEOUT_S = 10.0  # FFmpeg: connect, describe and probe a stream


def shown(config) -> str:
    """The source for logs, without credentials in RTSP URLs."""
    from edge.config.base import mask_credentials

    return mask_credentials(str(config.source))


def source_of(config) -> int | str:
    """A device number as an int (what OpenCV takes for V4L2), anything else as a string."""
    source = config.source
    if isinstance(source, int) or str(source).isdigit():
        return int(source)
    return str(source)


def read_still(path: Path):
    """The picture at ``path`` (BGR), or None when it cannot be read or decoded (yet)."""
    try:
        data = np.fromfile(str(path), dtype=np.uint8)
    except OSError:
        return None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    return bgr


class SourceReader:
    """One pass over a camera's source: ``read_once()`` opens it and reads until it fails (False) or a
    file that does not loop ends (True). Frames go to ``frames`` and ``health``; it gives up whenever
    ``stopping``."""

    def __init__(self, config, clock, frames: NewestFrame, health: CameraHealth, stopping: CameraStop,
                 shown_source: str):
        self.config = config
        self._clock = clock
        self._frames = frames
        self._health = health
        self._stopping = stopping
        self._shown = shown_source

    def read_once(self) -> bool:
        """Open the source and read until it fails (False) or a non-looping file ends (True)."""
        source = source_of(self.config)
        if isinstance(source, str) and Path(source).suffix.lower() in STILL_SUFFIXES and self.config.is_file:
            return self._still(Path(source))
        self._health.restart_rate()
        capture = self._open(source)
        try:
            if not capture.isOpened():
                self._health.mark_down(say("camera_cannot_open", source=self._shown))
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
                            self._health.mark_down(say("camera_cannot_reopen", source=self._shown))
                            return False
                        continue
                    waited = time.monotonic() - began
                    self._health.mark_down(say("camera_read_timeout", seconds=waited, source=self._shown)
                                           if waited >= 0.9 * self._health.stall_s
                                           else say("camera_no_frame", source=self._shown))
                    return False
                got_any = True
                if every_frame:
                    self._publish(bgr, started + index / fps, started_mono + index / fps)
                    index += 1
                    if not self._frames.wait_taken():
                        return False
                    continue
                self._publish(bgr)
                if period:
                    next_at += period
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        if self._stopping.wait(delay):
                            return False
                    else:
                        next_at = time.monotonic()
            return False
        finally:
            capture.release()

    def _publish(self, bgr: np.ndarray, ts: float | None = None, mono: float | None = None,
                 shared: bool = False) -> None:
        """Hand out a frame; ``ts``/``mono`` given in every_frame mode (video time), else now; ``shared``: the
        same picture is published again (a still image)."""
        now = time.monotonic()
        with self._frames.cond:
            was = self._health.frame_came(now)
            self._frames.put(bgr, self._clock() if ts is None else ts, now if mono is None else mono, shared)
        if was != "ok":
            _LOG.info("camera %s: frames flowing", self.config.id)

    def _open(self, source):
        """A VideoCapture; streams get FFmpeg's open and read timeouts (a read blocked on a frozen
        server gives up after ``stall_s`` instead of about 30 s or more)."""
        if isinstance(source, str) and "://" in source:
            return cv2.VideoCapture(source, cv2.CAP_FFMPEG, [
                cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(OPEN_TIMEOUT_S * 1000),
                cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(self._health.stall_s * 1000),
            ])
        return cv2.VideoCapture(source)

    def _still(self, path: Path) -> bool:
        bgr = read_still(path)
        if bgr is None:
            self._health.mark_down(say("camera_cannot_read_image", path=str(path)))
            return False
        stamp = path.stat().st_mtime_ns
        self._health.restart_rate()
        period = 1.0 / (self.config.fps or 5.0)
        while not self._stopping():
            try:
                current = path.stat().st_mtime_ns
            except OSError:
                self._health.mark_down(say("camera_image_gone", path=str(path)))
                return False
            if current != stamp:
                fresh = read_still(path)
                if fresh is not None:  # a half-written upload keeps the previous picture for now
                    bgr, stamp = fresh, current
            self._publish(bgr, shared=True)
            if self._stopping.wait(period if self.config.realtime else 0.01):
                return False
        return False
