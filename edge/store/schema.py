"""The database schema: every table, as the ordered list of migrations that builds it.

A database's ``PRAGMA user_version`` is the number of migrations applied. ``Store`` applies the
missing ones at open, each in its own transaction, and refuses a database from a newer gate-edge.
Migrations are never edited once released: a change is a new migration at the end.
"""

from __future__ import annotations


def _m1_people_and_vehicles(conn) -> None:
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


def _m2_daemon_state(conn) -> None:
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


def _m3_template_encoder_and_photos(conn) -> None:
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


def _m4_stranger_snapshots(conn) -> None:
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


def _m5_event_seq_and_contract_v1(conn) -> None:
    # Contract v1 (DESIGN 4.3): every event carries its gate's "seq" (1, 2, 3 ... no gaps, never reused)
    # and every payload "v": 1. The counter lives in its own table, so retention deleting old events
    # can never make a number come round again. The gate's own past events are numbered in the order
    # they happened; those still waiting in the outbox leave with their seq and v, as do replays.
    # A peer's event keeps the seq it came with (none from gates older than this migration).
    conn.executescript(
        """
        ALTER TABLE events ADD COLUMN seq INTEGER;
        CREATE TABLE sequences (
            name TEXT PRIMARY KEY,
            next INTEGER NOT NULL CHECK (next >= 1)
        );
        UPDATE events SET seq = (
            SELECT count(*) FROM events e WHERE e.origin = 'local'
            AND (e.ts_epoch < events.ts_epoch OR (e.ts_epoch = events.ts_epoch AND e.rowid <= events.rowid))
        ) WHERE origin = 'local';
        INSERT INTO sequences(name, next)
            SELECT 'event', coalesce(max(seq), 0) + 1 FROM events WHERE origin = 'local';
        CREATE UNIQUE INDEX events_gate_seq ON events(gate, seq) WHERE seq IS NOT NULL;
        UPDATE events SET payload = json_set(payload, '$.v', 1, '$.seq', seq) WHERE origin = 'local';
        UPDATE outbox SET payload = json_set(payload, '$.v', 1, '$.seq',
            (SELECT seq FROM events WHERE 'event:' || events.event_id = outbox.msg_id))
            WHERE sent_epoch IS NULL AND msg_id LIKE 'event:%';
        UPDATE outbox SET payload = json_set(payload, '$.v', 1)
            WHERE sent_epoch IS NULL AND msg_id NOT LIKE 'event:%';
        """
    )


def _m6_site_registry(conn) -> None:
    # DESIGN 6: the office's signed registry records (the office writes them, gates keep what they applied),
    # the office's archive of each gate's last status, and person ids that are never reused: removing
    # the newest person must not hand their id (and their open inactivity alert) to the next one.
    conn.executescript(
        """
        CREATE TABLE registry_records (
            key TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            version INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL
        );
        CREATE INDEX registry_records_version ON registry_records(epoch, version);
        CREATE TABLE gate_status (
            gate TEXT PRIMARY KEY,
            state TEXT,
            ts_epoch REAL,
            received_epoch REAL NOT NULL,
            payload TEXT NOT NULL
        );
        INSERT INTO sequences(name, next) SELECT 'person', coalesce(max(id), 0) + 1 FROM people;
        """
    )


def _m7_parking_state(conn) -> None:
    # A held exit lives in the database, not in memory (a restart must not forget which barrier the car
    # waits at), and a closed session says why it closed (an exit, or a new entry that superseded it).
    conn.executescript(
        """
        ALTER TABLE parking_sessions ADD COLUMN held_barrier TEXT;
        ALTER TABLE parking_sessions ADD COLUMN held_lane TEXT;
        ALTER TABLE parking_sessions ADD COLUMN held_epoch REAL;
        ALTER TABLE parking_sessions ADD COLUMN held_gate TEXT;
        ALTER TABLE parking_sessions ADD COLUMN closed_reason TEXT;
        UPDATE parking_sessions SET closed_reason = CASE WHEN exit_gate IS NULL THEN 'superseded' ELSE 'exit' END
            WHERE state = 'closed';
        """
    )


def _m8_console(conn) -> None:
    # The committee's console (DESIGN 6.5): login sessions (the token's hash, never the token), the
    # acknowledgement of an alert (who, when, the note), and the audit of every write made through it.
    conn.executescript(
        """
        CREATE TABLE console_sessions (
            token_hash TEXT PRIMARY KEY,
            username TEXT NOT NULL,
            role TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_epoch REAL NOT NULL,
            expires_epoch REAL NOT NULL
        );
        CREATE TABLE alert_acks (
            alert_id TEXT PRIMARY KEY,
            acked_epoch REAL NOT NULL,
            username TEXT NOT NULL,
            note TEXT NOT NULL
        );
        CREATE TABLE console_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            ts_epoch REAL NOT NULL,
            username TEXT NOT NULL,
            role TEXT,
            action TEXT NOT NULL,
            target TEXT,
            detail TEXT NOT NULL DEFAULT '{}',
            outcome TEXT NOT NULL
        );
        CREATE INDEX console_audit_ts ON console_audit(ts_epoch);
        """
    )


def _m9_peer_trust(conn) -> None:
    # Issue 15: what arrived from each peer (the seq up to which nothing is missing, and the highest
    # seen), so a gap is asked for again; and the peer events refused as implausible, kept aside where
    # the office can see them instead of applied.
    conn.executescript(
        """
        CREATE TABLE peer_progress (
            gate TEXT PRIMARY KEY,
            contiguous INTEGER NOT NULL,
            highest INTEGER NOT NULL,
            gap_since_epoch REAL,
            asked_epoch REAL
        );
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            received_epoch REAL NOT NULL,
            gate TEXT,
            topic TEXT,
            reason TEXT NOT NULL,
            payload TEXT NOT NULL
        );
        CREATE INDEX quarantine_received ON quarantine(received_epoch);
        """
    )


def _m10_outbox_hold(conn) -> None:
    # Issue 20: the barrier pulses outside the gate's decision lock, after its event is committed. The
    # event's outbox row waits (held) until the pulse's result is written into it as the ``barrier``
    # field; the outbox publishes nothing past a held row, so events still leave in seq order.
    conn.executescript(
        """
        ALTER TABLE outbox ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX outbox_held ON outbox(seq) WHERE held = 1;
        """
    )


def _m11_report_indexes(conn) -> None:
    # Issue 18: the console's reports count a year of archive (about 3000 passages a day, 1.1 M events).
    # Measured over 1.1 M events on the office's machine: passages per day for 30 days 151 ms with the
    # time index alone, 63 ms when the index also covers kind, gate and decision (it replaces the time
    # index, so a gate's event insert updates no more indexes than before); fees per day need a
    # session's earlier payments (a scan of the whole archive per payment without events_session), and
    # the car park's occupancy the next entry of a superseded car (a scan per superseded stay without
    # parking_plate_entry).
    conn.executescript(
        """
        CREATE INDEX events_time ON events(ts_epoch, kind, gate, decision);
        DROP INDEX events_ts;
        CREATE INDEX events_session ON events(session_id, ts_epoch) WHERE session_id IS NOT NULL;
        CREATE INDEX parking_plate_entry ON parking_sessions(plate, entry_epoch);
        """
    )


def _m12_quarantine_summary(conn) -> None:
    # Issue 26: a refused peer event is kept as a bounded summary (the first bytes, the length and the
    # sha256 of the whole payload), not the payload: junk on a gate's topic filled every disk. Rows kept
    # before are cut to the same size here (their hash cannot be known any more).
    conn.executescript(
        """
        ALTER TABLE quarantine ADD COLUMN length INTEGER;
        ALTER TABLE quarantine ADD COLUMN sha256 TEXT;
        UPDATE quarantine SET length = length(CAST(payload AS BLOB)), payload = substr(payload, 1, 512);
        """
    )


def _m13_console_credential(conn) -> None:
    # Issue 26: a session ends when its user's role or password changes, or the user is removed: it keeps
    # a fingerprint of the user's line in the users file as it was at login (``users.credential``), which
    # every request compares. Sessions from before have none: they end (the user logs in again).
    conn.executescript("ALTER TABLE console_sessions ADD COLUMN credential TEXT NOT NULL DEFAULT '';")


def _m14_registry_replaced(conn) -> None:
    # Issue 26 (DESIGN 6.4 registry_id): a gate whose office's registry is replaced by a new one keeps
    # its copy of the old registry here (the signed records, as they were applied) instead of erasing
    # it, until an admin confirms the replacement (``gate-edge confirm-replace``).
    conn.executescript(
        """
        CREATE TABLE registry_replaced (
            registry_id TEXT NOT NULL,
            key TEXT NOT NULL,
            kind TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            version INTEGER NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            payload TEXT NOT NULL,
            set_aside_epoch REAL NOT NULL,
            PRIMARY KEY (registry_id, key)
        );
        """
    )


def _m15_alert_streams(conn) -> None:
    # Issue 26: alerts are signed and numbered per gate (``seq`` of their own, DESIGN 6.1), replayed like
    # events. ``alert_log`` holds each numbered alert message as published: at a gate, its own (what a
    # replay answers with); at the office, what arrived from each gate (once per (gate, seq)), with
    # ``applied`` 0 for a "cleared" still waiting for the sighting it names. ``alert_progress`` is
    # ``peer_progress`` for the alert streams.
    conn.executescript(
        """
        CREATE TABLE alert_log (
            gate TEXT NOT NULL,
            seq INTEGER NOT NULL,
            alert_id TEXT NOT NULL,
            state TEXT NOT NULL,
            topic TEXT NOT NULL,
            payload TEXT NOT NULL,
            event_id TEXT,
            logged_epoch REAL NOT NULL,
            applied INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (gate, seq)
        );
        CREATE INDEX alert_log_waiting ON alert_log(event_id) WHERE applied = 0;
        CREATE INDEX alert_log_alert ON alert_log(alert_id);
        CREATE INDEX alert_log_time ON alert_log(logged_epoch);
        CREATE TABLE alert_progress (
            gate TEXT PRIMARY KEY,
            contiguous INTEGER NOT NULL,
            highest INTEGER NOT NULL,
            gap_since_epoch REAL,
            asked_epoch REAL
        );
        """
    )


def _m16_alert_detail_codes(conn) -> None:
    # Issue 27: a device alert's detail is a phrase (edge.schemas.phrases): beside its English text, the
    # stable code and its parameters (JSON), so the console says it in its own language. NULL: an alert
    # written before, or from a gate older than the codes; its text is shown.
    conn.executescript(
        """
        ALTER TABLE alerts ADD COLUMN detail_code TEXT;
        ALTER TABLE alerts ADD COLUMN detail_params TEXT;
        """
    )


def _m17_notifications(conn) -> None:
    # Issue 28 (DESIGN 7): the office tells people. ``notify_messages``: one row per (alert_id, step,
    # recipient), queued in the transaction that archives the alert or reaches the step, then
    # queued -> sending -> sent | failed (back to queued with a later next_try_epoch while retrying); the
    # message id is kept for life, so a message caught ``sending`` by a crash goes again with the same id.
    # ``notify_alerts``: the alerts people are told about, with the short code an SMS reply acknowledges
    # by, how many steps were reached and who acknowledged. ``notify_channels``: each channel's consecutive
    # failures (the notify:<channel> device alert) and its last result (the admin's channels page).
    conn.executescript(
        """
        CREATE TABLE notify_messages (
            message_id TEXT PRIMARY KEY,
            alert_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            step TEXT NOT NULL,
            recipient TEXT NOT NULL,
            channel TEXT NOT NULL,
            address TEXT,
            text TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_try_epoch REAL NOT NULL,
            created_epoch REAL NOT NULL,
            sent_epoch REAL,
            error TEXT,
            UNIQUE (alert_id, step, recipient)
        );
        CREATE INDEX notify_messages_due ON notify_messages(channel, next_try_epoch) WHERE state = 'queued';
        CREATE INDEX notify_messages_created ON notify_messages(created_epoch);
        CREATE TABLE notify_alerts (
            alert_id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            code TEXT UNIQUE NOT NULL,
            person_id INTEGER,
            raised_epoch REAL NOT NULL,
            steps_done INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acked', 'cleared')),
            acked_by TEXT,
            ack_note TEXT,
            acked_epoch REAL,
            ack_via TEXT,
            cleared_epoch REAL
        );
        CREATE INDEX notify_alerts_open ON notify_alerts(kind) WHERE state = 'open';
        CREATE TABLE notify_channels (
            channel TEXT PRIMARY KEY,
            failures INTEGER NOT NULL DEFAULT 0,
            last_state TEXT,
            last_epoch REAL,
            last_error TEXT
        );
        """
    )


def _m18_contacts_and_away(conn) -> None:
    # Issue 28 (DESIGN 7). ``person_contacts``: the people told about a care-watch resident (family,
    # neighbours, the building leader, the grid worker), at the office only: never in a registry record,
    # never at a gate. ``consent_at`` (YYYY-MM-DD) NULL: kept, never told. ``position`` keeps the order the
    # console shows. Away: ``away_until`` (ISO-8601 instant, the end of the pause) and ``away_since`` (when
    # it was set: a sighting after it ends it) travel on the signed person record to every gate; the
    # reason, who set it and when the office told of its end stay at the office.
    conn.executescript(
        """
        CREATE TABLE person_contacts (
            id INTEGER PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL,
            phone TEXT NOT NULL,
            relation TEXT NOT NULL CHECK (relation IN ('family', 'neighbour', 'building_leader', 'grid_worker')),
            consent_at TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX person_contacts_person ON person_contacts(person_id, position);
        ALTER TABLE people ADD COLUMN away_until TEXT;
        ALTER TABLE people ADD COLUMN away_since TEXT;
        ALTER TABLE people ADD COLUMN away_reason TEXT;
        ALTER TABLE people ADD COLUMN away_by TEXT;
        ALTER TABLE people ADD COLUMN away_ended_at TEXT;
        """
    )


def _m19_portal(conn) -> None:
    # Issue 29 (DESIGN 8): the residents' portal. ``portal_codes``: every login code asked for, for a
    # registered number or not (``person_id`` NULL: nobody has it, and no SMS left), so the limits count
    # both alike; the number only as a hash (``phone_key``), the code only salted and hashed. ``portal_sessions``:
    # a resident's session (the token's hash, never the token), tied to the person and the number they
    # logged in with; erasing the person ends it.
    conn.executescript(
        """
        CREATE TABLE portal_codes (
            id INTEGER PRIMARY KEY,
            phone_key TEXT NOT NULL,
            client TEXT NOT NULL,
            person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            salt TEXT NOT NULL,
            code_hash TEXT NOT NULL,
            created_epoch REAL NOT NULL,
            expires_epoch REAL NOT NULL,
            tries INTEGER NOT NULL DEFAULT 0,
            used_epoch REAL,
            message_id TEXT
        );
        CREATE INDEX portal_codes_phone ON portal_codes(phone_key, created_epoch);
        CREATE INDEX portal_codes_client ON portal_codes(client, created_epoch);
        CREATE INDEX portal_codes_created ON portal_codes(created_epoch);
        CREATE TABLE portal_sessions (
            token_hash TEXT PRIMARY KEY,
            person_id INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
            phone_key TEXT NOT NULL,
            csrf TEXT NOT NULL,
            created_epoch REAL NOT NULL,
            expires_epoch REAL NOT NULL
        );
        CREATE INDEX portal_sessions_person ON portal_sessions(person_id);
        """
    )


def _m20_invitations(conn) -> None:
    # Issue 29 (DESIGN 8): residents invite. A car is registered for a window of at most a day:
    # ``valid_from_at``/``valid_until_at`` (ISO-8601 instants with their offset) narrow the whole days of
    # ``valid_from``/``valid_until``, travel as added fields of the signed vehicle record (older gates keep
    # to the days) and are NULL for every other vehicle. A visitor on foot gets a pass whose subject is a
    # unit (``subject_type`` visitor, ``unit``): SQLite cannot widen a CHECK, so ``passes`` is rebuilt.
    # ``invites``: the office's own list (who invited whom, when, cancelled by whom); never published: the
    # gates know an invitation only as a vehicle record or a pass.
    conn.executescript(
        """
        ALTER TABLE vehicles ADD COLUMN valid_from_at TEXT;
        ALTER TABLE vehicles ADD COLUMN valid_until_at TEXT;
        CREATE TABLE passes_new (
            pass_id TEXT PRIMARY KEY,
            subject_type TEXT NOT NULL CHECK (subject_type IN ('person', 'vehicle', 'visitor')),
            person_id INTEGER,
            plate TEXT,
            issued_epoch REAL NOT NULL,
            valid_until_epoch REAL NOT NULL,
            revoked_epoch REAL,
            unit TEXT
        );
        INSERT INTO passes_new(pass_id, subject_type, person_id, plate, issued_epoch, valid_until_epoch,
                               revoked_epoch)
            SELECT pass_id, subject_type, person_id, plate, issued_epoch, valid_until_epoch, revoked_epoch
            FROM passes;
        DROP TABLE passes;
        ALTER TABLE passes_new RENAME TO passes;
        CREATE TABLE invites (
            id INTEGER PRIMARY KEY,
            unit TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('car', 'visitor')),
            plate TEXT,
            vehicle_class TEXT CHECK (vehicle_class IN ('family', 'visitor')),
            name TEXT,
            pass_id TEXT,
            valid_from_epoch REAL NOT NULL,
            valid_until_epoch REAL NOT NULL,
            by_person_id INTEGER REFERENCES people(id) ON DELETE SET NULL,
            made_by TEXT NOT NULL,
            created_epoch REAL NOT NULL,
            cancelled_epoch REAL,
            cancelled_by TEXT,
            CHECK ((kind = 'car') = (plate IS NOT NULL AND vehicle_class IS NOT NULL)),
            CHECK ((kind = 'visitor') = (pass_id IS NOT NULL))
        );
        CREATE INDEX invites_unit ON invites(unit, created_epoch);
        CREATE INDEX invites_plate ON invites(plate);
        """
    )


MIGRATIONS = [
    _m1_people_and_vehicles,
    _m2_daemon_state,
    _m3_template_encoder_and_photos,
    _m4_stranger_snapshots,
    _m5_event_seq_and_contract_v1,
    _m6_site_registry,
    _m7_parking_state,
    _m8_console,
    _m9_peer_trust,
    _m10_outbox_hold,
    _m11_report_indexes,
    _m12_quarantine_summary,
    _m13_console_credential,
    _m14_registry_replaced,
    _m15_alert_streams,
    _m16_alert_detail_codes,
    _m17_notifications,
    _m18_contacts_and_away,
    _m19_portal,
    _m20_invitations,
]
SCHEMA_VERSION = len(MIGRATIONS)
