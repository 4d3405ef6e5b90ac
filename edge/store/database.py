"""The one SQLite connection of a process part, its lock, its transactions and its migrations.

``Store`` opens (and creates, and upgrades) the database and hangs the repositories off it:
``store.people``, ``store.vehicles`` … (see ``edge.store``). Repositories are the only code that
writes SQL; they run it through ``Store.execute``/``rows``/``row`` so every statement takes the
store's lock. SQLite's errors are sorted here, where statements and transactions run: what storage does
(read-only, full, I/O error, locked past the timeout) is raised as ``StorageFailure``; a mistake in SQL
stays ``sqlite3.OperationalError`` and fails loudly. WAL journal, an explicit ``synchronous`` (FULL by
default: a committed event or outbox row survives a power cut), and a busy timeout so the CLI and the
daemon can share the file.
``Store(":memory:")`` is a complete, private database for fast tests of the data layer alone.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from edge.locks import ordered_lock
from edge.store.errors import RegistryError, SchemaTooNew, StorageFailure, storage_failure
from edge.store.schema import MIGRATIONS, SCHEMA_VERSION


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (names, phones and face templates are in it),
    whatever the umask; SQLite gives its -wal and -shm files the database file's permissions. An existing
    file is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class Store:
    """A gate's (or the office's) database. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, *, upgrade: bool = True, target_version: int = SCHEMA_VERSION,
                 synchronous: str = "FULL"):
        from edge.store.alert_log import AlertLog
        from edge.store.alerts import AlertRows
        from edge.store.console import ConsoleRows
        from edge.store.events import Events
        from edge.store.gates import GateStatus
        from edge.store.notifications import NotificationRows
        from edge.store.outbox import Outbox
        from edge.store.passes import Passes
        from edge.store.peer_progress import PeerProgress, Quarantine
        from edge.store.people import People, Templates
        from edge.store.records import RegistryRecords
        from edge.store.reports import Reports
        from edge.store.requests import SeenRequests
        from edge.store.sessions import Sessions
        from edge.store.sightings import Sightings
        from edge.store.vehicles import Vehicles

        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = ordered_lock("store", reentrant=True)
        self._depth = 0
        self._before_commit: list = []
        self._after_commit: list = []
        # Set by the office (edge.site.registry_publish): called inside the transaction of every change to
        # a person, vehicle or pass, so the signed record is written with the change (DESIGN 6.4).
        self.on_registry_change = None
        # The time a person is registered at (``registered_at``, where a never-seen resident's care-watch
        # episode starts): the office sets its own clock, the demo's simulated time included.
        self.clock = time.time
        self._synchronous = synchronous
        self._reopen = False  # the connection was opened read-only (the file was): open it again
        # Set by the owner of disk room (edge.durable.disk.DiskRoom.low): while it says the filesystem is low,
        # every commit is followed by a checkpoint: the WAL then never outgrows one transaction, and rows go
        # into the pages retention freed, so writing goes on with the filesystem full.
        self.low_on_disk = None
        conn = self._connect()
        self.conn: sqlite3.Connection | None = conn
        self.db = sqlite_utils.Database(conn)
        try:
            self._refuse_newer()
            if upgrade:
                self.migrate(target_version)
        except BaseException:
            self.close()
            raise
        self.people = People(self)
        self.templates = Templates(self)
        self.vehicles = Vehicles(self)
        self.passes = Passes(self)
        self.events = Events(self)
        self.outbox = Outbox(self)
        self.alerts = AlertRows(self)
        self.sightings = Sightings(self)
        self.sessions = Sessions(self)
        self.requests = SeenRequests(self)
        self.records = RegistryRecords(self)
        self.gates = GateStatus(self)
        self.peers = PeerProgress(self)
        self.alert_peers = PeerProgress(self, "alerts")
        self.alert_log = AlertLog(self)
        self.quarantine = Quarantine(self)
        self.console = ConsoleRows(self)
        self.reports = Reports(self)
        self.notifications = NotificationRows(self)

    # -- lifecycle -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            _create_private(self.path)
        try:
            return self._configure(sqlite3.connect(str(self.path), timeout=10, check_same_thread=False,
                                                   isolation_level=None))
        except sqlite3.OperationalError as exc:
            raise storage_failure(exc) from None

    def _configure(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed event or outbox row survives power loss, not just a crash. (The MQTT
        # link's own connection uses NORMAL for "sent" marks: losing one re-sends a message, no more.)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        # What is deleted is overwritten with zeros, not left in free pages: an erased person's face
        # templates are not to be found in the file afterwards (PIPL; see People.remove).
        conn.execute("PRAGMA secure_delete = ON")
        return conn

    def _reconnect_if_read_only(self) -> None:
        """SQLite opens a file it may not write read-only, and such a connection never writes again, even
        once the file may be written: after a "readonly database" failure, the next transaction opens
        the connection again (an immutable file, a read-only mount, then repaired)."""
        if not self._reopen or self.conn is None or str(self.path) == ":memory:":
            return
        try:
            fresh = self._connect()
        except StorageFailure:
            return  # still cannot open it: the transaction's own failure says why
        old, self.conn, self.db, self._reopen = self.conn, fresh, sqlite_utils.Database(fresh), False
        old.close()

    def refresh(self) -> None:
        """Open the connection again at the next transaction (storage was repaired under it)."""
        self._reopen = True

    def close(self) -> None:
        with self._lock:
            if self.conn is not None:
                self.conn.close()
                self.conn = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def version(self) -> int:
        return self.execute("PRAGMA user_version").fetchone()[0]

    def _refuse_newer(self) -> None:
        current = self.version
        if current > SCHEMA_VERSION:
            # Exit code 2 at the command line (a configuration problem): systemd does not restart-loop on it.
            raise SchemaTooNew(
                f"{self.path}: database schema version {current} was written by a newer gate-edge (this one knows "
                f"up to {SCHEMA_VERSION}); install that version again, or point `database:` at another file"
            )

    def migrate(self, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply the missing migrations up to ``target``, each in its own transaction."""
        applied = []
        with self._lock:
            self._refuse_newer()
            for number in range(self.version + 1, target + 1):
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    try:
                        MIGRATIONS[number - 1](_NoCommit(self.conn))
                        self.conn.execute(f"PRAGMA user_version = {number}")
                        self.conn.execute("COMMIT")
                    except BaseException:
                        self.conn.execute("ROLLBACK")
                        raise
                except sqlite3.OperationalError as exc:
                    raise storage_failure(exc) from None
                applied.append(number)
        return applied

    @contextmanager
    def hold(self) -> Iterator[Store]:
        """The store's lock without a transaction: taken first by code that then takes a lock ranked
        after it (``edge.locks``) and may write, so it never waits for a transaction while holding one."""
        with self._lock:
            yield self

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One atomic write: everything inside commits together or not at all (nestable).

        A storage failure (read-only, full, I/O error: ``StorageFailure``) at BEGIN, at any statement or
        at COMMIT leaves no transaction open behind it: the connection works again once storage does."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._abandon()  # a transaction a failed COMMIT left open would refuse every BEGIN
                self._reconnect_if_read_only()
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.OperationalError as exc:
                    self._failed(exc)
                    raise storage_failure(exc) from None
            self._depth += 1
            try:
                yield self
            except BaseException as exc:
                self._depth -= 1
                if outer:
                    self._before_commit.clear()
                    self._after_commit.clear()
                    self._abandon()
                    self._failed(exc)
                raise
            if outer:
                try:
                    while self._before_commit:  # still inside the transaction: their writes commit with it
                        self._before_commit.pop(0)()
                except BaseException:
                    self._depth -= 1
                    self._before_commit.clear()
                    self._after_commit.clear()
                    self._abandon()
                    raise
            self._depth -= 1
            if outer:
                try:
                    self.conn.execute("COMMIT")
                except BaseException as exc:
                    self._after_commit.clear()
                    self._abandon()
                    self._failed(exc)
                    if isinstance(exc, sqlite3.OperationalError):
                        raise storage_failure(exc) from None
                    raise
                if self.low_on_disk is not None and self.low_on_disk():
                    try:
                        self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                    except sqlite3.OperationalError:
                        pass  # committed all the same; the next commit tries again
                while self._after_commit:
                    with contextlib.suppress(sqlite3.Error):  # committed all the same
                        self._after_commit.pop(0)()

    def _failed(self, exc: BaseException) -> None:
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
            self._reopen = True

    def _abandon(self) -> None:
        """Roll back whatever transaction is open (SQLite may already have rolled it back itself)."""
        if self.conn is not None and self.conn.in_transaction:
            try:
                self.conn.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass  # nothing left to roll back, or the rollback itself cannot write: the next BEGIN says

    def before_commit(self, callback) -> None:
        """Run ``callback`` once, just before the current outermost transaction commits (at most once
        per transaction: a bulk import publishes one head record, not one per row)."""
        if callback not in self._before_commit:
            self._before_commit.append(callback)

    def after_commit(self, callback) -> None:
        """Run ``callback`` once, after the current outermost transaction has committed (not at all if it
        rolls back); a database error it raises is ignored: what committed stays committed."""
        if callback not in self._after_commit:
            self._after_commit.append(callback)

    def kv_get(self, key: str) -> str | None:
        """A small named value (change counters, the registry epoch, the first sync time …)."""
        row = self.row("SELECT value FROM kv WHERE key = ?", (key,))
        return row["value"] if row else None

    def kv_set(self, key: str, value: str) -> None:
        self.execute("INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     [key, value])

    def kv_delete(self, key: str) -> None:
        self.execute("DELETE FROM kv WHERE key = ?", [key])

    def registry_changed(self, kind: str, key) -> None:
        """Called by the repositories inside the transaction of every registry change."""
        if self.on_registry_change is not None:
            self.on_registry_change(kind, key)

    def next_number(self, name: str) -> int:
        """The next number of a counter that never goes back (event seq, person ids, registry version)."""
        row = self.execute("UPDATE sequences SET next = next + 1 WHERE name = ? RETURNING next - 1", [name]).fetchone()
        if row is None:
            self.execute("INSERT INTO sequences(name, next) VALUES (?, 2)", [name])
            return 1
        return row[0]

    def database_id(self) -> str | None:
        """A random id this database keeps for life (a file put in its place has another); made the first
        time it is asked for, None while it cannot be written."""
        found = self.kv_get("database_id")
        if found is None:
            import uuid

            try:
                with self.transaction():
                    found = self.kv_get("database_id") or str(uuid.uuid4())
                    self.kv_set("database_id", found)
            except StorageFailure:
                return None
        return found

    def probe_write(self, now: float, room_bytes: int = 0) -> None:
        """One small write and commit: raises ``StorageFailure`` while the database cannot be written.
        ``room_bytes``: also take (and give back, in the same transaction) that much room for new rows; a
        change in place may work in a full database, where no new row fits."""
        with self.transaction():
            self.kv_set("storage_probe", repr(now))
            if room_bytes:
                self.execute("INSERT INTO kv(key, value) VALUES ('storage_probe_room', zeroblob(?))", [room_bytes])
                self.kv_delete("storage_probe_room")

    def reusable_bytes(self) -> int:
        """Space inside the database file that new rows reuse before the file grows (free pages)."""
        return self.scalar("PRAGMA freelist_count") * self.scalar("PRAGMA page_size")

    def checkpoint(self, *, truncate: bool = True) -> None:
        """Fold the WAL back into the database file (hourly job; keeps the WAL from growing). ``truncate``
        False keeps the WAL file's space, which the next writes reuse: on a nearly full disk that space is
        what lets rows be written into the pages retention freed."""
        with self._lock:
            if self._depth == 0:
                self.execute(f"PRAGMA wal_checkpoint({'TRUNCATE' if truncate else 'PASSIVE'})")

    # -- for the repositories only ---------------------------------------------------------
    def execute(self, sql: str, params=()) -> _Cursor:
        with self._lock:
            if self.conn is None:
                raise RegistryError(f"{self.path}: the database is closed")
            try:
                return _Cursor(self.conn.execute(sql, params))
            except sqlite3.OperationalError as exc:
                raise storage_failure(exc) from None

    def executemany(self, sql: str, rows) -> _Cursor:
        with self._lock:
            try:
                return _Cursor(self.conn.executemany(sql, rows))
            except sqlite3.OperationalError as exc:
                raise storage_failure(exc) from None

    def rows(self, sql: str, params=()) -> list[dict]:
        with self._lock:
            try:
                return list(self.db.query(sql, params))
            except sqlite3.OperationalError as exc:
                raise storage_failure(exc) from None

    def row(self, sql: str, params=()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params=()):
        return self.execute(sql, params).fetchone()[0]

    def table(self, name: str) -> _Table:
        return _Table(self.db[name], self._lock)


class _Cursor:
    """A cursor whose later steps (``fetchone`` reads the next row) raise ``StorageFailure`` as
    ``Store.execute`` does."""

    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor):
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    def fetchone(self):
        try:
            return self._cursor.fetchone()
        except sqlite3.OperationalError as exc:
            raise storage_failure(exc) from None

    def fetchall(self) -> list:
        try:
            return self._cursor.fetchall()
        except sqlite3.OperationalError as exc:
            raise storage_failure(exc) from None

    def __iter__(self):
        return iter(self.fetchall())


class _Table:
    """An sqlite-utils table (``insert``, ``update``) under the store's lock, raising ``StorageFailure``
    as ``Store.execute`` does."""

    def __init__(self, table: sqlite_utils.db.Table, lock):
        self._table, self._lock = table, lock

    def __getattr__(self, name: str):
        found = getattr(self._table, name)
        if not callable(found):
            return found

        def call(*args, **kwargs):
            with self._lock:
                try:
                    return found(*args, **kwargs)
                except sqlite3.OperationalError as exc:
                    raise storage_failure(exc) from None

        return call


class _NoCommit:
    """A connection wrapper for migrations: executescript would COMMIT our transaction early."""

    def __init__(self, conn: sqlite3.Connection):
        self._conn = conn

    def executescript(self, script: str) -> None:
        for statement in _split_sql(script):
            self._conn.execute(statement)

    def execute(self, sql: str, params=()):
        return self._conn.execute(sql, params)


def _split_sql(script: str) -> list[str]:
    statements, buffer = [], ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
