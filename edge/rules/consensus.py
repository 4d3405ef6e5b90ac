"""Multi-frame consensus: a decision needs ``min_hits`` agreeing frames within ``window_s`` for the same
lane, and one subject makes one decision per passage.

A passage lasts while the subject keeps being seen: after a decision, further sightings of the same
key in the same lane are absorbed until it has been unseen for ``cooldown_s``. Keys are whatever the
caller says identifies a subject: a person id, a plate, a pass id, a stranger cluster.

Times (``ts``) are the frames' monotonic stamps (``Frame.mono``, ``Shot.mono``), never the wall clock: a
wall-clock jump (a real one, or the demo's simulated clock moving) must not end a passage.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass
class Agreed:
    """What consensus hands on: the key, the lane, and the observations that agreed."""

    lane: str
    key: object
    observations: list = field(default_factory=list)


class Consensus:
    def __init__(self, min_hits: int, window_s: float, cooldown_s: float):
        self.min_hits = min_hits
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self._hits: dict[tuple, deque] = defaultdict(deque)  # (lane, key) -> (ts, observation)
        self._passage: dict[tuple, float] = {}  # (lane, key) -> last time seen after its decision

    def add(self, lane: str, key, ts: float, observation=None) -> Agreed | None:
        """Record one frame's observation; return Agreed the first time the key reaches ``min_hits``."""
        slot = (lane, key)
        last = self._passage.get(slot)
        if last is not None:
            if ts - last <= self.cooldown_s:
                self._passage[slot] = ts  # still the same passage: the person is still there
                return None
            del self._passage[slot]
        hits = self._hits[slot]
        hits.append((ts, observation))
        while hits and ts - hits[0][0] > self.window_s:
            hits.popleft()
        if len(hits) < self.min_hits:
            return None
        agreed = Agreed(lane, key, [obs for _, obs in hits])
        del self._hits[slot]
        self._passage[slot] = ts
        return agreed

    def expire(self, ts: float) -> None:
        """Forget stale hits and finished passages (call now and then; keeps memory flat)."""
        for slot in [s for s, hits in self._hits.items() if not hits or ts - hits[-1][0] > self.window_s]:
            del self._hits[slot]
        for slot in [s for s, last in self._passage.items() if ts - last > self.cooldown_s]:
            del self._passage[slot]
