"""The data layer: the one owner of the database schema, its migrations and every SQL statement.

Nothing outside this package opens a connection or writes SQL (a test checks it). A ``Store`` is one
SQLite database (the gate's, or the CLI's view of it) with a repository per concern:

    store.people      people                       who is registered, who is away (erasure erases everywhere)
    store.contacts    person_contacts              the office: who is told about a resident (never to gates)
    store.templates   face_templates, face_photos  face templates by encoder; kept photos (opt-in)
    store.vehicles    vehicles                     plates, classes, permits
    store.passes      passes                       QR passes issued and revoked
    store.invites     invites                      the office: residents' invitations (cars, visitors on foot)
    store.events      events, sequences, snapshots own events numbered by seq; peers' events once each
    store.outbox      outbox                       messages for the broker, in order, until PUBACK
    store.alerts      alerts                       device alerts and inactivity episodes
    store.sightings   last_seen                    when each person and plate was last seen, where
    store.sessions    parking_sessions             parking stays: open, superseded, paid, closed
    store.requests    seen_requests                signed command ids already accepted (replay guard)
    store.records     registry_records             the office's signed registry records (published/applied)
    store.gates       gate_status                  the office: each gate's last status and when it was heard
    store.peers       peer_progress                each peer's seq: up to where nothing is missing, highest
    store.quarantine  quarantine                   peer events refused as implausible, kept aside
    store.alert_peers alert_progress               each gate's alert seq, as store.peers for events
    store.alert_log   alert_log                    numbered alert messages (a gate's own; what the office got)
    store.console     console_sessions, alert_acks, console_audit   the office's console: logins, acks, audit
    store.reports     (reads events, parking_sessions, alerts)      the console's reports: counts per hour, day
    store.notifications notify_messages, notify_alerts, notify_channels  the office: messages to people, by step
    (kv)                                           change counters: templates_rev, vehicles_rev

What retention deletes, on the gate and at the office alike: ``edge.store.retention``.

``Store(":memory:")`` gives a complete private database for fast tests of this layer alone.
"""

from edge.store.database import Store
from edge.store.errors import OPEN_FAILURES, RegistryError, SchemaTooNew, StorageFailure
from edge.store.people import TemplateSet
from edge.store.schema import SCHEMA_VERSION
from edge.store.vehicles import VEHICLE_CLASSES

__all__ = ["Store", "RegistryError", "SchemaTooNew", "StorageFailure", "OPEN_FAILURES", "TemplateSet",
           "SCHEMA_VERSION", "VEHICLE_CLASSES"]
