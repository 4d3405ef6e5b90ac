"""The SQLite registry: pragmas, migrations from an older schema, erasure, templates as one matrix."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from edge.store import SCHEMA_VERSION, RegistryError, SchemaTooNew, Store


def test_pragmas_wal_full_sync_busy_timeout_foreign_keys(store):
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.version == SCHEMA_VERSION


def test_upgrade_from_version_1_keeps_people_vehicles_and_templates(tmp_path):
    path = tmp_path / "old.db"
    with Store(path, target_version=1) as old:
        assert old.version == 1
        old.conn.execute(
            "INSERT INTO people(id, name, unit, created_at, updated_at) VALUES (7, '李桂兰', '3-402', 'x', 'x')"
        )
        old.conn.execute(
            "INSERT INTO face_templates(person_id, vector, created_at) VALUES (7, ?, 'x')",
            [np.arange(128, dtype=np.float32).tobytes()],
        )
        old.conn.execute(
            "INSERT INTO vehicles(plate, class, person_id, created_at, updated_at) "
            "VALUES ('沪A12345', 'resident', 7, 'x', 'x')"
        )
        assert "events" not in old.db.table_names()

    with Store(path) as upgraded:
        assert upgraded.version == SCHEMA_VERSION
        assert upgraded.people.get(7)["name"] == "李桂兰"
        assert upgraded.vehicles.get("沪A12345")["person_id"] == 7
        templates = upgraded.templates.template_set("dlib")
        assert templates.person_ids.tolist() == [7]
        assert templates.matrix.shape == (1, 128)
        assert templates.matrix[0, 5] == 5.0
        assert {"events", "outbox", "parking_sessions", "last_seen", "alerts", "passes", "snapshots"} <= set(
            upgraded.db.table_names()
        )


def test_newer_database_is_refused_with_advice(tmp_path):
    path = tmp_path / "future.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="written by a newer gate-edge"):
        Store(path)


def test_a_failed_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    from edge.store import upgrade as module

    path = tmp_path / "half.db"
    with Store(path, target_version=1):
        pass

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "MIGRATIONS", [module.MIGRATIONS[0], broken, *module.MIGRATIONS[2:]])
    with pytest.raises(RuntimeError):
        Store(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0


def test_remove_person_erases_every_template_and_photo(store):
    keep = store.people.add("张三", "1-101")
    gone = store.people.add("王秀英", "12-301", care_watch=True)
    store.templates.add(keep, "dlib", [np.ones(128)])
    store.templates.add(gone, "dlib", [np.ones(128), np.zeros(128)], photos=[b"jpeg-bytes"])
    store.vehicles.upsert("沪A12345", "resident", gone)
    result = store.people.remove(gone)
    assert result == {"person_id": gone, "templates_erased": 2, "photos_erased": 1, "contacts_erased": 0}
    assert store.templates.count(gone) == 0
    assert store.templates.photo_count() == 0
    assert store.templates.template_set("dlib").person_ids.tolist() == [keep]
    assert store.vehicles.get("沪A12345")["person_id"] is None
    with pytest.raises(RegistryError, match="no person with id"):
        store.people.get(gone)


def test_template_revision_moves_when_templates_change(store):
    before = store.templates.revision()
    person = store.people.add("A", "1-1")
    store.templates.add(person, "dlib", [np.ones(128)])
    assert store.templates.revision() == before + 1
    store.people.remove(person)
    assert store.templates.revision() == before + 2


def test_template_sets_are_per_encoder(store):
    person = store.people.add("A", "1-1")
    store.templates.add(person, "dlib", [np.ones(128)])
    store.templates.add(person, "other", [np.ones(512)])
    assert store.templates.template_set("dlib").matrix.shape == (1, 128)
    assert store.templates.template_set("other").matrix.shape == (1, 512)
    assert store.templates.template_set("none").matrix.shape == (0, 0)


def test_transaction_is_all_or_nothing(store):
    with pytest.raises(RegistryError), store.transaction():
        store.people.add("A", "1-1")
        store.vehicles.upsert("沪A12345", "nonsense")
    assert store.people.all() == []


def test_vehicle_class_is_checked(store):
    with pytest.raises(RegistryError, match="unknown vehicle class 'taxi'"):
        store.vehicles.upsert("沪A12345", "taxi")


def test_late_sighting_never_overwrites_a_newer_one(store):
    store.sightings.note("person:1", 200.0, "west", "e2")
    store.sightings.note("person:1", 100.0, "east", "e1")
    assert store.sightings.get("person:1")["gate"] == "west"


def test_retention_deletes_old_sent_rows_never_unsent_ones(config, store):
    import time

    from edge.alerts import Alerts
    from edge.gate.jobs import Jobs
    old = time.time() - 200 * 86400
    with store.transaction():
        for n, event_id in enumerate(("sent-old", "unsent-old")):
            store.events.add_local({"event_id": event_id, "seq": store.events.next_seq(), "ts": "x",
                                       "gate": "east", "kind": "entry"}, old)
            store.outbox.enqueue("gate/x/event/entry", {"n": n}, msg_id=f"event:{event_id}", now=old)
    [sent_seq] = [m["seq"] for m in store.outbox.messages() if m["msg_id"] == "event:sent-old"]
    store.outbox.mark_sent([sent_seq], now=old)
    result = Jobs(config, store, Alerts(config, store)).retention()
    assert result == {"events": 1, "outbox": 1, "snapshots": 0, "quarantine": 0}
    assert store.events.ids() == {"unsent-old"}
    assert [m["msg_id"] for m in store.outbox.messages()] == ["event:unsent-old"]


def test_a_session_open_for_too_long_is_reported_once(config, store):
    import time

    from edge.alerts import Alerts
    from edge.gate.jobs import Jobs

    store.sessions.open("s1", "沪A12345", "visitor", time.time() - 8 * 86400, "east", "e1")
    store.sessions.open("s2", "沪B12345", "visitor", time.time() - 86400, "east", "e2")
    jobs = Jobs(config, store, Alerts(config, store))
    assert jobs.stale_sessions() == 1
    assert jobs.stale_sessions() == 0  # reported once, not every day
    [alert] = [m["payload"] for m in store.outbox.messages()]
    assert alert["device"] == "parking:沪A12345" and "open for 8.0 days" in alert["detail"]
    assert store.sessions.open_for("沪A12345") is not None  # reported, not closed or charged
