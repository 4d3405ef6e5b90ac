"""One plate crop read by the recognisers: PP-OCRv4 in grey (as it is and de-slanted), the plate
recogniser in grey and SegmentationFree-Inception in colour (models/plate_recognizers.py); each
proposes its best plates under the grammar narrowed by the colour, and the text is the one they score
best together (models/plate_combine.py). Also the de-slanting (``deshear``) of a plate seen from the side.
"""

from __future__ import annotations

import cv2
import numpy as np

from models.plate_accept import looks_like_plate
from models.plate_combine import GREEN_MARGIN, alone, combine, propose
from models.plate_decoder import TEMPLATES_BY_COLOR
from models.plate_detector import plate_color

# The recogniser emits one CTC frame per 8 pixels of width; an 8-character plate at its natural
# aspect gets about 20 frames, too few to keep "66" apart. Stretching the crop gives it room.
STRETCH = 1.6
SHEARS = np.linspace(-0.6, 0.6, 25)
# The cascade (issue 30): a plate every character of which PP-OCRv4 alone believes at least this much
# (its posterior, the rest of the text held fixed), and whose serial SegmentationFree confirms (below),
# is PP-OCRv4's reading; any other is read by all three recognisers. Measured on the first look at
# every plate of the hard, real and double-row sets (341 crops): PP-OCRv4 alone that sure on 133 of the
# hard set's 210, 62 of the 68 real scenes, 6 of 63 double-row plates, every one of them the text the
# three read together, none wrong; wrong ones appear below 0.93 for the province and 0.9 for the serial.
# A plate of unknown colour (the real crops, the text detector's boxes) is always read by all three: on
# one real crop PP-OCRv4 alone was sure of an eighth character, the plate's rim (皖DFX8861 for 皖DFX886).
CASCADE_SURE = 0.95
# ... and SegmentationFree-Inception (2-3 ms a plate here, a third of the others together) confirms its serial:
# on the 414 first looks at the passages' frames (bench.plate_passages: plates from 60 px), PP-OCRv4 alone
# was that sure of 268, 4 of them wrong (皖AT8916 for 皖AT891G, 皖A65801 for 皖A658Q1, 皖AY7660 twice);
# with SegmentationFree's grammatical reading agreeing on everything after the province, 249, none wrong
# (hard set 129 of 207, real scenes 61 of 68).
CONFIRMING = "hyperlpr2_sfi_rec"


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


class CropReader:
    """Reads an image that is one plate with the ``opinions`` (recogniser, decoder, weight; PP-OCRv4
    first, models.plate_recognizers.load_opinions); with one opinion only, PP-OCRv4 alone decides."""

    def __init__(self, opinions, cascade: bool = True):
        """``cascade``: the other recognisers read only a plate PP-OCRv4 is unsure of (``CASCADE_SURE``);
        False: all of them read every plate (as when issue 30 was filed)."""
        self.opinions = opinions
        self.cascade = cascade
        # A crop of unknown colour (the real crops, the text detector's boxes) whose pixels are blue is read
        # under the blue plate's layout (7 characters): a blue plate is never new energy (issue 31: 皖DFX8861,
        # the rim read as an eighth character, for 皖DFX886). False: every layout (bench.plate_bench before).
        self.blue_from_pixels = True
        self.recognizer, self.decoder, _ = opinions[0]

    def read(self, bgr: np.ndarray, color: str | None = None, slanted: bool = True,
             tight: np.ndarray | None = None):
        """(Decoded, raw text) for an image that is one plate, tightly or loosely cropped.

        Read by three recognisers: PP-OCRv4 in grey (colour casts and blue backgrounds hide the province
        character; as it is and de-slanted, the better-scoring reading kept), the plate recogniser
        (``clp_v2_rec``) in grey, and SegmentationFree-Inception in colour. Each proposes its best plate
        under the grammar (narrowed by a known colour: green 8 characters, blue no special ending);
        the proposals and their position-by-position mixtures are scored by all three (CTC likelihood,
        all alignments) and the best one is the text (``combine``). Each character's confidence is
        the median of what the three, each given the rest of the text, believe about it: a character
        two of them doubt is unsure however certain the third is. The province's candidates
        (``Decoded.provinces``) are the product of the posteriors, normalised.
        With the ``cascade``, a plate PP-OCRv4 alone is sure of (every character at least ``CASCADE_SURE``)
        and whose serial SegmentationFree reads the same is PP-OCRv4's reading, each character as sure as
        PP-OCRv4's posterior for it; only the others go on to the vote.
        A crop rectified by the plate's own four corners is not slanted: ``slanted=False`` skips the
        second PP-OCRv4 reading. ``tight``: the same plate cut exactly at its corners, in colour (the cut
        its colour is told from), which the third recogniser reads best (measured on the hard set's
        plates, greedy: 157 of 225 exact cut at the corners, 140 with the others' margin).
        """
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
        templates = TEMPLATES_BY_COLOR.get(color) if color else None
        if color is None and self.blue_from_pixels and plate_color(bgr) == "blue":
            templates = TEMPLATES_BY_COLOR["blue"]
        first = None
        for variant in (gray, deshear(gray)) if slanted else (gray,):
            probs = self.recognizer.probabilities(cv2.cvtColor(variant, cv2.COLOR_GRAY2BGR), STRETCH)
            proposals = propose(self.decoder, probs, templates, color)
            if proposals and (first is None or proposals[0].score > first[1][0].score):
                first = (probs, proposals)
            if variant is gray and proposals and proposals[0].confidence > 0.95:
                break  # already sure: skip the second reading
        if first is None:
            return None, ""
        probs, proposals = first
        raw = self.recognizer.greedy(probs)
        grey = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
        read_by = {}  # recogniser name -> (probabilities, proposals), for those already asked

        def ask(recognizer, decoder):
            if recognizer.name not in read_by:
                image = (bgr if tight is None else tight) if recognizer.reads_colour else grey
                other = recognizer.probabilities(image, STRETCH)
                read_by[recognizer.name] = (other, propose(decoder, other, templates, color))
            return read_by[recognizer.name]

        if len(self.opinions) == 1 or self.cascade:
            best = proposals[0]  # PP-OCRv4 alone (green: 8 characters unless 7 reads clearly better)
            if len(proposals) > 1 and proposals[1].score - best.score > GREEN_MARGIN:
                best = proposals[1]
            if len(self.opinions) == 1:
                return best, raw
            single = alone(self.decoder, probs, best)
            # A recogniser skewed to one province (models/manifest.json province_skew) never settles that one alone.
            skewed = getattr(self.recognizer, "province_skew", None) == single.text[0]
            # Without the plate's colour every layout is open (a 7-character plate read with an eighth from its
            # rim): the others are asked whatever PP-OCRv4 believes.
            if (color is not None and min(single.char_confidence) >= CASCADE_SURE and not skewed
                    and looks_like_plate(single, raw)):
                # PP-OCRv4 can be sure and wrong (a small plate's G read as 6): the cheapest other recogniser
                # must read the same serial under the grammar.
                confirming = [(r, d) for r, d, _ in self.opinions[1:] if r.name == CONFIRMING]
                confirmed = [ask(r, d)[1] for r, d in confirming]
                if all(found and found[0].text[1:] == single.text[1:] for found in confirmed):
                    return single, raw
        views = [(self.decoder, probs, 1.0)]
        for recognizer, decoder, weight in self.opinions[1:]:
            other, more = ask(recognizer, decoder)
            views.append((decoder, other, weight))
            proposals = proposals + more
        skews = [getattr(recognizer, "province_skew", None) for recognizer, _, _ in self.opinions[:len(views)]]
        return combine(views, proposals, color, skews), raw
