"""What a camera hands to its consumers: ``Frame`` (one capture, converted to RGB only when looked at),
``NewestFrame`` (the one frame kept: a consumer waits for a frame newer than the one it had; in
every_frame mode the capture thread waits until a consumer took it) and ``CameraStop`` (the service's
stop or the camera's own close, which every wait on either side gives up for).

The capture thread and the consumers meet here; the reading of sources is drivers.camera_sources', the
state shown in the status drivers.camera_health's.
"""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np


class Frame:
    """One captured frame. Kept as OpenCV gives it (BGR); converted to RGB only if someone looks at it,
    since most frames of a 25 fps stream are replaced by a newer one before any analysis. The capture's
    own buffer is converted in place (one 1280x720 frame, 2.7 MB, less per analysed frame than a copy)
    unless it is ``shared`` (a still image published again and again keeps its BGR picture)."""

    __slots__ = ("seq", "ts", "mono", "_bgr", "_rgb", "_shared")
    _converting = threading.Lock()  # two consumers looking at once convert the buffer once

    def __init__(self, seq: int, ts: float, bgr: np.ndarray, mono: float | None = None, shared: bool = False):
        self.seq = seq
        self.ts = ts  # wall-clock epoch when captured (video time in every_frame mode)
        # monotonic seconds when captured (video time in every_frame mode): what windows measure
        self.mono = time.monotonic() if mono is None else mono
        self._bgr = bgr
        self._rgb = None
        self._shared = shared

    @property
    def image(self) -> np.ndarray:
        """The frame as RGB (what the recognisers take)."""
        if self._rgb is None:
            with self._converting:
                if self._rgb is None:
                    bgr, self._bgr = self._bgr, None
                    self._rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=None if self._shared else bgr)
        return self._rgb


class CameraStop:
    """The camera stops when the service's stop event is set or when it is closed (its own event)."""

    def __init__(self, stop: threading.Event | None = None):
        self._outer = stop or threading.Event()
        self._own = threading.Event()

    def __call__(self) -> bool:
        """True once stopping."""
        return self._outer.is_set() or self._own.is_set()

    def set(self) -> None:
        self._own.set()

    def wait(self, seconds: float) -> bool:
        """Sleep unless stopping; True when stopping."""
        end = time.monotonic() + seconds
        while not self():
            left = end - time.monotonic()
            if left <= 0:
                return False
            self._own.wait(min(left, 0.1))
        return True


class NewestFrame:
    """The newest frame and the count of frames put; an older frame is dropped when a newer one comes, so a
    slow consumer never works through a backlog (RTSP never lags behind by a growing buffer).

    ``cond`` is the camera's one lock: its health (drivers.camera_health) is changed under it too, so a
    frame and the state "ok" it brings are seen together."""

    def __init__(self, stopping: CameraStop):
        self.cond = threading.Condition()
        self._stopping = stopping
        self.frame: Frame | None = None
        self.seq = 0  # frames put so far: the last frame's sequence number
        self._taken = 0  # highest sequence number a consumer has taken (every_frame mode)

    def latest(self) -> Frame | None:
        with self.cond:
            return self.frame

    def wait_newer(self, seq: int, timeout: float) -> Frame | None:
        """The newest frame with a sequence number above ``seq``, waiting up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while (self.frame is None or self.frame.seq <= seq) and not self._stopping():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(min(remaining, 0.2))
            if self.frame is None or self.frame.seq <= seq:
                return None
            self._taken = max(self._taken, self.frame.seq)
            self.cond.notify_all()
            return self.frame

    def put(self, bgr: np.ndarray, ts: float, mono: float, shared: bool = False) -> None:
        """Replace the frame with a newer one and wake whoever waits; the caller holds ``cond``. ``shared``:
        ``bgr`` is published again later (a still image), so it is not converted in place."""
        self.seq += 1
        self.frame = Frame(self.seq, ts, bgr, mono, shared)
        self.cond.notify_all()

    def wait_taken(self) -> bool:
        """every_frame mode: block until a consumer took the frame just put (False: stopping)."""
        with self.cond:
            while self._taken < self.seq and not self._stopping():
                self.cond.wait(0.2)
        return not self._stopping()

    def wake(self) -> None:
        """Wake every waiter (the camera is closing)."""
        with self.cond:
            self.cond.notify_all()
