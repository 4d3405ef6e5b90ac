"""Retention: what a database (the gate's or the office's) deletes once it is older than it is kept.

One rule for both services, which differ only in how long they keep things (``retention.events_days``,
how long a sent message stays in the outbox, whether stranger snapshots are kept): an event whose
message the broker has not taken is never deleted, nor an unsent outbox row, nor an open alert.
"""

from __future__ import annotations


def delete_expired(store, now: float, *, keep_s: float, sent_keep_s: float,
                   snapshots_keep_s: float | None = None) -> dict[str, int]:
    """In one transaction: events, the alert log and cleared alerts older than ``keep_s``; sent outbox rows
    older than ``sent_keep_s``; stranger snapshots older than ``snapshots_keep_s`` (None: none kept here);
    refused peer events (``quarantine``) past ``keep_s`` or Quarantine.KEEP_DAYS, whichever comes first,
    and at most its MAX_ROWS; notifications (the office's) sent or given up before ``keep_s``, never one still
    to go. Returns how many rows of each were deleted."""
    cutoff = now - keep_s
    snapshots = 0
    with store.transaction():
        events = store.events.delete_before(cutoff)
        store.alert_log.delete_before(cutoff)  # alerts as published: replayed while retention keeps them
        alerts = store.alerts.delete_cleared_before(cutoff)
        sent = store.outbox.prune(now - sent_keep_s)
        if snapshots_keep_s is not None:
            snapshots = store.events.delete_snapshots_before(now - snapshots_keep_s)
        quarantine = store.quarantine.prune(max(cutoff, now - store.quarantine.KEEP_DAYS * 86400))
        notifications = store.notifications.delete_done_before(cutoff)
    return {"events": events, "alerts": alerts, "outbox": sent, "snapshots": snapshots, "quarantine": quarantine,
            "notifications": notifications}
