"""Faces: residents by their enrolled templates, strangers grouped by likeness, agreed over frames."""

from __future__ import annotations

import numpy as np

from edge.gate.credentials.base import Processor, Shot
from edge.rules.consensus import Consensus
from edge.rules.matcher import MATCH, TEMPLATE, UNKNOWN


class StrangerClusters:
    """Unknown faces grouped by likeness, so one stranger over many frames is one key.

    ``ts`` arguments are monotonic seconds (``Shot.mono``)."""

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


class FaceProcessor(Processor):
    """A face camera: a matched resident asks the gate to open, an agreed stranger is reported."""

    credential = "face"

    def __init__(self, cam, config, recognizers, gate):
        super().__init__(cam, config, recognizers, gate)
        face = config.recognition.face
        self.consensus = Consensus(face.min_hits, face.window_s, face.cooldown_s)
        self.strangers = StrangerClusters(tolerance=1.0, ttl_s=face.window_s + face.cooldown_s)

    def observe(self, shot: Shot) -> list:
        return self.recognizers.identify_faces(shot.rgb, self.cam.roi)

    def agree(self, sighting, shot: Shot):
        face, match = sighting
        if match.tier == MATCH:
            key = ("person", match.person_id)
        elif match.tier == UNKNOWN:
            key = ("stranger", self.strangers.key(face.likeness, shot.mono))
        else:
            return None  # uncertain: neither a resident nor surely a stranger
        agreed = self.consensus.add(self.cam.lane, key, shot.mono, match)
        return None if agreed is None else (face, match, agreed)

    def request(self, agreed, shot: Shot) -> dict:
        face, match, consensus = agreed
        lane, camera = self.cam.lane, self.cam.id
        if match.tier == MATCH:
            # The closest agreeing frame, on one scale: a frame the full template decided (the scale of the
            # tolerance) before one a cascade's first network decided alone; distance_by says which.
            best = min(consensus.observations, key=lambda m: (m.by != TEMPLATE, m.distance))
            return self.gate.person(lane, match.person_id, camera=self.cam,
                                    extra={"distance": round(best.distance, 3), "distance_by": best.by,
                                           "camera": camera})
        snapshot = None
        if self.config.retention.stranger_snapshots_days > 0:
            from models.images import crop_jpeg

            snapshot = crop_jpeg(shot.rgb, face.box)
        return self.gate.person(lane, None, camera=self.cam, extra={"camera": camera}, snapshot=snapshot)

    def expire(self, mono: float) -> None:
        self.consensus.expire(mono)
