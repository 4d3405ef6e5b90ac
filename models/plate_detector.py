"""A dedicated Chinese plate detector with four corner points: HyperLPR3's ``y5fu`` (YOLOv5-face
style, Apache-2.0), plus the plate colour and the plate layout (single or double row).

    input   1x3xSxS RGB / 255, the frame letterboxed (grey 114) into S x S
    output  (N, 15): cx, cy, w, h, objectness, 4 corners (x, y: tl, tr, br, bl), 2 class scores
            (single row, double row)

The post-processing follows HyperLPR3's ``multitask_detect.py`` (class scores times objectness,
NMS on the boxes). Run with OpenCV dnn or onnxruntime (``backend``); both give the same boxes, and
the default is the one measured faster here (docs/plate-accuracy.md).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from models.manifest import verified_path

DETECTOR_SIZE = 320
FALLBACK_SIZE = 640
REFINE_CONTEXT = 3.0
# Issue 30: a wide image (a 16:9 frame, a plate's surroundings) is letterboxed into a rectangle of the
# same width and 3/5 of the height (320x192, 640x384: models/convert_y5fu_rect.py) instead of the square,
# which for a 1280x720 frame is 44% grey; the same scale, 60% of the work. A narrower image keeps the
# square (a rectangle would shrink it).
RECT_HEIGHT = 0.6
BACKEND = "onnxruntime"  # measured faster here than OpenCV dnn (docs/plate-accuracy.md)


@dataclass(frozen=True)
class PlateBox:
    quad: np.ndarray  # (4, 2) float32: tl, tr, br, bl in frame pixels
    score: float
    double: bool  # two rows of characters (yellow rear plates of buses and trucks, trailers)

    @property
    def box(self) -> tuple[int, int, int, int]:
        xs, ys = self.quad[:, 0], self.quad[:, 1]
        return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


class PlateDetector:
    """Frames (BGR) to plate quads. Thread-safe; load once.

    ``lean`` (the default; issue 30): the fallback size is loaded when first needed, and onnxruntime
    keeps no memory arena (an arena holds the largest input's activations for good: at 640x640 tens
    of MB). The boxes are the same either way; ``lean=False`` loads as before, for bench.memory's
    comparison.

    ``rect`` (the default; issue 30): a wide image is read through the rectangular input (``RECT_HEIGHT``)
    and the region around a plate refined is as wide but 3/5 as high; False: the square input always, the
    square region (as issue 30 found it: bench.plate_bench's *today*).
    """

    def __init__(self, size: int = DETECTOR_SIZE, backend: str = BACKEND, threshold: float = 0.2,
                 nms: float = 0.5, threads: int = 2, fallback_size: int | None = FALLBACK_SIZE, lean: bool = True,
                 rect: bool = True):
        self.size = size
        self.threshold = threshold
        self.nms = nms
        self.backend = backend
        self.threads = threads
        self.lean = lean
        self.rect = rect
        self._lock = threading.Lock()
        self._models = {}
        self.fallback_size = fallback_size
        # Loaded now: the input a frame of a gate's camera (16:9) needs first; the others on first use.
        self.model(*self._input_shape(size, 720, 1280))
        if fallback_size and not lean:
            self.model(*self._input_shape(fallback_size, 720, 1280))

    def _input_shape(self, size: int, h: int, w: int) -> tuple[int, int]:
        """(height, width) of the input an h x w image is letterboxed into at ``size``."""
        if self.rect and w * 3 * 1.05 >= h * 5:  # (a refined region's rounding: within 5% of 5:3)
            return int(size * RECT_HEIGHT), size
        return size, size

    def model(self, height: int, width: int | None = None):
        """The session (or net) of input ``height`` x ``width`` (square: ``width`` None), loaded on first use."""
        key = (height, width or height)
        with self._lock:
            if key not in self._models:
                self._models[key] = self._load(*key)
            return self._models[key]

    def _load(self, height: int, width: int):
        name = f"hyperlpr3_y5fu_{width}" if height == width else f"hyperlpr3_y5fu_{width}x{height}"
        path = str(verified_path(name))
        if self.backend == "opencv":
            cv2.setNumThreads(self.threads)
            return cv2.dnn.readNetFromONNX(path)
        if self.backend == "onnxruntime":
            import onnxruntime

            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            options.enable_cpu_mem_arena = not self.lean
            return onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        raise ValueError(f"plate detector backend {self.backend!r}: use 'opencv' or 'onnxruntime'")

    @staticmethod
    def _letterbox(bgr: np.ndarray, size: int, width: int | None = None, halve: bool = False):
        """(1x3xHxW blob, scale, left, top): ``bgr`` letterboxed into ``size`` x ``width`` (square: None).
        ``halve`` (ours): an image of even sides shrunk to half or less is first halved (OpenCV's area resize
        has a fast path for exactly 2:1: 1280x720 to 320x180 in two halvings takes a quarter of the time of
        one 4:1 resize; the pixels differ by rounding, at most 1 of 255), and OpenCV makes the blob."""
        h, w = bgr.shape[:2]
        width = width or size
        r = min(size / h, width / w)
        nh, nw = max(int(h * r), 1), max(int(w * r), 1)
        top, left = (size - nh) // 2, (width - nw) // 2
        small = bgr
        while halve and nw * 2 <= small.shape[1] and nh * 2 <= small.shape[0] and not (
                small.shape[0] % 2 or small.shape[1] % 2):
            small = cv2.resize(small, (small.shape[1] // 2, small.shape[0] // 2), interpolation=cv2.INTER_AREA)
        resized = small if small.shape[:2] == (nh, nw) else cv2.resize(
            small, (nw, nh), interpolation=cv2.INTER_AREA if r < 1 else cv2.INTER_LINEAR)
        if halve:  # (ours: OpenCV pads and converts, half the time of the numpy way below; the same to 3e-8)
            padded = cv2.copyMakeBorder(resized, top, size - nh - top, left, width - nw - left,
                                        cv2.BORDER_CONSTANT, value=(114, 114, 114))
            return cv2.dnn.blobFromImage(padded, 1 / 255, swapRB=True), r, left, top
        # NCHW, RGB, / 255, grey 114 around: converted only where the image is (the fastest way here).
        blob = np.full((1, 3, size, width), 114 / 255, np.float32)
        blob[0, :, top:top + nh, left:left + nw] = resized.transpose(2, 0, 1)[::-1] * np.float32(1 / 255)
        return blob, r, left, top

    def _run(self, blob: np.ndarray, size: int) -> np.ndarray:
        model = self.model(*blob.shape[2:])
        with self._lock:
            if self.backend == "opencv":
                model.setInput(blob)
                return model.forward()[0]
            return model.run(None, {model.get_inputs()[0].name: blob})[0][0]

    def detect(self, bgr: np.ndarray, refine: bool = True, size: int | None = None) -> list[PlateBox]:
        """Plates in a frame, best first. A plate found small in the frame (at 320x320 a 60 px plate is
        15 px wide) has rough corners: with ``refine`` each one is detected again in a region about
        three plate widths wide around it, where it fills a good part of the input. When the small
        input finds nothing, the larger detector (``fallback_size``) looks once more; ``size`` asks
        for one input size only."""
        found = self._detect(bgr, size)
        if not found and self.fallback_size and size is None:
            found = self._detect(bgr, self.fallback_size)
        if not refine:
            return found
        out = []
        for coarse in found:
            x1, y1, x2, y2 = coarse.box
            side = max(x2 - x1, 1) * REFINE_CONTEXT
            if side >= max(bgr.shape[:2]) * 0.8:
                out.append(coarse)  # already large in the frame
                continue
            # The region: three plate widths wide, as high (the square input) or 3/5 as high (the rectangle).
            tall = side * RECT_HEIGHT if self.rect else side
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            rx1, ry1 = int(max(cx - side / 2, 0)), int(max(cy - tall / 2, 0))
            rx2, ry2 = int(min(cx + side / 2, bgr.shape[1])), int(min(cy + tall / 2, bgr.shape[0]))
            near = [
                b for b in self._detect(bgr[ry1:ry2, rx1:rx2])
                if abs((b.box[0] + b.box[2]) / 2 + rx1 - cx) < (x2 - x1) / 2
                and abs((b.box[1] + b.box[3]) / 2 + ry1 - cy) < max(y2 - y1, 4)
            ]
            if not near:
                out.append(coarse)
                continue
            fine = near[0]
            quad = fine.quad + np.array([rx1, ry1], np.float32)
            out.append(PlateBox(quad, max(fine.score, coarse.score), fine.double))
        return out

    def _detect(self, bgr: np.ndarray, size: int | None = None) -> list[PlateBox]:
        size = size or self.size
        blob, r, left, top = self._letterbox(bgr, *self._input_shape(size, *bgr.shape[:2]), halve=self.rect)
        dets = self._run(blob, size)
        dets = dets[dets[:, 4] > self.threshold]
        if not len(dets):
            return []
        cls = dets[:, 13:15] * dets[:, 4:5]
        scores = cls.max(1)
        keep = scores > self.threshold
        dets, cls, scores = dets[keep], cls[keep], scores[keep]
        if not len(dets):
            return []
        xywh = dets[:, :4]
        boxes = [[float(x - w / 2), float(y - h / 2), float(w), float(h)] for x, y, w, h in xywh]
        chosen = cv2.dnn.NMSBoxes(boxes, scores.astype(float).tolist(), self.threshold, self.nms)
        out = []
        for i in np.asarray(chosen).reshape(-1):
            quad = dets[i, 5:13].reshape(4, 2).copy()
            quad[:, 0] = (quad[:, 0] - left) / r
            quad[:, 1] = (quad[:, 1] - top) / r
            out.append(PlateBox(quad.astype(np.float32), float(scores[i]), bool(cls[i, 1] > cls[i, 0])))
        out.sort(key=lambda b: -b.score)
        return out


# -- colour ------------------------------------------------------------------------------------
COLORS = ("blue", "yellow", "green", "white", "black")


def plate_color(bgr_crop: np.ndarray) -> str:
    """The plate's background colour from a rectified crop (HSV statistics of its inner part).

    The background is the majority of the plate's pixels; characters are the minority. Blue and
    green/yellow are told by hue where the pixels are saturated; white and black by brightness where
    they are not.
    """
    h, w = bgr_crop.shape[:2]
    inner = bgr_crop[int(h * 0.12):int(h * 0.88), int(w * 0.06):int(w * 0.94)]
    hsv = cv2.cvtColor(inner, cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.float32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    # Normalise brightness (night frames): value relative to the crop's own range.
    lo, hi = np.percentile(val, 5), np.percentile(val, 95)
    rel = (val - lo) / max(hi - lo, 1.0)
    coloured = (sat > 25) & (val > 15)
    if coloured.mean() > 0.2:
        hues = hue[coloured]
        votes = {
            "blue": np.mean((hues >= 95) & (hues <= 130)),
            "yellow": np.mean((hues >= 10) & (hues < 35)),
            "green": np.mean((hues >= 35) & (hues < 95)),
        }
        best = max(votes, key=votes.get)
        if votes[best] > 0.6:
            return best
    # Unsaturated: a white plate is mostly bright, a black one mostly dark.
    return "white" if np.median(rel) > 0.5 else "black"


# -- layout ------------------------------------------------------------------------------------
def merge_double_row(bgr_crop: np.ndarray) -> np.ndarray:
    """A double-row plate as one text line: the upper row (province + letter, about 5/12 of the
    height) resized to the lower row's size and put before it (HyperLPR3's ``get_split_merge``)."""
    h = bgr_crop.shape[0]
    upper = bgr_crop[: int(5 / 12 * h)]
    lower = bgr_crop[int(1 / 3 * h):]
    upper = cv2.resize(upper, (lower.shape[1], lower.shape[0]), interpolation=cv2.INTER_CUBIC)
    return np.hstack([upper, lower])
