"""The local SQLite registry: people, face templates, vehicles, and the tables the daemon keeps
(events, outbox, parking sessions, last-seen, alerts, passes, command replay guard).

One connection per Registry, guarded by a lock; WAL journal, ``synchronous=FULL`` (events and the
outbox must survive a power cut), a busy timeout so the CLI and the daemon can share the file.
The schema is versioned with ``PRAGMA user_version`` and upgraded in place by ``MIGRATIONS``.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import sqlite_utils

VEHICLE_CLASSES = ("resident", "family", "visitor", "blocked")


class RegistryError(Exception):
    """A registry operation refused with a reason the user can act on (unknown id, duplicate…)."""


def _m1_people_and_vehicles(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE people (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            unit TEXT NOT NULL,
            phone TEXT,
            care_watch INTEGER NOT NULL DEFAULT 0,
            face_consent_at TEXT,
            care_watch_consent_at TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX people_unit ON people(unit, name);
        CREATE TABLE face_templates (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            vector BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX face_templates_person ON face_templates(person_id);
        CREATE TABLE vehicles (
            plate TEXT PRIMARY KEY,
            class TEXT NOT NULL CHECK (class IN ('resident', 'family', 'visitor', 'blocked')),
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            valid_from TEXT,
            valid_until TEXT,
            documents TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX vehicles_person ON vehicles(person_id);
        """
    )


def _m2_daemon_state(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE events (
            event_id TEXT PRIMARY KEY,
            ts TEXT NOT NULL,
            ts_epoch REAL NOT NULL,
            gate TEXT NOT NULL,
            lane TEXT,
            kind TEXT NOT NULL,
            credential TEXT,
            subject_type TEXT,
            person_id INTEGER,
            plate TEXT,
            vehicle_class TEXT,
            decision TEXT,
            reason TEXT,
            fee_cents INTEGER,
            session_id TEXT,
            origin TEXT NOT NULL DEFAULT 'local',
            payload TEXT NOT NULL
        );
        CREATE INDEX events_ts ON events(ts_epoch);
        CREATE TABLE outbox (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            msg_id TEXT NOT NULL UNIQUE,
            topic TEXT NOT NULL,
            payload TEXT NOT NULL,
            qos INTEGER NOT NULL DEFAULT 1,
            retain INTEGER NOT NULL DEFAULT 0,
            created_epoch REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            sent_epoch REAL,
            last_error TEXT
        );
        CREATE INDEX outbox_unsent ON outbox(seq) WHERE sent_epoch IS NULL;
        CREATE TABLE parking_sessions (
            session_id TEXT PRIMARY KEY,
            plate TEXT NOT NULL,
            vehicle_class TEXT,
            state TEXT NOT NULL CHECK (state IN ('open', 'closed')),
            entry_epoch REAL NOT NULL,
            entry_gate TEXT,
            entry_event_id TEXT,
            exit_epoch REAL,
            exit_gate TEXT,
            exit_event_id TEXT,
            fee_cents INTEGER,
            paid_cents INTEGER NOT NULL DEFAULT 0,
            paid_epoch REAL,
            stale_reported INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX parking_open ON parking_sessions(plate) WHERE state = 'open';
        CREATE TABLE last_seen (
            subject TEXT PRIMARY KEY,
            ts_epoch REAL NOT NULL,
            gate TEXT,
            event_id TEXT
        );
        CREATE TABLE alerts (
            alert_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            subject TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('raised', 'cleared')),
            raised_epoch REAL NOT NULL,
            cleared_epoch REAL,
            detail TEXT
        );
        CREATE INDEX alerts_subject ON alerts(kind, subject, state);
        CREATE TABLE passes (
            pass_id TEXT PRIMARY KEY,
            subject_type TEXT NOT NULL CHECK (subject_type IN ('person', 'vehicle')),
            person_id INTEGER,
            plate TEXT,
            issued_epoch REAL NOT NULL,
            valid_until_epoch REAL NOT NULL,
            revoked_epoch REAL
        );
        CREATE TABLE seen_requests (
            request_id TEXT PRIMARY KEY,
            ts_epoch REAL NOT NULL
        );
        CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


def _m3_template_encoder_and_photos(conn: sqlite3.Connection) -> None:
    # Version 1 only knew dlib's 128-d templates; every later template names the encoder that made it.
    conn.executescript(
        """
        ALTER TABLE face_templates ADD COLUMN encoder TEXT NOT NULL DEFAULT 'dlib';
        ALTER TABLE face_templates ADD COLUMN dim INTEGER;
        UPDATE face_templates SET dim = length(vector) / 4;
        CREATE INDEX face_templates_encoder ON face_templates(encoder);
        CREATE TABLE face_photos (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            image BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


def _m4_stranger_snapshots(conn: sqlite3.Connection) -> None:
    # Only written when retention.stranger_snapshots_days > 0; never published.
    conn.executescript(
        """
        CREATE TABLE snapshots (
            event_id TEXT PRIMARY KEY,
            ts_epoch REAL NOT NULL,
            image BLOB NOT NULL
        );
        CREATE INDEX snapshots_ts ON snapshots(ts_epoch);
        """
    )


MIGRATIONS = [_m1_people_and_vehicles, _m2_daemon_state, _m3_template_encoder_and_photos, _m4_stranger_snapshots]
SCHEMA_VERSION = len(MIGRATIONS)


def _now_iso() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class TemplateSet:
    """Every template of one encoder, stacked: row i belongs to ``person_ids[i]``."""

    encoder: str
    person_ids: np.ndarray  # int64, shape (n,)
    matrix: np.ndarray  # float32, shape (n, dim)
    revision: int


class Registry:
    """The gate's database. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, *, upgrade: bool = True, target_version: int = SCHEMA_VERSION,
                 synchronous: str = "FULL"):
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a committed event or outbox row survives power loss, not just a crash. (The MQTT
        # link's own connection uses NORMAL for "sent" marks: losing one re-sends a message, no more.)
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError(f"synchronous must be FULL or NORMAL, not {synchronous!r}")
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute("PRAGMA foreign_keys = ON")
        self.conn = conn
        self.db = sqlite_utils.Database(conn)
        if upgrade:
            self.migrate(target_version)

    # -- lifecycle -------------------------------------------------------------------------
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
        return self.conn.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply the missing migrations up to ``target``, each in its own transaction."""
        applied = []
        with self._lock:
            current = self.version
            if current > SCHEMA_VERSION:
                raise RegistryError(
                    f"{self.path} has schema version {current}, newer than this gate-edge ({SCHEMA_VERSION}); "
                    "upgrade gate-edge"
                )
            for number in range(current + 1, target + 1):
                self.conn.execute("BEGIN IMMEDIATE")
                try:
                    MIGRATIONS[number - 1](_NoCommit(self.conn))
                    self.conn.execute(f"PRAGMA user_version = {number}")
                    self.conn.execute("COMMIT")
                except BaseException:
                    self.conn.execute("ROLLBACK")
                    raise
                applied.append(number)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One atomic write: everything inside commits together or not at all (nestable)."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self.conn.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self.db
            except BaseException:
                self._depth -= 1
                if outer:
                    self.conn.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self.conn.execute("COMMIT")

    def query(self, sql: str, params=()) -> list[dict]:
        with self._lock:
            return list(self.db.query(sql, params))

    def query_one(self, sql: str, params=()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # -- key/value -------------------------------------------------------------------------
    def get_kv(self, key: str, default: str | None = None) -> str | None:
        row = self.query_one("SELECT value FROM kv WHERE key = ?", (key,))
        return row["value"] if row else default

    def set_kv(self, key: str, value: str) -> None:
        with self.transaction() as db:
            db["kv"].upsert({"key": key, "value": value}, pk="key")

    def _bump(self, counter: str) -> None:
        """Move a change counter; matchers compare it to know when to reload (also across processes)."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO kv(key, value) VALUES (?, '1') "
                "ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1",
                [counter],
            )

    def _bump_templates_revision(self) -> None:
        self._bump("templates_rev")

    def templates_revision(self) -> int:
        return int(self.get_kv("templates_rev", "0"))

    def vehicles_revision(self) -> int:
        return int(self.get_kv("vehicles_rev", "0"))

    # -- people ----------------------------------------------------------------------------
    def add_person(
        self, name: str, unit: str, phone: str | None = None, care_watch: bool = False, face_consent: bool = False
    ) -> int:
        name, unit = (name or "").strip(), (unit or "").strip()
        if not name:
            raise RegistryError("a person needs a name (--name)")
        if not unit:
            raise RegistryError("a person needs a unit such as 12-301 (--unit)")
        now = _now_iso()
        with self.transaction() as db:
            table = db["people"].insert(
                {
                    "name": name,
                    "unit": unit,
                    "phone": (phone or "").strip() or None,
                    "care_watch": int(bool(care_watch)),
                    "face_consent_at": now if face_consent else None,
                    "care_watch_consent_at": now if care_watch else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            return table.last_pk

    def update_person(self, person_id: int, **fields) -> None:
        self.person(person_id)
        fields["updated_at"] = _now_iso()
        with self.transaction() as db:
            db["people"].update(person_id, fields)

    def person(self, person_id: int) -> dict:
        row = self.query_one("SELECT * FROM people WHERE id = ?", (person_id,))
        if row is None:
            raise RegistryError(f"no person with id {person_id}; see `gate-edge person list`")
        return row

    def find_people(self, unit: str, name: str | None = None) -> list[dict]:
        if name is None:
            return self.query("SELECT * FROM people WHERE unit = ? ORDER BY id", (unit.strip(),))
        return self.query(
            "SELECT * FROM people WHERE unit = ? AND name = ? ORDER BY id", (unit.strip(), name.strip())
        )

    def people(self) -> list[dict]:
        return self.query(
            "SELECT p.*, (SELECT count(*) FROM face_templates t WHERE t.person_id = p.id) AS templates, "
            "(SELECT group_concat(plate) FROM vehicles v WHERE v.person_id = p.id) AS plates "
            "FROM people p ORDER BY p.id"
        )

    def remove_person(self, person_id: int) -> dict:
        """Erase a person with every face template and stored photo; their vehicles lose the owner."""
        self.person(person_id)
        with self.transaction() as db:
            templates = db.execute("SELECT count(*) FROM face_templates WHERE person_id = ?", [person_id]).fetchone()[0]
            photos = db.execute("SELECT count(*) FROM face_photos WHERE person_id = ?", [person_id]).fetchone()[0]
            db.execute("DELETE FROM face_templates WHERE person_id = ?", [person_id])
            db.execute("DELETE FROM face_photos WHERE person_id = ?", [person_id])
            db.execute("DELETE FROM last_seen WHERE subject = ?", [f"person:{person_id}"])
            db.execute("UPDATE passes SET revoked_epoch = ? WHERE person_id = ? AND revoked_epoch IS NULL",
                       [time.time(), person_id])
            db.execute("DELETE FROM people WHERE id = ?", [person_id])
            self._bump_templates_revision()
        return {"person_id": person_id, "templates_erased": templates, "photos_erased": photos}

    # -- face templates --------------------------------------------------------------------
    def add_templates(self, person_id: int, encoder: str, vectors: list[np.ndarray], photos: list[bytes] = ()):
        self.person(person_id)
        now = _now_iso()
        with self.transaction() as db:
            ids = []
            for vector in vectors:
                vector = np.asarray(vector, dtype=np.float32).ravel()
                ids.append(
                    db["face_templates"].insert(
                        {
                            "person_id": person_id,
                            "vector": vector.tobytes(),
                            "encoder": encoder,
                            "dim": int(vector.size),
                            "created_at": now,
                        }
                    ).last_pk
                )
            for image in photos:
                db["face_photos"].insert({"person_id": person_id, "image": image, "created_at": now})
            db.execute("UPDATE people SET face_consent_at = coalesce(face_consent_at, ?) WHERE id = ?",
                       [now, person_id])
            self._bump_templates_revision()
        return ids

    def template_set(self, encoder: str) -> TemplateSet:
        """All templates of ``encoder`` as one float32 matrix (for the vectorised matcher)."""
        with self._lock:
            revision = self.templates_revision()
            rows = self.conn.execute(
                "SELECT person_id, vector, dim FROM face_templates WHERE encoder = ? ORDER BY id", (encoder,)
            ).fetchall()
        if not rows:
            return TemplateSet(encoder, np.zeros(0, np.int64), np.zeros((0, 0), np.float32), revision)
        dim = rows[0][2]
        matrix = np.frombuffer(b"".join(r[1] for r in rows if r[2] == dim), dtype=np.float32).reshape(-1, dim)
        ids = np.fromiter((r[0] for r in rows if r[2] == dim), dtype=np.int64)
        return TemplateSet(encoder, ids, matrix.copy(), revision)

    # -- vehicles --------------------------------------------------------------------------
    def upsert_vehicle(
        self,
        plate: str,
        vehicle_class: str,
        person_id: int | None = None,
        valid_from: str | None = None,
        valid_until: str | None = None,
        documents: list[str] | None = None,
    ) -> bool:
        """Register or update a vehicle (``plate`` already canonical); True when it was new."""
        if vehicle_class not in VEHICLE_CLASSES:
            raise RegistryError(f"unknown vehicle class {vehicle_class!r}; use one of {', '.join(VEHICLE_CLASSES)}")
        if person_id is not None:
            self.person(person_id)
        now = _now_iso()
        with self.transaction() as db:
            self._bump("vehicles_rev")
            existing = self.vehicle(plate)
            record = {
                "plate": plate,
                "class": vehicle_class,
                "person_id": person_id,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "documents": json.dumps(documents, ensure_ascii=False) if documents else None,
                "updated_at": now,
            }
            if existing:
                # Fields not given keep their registered value (a CSV re-import has no documents column).
                for key in ("valid_from", "documents"):
                    if record[key] is None:
                        record[key] = existing[key]
                db["vehicles"].update(plate, record)
            else:
                db["vehicles"].insert({**record, "created_at": now})
        return existing is None

    def vehicle(self, plate: str) -> dict | None:
        return self.query_one("SELECT * FROM vehicles WHERE plate = ?", (plate,))

    def vehicles(self) -> list[dict]:
        return self.query("SELECT * FROM vehicles ORDER BY plate")

    def remove_vehicle(self, plate: str) -> None:
        if self.vehicle(plate) is None:
            raise RegistryError(f"no vehicle with plate {plate}; see `gate-edge query --plate`")
        with self.transaction() as db:
            self._bump("vehicles_rev")
            db.execute("DELETE FROM vehicles WHERE plate = ?", [plate])

    # -- sightings -------------------------------------------------------------------------
    def last_seen(self, subject: str) -> dict | None:
        return self.query_one("SELECT * FROM last_seen WHERE subject = ?", (subject,))

    def note_seen(self, subject: str, ts_epoch: float, gate: str, event_id: str) -> None:
        """Record a sighting; an older sighting (a late peer event) never overwrites a newer one."""
        with self.transaction() as db:
            db.execute(
                "INSERT INTO last_seen(subject, ts_epoch, gate, event_id) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(subject) DO UPDATE SET ts_epoch = excluded.ts_epoch, gate = excluded.gate, "
                "event_id = excluded.event_id WHERE excluded.ts_epoch > last_seen.ts_epoch",
                [subject, ts_epoch, gate, event_id],
            )

    def open_session(self, plate: str) -> dict | None:
        return self.query_one(
            "SELECT * FROM parking_sessions WHERE plate = ? AND state = 'open' ORDER BY entry_epoch DESC LIMIT 1",
            (plate,),
        )


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
