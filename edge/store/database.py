"""The database object every service calls ``store``: one SQLite database with its repositories.

``Store`` opens (and creates, and upgrades) the database and hangs the repositories off it:
``store.people``, ``store.vehicles`` … (see ``edge.store``). Repositories are the only code that
writes SQL; they run it through ``Store.execute``/``rows``/``row`` so every statement takes the
store's lock. Its parts, each in its own module:

    connection    the file opened (0600, WAL, ``synchronous``), the lock, transactions, running statements
    translate     SQLite's errors sorted: what storage does is ``StorageFailure``, a mistake in SQL stays
    upgrade       the schema version, the missing migrations run, a database of a newer gate-edge refused
    maintenance   ``probe_write``, ``reusable_bytes``, ``checkpoint``

What stays here: the small named values (``kv_*``), the counters that never go back, the database's own
id, and the registry-change hook the office's publisher sets.
``Store(":memory:")`` is a complete, private database for fast tests of the data layer alone.
"""

from __future__ import annotations

import time
from pathlib import Path

from edge.store import upgrade as _upgrade
from edge.store.connection import Connection
from edge.store.errors import StorageFailure
from edge.store.maintenance import Maintenance
from edge.store.schema import SCHEMA_VERSION


class Store(Connection):
    """A gate's (or the office's) database. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, *, upgrade: bool = True, target_version: int = SCHEMA_VERSION,
                 synchronous: str = "FULL"):
        from edge.store.alert_log import AlertLog
        from edge.store.alerts import AlertRows
        from edge.store.console import ConsoleRows
        from edge.store.contacts import Contacts
        from edge.store.events import Events
        from edge.store.gates import GateStatus
        from edge.store.invites import Invites
        from edge.store.notifications import NotificationRows
        from edge.store.outbox import Outbox
        from edge.store.passes import Passes
        from edge.store.peer_progress import PeerProgress, Quarantine
        from edge.store.people import People, Templates
        from edge.store.portal import PortalRows
        from edge.store.records import RegistryRecords
        from edge.store.reports import Reports
        from edge.store.requests import SeenRequests
        from edge.store.sessions import Sessions
        from edge.store.sightings import Sightings
        from edge.store.vehicles import Vehicles

        super().__init__(path, synchronous=synchronous)
        # Set by the office (edge.site.registry_publish): called inside the transaction of every change to
        # a person, vehicle or pass, so the signed record is written with the change (DESIGN 6.4).
        self.on_registry_change = None
        # The time a person is registered at (``registered_at``, where a never-seen resident's care-watch
        # episode starts): the office sets its own clock, the demo's simulated time included.
        self.clock = time.time
        try:
            _upgrade.refuse_newer(self)
            if upgrade:
                _upgrade.migrate(self, target_version)
        except BaseException:
            self.close()
            raise
        self.maintenance = Maintenance(self)
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
        self.contacts = Contacts(self)
        self.portal = PortalRows(self)
        self.invites = Invites(self)

    # -- the schema ------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return _upgrade.version(self)

    def migrate(self, target: int = SCHEMA_VERSION) -> list[int]:
        """Apply the missing migrations up to ``target``, each in its own transaction."""
        return _upgrade.migrate(self, target)

    # -- small named values and counters ---------------------------------------------------
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

    # -- maintenance (edge.store.maintenance) -----------------------------------------------
    def probe_write(self, now: float, room_bytes: int = 0) -> None:
        self.maintenance.probe_write(now, room_bytes)

    def reusable_bytes(self) -> int:
        return self.maintenance.reusable_bytes()

    def checkpoint(self, *, truncate: bool = True) -> None:
        self.maintenance.checkpoint(truncate=truncate)
