"""Per-camera workers: newest frame → recognisers on the region of interest → consensus → the gate.

Each camera has one worker thread. It takes the newest frame (never a backlog), at most one every
``process_every_s``, and runs what the camera's role needs (faces or plates) plus the QR reader.
Observations go through consensus (faces, QR) or voting (plates); what is agreed goes to the Gate.
A worker that raises is logged and carries on with the next frame; the daemon restarts a dead one.
"""

from __future__ import annotations

import logging
import threading
import time

import numpy as np

from edge.consensus import Consensus
from edge.matcher import MATCH, UNKNOWN
from edge.passes import check_pass
from edge.plate_vote import PlateVoter

_LOG = logging.getLogger(__name__)
QR_COOLDOWN_S = 10.0


class StrangerClusters:
    """Unknown faces grouped by likeness, so one stranger over many frames is one key."""

    def __init__(self, tolerance: float, ttl_s: float):
        self.tolerance = tolerance
        self.ttl_s = ttl_s
        self._clusters: list[list] = []  # [id, centroid, count, last_ts]
        self._next = 1

    def key(self, template: np.ndarray, ts: float) -> int:
        self._clusters = [c for c in self._clusters if ts - c[3] <= self.ttl_s]
        best, best_d = None, self.tolerance
        for cluster in self._clusters:
            d = float(np.linalg.norm(cluster[1] - template))
            if d < best_d:
                best, best_d = cluster, d
        if best is None:
            best = [self._next, template.copy(), 0, ts]
            self._next += 1
            self._clusters.append(best)
        best[1] = (best[1] * best[2] + template) / (best[2] + 1)
        best[1] /= max(float(np.linalg.norm(best[1])), 1e-9)
        best[2] += 1
        best[3] = ts
        return best[0]


class CameraWorker:
    def __init__(self, camera, config, recognizers, gate, stop: threading.Event, pass_key=None):
        self.camera = camera
        self.cam = camera.config
        self.config = config
        self.recognizers = recognizers
        self.gate = gate
        self.stop = stop
        self.pass_key = pass_key
        face, plate = config.recognition.face, config.recognition.plate
        self.faces = Consensus(face.min_hits, face.window_s, face.cooldown_s)
        self.strangers = StrangerClusters(tolerance=1.0, ttl_s=face.window_s + face.cooldown_s)
        self.plates = PlateVoter(plate.min_hits, plate.min_confidence, plate.window_s, plate.cooldown_s)
        self.qr = Consensus(1, 1.0, QR_COOLDOWN_S)
        self.frames = 0
        self.errors = 0
        self.last_progress = time.monotonic()
        self._thread: threading.Thread | None = None

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
        seq, last = 0, 0.0
        while not self.stop.is_set():
            self.last_progress = time.monotonic()
            frame = self.camera.wait_newer(seq, timeout=0.5)
            if frame is None:
                if self.camera.state == "ended":
                    return
                continue
            seq = frame.seq
            if frame.ts - last < self.cam.process_every_s:
                continue
            last = frame.ts
            try:
                self.process(frame.image, frame.ts)
            except Exception:
                self.errors += 1
                _LOG.exception("camera %s: frame analysis failed", self.cam.id)
            self.frames += 1

    # -- one frame -------------------------------------------------------------------------------
    def process(self, rgb: np.ndarray, ts: float) -> list[dict]:
        """Analyse one frame; return the events it caused (usually none)."""
        events = []
        if self.cam.role == "face":
            events += self._faces(rgb, ts)
        else:
            events += self._plates(rgb, ts)
        if self.cam.read_qr:
            events += self._qr(rgb, ts)
        return events

    def _faces(self, rgb, ts) -> list[dict]:
        faces = self.recognizers.faces.analyze(rgb, self.cam.roi)
        if not faces:
            return []
        events = []
        matches = self.recognizers.matcher().match(np.stack([f.template for f in faces]))
        lane = self.cam.lane
        for face, match in zip(faces, matches):
            if match.tier == MATCH:
                agreed = self.faces.add(lane, ("person", match.person_id), ts, match)
                if agreed:
                    best = min(m.distance for m in agreed.observations)
                    events.append(self.gate.person(lane, match.person_id, camera=self.cam,
                                                   extra={"distance": round(best, 3), "camera": self.cam.id}))
            elif match.tier == UNKNOWN:
                cluster = self.strangers.key(face.template, ts)
                agreed = self.faces.add(lane, ("stranger", cluster), ts, match)
                if agreed:
                    snapshot = None
                    if self.config.retention.stranger_snapshots_days > 0:
                        from models.images import crop_jpeg

                        snapshot = crop_jpeg(rgb, face.box)
                    events.append(self.gate.person(lane, None, camera=self.cam, extra={"camera": self.cam.id},
                                                   snapshot=snapshot))
        self.faces.expire(ts)
        return events

    def _plates(self, rgb, ts) -> list[dict]:
        events = []
        plate_cfg = self.config.recognition.plate
        for reading in self.recognizers.plates.read(rgb, self.cam.roi):
            voted = self.plates.add(self.cam.lane, reading.text, reading.char_confidence, ts, reading.box)
            if voted is None:
                continue
            match = self.recognizers.plate_index().match(voted.text, voted.char_confidence, plate_cfg.province)
            events.append(self.gate.vehicle(self.cam.lane, voted.text, camera=self.cam, match=match,
                                            extra={"confidence": round(voted.confidence, 3), "camera": self.cam.id,
                                                   **({"color": reading.color} if reading.color else {})}))
        return events

    def _qr(self, rgb, ts) -> list[dict]:
        events = []
        for code in self.recognizers.qr.read(rgb, self.cam.roi):
            if self.qr.add(self.cam.lane, code.text, ts) is None:
                continue  # the same pass is still held up to the camera
            check = check_pass(code.text, self.pass_key, self.recognizers.registry)
            if check.claim is None:
                # A "move my car" sticker, a delivery label: not one of our passes, so no event at all.
                # Only a code in our pass format that fails verification is refused (a denied event).
                _LOG.debug("camera %s: ignored a QR code that is not a gate-edge pass", self.cam.id)
                continue
            events.append(self.gate.qr_pass(self.cam.lane, check, camera=self.cam))
        self.qr.expire(ts)
        return events
