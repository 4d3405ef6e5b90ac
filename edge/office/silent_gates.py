"""Which gates the office has not heard from, and the ``gate:<name>`` device alert that says so.

A gate is silent when it has not been heard for ``gate_silent_after_s``, was never heard, or its last
will said ``offline``. Silence is measured on the monotonic clock while this process runs, so a wall-clock
jump (or the demo's fast-forward) never makes every gate "silent"; the archived time of a gate's last
message is used only until it is first heard after a start. A gate counts as heard as soon as a message
of its arrives, before anything is written: a database that cannot be written never makes it look silent.
"""

from __future__ import annotations

import time

from edge.schemas.phrases import say


class SilentGates:
    def __init__(self, config, store, alerts, *, clock, monotonic=time.monotonic):
        self.config = config
        self.store = store
        self.alerts = alerts
        self.clock = clock
        self.monotonic = monotonic
        self._heard_mono: dict[str, float] = {}  # gate → self.monotonic() at its last message

    def note(self, gate: str) -> None:
        """A message of ``gate`` arrived (nothing written yet)."""
        self._heard_mono[gate] = self.monotonic()

    def heard(self, gate: str, now: float, status: dict | None = None, *, problem: str | None = None) -> None:
        """Noted, then written down (in the caller's transaction) with its status if it was one."""
        self.note(gate)  # first: a write that fails never makes a gate "silent"
        self.store.gates.heard(gate, now, status, problem=problem)

    def silence_s(self, gate: str) -> float | None:
        """How long ``gate`` has not been heard (None: never)."""
        if gate in self._heard_mono:
            return self.monotonic() - self._heard_mono[gate]
        last = self.store.gates.all().get(gate, {}).get("received_epoch")
        return None if last is None else max(0.0, self.clock() - last)

    def silent(self, gate: str) -> bool:
        """The one test of a silent gate (the alert, the replay on its behalf, the console's list)."""
        seen = self.store.gates.all().get(gate, {})
        age = self.silence_s(gate)
        return age is None or seen.get("state") == "offline" or age > self.config.gate_silent_after_s

    def check(self) -> None:
        """Raise ``gate:<name>`` for each silent gate, clear it for each heard again (a job)."""
        heard = self.store.gates.all()
        for gate in self.config.gates:
            age = self.silence_s(gate)
            offline = heard.get(gate, {}).get("state") == "offline"
            if self.silent(gate):
                why = say("gate_offline", gate=gate) if offline else (
                    say("gate_never_heard", gate=gate) if age is None else say("gate_silent", gate=gate, seconds=age))
                self.alerts.device(f"gate:{gate}", False, why)
            else:
                self.alerts.device(f"gate:{gate}", True, say("gate_back", gate=gate))
