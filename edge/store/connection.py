"""The store's one SQLite connection: opening it, its lock, its transactions and running statements on it.

Opening: the file is created 0600 (names, phones and face templates are in it); WAL journal, an explicit
``synchronous`` (FULL by default: a committed event or outbox row survives a power cut), foreign keys,
secure delete, and a busy timeout so the CLI and the daemon can share the file. A connection SQLite opened
read-only is opened again at the next transaction once a "readonly" failure (or ``refresh``) says so.

Every statement and transaction takes the lock (``edge.locks``: "store"). ``transaction`` nests; the
outermost one runs the ``before_commit`` callbacks inside it and the ``after_commit`` ones after it, and a
failure at BEGIN, at any statement or at COMMIT leaves no transaction open behind it. What SQLite raises is
sorted by ``edge.store.translate``.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from edge.locks import ordered_lock
from edge.store.errors import RegistryError, StorageFailure
from edge.store.translate import Cursor, Table, storage_failure, translated_errors


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite opens it (names, phones and face templates are in it),
    whatever the umask; SQLite gives its -wal and -shm files the database file's permissions. An existing
    file is left as it is."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


class Connection:
    """An open database file (``":memory:"``: a private one). Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, *, synchronous: str = "FULL"):
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = ordered_lock("store", reentrant=True)
        self._depth = 0
        self._before_commit: list = []
        self._after_commit: list = []
        self._synchronous = synchronous
        self._reopen = False  # the connection was opened read-only (the file was): open it again
        # Set by the owner of disk room (edge.durable.disk.DiskRoom.low): while it says the filesystem is low,
        # every commit is followed by a checkpoint: the WAL then never outgrows one transaction, and rows go
        # into the pages retention freed, so writing goes on with the filesystem full.
        self.low_on_disk = None
        conn = self._connect()
        self.conn: sqlite3.Connection | None = conn
        self.db = sqlite_utils.Database(conn)

    # -- opening and closing ---------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if str(self.path) != ":memory:":
            _create_private(self.path)
        with translated_errors:
            return self._configure(sqlite3.connect(str(self.path), timeout=10, check_same_thread=False,
                                                   isolation_level=None))

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

    # -- transactions ----------------------------------------------------------------------
    @contextmanager
    def hold(self) -> Iterator[Connection]:
        """The store's lock without a transaction: taken first by code that then takes a lock ranked
        after it (``edge.locks``) and may write, so it never waits for a transaction while holding one."""
        with self._lock:
            yield self

    @property
    def in_transaction(self) -> bool:
        """A ``transaction`` of this connection is open (on this thread, which holds the lock, or another)."""
        return self._depth > 0

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
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

    # -- statements (for the repositories only) --------------------------------------------
    def execute(self, sql: str, params=()) -> Cursor:
        with self._lock:
            if self.conn is None:
                raise RegistryError(f"{self.path}: the database is closed")
            with translated_errors:
                return Cursor(self.conn.execute(sql, params))

    def executemany(self, sql: str, rows) -> Cursor:
        with self._lock, translated_errors:
            return Cursor(self.conn.executemany(sql, rows))

    def rows(self, sql: str, params=()) -> list[dict]:
        with self._lock, translated_errors:
            return list(self.db.query(sql, params))

    def row(self, sql: str, params=()) -> dict | None:
        found = self.rows(sql, params)
        return found[0] if found else None

    def scalar(self, sql: str, params=()):
        return self.execute(sql, params).fetchone()[0]

    def table(self, name: str) -> Table:
        return Table(self.db[name], self._lock)
