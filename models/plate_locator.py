"""Where the plates are in a frame, and each one cut out by its corners.

    y5fu   HyperLPR3's plate detector (models/plate_detector.py): four corners, single or double row,
           320x320 first, 640x640 when nothing found at 320 was read (``fallback_candidates``); each
           plate's colour told from its cut at the corners
    ppocr  the previous text detector (PP-OCRv6 small, rapidocr 3.x wheel, long side <= 640), kept for
           comparison (``detector="ppocr"``): plate-shaped text boxes, colour unknown

A candidate is (quad, colour or None, double row, the plate cut exactly at its corners in colour, what
the third recogniser reads); ``crop`` cuts the loosely padded plate the recognisers read.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

from models.manifest import verified_path
from models.plate_recognizers import REC_HEIGHT, SFI_SIZE

DETECT_LONG_SIDE = 640
# The plate detector's corners are the plate's own edges: a small margin keeps the outer characters.
QUAD_PAD_X, QUAD_PAD_Y = 0.04, 0.08


def rectify(bgr: np.ndarray, quad: np.ndarray, pad_x: float = 0.12, pad_y: float = 0.15,
            out_h: int = REC_HEIGHT) -> np.ndarray:
    """Warp a quad (tl, tr, br, bl) to an upright crop, padded so the province is not cut off."""
    tl, tr, br, bl = quad
    across, down = (tr - tl + br - bl) / 2, (bl - tl + br - tr) / 2
    width = float(np.linalg.norm(across)) * (1 + 2 * pad_x)
    height = float(np.linalg.norm(down)) * (1 + 2 * pad_y)
    out_w = max(int(round(out_h * width / max(height, 1))), out_h)
    source = np.array(
        [
            tl - pad_x * across - pad_y * down,
            tr + pad_x * across - pad_y * down,
            br + pad_x * across + pad_y * down,
            bl - pad_x * across + pad_y * down,
        ],
        dtype=np.float32,
    )
    target = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(bgr, matrix, (out_w, out_h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def crop(bgr: np.ndarray, quad: np.ndarray, color: str | None, double: bool) -> np.ndarray:
    """The plate cut out by its corners; a double-row plate's two rows side by side."""
    if double:
        from models.plate_detector import merge_double_row

        return merge_double_row(rectify(bgr, quad, QUAD_PAD_X / 2, QUAD_PAD_Y, 2 * REC_HEIGHT))
    if color is not None:
        return rectify(bgr, quad, QUAD_PAD_X, QUAD_PAD_Y)
    return rectify(bgr, quad)


class PlateLocator:
    """Frames (BGR) to plate candidates with the chosen detector (``y5fu`` or ``ppocr``). Thread-safe."""

    def __init__(self, detector: str = "y5fu", detector_backend: str | None = None, threads: int = 2,
                 detect_long_side: int = DETECT_LONG_SIDE, lean: bool = True, rect: bool = True):
        self.detector = detector
        self._det_lock = threading.Lock()
        if detector == "y5fu":
            from models.plate_detector import BACKEND, PlateDetector

            self.plate_detector = PlateDetector(backend=detector_backend or BACKEND, threads=threads, lean=lean,
                                               rect=rect)
            return
        if detector != "ppocr":
            raise ValueError(f"plate detector {detector!r}: use 'y5fu' or 'ppocr'")
        from rapidocr import RapidOCR

        verified_path("ppocr_v6_det")
        self._detector = RapidOCR(
            params={
                "Global.log_level": "error",
                "Global.use_cls": False,
                "Global.use_rec": False,
                "Det.limit_type": "max",
                "Det.limit_side_len": detect_long_side,
                "EngineConfig.onnxruntime.intra_op_num_threads": 2,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1,
            }
        )

    def text_quads(self, bgr: np.ndarray) -> list[np.ndarray]:
        with self._det_lock:
            result = self._detector(bgr, use_det=True, use_cls=False, use_rec=False)
        return [] if result.boxes is None else [np.asarray(b, dtype=np.float32) for b in result.boxes]

    def candidates(self, bgr: np.ndarray):
        """(quad, colour or None, double row, the plate cut at its corners) for each plate-like region."""
        if self.detector == "y5fu":
            # The small input only: the reader falls back to the larger one when nothing is read.
            yield from self._y5fu_candidates(bgr, self.plate_detector.detect(bgr, size=self.plate_detector.size))
            return
        for quad in self.text_quads(bgr):
            width = np.linalg.norm(quad[1] - quad[0])
            height = np.linalg.norm(quad[3] - quad[0])
            if height < 8 or not 1.5 <= width / max(height, 1) <= 9:
                continue  # not plate-shaped
            yield quad, None, False, rectify(bgr, quad, 0.0, 0.0, SFI_SIZE[1])

    @property
    def has_fallback(self) -> bool:
        """A second, larger look is there for a frame whose first one read nothing."""
        return self.detector == "y5fu" and bool(self.plate_detector.fallback_size)

    def fallback_candidates(self, bgr: np.ndarray):
        """The candidates of the larger input (``has_fallback``), for a frame where the plates found at 320
        were none readable (or none were found)."""
        found = self.plate_detector.detect(bgr, size=self.plate_detector.fallback_size)
        return self._y5fu_candidates(bgr, found)

    @staticmethod
    def _y5fu_candidates(bgr: np.ndarray, found):
        from models.plate_detector import plate_color

        for plate in found:
            width = np.linalg.norm(plate.quad[1] - plate.quad[0])
            height = np.linalg.norm(plate.quad[3] - plate.quad[0])
            if height < 6 or width < 20:
                continue
            # One cut at its corners: its colour is told from it and the third recogniser reads it.
            tight = rectify(bgr, plate.quad, 0.0, 0.0, SFI_SIZE[1])
            yield plate.quad, plate_color(tight), plate.double, tight
