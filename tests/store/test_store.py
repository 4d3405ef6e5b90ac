"""The data layer alone, in memory: repositories, seq numbering, the migration of a real older database,
and the rule that nothing outside ``edge.store`` writes SQL."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from edge.store import SCHEMA_VERSION, SchemaTooNew, Store

REPO = Path(__file__).resolve().parents[2]
V4_DB = Path(__file__).parents[1] / "data" / "db" / "registry-v4.db"


@pytest.fixture
def store():
    with Store(":memory:") as s:
        yield s


def _event(store, kind="entry", **fields) -> dict:
    payload = {"event_id": fields.pop("event_id", f"e{store.events.next_seq()}"), "ts": "t", "gate": "east",
               "kind": kind, **fields}
    return payload


def test_an_in_memory_store_is_a_complete_database(store):
    assert store.version == SCHEMA_VERSION
    person = store.people.add("王建国", "12-301", care_watch=True)
    store.templates.add(person, "ensemble", [np.ones(4)])
    store.vehicles.upsert("沪A12345", "resident", person, valid_until="2099-12-31")
    assert store.people.all()[0]["templates"] == 1 and store.people.all()[0]["plates"] == "沪A12345"
    assert store.vehicles.of_person(person)[0]["plate"] == "沪A12345"


def test_seq_is_gap_free_and_a_rolled_back_event_does_not_use_its_number(store):
    with store.transaction():
        assert store.events.next_seq() == 1
    with pytest.raises(RuntimeError), store.transaction():
        assert store.events.next_seq() == 2
        raise RuntimeError("the event could not be stored")
    with store.transaction():
        assert store.events.next_seq() == 2  # the rolled-back number is used by the next event, no gap


def test_seq_is_never_reused_after_retention_deleted_every_event(store):
    with store.transaction():
        for _ in range(3):
            seq = store.events.next_seq()
            store.events.add_local({"event_id": f"e{seq}", "seq": seq, "ts": "t", "gate": "east", "kind": "entry"},
                                   100.0)
    assert store.events.delete_before(1e12) == 3
    with store.transaction():
        assert store.events.next_seq() == 4


def test_a_peer_event_is_stored_once_and_a_reused_seq_is_a_conflict(store):
    first = {"event_id": "a", "seq": 5, "ts": "t", "gate": "west", "kind": "entry"}
    assert store.events.add_peer(first, 1.0) == "new"
    assert store.events.add_peer(first, 1.0) == "duplicate"
    assert store.events.add_peer({**first, "event_id": "b"}, 1.0) == "conflict"
    assert store.events.add_peer({**first, "event_id": "c", "gate": "north"}, 1.0) == "new"  # seq is per gate
    assert store.events.seqs("west") == [5]


def test_sessions_open_supersede_pay_close(store):
    assert store.sessions.open("s1", "沪A12345", "visitor", 100.0, "east", "e1")
    assert not store.sessions.open("s1", "沪A12345", "visitor", 100.0, "east", "e1")  # idempotent
    assert store.sessions.occupied() == 1
    store.sessions.record_payment("s1", 300, 200.0)
    store.sessions.record_payment("s1", 100, 210.0)  # a late, smaller total changes nothing
    assert store.sessions.get("s1")["paid_cents"] == 300
    assert store.sessions.close("s1", 300.0, "west", "e2")
    assert store.sessions.get("s1")["fee_cents"] == 300 and store.sessions.occupied() == 0
    assert store.sessions.open("s2", "沪A12345", "visitor", 400.0, "east", "e3")
    assert store.sessions.supersede("s2") and not store.sessions.supersede("s2")
    assert store.sessions.open_for("沪A12345") is None


def test_erasing_a_person_erases_them_everywhere(store):
    person = store.people.add("王秀英", "12-301", care_watch=True)
    store.templates.add(person, "ensemble", [np.ones(4)], photos=[b"jpeg"])
    store.sightings.note(f"person:{person}", 10.0, "east", "e1")
    store.passes.record("p1", "person", person, None, 0, 10**10)
    store.alerts.add("a1", "inactivity", f"person:{person}", 3.0, "unseen since 2026-11-20")
    store.alerts.add("a2", "inactivity", "person:999", 3.0, "someone else")
    store.people.remove(person, now=5.0)
    assert store.templates.count() == 0 and store.templates.photo_count() == 0
    assert store.sightings.get(f"person:{person}") is None
    assert store.passes.get("p1")["revoked_epoch"] == 5.0
    # an open care-watch alert for them would stay open for ever (nothing can clear it): cleared now
    assert (store.alerts.get("a1")["state"], store.alerts.get("a1")["cleared_epoch"]) == ("cleared", 5.0)
    assert store.alerts.get("a2")["state"] == "raised"


def test_request_ids_are_remembered_for_a_month_whatever_the_window(store):
    from edge.store.requests import REMEMBER_S

    assert store.requests.remember("r1", 1000.0, 60) is False
    assert store.requests.remember("r1", 1050.0, 60) is True
    # a day later, when a clock moved (the office's) could make the captured command look fresh: a replay
    assert store.requests.remember("r1", 1000.0 + 86400, 60) is True
    assert store.requests.remember("r1", 1000.0 + 86400 + REMEMBER_S + 1, 60) is False  # pruned after a month


def test_a_newer_database_is_refused_before_anything_is_read(tmp_path):
    path = tmp_path / "future.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    with pytest.raises(SchemaTooNew, match=f"schema version {SCHEMA_VERSION + 3} was written by a newer gate-edge"):
        Store(path)
    with pytest.raises(SchemaTooNew):
        Store(path, upgrade=False)  # the MQTT link's own connection refuses it too


def test_a_database_made_by_the_version_before_the_data_layer_migrates_in_place(tmp_path):
    path = tmp_path / "registry.db"
    shutil.copy(V4_DB, path)
    with Store(path) as store:
        assert store.version == SCHEMA_VERSION
        people = {p["name"]: p for p in store.people.all()}
        assert set(people) == {"王建国", "李桂兰"} and people["王建国"]["templates"] == 1
        assert store.templates.template_set("ensemble").matrix.shape == (2, 8)
        assert store.templates.photo_count() == 1
        assert {v["plate"] for v in store.vehicles.all()} == {"皖AY6B59", "皖AF06789", "沪B99999"}
        assert sum(1 for p in store.passes.all() if p["revoked_epoch"]) == 1
        assert {s["plate"] for s in store.sessions.open_sessions()} == {"皖AY6B59", "沪A11111"}
        assert store.alerts.open_device("camera:east-face-in") is not None
        assert store.requests.remember("office-1", 1795000000.0, 300) is True
        # The gate's own events are numbered in the order they happened; the peer's keep none.
        own = store.events.payloads(origin="local")
        assert [e["seq"] for e in own] == [1, 2, 3, 4, 5] and all(e["v"] == 1 for e in own)
        assert len(store.events.payloads(origin="peer")) == 1 and store.events.seqs("west") == []
        # Messages still waiting for the broker leave with v (and events with their seq); sent ones are history.
        waiting = store.outbox.messages(unsent_only=True)
        assert waiting and all(m["payload"]["v"] == 1 for m in waiting)
        seqs = {m["payload"]["event_id"]: m["payload"]["seq"] for m in waiting if "/event/" in m["topic"]}
        assert seqs == {e["event_id"]: e["seq"] for e in own if e["event_id"] in seqs}
        # The next event continues the numbering.
        with store.transaction():
            assert store.events.next_seq() == 6
    with Store(path) as again:  # opening twice migrates nothing more
        assert again.version == SCHEMA_VERSION


def test_migrated_payloads_keep_their_chinese_text_as_it_was(tmp_path):
    path = tmp_path / "registry.db"
    shutil.copy(V4_DB, path)
    with Store(path) as store:
        plates = [e["subject"]["plate"] for e in store.events.payloads(origin="local") if e["subject"]["plate"]]
    assert "皖AY6B59" in plates and "沪A11111" in plates


# -- one owner: no SQL outside the data layer -------------------------------------------------------
SQL = re.compile(r"""(\.execute(many|script)?\(|\bsqlite3\b|\bsqlite_utils\b|\.conn\b|\.query(_one)?\(|"""
                 r"""\b(SELECT|INSERT|UPDATE|DELETE)\s+(\*|\w+\s*(,|FROM|INTO|SET)|FROM|INTO|OR\b))""")


def test_no_module_outside_the_data_layer_touches_a_connection_or_writes_sql():
    offenders = []
    for folder in ("edge", "drivers", "models", "bench"):
        for path in sorted((REPO / folder).rglob("*.py")):
            if path.is_relative_to(REPO / "edge" / "store"):
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if SQL.search(line) and not line.lstrip().startswith("#"):
                    offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_sql_check_would_catch_a_raw_statement():
    for line in ('db.execute("DELETE FROM events")', 'registry.query("SELECT * FROM people")',
                 "import sqlite3", 'x = "UPDATE parking_sessions SET state = 1"', "store.conn.close()"):
        assert SQL.search(line), line


def test_an_sql_mistake_fails_loudly_and_is_not_a_storage_failure(store):
    """StorageFailure is what storage does (the guard says "degraded" and the broker redelivers); a missing
    column or table, or a syntax error, is a programming error and must not be reported as one."""
    from edge.store import StorageFailure

    for statement in ("SELECT no_such_column FROM people", "SELECT * FROM no_such_table", "SELEC 1"):
        with pytest.raises(sqlite3.OperationalError) as raised:
            store.execute(statement)
        assert not isinstance(raised.value, StorageFailure), statement
        with pytest.raises(sqlite3.OperationalError) as raised:
            store.rows(statement)
        assert not isinstance(raised.value, StorageFailure), statement
    with pytest.raises(sqlite3.OperationalError) as raised, store.transaction():
        store.kv_set("k", "v")
        store.execute("UPDATE people SET no_such_column = 1")
    assert not isinstance(raised.value, StorageFailure)
    assert store.kv_get("k") is None  # rolled back, and the store still works
    assert StorageFailure is not sqlite3.OperationalError


def test_a_read_only_or_full_database_raises_storage_failure(tmp_path):
    from edge.store import StorageFailure

    with Store(tmp_path / "registry.db") as store:
        store.kv_set("k", "before")
        store.execute("PRAGMA query_only = ON")  # SQLite refuses every write: SQLITE_READONLY
        with pytest.raises(StorageFailure, match="readonly"):
            store.kv_set("k", "after")
        with pytest.raises(StorageFailure, match="readonly"), store.transaction():
            store.kv_set("k", "after")
        with pytest.raises(StorageFailure, match="readonly"):
            store.table("kv").insert({"key": "t", "value": "v"})
        assert store.kv_get("k") == "before"  # reads still work
        store.execute("PRAGMA query_only = OFF")
        # Full: the file capped at its present size, its free pages used up (SQLITE_FULL).
        store.execute("CREATE TABLE filler(x BLOB)")
        store.scalar(f"PRAGMA max_page_count = {store.scalar('PRAGMA page_count')}")
        with pytest.raises(StorageFailure, match="full") as raised:
            while True:
                store.execute("INSERT INTO filler VALUES (zeroblob(1000))")
        assert raised.value.sqlite_errorname == "SQLITE_FULL"
