"""The one lock order of a gate and the office, and its checker (issue 26: a lock-order deadlock).

Every lock that is held while another is taken is made here by name, and may only be taken while
holding locks of a lower rank (the same lock again, when reentrant, is fine):

    decision      10  EventRecorder._lock: one decision of the gate at a time (takes transactions inside)
    replica       20  Replica._lock: one registry batch at a time
    storing       30  StorageGuard._storing: one writer of what waits in memory
    store         40  Store._lock: the connection, every transaction (``edge.store.connection``)
    alerts        50  Alerts._lock: device alerts' memory overlay; always inside a store hold
    memory_queue  60  MemoryQueue._lock: what waits in memory (``edge.durable.memory_queue``)
    seqs          70  Seqs._lock: the event counter

So a thread holding the alerts' lock never waits for a transaction: code that raises a device alert
takes the store first (``Alerts.device`` does it itself). With ``GATE_EDGE_LOCK_ORDER=check`` in the
environment (the tests set it) each lock records who holds it per thread and taking one out of order
raises ``LockOrderError`` at once, whether or not another thread would have deadlocked this time;
otherwise these are plain ``threading`` locks, at no cost.
"""

from __future__ import annotations

import os
import threading

RANKS = {"decision": 10, "replica": 20, "storing": 30, "store": 40, "alerts": 50, "memory_queue": 60, "seqs": 70}


class LockOrderError(RuntimeError):
    """A lock taken while holding one that must come after it: a deadlock waiting to happen."""


_held = threading.local()  # .stack: the ordered locks this thread holds, in the order taken


def checking() -> bool:
    return os.environ.get("GATE_EDGE_LOCK_ORDER") == "check"


def ordered_lock(name: str, *, reentrant: bool = False):
    """The lock of ``name`` (one of RANKS): checked when ``checking()``, else a plain lock."""
    if name not in RANKS:
        raise ValueError(f"no rank for lock {name!r}: add it to edge.locks.RANKS")
    if not checking():
        return threading.RLock() if reentrant else threading.Lock()
    return _CheckedLock(name, reentrant)


class _CheckedLock:
    def __init__(self, name: str, reentrant: bool):
        self.name = name
        self.rank = RANKS[name]
        self._lock = threading.RLock() if reentrant else threading.Lock()
        self._reentrant = reentrant

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        stack = _stack()
        if not (self._reentrant and self in stack):
            wrong = [h for h in stack if h is not self and h.rank >= self.rank and h.name != self.name]
            if wrong:
                raise LockOrderError(f"lock {self.name!r} (rank {self.rank}) taken while holding "
                                     f"{wrong[-1].name!r} (rank {wrong[-1].rank}): see edge.locks for the order")
        got = self._lock.acquire(blocking, timeout)
        if got:
            stack.append(self)
        return got

    def release(self) -> None:
        stack = _stack()
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is self:
                del stack[i]
                break
        self._lock.release()

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _stack() -> list:
    stack = getattr(_held, "stack", None)
    if stack is None:
        stack = _held.stack = []
    return stack
