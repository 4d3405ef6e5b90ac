"""Which plate readings are reported: text that is a plate (not a sign, a phone number or half a plate),
every character after the province sure enough, and the site's province put only where the province
read is unsure. No reading rather than a wrong one.
"""

from __future__ import annotations

from edge.plates import canonical, edit_distance
from models.plate_decoder import Decoded

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
# The site's province (recognition.plate.province) replaces the province read only when the
# recognisers together give the province read less than PROVINCE_CLEAR and give the site's province
# at least PROVINCE_PLAUSIBLE: a clear reading is never turned into the prior.
PROVINCE_CLEAR = 0.9
PROVINCE_PLAUSIBLE = 0.01


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


def sure(decoded, raw: str, floor: float) -> bool:
    """A plate, every character after the province at least ``floor`` sure: a reading to report."""
    return looks_like_plate(decoded, raw) and min(decoded.char_confidence[1:]) >= floor


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
