"""The province judged on its own (issue 31): a recogniser whose training is skewed to one province
(models/manifest.json ``province_skew``) does not vote that province alone."""

from __future__ import annotations

import pytest
from test_plate_reading import _ctc

CHARACTERS = ["<blank>", "皖", "京", "苏", "A", "B", "1", "2", "3", "4"]


def _combined(unskewed_doubt, skewed_text, skews, unskewed_text="京AB1234"):
    """One unskewed recogniser reading ``unskewed_text`` (``unskewed_doubt``: (0, other province, its
    probability)) and two recognisers reading ``skewed_text`` firmly, combined with ``skews`` (one per view)."""
    from models.plate_combine import combine
    from models.plate_decoder import PlateDecoder

    decoder = PlateDecoder(CHARACTERS)
    views = [(decoder, _ctc(CHARACTERS, unskewed_text, unskewed_doubt), 1.0),
             (decoder, _ctc(CHARACTERS, skewed_text), 0.5),
             (decoder, _ctc(CHARACTERS, skewed_text), 1.0)]
    proposals = [decoder.decode(probs, ("standard_plain",)) for _, probs, _ in views]
    return combine(views, proposals, "blue", skews)


def test_two_recognisers_skewed_to_a_province_do_not_make_it_sure_alone():
    from models.plate_accept import PROVINCE_CLEAR, with_province_prior

    # Before: the two skewed recognisers outvote the third, 皖 is sure and the Beijing site's prior cannot help.
    before = _combined((0, "皖", 0.3), "皖AB1234", ())
    assert before.text == "皖AB1234" and before.char_confidence[0] >= PROVINCE_CLEAR
    assert with_province_prior(before, "京")[0] == "皖AB1234"
    # Now: 皖 needs an unskewed recogniser's agreement; without it the province is unsure (as sure as the
    # unskewed recogniser believes it), and only there the site's province applies.
    now = _combined((0, "皖", 0.3), "皖AB1234", (None, "皖", "皖"))
    assert now.text == "皖AB1234" and now.char_confidence[0] == pytest.approx(0.3, abs=0.05)
    assert dict(now.provinces)["皖"] < PROVINCE_CLEAR
    assert with_province_prior(now, "京")[0] == "京AB1234"
    assert with_province_prior(now, None)[0] == "皖AB1234"  # no prior: the reading stays, unsure
    assert now.char_confidence[1:] == before.char_confidence[1:]  # only the province is judged again


def test_a_skewed_province_the_unskewed_recogniser_agrees_with_stays_sure():
    from models.plate_accept import PROVINCE_CLEAR

    decoded = _combined((0, "京", 0.3), "皖AB1234", (None, "皖", "皖"), "皖AB1234")  # the unskewed: 皖 0.69
    assert decoded.text == "皖AB1234" and decoded.char_confidence[0] >= PROVINCE_CLEAR


def test_a_skewed_recogniser_votes_other_provinces_as_before():
    decoded = _combined((0, "苏", 0.3), "苏AB1234", (None, "皖", "皖"))
    assert decoded == _combined((0, "苏", 0.3), "苏AB1234", ())


def test_the_manifest_says_which_plate_recognisers_are_skewed_and_why(engines):
    from models.manifest import entries

    recognisers = ("ppocr_v4_rec", "clp_v2_rec", "hyperlpr2_sfi_rec")
    assert entries()["ppocr_v4_rec"].province_skew is None
    assert entries()["clp_v2_rec"].province_skew == "皖"
    for name in recognisers:
        entry = entries()[name]
        assert entry.province_skew is None or len(entry.province_skew) == 1
        assert entry.province_skew_evidence.strip()  # one line: why we believe it (or why no skew is known)
    loaded = {recognizer.name: recognizer.province_skew for recognizer, _, _ in engines["plates"].opinions}
    assert loaded == {name: entries()[name].province_skew for name in recognisers}
