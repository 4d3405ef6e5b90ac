"""What the gate could not store: kept in memory, published straight from there, stored when it can.

While the database cannot be written (read-only, full, I/O error) the gate keeps deciding. What it
would have written waits here instead, in order: its events, device alerts, command results, and the
barrier's result of an event stored just before the failure (``kind``: event, alert, message, release).
The publish pump (``edge.site.publish_pump``) publishes each item directly (QoS 1; ``published_epoch``
set on PUBACK), up to the first item still ``held`` for its barrier pulse, as it does the outbox's rows,
with the same verbs: ``unsent``, ``mark_sent``, ``mark_failed``, ``depth``. ``edge.durable.backfill``
writes the items into the database once it can be written again (as sent, when they were), oldest
first; then they leave.

A copy lives in a file in RAM (``runtime_path``: systemd's RuntimeDirectory, else /dev/shm), rewritten at
every change, with the next event seq: a restart of the daemon (a crash, the watchdog, a technician)
finds the queue and the numbering where it was, so nothing kept here is lost and no seq is used twice.
A reboot empties it (``edge.durable.seqs`` then continues after the reserved block).

Bound: MAX_ITEMS (about 1.5 KB each). When full, the oldest item already published is dropped from
memory (the broker has it; only the gate's own copy is gone: ``dropped``); when none is (the broker is
down too), the new item is not kept: it is logged in full, for the journal, and counted in ``lost``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from pathlib import Path

from edge.contract import dumps
from edge.locks import ordered_lock

_LOG = logging.getLogger(__name__)
MAX_ITEMS = 1000


def runtime_path(database: str | Path) -> Path:
    """The RAM file for this database: one per database path, under $RUNTIME_DIRECTORY (systemd) or
    /dev/shm, which a daemon restart keeps and a reboot empties. (Its name keeps the queue's old name,
    "pending": a daemon restarted into a newer version finds the copy its predecessor left.)"""
    digest = hashlib.sha256(str(Path(database).resolve()).encode()).hexdigest()[:16]
    runtime = os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        return Path(runtime) / f"pending-{digest}.json"
    shm = Path("/dev/shm")
    folder = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    return folder / f"gate-edge-pending-{digest}.json"


class MemoryQueue:
    """The bounded in-memory queue, its RAM copy and the next seq it knows of. Thread-safe."""

    def __init__(self, database: str | Path, *, path: Path | None = None, max_items: int = MAX_ITEMS,
                 persist: bool = True, database_id: str | None = None):
        """``persist`` False: no RAM copy (a gate without the daemon: tests, tools). ``database_id``: the
        database's own id (``Store.database_id``): a RAM copy made for another file at this path (a
        database replaced or restored) is not used; one made while the id could not be written yet (None)
        is, the path being the same."""
        self.database = str(Path(database).resolve())
        self.database_id = database_id
        self.path = (path or runtime_path(database)) if persist else None
        self.max_items = max_items
        self._lock = ordered_lock("memory_queue", reentrant=True)
        self._items: list[dict] = []
        self._next_seq: int | None = None
        self.dropped = 0  # published items dropped from memory at the bound (the broker has them)
        self.dropped_seqs: list[int] = []  # the events among them, by seq, until the guard has said so
        self.lost = 0  # items that could be neither kept nor published: only in the log
        self._save_failed = False
        self._load()

    # -- the RAM copy ----------------------------------------------------------------------
    def _load(self) -> None:
        if self.path is None:
            return
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            _LOG.error("memory queue: cannot read %s (%s): starting without it", self.path, exc)
            return
        if state.get("database") != self.database:
            return
        theirs = state.get("database_id")
        if theirs is not None and self.database_id is not None and theirs != self.database_id:
            _LOG.warning("memory queue: %s was made for another database at this path (%s, now %s): %d messages in it "
                         "are not stored here", self.path, state.get("database_id"), self.database_id,
                         len(state.get("items") or []))
            return
        self._items = list(state.get("items") or [])
        self._next_seq = state.get("next_seq")
        if self._items:
            _LOG.warning("memory queue: %d messages kept in memory by the last run were found in %s; they are stored "
                         "as soon as the database can be written", len(self._items), self.path)

    def _save(self) -> None:
        if self.path is None:
            return
        state = {"database": self.database, "database_id": self.database_id, "next_seq": self._next_seq,
                 "items": self._items}
        try:
            tmp = self.path.with_suffix(".tmp")
            # Only the daemon's user reads it: events name people and plates (/dev/shm is open to all).
            descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as out:
                out.write(json.dumps(state, ensure_ascii=False))
            os.chmod(tmp, 0o600)  # a file an earlier version left with other modes
            os.replace(tmp, self.path)
            self._save_failed = False
        except OSError as exc:
            if not self._save_failed:
                _LOG.error("memory queue: cannot keep a copy in %s (%s): a restart now would lose what waits in memory",
                           self.path, exc)
            self._save_failed = True

    def forget_file(self) -> None:
        """Remove the RAM copy (tests; a clean stop with nothing waiting keeps it for the next seq)."""
        with self._lock:
            if self.path is not None:
                self.path.unlink(missing_ok=True)

    # -- the seq ---------------------------------------------------------------------------
    @property
    def next_seq(self) -> int | None:
        """The next event seq as this boot's earlier runs left it (None: no run of this boot said)."""
        return self._next_seq

    def note_seq(self, next_seq: int) -> None:
        with self._lock:
            if self._next_seq != next_seq:
                self._next_seq = next_seq
                self._save()

    # -- the queue -------------------------------------------------------------------------
    def add(self, kind: str, topic: str, payload: dict, msg_id: str, *, ts: float | None = None,
            held: bool = False, extra: dict | None = None, next_seq: int | None = None) -> dict | None:
        """Keep a message; the item, or None when it could not be kept (see the bound)."""
        item = {"id": uuid.uuid4().hex, "kind": kind, "topic": topic, "msg_id": msg_id, "payload": payload,
                "ts": time.time() if ts is None else ts, "held": held, "published_epoch": None,
                "extra": extra or {}}
        with self._lock:
            if next_seq is not None:
                self._next_seq = max(self._next_seq or 0, next_seq)
            if len(self._items) >= self.max_items:
                sent = next((i for i in self._items if i["published_epoch"] is not None), None)
                if sent is None:
                    self.lost += 1
                    _LOG.error("memory queue: memory queue full (%d) and the broker has not taken any: not kept, "
                               "recorded here only: %s %s", self.max_items, topic, json.dumps(payload))
                    self._save()
                    return None
                self._items.remove(sent)
                self.dropped += 1
                if sent["kind"] == "event" and isinstance(sent["payload"].get("seq"), int):
                    self.dropped_seqs.append(sent["payload"]["seq"])
                _LOG.warning("memory queue: full (%d): %s %s dropped from memory (published: the office and the "
                             "peers have it; this gate's database never will)", self.max_items, sent["kind"],
                             sent["msg_id"])
            self._items.append(item)
            self._save()
        return item

    def take_dropped_seqs(self) -> list[int]:
        """The seqs of events dropped at the bound since the last call (and forget them)."""
        with self._lock:
            seqs, self.dropped_seqs = self.dropped_seqs, []
            return seqs

    def release(self, msg_id: str, payload: dict) -> bool:
        """A held item's final payload (its pulse's result): True when the item was here."""
        with self._lock:
            for item in self._items:
                if item["msg_id"] == msg_id and item["kind"] == "event":
                    item["payload"], item["held"] = payload, False
                    self._save()
                    return True
        return False

    def holds(self, msg_id: str) -> bool:
        with self._lock:
            return any(i["msg_id"] == msg_id for i in self._items)

    def held_events(self) -> list[dict]:
        """Events still held for a pulse (after a restart: a pulse the last run never finished)."""
        with self._lock:
            return [dict(i) for i in self._items if i["held"]]

    def unsent(self, limit: int = MAX_ITEMS, skip=()) -> list[dict]:
        """The next items to publish, in order: not yet published, none of ``skip`` (in flight), up to the
        first held item; as the outbox gives its rows (``key``: the item's id, ``payload`` as text)."""
        out = []
        with self._lock:
            for item in self._items:
                if item["held"] or len(out) >= limit:
                    break
                if item["published_epoch"] is None and item["id"] not in skip:
                    out.append(item)
        return [{"key": item["id"], "topic": item["topic"], "payload": dumps(item["payload"]), "qos": 1,
                 "retain": False} for item in out]

    def mark_sent(self, item_ids: list[str], now: float | None = None) -> None:
        """PUBACK. Not written to the RAM copy at once (a restart would only publish them once more)."""
        now = time.time() if now is None else now
        gone = set(item_ids)
        with self._lock:
            for item in self._items:
                if item["id"] in gone:
                    item["published_epoch"] = now

    def mark_failed(self, item_id: str, error: str) -> None:
        """The broker refused it: why, kept with the item (published again later)."""
        with self._lock:
            for item in self._items:
                if item["id"] == item_id:
                    item["last_error"] = error

    def ready(self, limit: int) -> list[dict]:
        """The oldest items that may be stored now (up to the first held one), as copies."""
        with self._lock:
            out = []
            for item in self._items[:limit]:
                if item["held"]:
                    break
                out.append(dict(item))
            return out

    def remove(self, item_ids: list[str]) -> None:
        """Items now stored in the database."""
        gone = set(item_ids)
        with self._lock:
            self._items = [i for i in self._items if i["id"] not in gone]
            self._save()

    def alerts(self) -> dict[str, str | None]:
        """{device: its alert id, or None when its last change here clears it}, for the alerts' overlay."""
        with self._lock:
            return {i["extra"]["device"]: i["extra"]["alert_id"] if i["extra"]["op"] == "raise" else None
                    for i in self._items if i["kind"] == "alert"}

    def devices(self) -> set[str]:
        """Devices with an alert item still waiting."""
        with self._lock:
            return {i["extra"].get("device") for i in self._items if i["kind"] == "alert"}

    def events(self) -> list[dict]:
        """The events waiting (payloads), oldest first."""
        with self._lock:
            return [i["payload"] for i in self._items if i["kind"] == "event"]

    def announced(self, stored: int) -> int:
        """The newest seq that has left, given ``stored`` (the database's): events waiting here count once
        published, up to the first one not yet published or still held."""
        with self._lock:
            waiting = sorted((i for i in self._items if i["kind"] == "event"), key=lambda i: i["payload"]["seq"])
        best = stored
        for item in waiting:
            if item["held"] or item["published_epoch"] is None:
                return min(best, item["payload"]["seq"] - 1)
            best = max(best, item["payload"]["seq"])
        return best

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def depth(self) -> int:
        """How many items wait for the broker (held ones included)."""
        with self._lock:
            return sum(1 for i in self._items if i["published_epoch"] is None)
