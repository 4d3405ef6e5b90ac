"""Voting over frames (edge/rules/plate_vote.py): a passage is decided only once enough readings agree on
the text (issue 31: one frame's misread letter was carried by the position vote)."""

from __future__ import annotations

from edge.rules.plate_vote import AGREEING_HITS, PlateVoter

# One car, four frames: the first reads the Q as 0 and is the surest; the next three read it right.
FRAMES = [("皖A65801", 0.95), ("皖A658Q1", 0.85), ("皖A658Q1", 0.9), ("皖A658Q1", 0.9)]


def _decisions(voter):
    return [voter.add("in", text, (conf,) * 7, ts=i * 0.2) for i, (text, conf) in enumerate(FRAMES)]


def test_one_misread_frame_is_not_carried_by_the_vote():
    decided = [(i, d.text) for i, d in enumerate(_decisions(PlateVoter(2, 0.8, 4.0, 20.0))) if d]
    assert AGREEING_HITS == 2
    assert decided == [(2, "皖A658Q1")]  # two readings of exactly the voted text: a frame later, and right
    three = PlateVoter(2, 0.8, 4.0, 20.0, agreeing_hits=3)
    assert [(i, d.text) for i, d in enumerate(_decisions(three)) if d] == [(3, "皖A658Q1")]


def test_without_agreeing_hits_the_position_vote_decides_alone_as_before():
    decided = [(i, d.text) for i, d in enumerate(_decisions(PlateVoter(2, 0.8, 4.0, 20.0, agreeing_hits=0))) if d]
    assert decided == [(1, "皖A65801")]  # the surest frame's 0 outweighs the Q: wrong


def test_readings_that_never_agree_decide_nothing():
    voter = PlateVoter(2, 0.8, 4.0, 20.0)
    texts = ["皖A65801", "皖A658Q1", "皖A658D1", "皖A65811"]
    assert all(voter.add("in", t, (0.95,) * 7, ts=i * 0.2) is None for i, t in enumerate(texts))
