"""Notifications at the office (DESIGN 7): ``notify_messages``, ``notify_alerts``, ``notify_channels``.

A message is one text to one recipient for one step of one alert, queued in the transaction that archives
the alert or reaches the step; ``(alert_id, step, recipient)`` is unique, so queuing it twice is harmless.
Its id is made once and kept through every retry and restart. States::

    queued --claim--> sending --sent--> sent
      ^                  |
      +---failed(next)---+--failed(None)--> failed        (requeue_sending at start: sending -> queued)

A message caught ``sending`` when the office stopped is the only one that may go twice, with the same id.
An alert row holds its short code (what an SMS reply acknowledges by), the steps reached and who
acknowledged; a channel row counts the channel's consecutive failures and keeps its last result.
"""

from __future__ import annotations

import json
import secrets
import uuid

from edge.contract import dumps

# Kinds that wait behind every other due message of their channel: a resident's login code (the portal)
# never delays a care-watch alert on the modem.
BEHIND = ("portal_code",)

# Six characters a person reads off a phone and types back: no 0/O, 1/I/L look-alikes.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def _message(row: dict | None) -> dict | None:
    if row is not None:
        row = {**row, "payload": json.loads(row["payload"])}
    return row


class NotificationRows:
    def __init__(self, store):
        self._store = store

    # -- messages --------------------------------------------------------------------------
    def queue(self, alert_id: str, kind: str, step: str | int, recipient: str, channel: str, address: str | None,
              text: str, payload: dict, now: float, *, due_epoch: float | None = None) -> str | None:
        """Queue one message, due at once (or at ``due_epoch``: a device notice in quiet hours); its id, or
        None when (alert_id, step, recipient) is already queued (whatever its state). Call it inside the
        transaction that decides the message is owed."""
        message_id = str(uuid.uuid4())
        cursor = self._store.execute(
            "INSERT OR IGNORE INTO notify_messages(message_id, alert_id, kind, step, recipient, channel, address, "
            "text, payload, next_try_epoch, created_epoch) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [message_id, alert_id, kind, str(step), recipient, channel, address, text, dumps(payload),
             now if due_epoch is None else max(now, due_epoch), now])
        return message_id if cursor.rowcount == 1 else None

    def get(self, message_id: str) -> dict | None:
        return _message(self._store.row("SELECT * FROM notify_messages WHERE message_id = ?", (message_id,)))

    def due(self, now: float, limit: int = 100, *, channels=None) -> list[dict]:
        """Queued messages whose time has come, oldest due first, the kinds in ``BEHIND`` after all others;
        ``channels``: only these channels."""
        sql, params = "SELECT * FROM notify_messages WHERE state = 'queued' AND next_try_epoch <= ?", [now]
        if channels is not None:
            names = sorted(channels)
            if not names:
                return []
            sql += f" AND channel IN ({','.join('?' * len(names))})"
            params += names
        sql += f" ORDER BY kind IN ({','.join('?' * len(BEHIND))}), next_try_epoch, created_epoch, rowid LIMIT ?"
        return [_message(r) for r in self._store.rows(sql, [*params, *BEHIND, limit])]

    def next_due_epoch(self, channel: str | None = None) -> float | None:
        """When the earliest queued message (of ``channel``) is due, None: nothing queued (how long a worker
        may sleep)."""
        if channel is None:
            return self._store.scalar("SELECT min(next_try_epoch) FROM notify_messages WHERE state = 'queued'")
        return self._store.scalar("SELECT min(next_try_epoch) FROM notify_messages WHERE state = 'queued' "
                                  "AND channel = ?", [channel])

    def forget_texts(self, kind: str, before_epoch: float, text: str) -> int:
        """Messages of ``kind`` queued before ``before_epoch`` keep ``text`` instead of their own (a login code
        past its use); one still queued is given up (state failed, error ``expired``); one being sent is left
        to its worker. How many changed."""
        rows = self._store.rows(
            "UPDATE notify_messages SET text = ?, payload = json_set(payload, '$.text', ?), "
            "error = CASE state WHEN 'queued' THEN 'expired' ELSE error END, "
            "state = CASE state WHEN 'queued' THEN 'failed' ELSE state END "
            "WHERE kind = ? AND created_epoch < ? AND state != 'sending' AND text != ? RETURNING message_id",
            [text, text, kind, before_epoch, text])
        return len(rows)

    def forget_text(self, message_id: str, text: str) -> bool:
        """One message keeps ``text`` instead of its own, once sent (a login code just used)."""
        return self._store.execute(
            "UPDATE notify_messages SET text = ?, payload = json_set(payload, '$.text', ?) "
            "WHERE message_id = ? AND state IN ('sent', 'failed')", [text, text, message_id]).rowcount == 1

    def queued_channels(self) -> set[str]:
        """The channels that have messages queued (the worker gives up those of a channel no longer configured)."""
        return {r["channel"] for r in self._store.rows(
            "SELECT DISTINCT channel FROM notify_messages WHERE state IN ('queued', 'sending')")}

    def give_up_channel(self, channel: str, error: str) -> int:
        """Every queued message of ``channel`` failed with ``error`` (the channel is not configured any more)."""
        return self._store.execute("UPDATE notify_messages SET state = 'failed', error = ? WHERE channel = ? "
                                   "AND state IN ('queued', 'sending')", [error, channel]).rowcount

    def claim(self, message_id: str) -> dict | None:
        """queued → sending, one more attempt; the claimed message, or None when it was not queued (another
        worker took it, or it was sent meanwhile)."""
        row = self._store.rows(
            "UPDATE notify_messages SET state = 'sending', attempts = attempts + 1 "
            "WHERE message_id = ? AND state = 'queued' RETURNING *", (message_id,))
        return _message(row[0]) if row else None

    def sent(self, message_id: str, now: float) -> None:
        self._store.execute("UPDATE notify_messages SET state = 'sent', sent_epoch = ?, error = NULL "
                            "WHERE message_id = ?", [now, message_id])

    def failed(self, message_id: str, error: str, next_try_epoch: float | None) -> None:
        """A try failed: queued again for ``next_try_epoch``, or (None) given up: state ``failed``.
        A message already sent stays sent."""
        if next_try_epoch is None:
            self._store.execute("UPDATE notify_messages SET state = 'failed', error = ? "
                                "WHERE message_id = ? AND state != 'sent'", [error, message_id])
        else:
            self._store.execute("UPDATE notify_messages SET state = 'queued', error = ?, next_try_epoch = ? "
                                "WHERE message_id = ? AND state != 'sent'", [error, next_try_epoch, message_id])

    def requeue_sending(self) -> list[str]:
        """At start: messages a stop caught ``sending`` go again (same id, due at once: their try counted).
        The ids requeued."""
        rows = self._store.rows("UPDATE notify_messages SET state = 'queued' WHERE state = 'sending' "
                                "RETURNING message_id")
        return sorted(r["message_id"] for r in rows)

    def for_alert(self, alert_id: str) -> list[dict]:
        return [_message(r) for r in self._store.rows(
            "SELECT * FROM notify_messages WHERE alert_id = ? ORDER BY created_epoch, rowid", (alert_id,))]

    def recent(self, limit: int = 100, *, alert_id: str | None = None) -> list[dict]:
        """The newest messages first (all alerts, or one)."""
        sql, params = "SELECT * FROM notify_messages", []
        if alert_id is not None:
            sql, params = sql + " WHERE alert_id = ?", [alert_id]
        return [_message(r) for r in self._store.rows(
            sql + " ORDER BY created_epoch DESC, rowid DESC LIMIT ?", [*params, limit])]

    def of_alerts(self, alert_ids) -> dict[str, dict]:
        """For each of ``alert_ids`` that has any: {"alert": its notify_alerts row or None, "messages": its
        messages in the order queued} (the console's alerts page, in two queries)."""
        ids = sorted(set(alert_ids))
        found: dict[str, dict] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._store.rows(f"SELECT * FROM notify_alerts WHERE alert_id IN ({marks})", chunk):
                found.setdefault(row["alert_id"], {"alert": None, "messages": []})["alert"] = row
            for row in self._store.rows(f"SELECT * FROM notify_messages WHERE alert_id IN ({marks}) "
                                        "ORDER BY created_epoch, rowid", chunk):
                found.setdefault(row["alert_id"], {"alert": None, "messages": []})["messages"].append(_message(row))
        return found

    def recipients_told(self, alert_id: str, *, kinds=None) -> list[str]:
        """Everyone a message of this alert was queued for (sent or still to go: they will have read it by
        the time an acknowledgement reaches them), in the order first queued; ``kinds``: only messages of
        these kinds (the alert's own steps, not its ack or cleared notices)."""
        sql, params = "SELECT recipient, min(rowid) AS first FROM notify_messages WHERE alert_id = ?", [alert_id]
        if kinds is not None:
            names = sorted(kinds)
            sql += f" AND kind IN ({','.join('?' * len(names))})"
            params += names
        rows = self._store.rows(sql + " GROUP BY recipient ORDER BY first", params)
        return [r["recipient"] for r in rows]

    def counts(self) -> dict[str, int]:
        """Messages per state (the office's status)."""
        rows = self._store.rows("SELECT state, count(*) AS n FROM notify_messages GROUP BY state")
        return {r["state"]: r["n"] for r in rows}

    # -- alerts people are told about ------------------------------------------------------
    def open_alert(self, alert_id: str, kind: str, code: str | None, person_id: int | None,
                   raised_epoch: float) -> dict:
        """The alert's row, made open (with ``code``, or a new unused code when None) unless it exists."""
        found = self.get_alert(alert_id)
        if found is not None:
            return found
        while code is None or self.by_code(code) is not None:
            code = new_code()
        self._store.execute("INSERT INTO notify_alerts(alert_id, kind, code, person_id, raised_epoch) "
                            "VALUES (?, ?, ?, ?, ?)", [alert_id, kind, code.upper(), person_id, raised_epoch])
        return self.get_alert(alert_id)

    def get_alert(self, alert_id: str) -> dict | None:
        return self._store.row("SELECT * FROM notify_alerts WHERE alert_id = ?", (alert_id,))

    def by_code(self, code: str) -> dict | None:
        """The alert with this short code (as typed in an SMS reply: case and spaces do not matter)."""
        return self._store.row("SELECT * FROM notify_alerts WHERE code = ?", ("".join(code.split()).upper(),))

    def set_steps_done(self, alert_id: str, steps_done: int) -> None:
        self._store.execute("UPDATE notify_alerts SET steps_done = ? WHERE alert_id = ?", [steps_done, alert_id])

    def ack(self, alert_id: str, by: str, note: str | None, via: str, now: float) -> bool:
        """Acknowledge an open alert; False when it was not open (already acknowledged, cleared, unknown)."""
        return self._store.execute(
            "UPDATE notify_alerts SET state = 'acked', acked_by = ?, ack_note = ?, ack_via = ?, acked_epoch = ? "
            "WHERE alert_id = ? AND state = 'open'", [by, note, via, now, alert_id]).rowcount == 1

    def clear(self, alert_id: str, now: float) -> bool:
        """The alert cleared (acknowledged or not: no more steps); False when already cleared or unknown."""
        return self._store.execute(
            "UPDATE notify_alerts SET state = 'cleared', cleared_epoch = ? WHERE alert_id = ? AND state != 'cleared'",
            [now, alert_id]).rowcount == 1

    def open_alerts(self, kind: str | None = None) -> list[dict]:
        sql, params = "SELECT * FROM notify_alerts WHERE state = 'open'", []
        if kind is not None:
            sql, params = sql + " AND kind = ?", [kind]
        return self._store.rows(sql + " ORDER BY raised_epoch, rowid", params)

    # -- channel health --------------------------------------------------------------------
    def channel_result(self, channel: str, ok: bool, error: str | None, now: float) -> int:
        """Record a try's result; the channel's consecutive failures after it (0 after a success)."""
        row = self._store.rows(
            "INSERT INTO notify_channels(channel, failures, last_state, last_epoch, last_error) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(channel) DO UPDATE SET "
            "failures = CASE WHEN excluded.failures = 0 THEN 0 ELSE notify_channels.failures + 1 END, "
            "last_state = excluded.last_state, last_epoch = excluded.last_epoch, last_error = excluded.last_error "
            "RETURNING failures",
            [channel, 0 if ok else 1, "sent" if ok else "failed", now, None if ok else error])
        return row[0]["failures"]

    def channels(self) -> list[dict]:
        return self._store.rows("SELECT * FROM notify_channels ORDER BY channel")

    # -- retention -------------------------------------------------------------------------
    def delete_done_before(self, cutoff_epoch: float) -> int:
        """Messages sent or given up before ``cutoff_epoch``, and closed alerts raised before it."""
        n = self._store.execute("DELETE FROM notify_messages WHERE state IN ('sent', 'failed') AND "
                                "created_epoch < ?", [cutoff_epoch]).rowcount
        self._store.execute("DELETE FROM notify_alerts WHERE state != 'open' AND raised_epoch < ? AND alert_id NOT "
                            "IN (SELECT alert_id FROM notify_messages)", [cutoff_epoch])
        return n
