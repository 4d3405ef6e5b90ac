"""The SQLite registry: pragmas, migrations from an older schema, erasure, templates as one matrix."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from edge.registry import SCHEMA_VERSION, Registry, RegistryError


def test_pragmas_wal_full_sync_busy_timeout_foreign_keys(registry):
    conn = registry.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert registry.version == SCHEMA_VERSION


def test_upgrade_from_version_1_keeps_people_vehicles_and_templates(tmp_path):
    path = tmp_path / "old.db"
    with Registry(path, target_version=1) as old:
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

    with Registry(path) as upgraded:
        assert upgraded.version == SCHEMA_VERSION
        assert upgraded.person(7)["name"] == "李桂兰"
        assert upgraded.vehicle("沪A12345")["person_id"] == 7
        templates = upgraded.template_set("dlib")
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
    with pytest.raises(RegistryError, match="upgrade gate-edge"):
        Registry(path)


def test_a_failed_migration_leaves_the_previous_version(tmp_path, monkeypatch):
    from edge import registry as module

    path = tmp_path / "half.db"
    with Registry(path, target_version=1):
        pass

    def broken(conn):
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("disk full")

    monkeypatch.setattr(module, "MIGRATIONS", [module.MIGRATIONS[0], broken, *module.MIGRATIONS[2:]])
    with pytest.raises(RuntimeError):
        Registry(path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0


def test_remove_person_erases_every_template_and_photo(registry):
    keep = registry.add_person("张三", "1-101")
    gone = registry.add_person("王秀英", "12-301", care_watch=True)
    registry.add_templates(keep, "dlib", [np.ones(128)])
    registry.add_templates(gone, "dlib", [np.ones(128), np.zeros(128)], photos=[b"jpeg-bytes"])
    registry.upsert_vehicle("沪A12345", "resident", gone)
    result = registry.remove_person(gone)
    assert result == {"person_id": gone, "templates_erased": 2, "photos_erased": 1}
    assert registry.query("SELECT count(*) AS n FROM face_templates WHERE person_id = ?", (gone,))[0]["n"] == 0
    assert registry.query("SELECT count(*) AS n FROM face_photos")[0]["n"] == 0
    assert registry.template_set("dlib").person_ids.tolist() == [keep]
    assert registry.vehicle("沪A12345")["person_id"] is None
    with pytest.raises(RegistryError, match="no person with id"):
        registry.person(gone)


def test_template_revision_moves_when_templates_change(registry):
    before = registry.templates_revision()
    person = registry.add_person("A", "1-1")
    registry.add_templates(person, "dlib", [np.ones(128)])
    assert registry.templates_revision() == before + 1
    registry.remove_person(person)
    assert registry.templates_revision() == before + 2


def test_template_sets_are_per_encoder(registry):
    person = registry.add_person("A", "1-1")
    registry.add_templates(person, "dlib", [np.ones(128)])
    registry.add_templates(person, "other", [np.ones(512)])
    assert registry.template_set("dlib").matrix.shape == (1, 128)
    assert registry.template_set("other").matrix.shape == (1, 512)
    assert registry.template_set("none").matrix.shape == (0, 0)


def test_transaction_is_all_or_nothing(registry):
    with pytest.raises(RegistryError), registry.transaction():
        registry.add_person("A", "1-1")
        registry.upsert_vehicle("沪A12345", "nonsense")
    assert registry.people() == []


def test_vehicle_class_is_checked(registry):
    with pytest.raises(RegistryError, match="unknown vehicle class 'taxi'"):
        registry.upsert_vehicle("沪A12345", "taxi")


def test_late_sighting_never_overwrites_a_newer_one(registry):
    registry.note_seen("person:1", 200.0, "west", "e2")
    registry.note_seen("person:1", 100.0, "east", "e1")
    assert registry.last_seen("person:1")["gate"] == "west"


def test_retention_deletes_old_sent_rows_never_unsent_ones(config, registry):
    import time

    from edge.alerts import Alerts
    from edge.jobs import Jobs
    from edge.outbox import Outbox, enqueue

    old = time.time() - 200 * 86400
    with registry.transaction() as db:
        for n, event_id in enumerate(("sent-old", "unsent-old")):
            db["events"].insert({"event_id": event_id, "ts": "x", "ts_epoch": old, "gate": "east", "kind": "entry",
                                 "origin": "local", "payload": "{}"})
            enqueue(db, "gate/x/event/entry", {"n": n}, msg_id=f"event:{event_id}", now=old)
    sent_seq = registry.query_one("SELECT seq FROM outbox WHERE msg_id = 'event:sent-old'")["seq"]
    Outbox(registry).mark_sent([sent_seq], now=old)
    result = Jobs(config, registry, Alerts(config, registry)).retention()
    assert result == {"events": 1, "outbox": 1, "snapshots": 0}
    assert [r["event_id"] for r in registry.query("SELECT event_id FROM events")] == ["unsent-old"]
    assert [r["msg_id"] for r in registry.query("SELECT msg_id FROM outbox")] == ["event:unsent-old"]


def test_a_session_open_for_too_long_is_reported_once(config, registry):
    import json
    import time

    from edge.alerts import Alerts
    from edge.jobs import Jobs

    with registry.transaction() as db:
        db["parking_sessions"].insert({"session_id": "s1", "plate": "沪A12345", "vehicle_class": "visitor",
                                       "state": "open", "entry_epoch": time.time() - 8 * 86400})
        db["parking_sessions"].insert({"session_id": "s2", "plate": "沪B12345", "vehicle_class": "visitor",
                                       "state": "open", "entry_epoch": time.time() - 86400})
    jobs = Jobs(config, registry, Alerts(config, registry))
    assert jobs.stale_sessions() == 1
    assert jobs.stale_sessions() == 0  # reported once, not every day
    [alert] = [json.loads(r["payload"]) for r in registry.query("SELECT payload FROM outbox")]
    assert alert["device"] == "parking:沪A12345" and "open for 8.0 days" in alert["detail"]
    assert registry.open_session("沪A12345") is not None  # reported, not closed or charged
