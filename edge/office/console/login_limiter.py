"""The limit on failed logins (``LoginLimiter``): per user name and per client address, counted before a
password is checked. The console keeps one (``ConsoleContext.limiter``, also ``Console.limiter``)."""

from __future__ import annotations

import time
from collections import deque


class LoginLimiter:
    """At most ``per_user`` failed logins per ``window_s`` for one user name, and ``per_address`` from one
    client address (higher: the lodge's staff share one address).

    A login is counted as a failure *before* its password is checked (``reserve``), and only a right
    password takes its own count back (``succeeded``): so concurrent guesses cannot all be checked before
    the first of them counts, and one right password cannot wipe out the failures of others from the same
    address. A right password also clears its user name's failures (the user has proved who they are)."""

    def __init__(self, per_user: int = 5, per_address: int = 20, window_s: float = 300.0, clock=time.monotonic):
        self.per_user, self.per_address, self.window_s, self.clock = per_user, per_address, window_s, clock
        self._failures: dict[str, deque] = {}

    def _recent(self, key: str) -> deque:
        now = self.clock()
        failures = self._failures.setdefault(key, deque())
        while failures and now - failures[0][0] > self.window_s:
            failures.popleft()
        return failures

    def _limit(self, key: str) -> int:
        return self.per_address if key.startswith("addr:") else self.per_user

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self._limit(k) for k in keys)

    def reserve(self, *keys: str) -> object | None:
        """Count one attempt as failed for every key, before its password is checked: a ticket to hand
        to ``succeeded`` when it was right; None (nothing counted) when a key is already at its limit.
        Runs on the event loop's one thread: the test and the count are one step."""
        if self.blocked(*keys):
            return None
        ticket = (self.clock(), object())
        for key in keys:
            self._recent(key).append(ticket)
        return ticket

    def failed(self, *keys: str) -> None:
        ticket = (self.clock(), object())
        for key in keys:
            self._recent(key).append(ticket)

    def succeeded(self, *keys: str, ticket: object | None = None) -> None:
        """A right password: its own reserved count is taken back; a ``user:`` key is cleared. Without a
        ticket (tests, tools) every key is cleared."""
        for key in keys:
            if ticket is None or key.startswith("user:"):
                self._failures.pop(key, None)
            elif ticket in self._failures.get(key, ()):
                self._failures[key].remove(ticket)
