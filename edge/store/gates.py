"""The office's view of each gate: the ``gate_status`` table (its last retained status, when heard)."""

from __future__ import annotations

import json

from edge.contract import dumps


class GateStatus:
    def __init__(self, store):
        self._store = store

    def heard(self, gate: str, received_epoch: float, status: dict | None = None) -> None:
        """Note that ``gate`` spoke (an event, an alert or its status, which is then stored too)."""
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
            [gate, status.get("state"), None, received_epoch, dumps(status)])

    def all(self) -> dict[str, dict]:
        rows = self._store.rows("SELECT gate, state, received_epoch, payload FROM gate_status ORDER BY gate")
        return {r["gate"]: {"state": r["state"], "received_epoch": r["received_epoch"],
                            "status": json.loads(r["payload"])} for r in rows}
