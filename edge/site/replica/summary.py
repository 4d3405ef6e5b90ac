"""The replica against the office's head: is this copy complete, up to date, and in use (``synced``)?

``complete``: this copy holds exactly what the head record says (counts, newest version and a digest of
every key's version); ``stale``: it still holds records of an earlier epoch (the office was restored from a
backup and published everything again); ``synced``: complete, not stale, and not an adopted gate still
serving from its own registry. The summary reads every record (the digest), so it is kept until the copy
changes (``changed``).
"""

from __future__ import annotations

ID_KEY = "registry_id"  # the registry this copy follows (the head's registry_id)


class SyncSummary:
    def __init__(self, store):
        self.store = store
        self._changes = 0
        self._cached_at = None
        self._cached = None

    def changed(self) -> None:
        """The copy changed: the next summary is read again."""
        self._changes += 1

    def head(self) -> dict | None:
        return self.store.records.get("head")

    def get(self, staging: bool) -> dict:
        """This copy against the head; ``staging``: an adopted gate that has not finished its first sync."""
        if self._cached is None or self._cached_at != (self._changes, staging):
            head = self.head()
            mine = self.store.records.summary(head["epoch"] if head else None)
            fields = ("people", "vehicles", "passes_revoked", "version", "epoch", "digest")
            complete = head is not None and all(mine[f] == head.get(f) for f in fields)
            stale = head is not None and bool(self.store.records.keys_older_than(head["epoch"]))
            synced = complete and not staging and not stale
            self._cached = {"source": "site", "epoch": mine["epoch"], "version": mine["version"],
                            "people": mine["people"], "vehicles": mine["vehicles"], "synced": synced,
                            "complete": complete, "stale": stale, "registry_id": self.store.kv_get(ID_KEY)}
            self._cached_at = (self._changes, staging)
        return self._cached

    def status(self, staging: bool) -> dict:
        """The ``registry`` part of the gate's status."""
        summary = dict(self.get(staging))
        summary.pop("complete", None)
        summary.pop("stale", None)
        if staging:
            summary["detail"] = "adopted: serving from the local registry until the office's is complete"
        if self.head() is None:
            summary["detail"] = "never synced: no head record from the office yet"
        return summary
