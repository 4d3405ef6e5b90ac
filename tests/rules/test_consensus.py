"""Multi-frame consensus: min hits within a window, one decision per passage."""

from edge.rules.consensus import Consensus


def test_needs_min_hits_within_the_window():
    c = Consensus(min_hits=2, window_s=3.0, cooldown_s=10.0)
    assert c.add("in", 7, 0.0) is None
    assert c.add("in", 7, 5.0) is None  # the first hit fell out of the window
    agreed = c.add("in", 7, 6.0)
    assert agreed is not None and agreed.key == 7 and len(agreed.observations) == 2


def test_one_decision_per_passage_while_the_person_stays():
    c = Consensus(min_hits=2, window_s=3.0, cooldown_s=5.0)
    decisions = [c.add("in", 7, t * 0.5) for t in range(60)]  # 30 s in front of the camera
    assert sum(d is not None for d in decisions) == 1


def test_a_new_passage_after_the_cooldown():
    c = Consensus(min_hits=1, window_s=3.0, cooldown_s=5.0)
    assert c.add("in", 7, 0.0) is not None
    assert c.add("in", 7, 4.0) is None
    assert c.add("in", 7, 20.0) is not None


def test_lanes_and_keys_are_separate():
    c = Consensus(min_hits=2, window_s=3.0, cooldown_s=5.0)
    assert c.add("in", 7, 0.0) is None
    assert c.add("out", 7, 0.5) is None
    assert c.add("in", 8, 0.6) is None
    assert c.add("in", 7, 1.0) is not None


def test_expire_forgets_old_state():
    c = Consensus(min_hits=2, window_s=1.0, cooldown_s=1.0)
    c.add("in", 7, 0.0)
    c.add("in", 8, 0.0)
    c.add("in", 8, 0.1)
    c.expire(10.0)
    assert not c._hits and not c._passage
