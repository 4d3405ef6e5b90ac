"""Storing what waited in memory (``edge.durable.memory_queue``) once the database can be written again.

Oldest first, a batch per transaction, each item written as it would have been when it was made:

    event     the event under its seq (the counter moves past it), its outbox row (sent, when it was
              published from memory), and what it changes: the sightings it noted and the care-watch
              alert it clears, and its parking transition, applied from the payload as a peer applies
              it (``Parking.apply_event``), so the session table ends as if storage had never failed
    release   the barrier's result of an event stored before the failure: into the event and its held
              outbox row, which may then go (or is marked sent, when the result went from memory)
    alert     a device alert raised or cleared while storage failed: its row and its outbox row
    message   a command's result (or any other message): its outbox row

A stranger's face snapshot is never kept in memory: one made while storage fails is not stored.
"""

from __future__ import annotations

from edge.contract import Refused, dumps, parse_event

BATCH = 50


class Backfill:
    def __init__(self, store, alerts, parking, seqs, gate: str):
        self.store = store
        self.alerts = alerts
        self.parking = parking
        self.seqs = seqs
        self.gate = gate

    def run(self, memory_queue) -> int:
        """Store everything that may be stored now; how many items. Raises ``StorageFailure`` when the
        database still cannot be written (what was stored so far has left the queue)."""
        written = 0
        while True:
            items = memory_queue.ready(BATCH)
            if not items:
                return written
            try:
                with self.store.transaction():
                    for item in items:
                        getattr(self, f"_{item['kind']}")(item)
            except BaseException:
                if self.seqs is not None:  # None: the office (alerts and messages only, no events)
                    self.seqs.rolled_back()
                raise
            if self.seqs is not None:
                self.seqs.committed()
            memory_queue.remove([item["id"] for item in items])
            waiting = memory_queue.devices()
            for device in {i["extra"].get("device") for i in items if i["kind"] == "alert"} - waiting:
                self.alerts.forget(device)
            written += len(items)

    # -- one item of each kind (inside the batch's transaction) ----------------------------
    def _event(self, item: dict) -> None:
        store, payload, sent = self.store, item["payload"], item["published_epoch"]
        if not store.events.has(payload["event_id"]):
            store.events.add_local(payload, item["ts"])
        self.seqs.stored(payload["seq"])
        store.outbox.enqueue(item["topic"], payload, msg_id=item["msg_id"], now=item["ts"], sent_epoch=sent)
        extra, event_id = item["extra"], payload["event_id"]
        if extra.get("person_seen") is not None:
            store.sightings.note(f"person:{extra['person_seen']}", item["ts"], self.gate, event_id)
            self.alerts.person_seen(extra["person_seen"], item["ts"], event_id)
        if extra.get("plate_seen"):
            store.sightings.note(f"plate:{extra['plate_seen']}", item["ts"], self.gate, event_id)
        try:
            event = parse_event(dumps(payload).encode("utf-8"), self.gate)
        except Refused:
            return  # our own payload: cannot happen; nothing to apply
        self.parking.apply_event(event)

    def _release(self, item: dict) -> None:
        payload = item["payload"]
        self.store.events.set_payload(payload["event_id"], payload)
        self.store.outbox.release(item["msg_id"], payload, sent_epoch=item["published_epoch"])

    def _alert(self, item: dict) -> None:
        self.alerts.stored_from_memory(item)  # its row, and its message numbered in the alert stream

    def _message(self, item: dict) -> None:
        self.store.outbox.enqueue(item["topic"], item["payload"], msg_id=item["msg_id"], now=item["ts"],
                                  sent_epoch=item["published_epoch"])
