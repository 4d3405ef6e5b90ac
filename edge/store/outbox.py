"""The outbox: every message for the broker is a row first, published in order, marked sent on PUBACK.

The publish pump (``edge.site.publish_pump``) reads it with the verbs it shares with the memory queue:
``unsent``, ``mark_sent``, ``mark_failed``, ``depth``.

Rows are written inside the caller's transaction (the same one as the decision and the event), so a
decision is never recorded without its message or the other way round. Sent rows are pruned by
retention; unsent rows never are.

A row may be written ``held``: an event whose barrier pulse is still under way (the gate commits the
event first and pulses after). It is published once ``release`` has written the pulse's result into it;
nothing behind a held row is handed out before it, so messages keep their order.
"""

from __future__ import annotations

import json
import time
import uuid

from edge.contract import dumps


class Outbox:
    def __init__(self, store):
        self._store = store

    def enqueue(self, topic: str, payload: dict, *, msg_id: str | None = None, retain: bool = False, qos: int = 1,
                now: float | None = None, held: bool = False, sent_epoch: float | None = None) -> str:
        """Add a message (inside the caller's transaction, if any); returns its id. A repeated id is ignored.
        ``held``: not published until ``release(msg_id, …)``; ``sent_epoch``: already published (a message
        the gate sent straight from memory while it could not write, stored once it can)."""
        msg_id = msg_id or str(uuid.uuid4())
        self._store.execute(
            "INSERT OR IGNORE INTO outbox(msg_id, topic, payload, qos, retain, created_epoch, held, sent_epoch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [msg_id, topic, dumps(payload), qos, int(retain), time.time() if now is None else now, int(held),
             sent_epoch],
        )
        return msg_id

    def release(self, msg_id: str, payload: dict, sent_epoch: float | None = None) -> None:
        """A held row's final payload: it may be published now (inside the caller's transaction, if any);
        ``sent_epoch``: it already was, straight from memory."""
        self._store.execute("UPDATE outbox SET payload = ?, held = 0, sent_epoch = coalesce(sent_epoch, ?) "
                            "WHERE msg_id = ?", [dumps(payload), sent_epoch, msg_id])

    def held(self) -> list[dict]:
        """Held rows, oldest first, with the payload decoded (a restart finds those of an interrupted pulse)."""
        rows = self._store.rows("SELECT seq, msg_id, topic, payload FROM outbox WHERE held = 1 ORDER BY seq")
        return [{**row, "payload": json.loads(row["payload"])} for row in rows]

    def unsent(self, limit: int = 100, skip=()) -> list[dict]:
        """The next unsent rows, in order, none of ``skip`` (seqs in flight), up to (not including) the first
        held row: seq (also as ``key``, the publish pump's name for it), msg_id, topic, payload, qos, retain."""
        return self._store.rows(
            "SELECT seq AS key, seq, msg_id, topic, payload, qos, retain FROM outbox "
            "WHERE sent_epoch IS NULL AND seq NOT IN (SELECT value FROM json_each(?)) "
            "AND seq < coalesce((SELECT min(seq) FROM outbox WHERE held = 1), 9223372036854775807) "
            "ORDER BY seq LIMIT ?",
            (json.dumps(sorted(skip)), limit),
        )

    def depth(self) -> int:
        """How many rows wait for the broker (held ones included)."""
        return self._store.scalar("SELECT count(*) FROM outbox WHERE sent_epoch IS NULL")

    def mark_sent(self, seqs: list[int], now: float | None = None) -> None:
        """The broker took them (PUBACK), in one transaction."""
        if not seqs:
            return
        now = time.time() if now is None else now
        with self._store.transaction():
            self._store.executemany("UPDATE outbox SET sent_epoch = ?, last_error = NULL WHERE seq = ?",
                                    [(now, s) for s in seqs])

    def mark_failed(self, seq: int, error: str) -> None:
        """The broker refused it: counted, with why (published again later)."""
        with self._store.transaction():
            self._store.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?", [error, seq])

    def supersede(self, topic: str) -> int:
        """Delete every row for ``topic``, sent or not: called before a newer retained record for it is
        queued (only the newest is the state; an erased person's face templates must not stay here)."""
        return self._store.execute("DELETE FROM outbox WHERE topic = ?", [topic]).rowcount

    def prune(self, older_than_epoch: float) -> int:
        """Delete sent rows older than the cut-off; unsent rows stay whatever their age."""
        with self._store.transaction():
            return self._store.execute(
                "DELETE FROM outbox WHERE sent_epoch IS NOT NULL AND sent_epoch < ?", [older_than_epoch]).rowcount

    def messages(self, *, unsent_only: bool = False) -> list[dict]:
        """Rows in order, with the payload decoded: seq, msg_id, topic, payload, sent_epoch, last_error."""
        where = "WHERE sent_epoch IS NULL " if unsent_only else ""
        rows = self._store.rows(f"SELECT seq, msg_id, topic, payload, sent_epoch, last_error FROM outbox {where}"
                                "ORDER BY seq")
        return [{**row, "payload": json.loads(row["payload"])} for row in rows]
