"""Bringing a database to this code's schema: its version, the missing migrations run, a newer one refused.

Each migration of ``edge.store.schema.MIGRATIONS`` runs in its own transaction together with the
``user_version`` it reaches, so an upgrade stopped half-way resumes at the migration it stopped in. A
database a newer gate-edge wrote is refused (``SchemaTooNew``: exit 2), never half-read.
"""

from __future__ import annotations

import sqlite3

from edge.store.errors import SchemaTooNew
from edge.store.schema import MIGRATIONS, SCHEMA_VERSION
from edge.store.translate import translated_errors


def version(connection) -> int:
    """The schema version the database says it has (``PRAGMA user_version``)."""
    return connection.execute("PRAGMA user_version").fetchone()[0]


def refuse_newer(connection) -> None:
    current = version(connection)
    if current > SCHEMA_VERSION:
        # Exit code 2 at the command line (a configuration problem): systemd does not restart-loop on it.
        raise SchemaTooNew(
            f"{connection.path}: database schema version {current} was written by a newer gate-edge (this one "
            f"knows up to {SCHEMA_VERSION}); install that version again, or point `database:` at another file"
        )


def migrate(connection, target: int = SCHEMA_VERSION) -> list[int]:
    """Apply the missing migrations up to ``target``, each in its own transaction; their numbers."""
    applied = []
    with connection.hold():
        refuse_newer(connection)
        conn = connection.conn
        for number in range(version(connection) + 1, target + 1):
            with translated_errors:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    MIGRATIONS[number - 1](_NoCommit(conn))
                    conn.execute(f"PRAGMA user_version = {number}")
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            applied.append(number)
    return applied


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
