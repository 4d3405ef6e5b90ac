"""The data layer's errors: a refusal the user can act on, a database too new for this code, a storage
failure, and what opening a database may fail with. Which SQLite error is a storage failure is
``edge.store.translate``'s to say."""

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

    Raised only by the store (``edge.store.translate`` sorts SQLite's errors where the store runs them): a
    message whose handling failed this way is not acknowledged to the broker, which delivers it again when
    the session resumes; the storage guard says "degraded". A mistake in SQL (no such table or column, a syntax error)
    stays a plain ``sqlite3.OperationalError`` and fails loudly. (An IntegrityError is about the message,
    not the storage: it is handled like a bad message.) A subclass of ``sqlite3.OperationalError`` so that
    what only knows SQLite (``OPEN_FAILURES``, sqlite-utils) still sees an SQLite error."""


# What opening a database may fail with besides SchemaTooNew: a missing or unreadable file, a folder that
# cannot be written, I/O errors, a file that is not a database (edge.gate.waiting waits for these).
OPEN_FAILURES = (sqlite3.Error, OSError)


class SchemaTooNew(RegistryError):
    """The database was written by a newer gate-edge: refuse it (exit 2), never half-read it."""
