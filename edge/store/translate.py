"""Where SQLite's errors are sorted: what storage does becomes ``StorageFailure``, a mistake in SQL stays.

Every statement, BEGIN, COMMIT and migration the store runs is inside ``translated_errors``; the cursor and
table wrappers keep translating after a statement has returned (``fetchone`` reads the next row, an
sqlite-utils ``insert`` runs its own statements). Read-only, full, an I/O error, locked past the busy
timeout: ``StorageFailure`` (``edge.store.errors``); no such table or column, a syntax error: the plain
``sqlite3.OperationalError``, which fails loudly.
"""

from __future__ import annotations

import sqlite3

import sqlite_utils

from edge.store.errors import StorageFailure

# SQLite's primary result codes that say the storage failed, not the statement: a read-only file or mount,
# a full disk, an I/O error, a lock held past the busy timeout, a file that cannot be opened or may not
# be accessed, a broken locking protocol (https://sqlite.org/rescode.html).
_STORAGE_CODES = frozenset({
    sqlite3.SQLITE_READONLY, sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_PROTOCOL,
})


def storage_failure(exc: sqlite3.OperationalError) -> sqlite3.OperationalError:
    """``exc`` as a ``StorageFailure`` when storage failed (same message and SQLite codes, ``exc`` as its
    cause), else ``exc`` itself: the store raises what this returns."""
    if isinstance(exc, StorageFailure):
        return exc
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None or code & 0xFF not in _STORAGE_CODES:
        return exc
    failure = StorageFailure(*exc.args)
    failure.sqlite_errorcode = code
    failure.sqlite_errorname = getattr(exc, "sqlite_errorname", None)
    failure.__cause__ = exc
    return failure


class _Translated:
    """``with translated_errors:`` raises what ``storage_failure`` makes of an ``OperationalError`` inside.
    A class, not a generator: it wraps every statement the store runs."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, traceback) -> bool:
        if isinstance(exc, sqlite3.OperationalError):
            raise storage_failure(exc) from None
        return False


translated_errors = _Translated()


class Cursor:
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
        with translated_errors:
            return self._cursor.fetchone()

    def fetchall(self) -> list:
        with translated_errors:
            return self._cursor.fetchall()

    def __iter__(self):
        return iter(self.fetchall())


class Table:
    """An sqlite-utils table (``insert``, ``update``) under the store's lock, raising ``StorageFailure``
    as ``Store.execute`` does."""

    def __init__(self, table: sqlite_utils.db.Table, lock):
        self._table, self._lock = table, lock

    def __getattr__(self, name: str):
        found = getattr(self._table, name)
        if not callable(found):
            return found

        def call(*args, **kwargs):
            with self._lock, translated_errors:
                return found(*args, **kwargs)

        return call
