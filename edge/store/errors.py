"""The data layer's errors: a refusal the user can act on, a database too new for this code, a storage
failure, and the one place that tells a storage failure from a mistake in SQL."""

from __future__ import annotations

import sqlite3


class RegistryError(Exception):
    """A registry operation refused with a reason the user can act on (unknown id, duplicate…). ``said``:
    the reason, marked for the console's catalog where it is written with ``tell`` (else its text)."""

    def __init__(self, said=""):
        self.said = said
        super().__init__(str(said))


class StorageFailure(sqlite3.OperationalError):
    """The database cannot be read or written now: read-only, full, an I/O error, locked past its timeout.

    Raised only by the store (``Store`` translates SQLite's errors where it runs them): a message whose
    handling failed this way is not acknowledged to the broker, which delivers it again when the session
    resumes; the storage guard says "degraded". A mistake in SQL (no such table or column, a syntax error)
    stays a plain ``sqlite3.OperationalError`` and fails loudly. (An IntegrityError is about the message,
    not the storage: it is handled like a bad message.) A subclass of ``sqlite3.OperationalError`` so that
    what only knows SQLite (``OPEN_FAILURES``, sqlite-utils) still sees an SQLite error."""


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


# What opening a database may fail with besides SchemaTooNew: a missing or unreadable file, a folder that
# cannot be written, I/O errors, a file that is not a database (edge.gate.waiting waits for these).
OPEN_FAILURES = (sqlite3.Error, OSError)


class SchemaTooNew(RegistryError):
    """The database was written by a newer gate-edge: refuse it (exit 2), never half-read it."""
