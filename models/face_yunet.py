"""Faces found by YuNet and aligned by dlib's five-point landmarks: the light face path (issue 30).

    detector   YuNet (models/weights/yunet/, MIT, 232 KB), run by OpenCV's ``cv2.FaceDetectorYN``: a box,
               five landmarks and a score per face, 5 ms for a 320x240 input on one core
    alignment  dlib's 5-point shape predictor (eye corners, base of the nose; a 9 MB model) on YuNet's
               box made the size and place of dlib's own boxes, then a similarity transform of those
               five points onto ``SP5_REFERENCE``, where they sit in the ArcFace 112x112 chip

No HOG detector and no 68-point predictor (a 100 MB file, 75 MB of a gate's memory). YuNet's own five
landmarks are not used for the alignment: on ../shared/data they are about 0.1 of the distance between
the eyes away from dlib's, and the ensemble aligned on them fell from 0.918 to 0.694 true accepts at
zero false accepts; on dlib's five points it keeps most of it (docs/face-calibration.md).
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from models.faces import DetectedFace, dlib_state
from models.images import crop_roi
from models.manifest import verified_path

# Where dlib's five points (outer and inner corner of the image's right eye, then the left eye's, base of
# the nose) fall in the ArcFace 112x112 chip: their mean over the 295 photos of ../shared/data mapped by
# the alignment from the 68 landmarks that the 'ensemble' encoder uses, so both chips frame faces alike.
SP5_REFERENCE = np.array(
    [[81.125, 52.416], [66.637, 53.517], [31.121, 52.891], [45.258, 53.734], [55.571, 80.873]], dtype=np.float64
)
# dlib's shape predictors were trained on dlib's own boxes: YuNet's box (x, y, w, h) moved by this
# fraction of its size and scaled by BOX_SCALE is, in the median over the same photos, dlib's HOG box.
BOX_SHIFT = np.array([-0.0053, 0.0369])
BOX_SCALE = 0.9201
# A detection input longer than this gains nothing for faces at a gate or in an enrolment photo and costs
# time (about 60 ms at 1024x768 on one core).
MAX_INPUT_SIDE = 640
SCORE_THRESHOLD = 0.6
NMS_THRESHOLD = 0.3

_per_thread = threading.local()  # a cv2.FaceDetectorYN keeps its input size and buffers: one per thread


def _yunet(width: int, height: int):
    detector = getattr(_per_thread, "yunet", None)
    if detector is None:
        path = str(verified_path("yunet_2023mar"))
        detector = _per_thread.yunet = cv2.FaceDetectorYN.create(path, "", (width, height), SCORE_THRESHOLD,
                                                                 NMS_THRESHOLD, 50)
    detector.setInputSize((width, height))
    return detector


class YuNetDetector:
    """YuNet boxes and dlib's five landmarks on a region of interest, downscaled by ``scale``."""

    def __init__(self, scale: float = 1.0, min_face_px: int = 40):
        state = dlib_state(sp5=True)
        self._dlib, self._sp5 = state["dlib"], state["sp5"]
        self.scale = scale
        self.min_face_px = min_face_px

    def detect(self, rgb: np.ndarray, roi=None, *, upsample: int | None = None, scale: float | None = None,
               min_face_px: int | None = None) -> list[DetectedFace]:
        """Faces in ``rgb`` (full-image coordinates), largest first; ``roi`` = (x1, y1, x2, y2).
        ``upsample`` is dlib's HOG's and means nothing here (YuNet finds faces from about 10 px)."""
        scale = self.scale if scale is None else scale
        min_face_px = self.min_face_px if min_face_px is None else min_face_px
        view, x0, y0 = crop_roi(rgb, roi)
        h, w = view.shape[:2]
        scale = min(scale, MAX_INPUT_SIDE / max(h, w))
        size = (max(int(round(w * scale)), 1), max(int(round(h * scale)), 1))
        small = cv2.resize(view, size, interpolation=cv2.INTER_AREA) if scale < 1 else view
        _, rows = _yunet(*size).detect(cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
        faces = []
        view = np.ascontiguousarray(view)
        for row in rows if rows is not None else ():
            x, y, bw, bh = row[:4] / (scale if scale < 1 else 1.0)
            side = (bw + bh) / 2
            cx, cy = x + bw / 2 + BOX_SHIFT[0] * side, y + bh / 2 + BOX_SHIFT[1] * side
            half = BOX_SCALE * side / 2
            rect = self._dlib.rectangle(int(round(cx - half)), int(round(cy - half)), int(round(cx + half)),
                                        int(round(cy + half)))
            shape = self._sp5(view, rect)
            points = np.array([(p.x + x0, p.y + y0) for p in shape.parts()], dtype=np.float32)
            box = (max(int(y) + y0, 0), min(int(x + bw) + x0, rgb.shape[1]), min(int(y + bh) + y0, rgb.shape[0]),
                   max(int(x) + x0, 0))
            face = DetectedFace(box=box, landmarks=points, extras={"score": float(row[14])})
            if face.size >= min_face_px:
                faces.append(face)
        faces.sort(key=lambda f: -f.size)
        return faces
