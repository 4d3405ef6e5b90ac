"""The data layer's errors: a refusal the user can act on, a database too new for this code, a storage
failure."""

import sqlite3


class RegistryError(Exception):
    """A registry operation refused with a reason the user can act on (unknown id, duplicate…)."""


# A database that cannot be read or written now (locked, read-only, full, I/O error): a message whose
# handling failed this way is not acknowledged to the broker, which delivers it again when the session
# resumes. (An IntegrityError is about the message, not the storage: it is handled like a bad message.)
StorageFailure = sqlite3.OperationalError


# What opening a database may fail with besides SchemaTooNew: a missing or unreadable file, a folder that
# cannot be written, I/O errors, a file that is not a database (edge.gate.waiting waits for these).
OPEN_FAILURES = (sqlite3.Error, OSError)


class SchemaTooNew(RegistryError):
    """The database was written by a newer gate-edge: refuse it (exit 2), never half-read it."""
