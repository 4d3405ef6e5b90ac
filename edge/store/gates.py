"""The office's view of each gate: the ``gate_status`` table (its last retained status, when heard), only
ever as ``contract.parse_status`` reads it: a status that breaks the contract is shown as ``unreadable``."""

from __future__ import annotations

import json

from edge.contract import Refused, dumps, parse_status

UNREADABLE = "unreadable"  # the state of a gate whose last status broke the contract (contract.parse_status)


class GateStatus:
    def __init__(self, store):
        self._store = store

    def heard(self, gate: str, received_epoch: float, status: dict | None = None, *,
              problem: str | None = None) -> None:
        """Note that ``gate`` spoke (an event, an alert or its status, which is then stored too). ``status``
        has passed ``contract.parse_status``; ``problem``: why the status it sent could not be read (the
        gate is shown as unreadable until its next good status; the payload itself is not kept)."""
        if problem is not None:
            status = {"state": UNREADABLE, "problem": problem[:300]}
        if status is None:
            self._store.execute(
                "INSERT INTO gate_status(gate, received_epoch, payload) VALUES (?, ?, '{}') "
                "ON CONFLICT(gate) DO UPDATE SET received_epoch = max(received_epoch, excluded.received_epoch)",
                [gate, received_epoch])
            return
        self._store.execute(
            "INSERT INTO gate_status(gate, state, ts_epoch, received_epoch, payload) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT(gate) DO UPDATE SET state = excluded.state, ts_epoch = excluded.ts_epoch, "
            "received_epoch = max(received_epoch, excluded.received_epoch), payload = excluded.payload",
            [gate, status["state"], None, received_epoch, dumps(status)])

    def all(self) -> dict[str, dict]:
        """{gate: {"state", "received_epoch", "status", "problem"}}: ``status`` as the contract reads it ({} when
        none was heard or it was unreadable; a row stored by an earlier version is checked here again)."""
        rows = self._store.rows("SELECT gate, state, received_epoch, payload FROM gate_status ORDER BY gate")
        out = {}
        for r in rows:
            state, status, problem = r["state"], json.loads(r["payload"]), None
            if state == UNREADABLE:
                status, problem = {}, status.get("problem") or "unreadable"
            elif status:
                try:
                    status = parse_status(status)
                except Refused as exc:
                    state, status, problem = UNREADABLE, {}, str(exc)
            out[r["gate"]] = {"state": state, "received_epoch": r["received_epoch"], "status": status,
                              "problem": problem}
        return out
