"""Which seqs to ask a peer for again (``req/replay``), for one stream: its events or its alerts.

The progress of each peer (``store.peers`` for events, ``store.alert_peers`` for alerts) says up to where
nothing is missing and the highest seq seen or announced in a status. A gap still open after GAP_WAIT_S
is asked for; a request covers at most ``size`` seqs, adapted per peer like a window: doubled while
answers arrive whole, halved when the broker cut one short (its queue for us is limited), so replays
never overflow it again.
"""

from __future__ import annotations

import time

GAP_WAIT_S = 2.0  # a gap may close by itself (out of order in flight): ask only after this long
QUIET_S = 0.5  # nothing from that peer for this long: the answer to our last request is complete
ASK_TIMEOUT_S = 5.0  # the answer is taking this long: judge it anyway (it may have been lost)
FIRST_ASK, MIN_ASK, REPLAY_LIMIT = 200, 20, 1000  # seqs asked for at once: the window's start and bounds


class Gaps:
    def __init__(self, store, progress, clock=time.time):
        self.store = store
        self.progress = progress  # a PeerProgress (edge.store.peer_progress)
        self.clock = clock
        self._asks: dict[str, dict] = {}  # gate -> the last replay request (first, last, size, at)
        self._arrived: dict[str, float] = {}  # gate -> when its last message of this stream arrived

    def arrived(self, gate: str) -> None:
        self._arrived[gate] = time.monotonic()

    def to_ask(self, now: float | None = None) -> list[tuple[str, int, int]]:
        """(gate, from_seq, to_seq) for each peer with a gap to ask for now."""
        now = self.clock() if now is None else now
        asks = []
        for row in self.progress.all():
            gate = row["gate"]
            if row["contiguous"] >= row["highest"] or row["gap_since_epoch"] is None:
                self._asks.pop(gate, None)
                continue
            if now - row["gap_since_epoch"] < GAP_WAIT_S:
                continue  # may close by itself: messages in flight arrive out of order
            last_ask = self._asks.get(gate)
            if last_ask is not None:
                quiet = time.monotonic() - self._arrived.get(gate, 0.0) > QUIET_S
                if not quiet and time.monotonic() - last_ask["at"] < ASK_TIMEOUT_S:
                    continue  # the answer is still arriving
                still = [s for s in self.progress.missing(gate, last_ask["size"])
                         if last_ask["first"] <= s <= last_ask["last"]]
                size = last_ask["size"]
                size = max(MIN_ASK, size // 2) if still else min(REPLAY_LIMIT, size * 2)
            else:
                size = FIRST_ASK
            missing = self.progress.missing(gate, 1)
            if not missing:
                continue
            first = missing[0]
            last = min(first + size - 1, row["highest"] - 1)
            self._asks[gate] = {"first": first, "last": last, "size": size, "at": time.monotonic()}
            asks.append((gate, first, last))
        return asks

    def status_seen(self, gate: str, seq, skipped=None) -> None:
        """A peer's status names its newest seq of this stream (a gap at its end is seen too) and the
        seqs it skipped, if any (never used, so never asked for)."""
        ranges = [r for r in (skipped or []) if isinstance(r, list) and len(r) == 2
                  and all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in r) and r[0] <= r[1]]
        if ranges:
            with self.store.transaction():
                self.progress.skip(gate, ranges, self.clock())
        if isinstance(seq, int) and not isinstance(seq, bool) and seq > 0:
            with self.store.transaction():
                self.progress.announced(gate, seq, self.clock())

    def after_session_lost(self) -> list[tuple[str, int, None]]:
        """Our broker session was lost: ask every known peer for everything after what we have."""
        return [(row["gate"], row["highest"] + 1, None) for row in self.progress.all()]

    def asked(self, gate: str) -> None:
        with self.store.transaction():
            self.progress.asked(gate, self.clock())
