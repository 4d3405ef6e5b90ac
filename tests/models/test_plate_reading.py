"""Plate reading on real photographs, grammar decoding, voting over frames and fuzzy matching rules."""

from __future__ import annotations

import pytest
from conftest import PLATES, plate_labels

from edge.rules.plate_match import PlateIndex
from edge.rules.plate_vote import PlateVoter
from models.images import load_rgb

LABELS = plate_labels()
SCENES = [f for f in LABELS if f.startswith("ccpd")]
CROPS = [f for f in LABELS if f.startswith("lprnet")]


@pytest.mark.parametrize("name", SCENES)
def test_scene_plates_are_read_exactly(engines, name):
    readings = engines["plates"].read(load_rgb(PLATES / name))
    assert [r.text for r in readings] == [LABELS[name]]
    assert readings[0].confidence > 0.5
    x1, y1, x2, y2 = readings[0].box
    assert x2 - x1 > y2 - y1  # wider than high, even when the plate is seen at an angle


@pytest.mark.parametrize("name", CROPS)
def test_plate_crops_are_read_by_the_recogniser_alone(engines, name):
    import cv2

    decoded, raw = engines["plates"].read_crop(cv2.imread(str(PLATES / name)))
    assert decoded.text == LABELS[name]


@pytest.mark.parametrize("name", CROPS + ["ccpd2019_004.jpg", "ccpd_07.jpg"])
def test_the_third_recogniser_alone_reads_real_plates(engines, name):
    """HyperLPR v2's recogniser, converted from Caffe (models/convert_sfi.py), reads real plates by itself:
    the conversion kept its weights and its input layout (a wrong transposition reads nothing)."""
    import cv2

    reader = engines["plates"]
    third = next(r for r, _, _ in reader.opinions if r.name == "hyperlpr2_sfi_rec")
    image = cv2.imread(str(PLATES / name))
    if name.startswith("ccpd"):
        plate = reader.plate_detector.detect(image)[0]
        image = reader.rectify(image, plate.quad, 0.0, 0.0, 40)
    assert third.greedy(third.probabilities(image)) == LABELS[name]


def test_shop_signs_in_the_scene_are_not_plates(engines):
    # ccpd_10 and ccpd_20 show shop signs (奶外花艺, 新稀特大药房) beside the car.
    for name in ("ccpd_10.jpg", "ccpd_20.jpg"):
        texts = [r.text for r in engines["plates"].read(load_rgb(PLATES / name))]
        assert texts == [LABELS[name]]


def test_a_photo_without_plates_reads_nothing(engines):
    from conftest import face

    assert engines["plates"].read(load_rgb(face("fr_obama"))) == []


@pytest.mark.parametrize(
    "decoded_text, raw, is_plate",
    [
        ("皖AY6B59", "皖A·Y6B59", True),
        ("皖AY6B59", "AY6B59", True),  # province faint: the grammar supplied the best-scoring one
        ("皖AK1Y31", "皖AKI1Y31", True),  # I read beside a 1
        ("苏L09057", "道0站", False),  # a sign
        ("京A13912", "13912345678", False),  # a phone number
        ("沪A20261", "2026-11-26 12:00", False),  # an on-screen timestamp
        ("鄂PV9301", "PV930", False),  # a double-row plate's lower row: province and last character made up
        ("皖AL8487", "L8487", False),  # two characters missing from the free reading
    ],
)
def test_text_whose_free_reading_disagrees_is_not_a_plate(decoded_text, raw, is_plate):
    from models.plate_decoder import Decoded
    from models.plates import PlateReader

    decoded = Decoded(decoded_text, -0.1, (0.9,) * len(decoded_text), "standard")
    assert PlateReader.looks_like_plate(decoded, raw) is is_plate


def test_voting_outvotes_one_misread_frame():
    voter = PlateVoter(min_hits=3, min_confidence=0.8, window_s=4.0, cooldown_s=20.0, agreeing_hits=2)
    frames = [("皖AY6B59", 0.95), ("皖AY6859", 0.85), ("皖AY6B59", 0.97), ("皖AY6B59", 0.9)]
    results = [voter.add("in", text, (conf,) * 7, ts=i * 0.2) for i, (text, conf) in enumerate(frames)]
    decided = [r for r in results if r]
    assert len(decided) == 1
    assert decided[0].text == "皖AY6B59" and decided[0].readings == 3
    assert decided[0].char_confidence[4] < 1.0  # the disputed position shows its doubt


def test_one_vehicle_passage_is_one_decision():
    voter = PlateVoter(min_hits=2, min_confidence=0.8, window_s=4.0, cooldown_s=5.0, agreeing_hits=2)
    decisions = [voter.add("in", "皖AY6B59", (0.95,) * 7, ts=i * 0.2) for i in range(50)]  # 10 s at the barrier
    assert sum(d is not None for d in decisions) == 1
    assert voter.add("in", "皖AY6B59", (0.95,) * 7, ts=30.0) is None  # back much later: a new passage...
    assert voter.add("in", "皖AY6B59", (0.95,) * 7, ts=30.2) is not None  # ...decided once it has its hits


def test_unsure_serial_readings_do_not_count_as_hits():
    voter = PlateVoter(min_hits=2, min_confidence=0.8, window_s=4.0, cooldown_s=5.0)
    weak = (0.99, 0.99, 0.5, 0.99, 0.99, 0.99, 0.99)
    assert voter.add("in", "皖AY6B59", weak, ts=0.0) is None
    assert voter.add("in", "皖AY6B59", weak, ts=0.2) is None


def test_two_lanes_and_two_cars_vote_separately():
    voter = PlateVoter(min_hits=2, min_confidence=0.8, window_s=4.0, cooldown_s=5.0, agreeing_hits=2)
    assert voter.add("in", "皖AY6B59", (0.9,) * 7, 0.0) is None
    assert voter.add("out", "皖AY6B59", (0.9,) * 7, 0.1) is None
    assert voter.add("in", "沪C21F13", (0.9,) * 7, 0.2) is None
    assert voter.add("in", "皖AY6B59", (0.9,) * 7, 0.3).text == "皖AY6B59"


def vehicles(*plates, cls="resident"):
    return [{"plate": p, "class": cls, "person_id": None} for p in plates]


def test_exact_match_first():
    index = PlateIndex(vehicles("沪A12345", "沪A12845"))
    assert index.match("沪A12345").kind == "exact"


@pytest.mark.parametrize(
    "read, registered, expected",
    [
        ("沪A1234S", ["沪A12345"], "沪A12345"),  # 5/S
        ("沪AB2345", ["沪A82345"], "沪A82345"),  # 8/B
        ("沪AD1234", ["沪A01234"], "沪A01234"),  # 0/D
        ("沪A12345", ["沪A72345"], "沪A72345"),  # 1/7
        ("沪A12346", ["沪A12349"], None),  # 6/9 is not a confusion we trust
        # S/B is not a confusion pair: only 沪A12345 is within one known confusion, so it is unique.
        ("沪A1234S", ["沪A12345", "沪A1234B"], "沪A12345"),
        ("沪A0234S", ["沪A02345", "沪AD234S"], None),  # two plates as close: no match
        ("沪A12345", ["沪A12354"], None),  # two differences
    ],
)
def test_fuzzy_match_only_when_exactly_one_plate_is_one_confusion_away(read, registered, expected):
    found = PlateIndex(vehicles(*registered)).match(read)
    assert (found.plate if found else None) == expected
    if found:
        assert found.kind == "fuzzy" and found.detail


def test_an_unsure_province_may_be_substituted_and_the_site_province_breaks_ties():
    index = PlateIndex(vehicles("皖AY6B59"))
    assert index.match("苏AY6B59", (0.1,) + (0.99,) * 6).plate == "皖AY6B59"
    assert index.match("苏AY6B59", (0.9,) + (0.99,) * 6) is None  # the recogniser was sure: a different car
    two = PlateIndex(vehicles("皖AY6B59", "沪AY6B59"))
    assert two.match("苏AY6B59", (0.1,) + (0.99,) * 6) is None
    assert two.match("苏AY6B59", (0.1,) + (0.99,) * 6, site_province="沪").plate == "沪AY6B59"


def _ctc(characters, text, doubt=None):
    """(T, C) probabilities that spell ``text`` with a blank between characters; ``doubt`` = (position,
    other character, its probability) makes that character's frame believe the other one instead."""
    import numpy as np

    frames = []
    for k, char in enumerate(text):
        for symbol in ("<blank>", char):
            row = np.full(len(characters), 0.01 / (len(characters) - 1))
            row[characters.index(symbol)] = 0.99
            if symbol == char and doubt and doubt[0] == k:
                row[characters.index(char)], row[characters.index(doubt[1])] = 0.99 - doubt[2], doubt[2]
            frames.append(row)
    frames.append(frames[0])
    return np.array(frames)


@pytest.mark.parametrize(
    "doubts, text, sure",
    [
        ([None, None, (2, "8", 0.95)], "皖AB1234", True),  # one of three dissents: two believe B, B is sure
        ([None, (2, "8", 0.95), (2, "8", 0.95)], None, False),  # two read 8 against one: whatever wins, unsure
        ([None, (2, "8", 0.5), (2, "8", 0.5)], None, False),  # two are torn between B and 8: unsure
    ],
)
def test_a_character_is_sure_when_two_of_three_recognisers_believe_it(doubts, text, sure):
    from models.plate_combine import combine
    from models.plate_decoder import PlateDecoder
    from models.plates import SERIAL_FLOOR

    characters = ["<blank>", "皖", "A", "B", "8", "1", "2", "3", "4"]
    decoder = PlateDecoder(characters)
    views = [(decoder, _ctc(characters, "皖AB1234", doubt), 1.0) for doubt in doubts]
    proposals = [decoder.decode(probs, ("standard_plain",)) for _, probs, _ in views]
    decoded = combine(views, proposals, "blue")
    if text:
        assert decoded.text == text
    assert (min(decoded.char_confidence[1:]) >= SERIAL_FLOOR) is sure


def test_the_lean_detector_loads_the_larger_size_only_when_needed_and_finds_the_same_plates():
    """Issue 30: no arena and the 640 input loaded on first use; the boxes are those of the loading before."""
    import cv2
    import numpy as np

    from models.images import letterbox
    from models.plate_detector import PlateDetector

    lean, before = PlateDetector(threads=1), PlateDetector(threads=1, lean=False)
    # (height, width) of the inputs loaded: a wide frame's rectangles (320x192, 640x384: issue 30)
    assert set(lean._models) == {(192, 320)} and set(before._models) == {(192, 320), (384, 640)}
    scene = cv2.cvtColor(letterbox(load_rgb(PLATES / "ccpd2019_004.jpg"), 1280, 720), cv2.COLOR_RGB2BGR)
    found = lean.detect(scene)
    assert found and set(lean._models) == {(192, 320)}  # a plate at 320: the larger input is not needed
    assert [p.quad.tolist() for p in found] == [p.quad.tolist() for p in before.detect(scene)]
    grey = np.full((720, 1280, 3), 90, np.uint8)
    assert lean.detect(grey) == before.detect(grey) == []
    assert set(lean._models) == {(192, 320), (384, 640)}  # nothing at 320: the fallback looked, loaded then


def test_the_rectangular_inputs_find_the_plates_of_the_square_ones():
    """Issue 30: a wide frame through 320x192 (and a refined region 3/5 as high) finds the best plate the
    square 320x320 input finds, with the same corners to a few per cent of its width; a narrow image keeps the
    square input."""
    import cv2
    import numpy as np

    from models.images import letterbox
    from models.plate_detector import PlateDetector

    rect, square = PlateDetector(threads=1), PlateDetector(threads=1, rect=False)
    worst = 0.0
    for path in sorted(PLATES.glob("*.jpg")):
        frame = cv2.cvtColor(letterbox(load_rgb(path), 1280, 720), cv2.COLOR_RGB2BGR)
        ours, theirs = rect.detect(frame), square.detect(frame)
        assert bool(ours) == bool(theirs), path.name  # (weak second boxes, score near the threshold, may differ)
        if ours:
            assert ours[0].double == theirs[0].double
            width = theirs[0].box[2] - theirs[0].box[0]
            worst = max(worst, float(np.abs(ours[0].quad - theirs[0].quad).max()) / width)
    assert worst < 0.05, worst  # of the plate's width (measured: 0.044 on a crop filling the frame, else < 0.02)
    assert (320, 320) not in rect._models  # every frame wide: the square input never loaded
    portrait = cv2.cvtColor(load_rgb(PLATES / "ccpd2019_004.jpg"), cv2.COLOR_RGB2BGR)
    ours, theirs = rect.detect(portrait, refine=False), square.detect(portrait, refine=False)
    assert (320, 320) in rect._models and len(ours) == len(theirs) == 1
    assert np.abs(ours[0].quad - theirs[0].quad).max() < 1  # (the resize's rounding differs: ``halve``)


def _recognised(reader):
    """Every recogniser's probabilities for the test set's plate crops and scenes' plates, and the same
    matrices with their probabilities shaken (so the decoders also meet unsure, odd readings)."""
    import cv2
    import numpy as np

    rng = np.random.default_rng(30)
    out = []
    for name in sorted(LABELS):
        image = cv2.imread(str(PLATES / name))
        if name.startswith("ccpd"):
            image = reader.rectify(image, reader.plate_detector.detect(image)[0].quad, 0.04, 0.08)
        for recognizer, _, _ in reader.opinions:
            probs = recognizer.probabilities(image, 1.6)
            shaken = probs * rng.uniform(0.2, 5.0, probs.shape).astype(np.float32)
            out += [(recognizer, probs), (recognizer, shaken / shaken.sum(1, keepdims=True))]
    return out


def test_the_array_decoding_finds_what_the_loop_found(engines):
    """Issue 30: the Viterbi search over all positions at once, the scores gathered once per matrix and the
    posteriors from one forward and one backward pass give what the loops gave (issue 30's today)."""
    import numpy as np

    from models.plate_decoder import PlateDecoder, log_likelihood, position_posteriors

    templates = [None, ("standard",), ("standard_plain",), ("new_energy_small", "new_energy_large"),
                 ("standard", "embassy")]
    for recognizer, probs in _recognised(engines["plates"]):
        fast, loop = PlateDecoder(recognizer.characters), PlateDecoder(recognizer.characters, loop=True)
        for chosen in templates:
            assert fast.decode(probs, chosen) == loop.decode(probs, chosen)
        best = fast.decode(probs)
        texts = [best.text, best.text[:2] + best.text[3] + best.text[2] + best.text[4:]]
        assert np.array_equal(log_likelihood(fast, probs, texts), log_likelihood(loop, probs, texts))
        for a, b in zip(position_posteriors(fast, probs, best.text, best.template),
                        position_posteriors(loop, probs, best.text, best.template)):
            assert np.allclose(a, b, rtol=0, atol=1e-9)


@pytest.mark.parametrize("name, escalates", [("synthetic_green_night_90px.jpg", True), ("ccpd_07.jpg", False)])
def test_the_cascade_asks_the_other_recognisers_about_a_plate_the_first_is_unsure_of(engines, monkeypatch, name,
                                                                                    escalates):
    """Issue 30: PP-OCRv4 reads a plate it is sure of with SegmentationFree confirming the serial (the plate
    recogniser not asked); a hard one (a green plate at night, 90 px) PP-OCRv4 is unsure of goes on to
    both other recognisers, and the three read it right."""
    reader = engines["plates"]
    asked = []
    for recognizer, _, _ in reader.opinions[1:]:
        def counted(*args, read=recognizer.probabilities, name=recognizer.name, **kw):
            asked.append(name)
            return read(*args, **kw)

        monkeypatch.setattr(recognizer, "probabilities", counted)
    readings = reader.read(load_rgb(PLATES / name))
    assert [r.text for r in readings] == [LABELS.get(name) or {"synthetic_green_night_90px.jpg": "皖AF06789"}[name]]
    if escalates:
        assert sorted(set(asked)) == ["clp_v2_rec", "hyperlpr2_sfi_rec"]
    else:
        assert asked == ["hyperlpr2_sfi_rec"] and min(readings[0].char_confidence) >= 0.95


class _Spelling:
    """A recogniser that reads every image as the same CTC probabilities."""

    def __init__(self, name, probs, reads_colour=False):
        self.name, self.probs, self.reads_colour, self.province_skew = name, probs, reads_colour, None

    def probabilities(self, image, stretch):
        return self.probs

    def greedy(self, probs):
        return "皖DFX8861"


def test_a_blue_crop_of_unknown_colour_is_read_as_a_blue_plate():
    """Issue 31: the real crop lprnet_0912 (皖DFX886, blue, given without its colour) was reported 皖DFX8861,
    the plate's rim read as an eighth character (a new-energy layout); a crop whose pixels are blue is read
    under the blue plate's layout, as a frame's plate of that colour is."""
    import numpy as np

    from models.plate_crop_reader import CropReader
    from models.plate_decoder import PlateDecoder

    characters = ["<blank>", "皖", "D", "F", "X", "8", "6", "1"]
    probs = _ctc(characters, "皖DFX8861", (7, "<blank>", 0.29))  # the rim: a fainter eighth character
    decoder = PlateDecoder(characters)
    opinions = [(_Spelling(name, probs), decoder, 1.0) for name in ("a", "b", "c")]
    blue = np.zeros((48, 160, 3), np.uint8)
    blue[:] = (180, 60, 10)  # BGR: a blue plate's background
    reader = CropReader(opinions)
    assert reader.read(blue)[0].text == "皖DFX886"
    reader.blue_from_pixels = False  # before: every layout open, the eighth character kept
    assert reader.read(blue)[0].text == "皖DFX8861"
    white = np.full((48, 160, 3), 230, np.uint8)
    assert CropReader(opinions).read(white)[0].text == "皖DFX8861"  # only blue narrows the layout
