"""Per-camera workers: newest frame → the camera's credential processors → the gate.

Each camera has one worker thread. It takes the newest frame (never a backlog), at most one every
``process_every_s`` (monotonic), and hands it to the camera's processors (``edge.gate.credentials``: faces
or plates by the camera's role, plus QR passes when ``read_qr``), each of which observes, agrees over
frames and asks the gate. A worker that raises is logged and carries on with the next frame; the daemon
restarts a dead one.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from edge.gate.credentials import Processor, QrProcessor, Shot, processors_for

_LOG = logging.getLogger(__name__)


class CameraWorker:
    """One camera's analysis thread and its processors (``processors``, from ``processors_for``)."""

    def __init__(self, camera, config, recognizers, gate, stop: threading.Event, pass_key=None):
        self.camera = camera
        self.cam = camera.config
        self.config = config
        self.recognizers = recognizers
        self.gate = gate
        self.stop = stop
        self.processors: list[Processor] = processors_for(self.cam, config, recognizers, gate, pass_key)
        self._pass_key = pass_key
        self.frames = 0
        self.errors = 0
        self.last_progress = time.monotonic()
        self._thread: threading.Thread | None = None

    @property
    def pass_key(self):
        """What QR passes are verified with; the daemon sets a new one on ``reload``."""
        return self._pass_key

    @pass_key.setter
    def pass_key(self, key) -> None:
        self._pass_key = key
        for processor in self.processors:
            if isinstance(processor, QrProcessor):
                processor.pass_key = key

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> CameraWorker:
        self._thread = threading.Thread(target=self._run, name=f"gate-edge-worker-{self.cam.id}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float = 5) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        seq, last = 0, float("-inf")
        while not self.stop.is_set():
            self.last_progress = time.monotonic()
            frame = self.camera.wait_newer(seq, timeout=0.5)
            if frame is None:
                if self.camera.state == "ended":
                    return
                continue
            seq = frame.seq
            if frame.mono - last < self.cam.process_every_s:
                continue
            last = frame.mono
            try:
                self.process(frame.image, frame.ts, frame.mono)
            except Exception:
                self.errors += 1
                _LOG.exception("camera %s: frame analysis failed", self.cam.id)
            # Not held while waiting for the next one: the camera keeps the newest frame, the worker none.
            frame = None
            self.frames += 1

    # -- one frame -------------------------------------------------------------------------------
    def process(self, rgb: np.ndarray, ts: float, mono: float | None = None) -> list[dict]:
        """Analyse one frame; return the events it caused (usually none). ``ts`` is the wall clock,
        ``mono`` the monotonic stamp windows and cooldowns use (``ts`` when not given)."""
        shot = Shot(rgb, ts, ts if mono is None else mono)
        events = []
        for processor in self.processors:
            events += processor.process(shot)
        return events
