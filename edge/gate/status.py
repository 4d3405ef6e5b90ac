"""What a gate says about itself in its retained status (``P/<gate>/status``, DESIGN 4).

Its cameras and barriers, its registry (the office's replica, or the local one), the last seq of its
events and of its alerts (so peers and the office see a gap at the end of a stream too), its parking
lot's capacity and occupancy (the office and the checks see whether the gates agree on the lot), its
storage state and its clock's offset. A part that cannot be read from the database is left out and
told to the storage guard: the status still goes out.
"""

from __future__ import annotations

from edge.store import StorageFailure


class GateStatus:
    def __init__(self, store, storage, clockwatch, guard, *, cameras, barriers: dict, replica=None, gate=None):
        self.store = store
        self.storage = storage  # edge.durable.storage: seq announced, storage state
        self.clockwatch = clockwatch
        self.guard = guard
        self.cameras = cameras
        self.barriers = barriers
        self.replica = replica  # site mode: the office's registry
        self.gate = gate  # its parking lot (None: not started yet)

    def payload(self) -> dict:
        """The status's gate-specific fields (the link adds state, ts and its outbox's depth)."""
        status = {"cameras": {c.id: c.stats() for c in self.cameras},
                  "barriers": {b.id: b.health() for b in self.barriers.values()}}
        parts = {
            "registry": lambda: self.replica.status() if self.replica else self._local_registry(),
            "seq": self.storage.announced_seq,  # peers see a gap at the end of our stream too
            "alert_seq": self.store.alert_log.last_seq,  # the office, at the end of our alert stream
            # capacity and occupied: the office and our checks see whether the gates agree on the lot
            "parking": lambda: self.gate.parking.status() if self.gate else None,
        }
        for name, part in parts.items():
            try:
                value = part()
            except StorageFailure as exc:  # the status still goes out, without what cannot be read
                self.guard.failed(exc, reading=True)
                continue
            if value is not None:
                status[name] = value
        status.update(self.storage.status())  # "storage": {"state": ok | degraded | unavailable, …}
        status.update(self.clockwatch.status())  # clock_offset_s and whether the time is confirmed
        return status

    def _local_registry(self) -> dict:
        return {"source": "local", "people": self.store.people.count(), "vehicles": self.store.vehicles.count(),
                "synced": True}
