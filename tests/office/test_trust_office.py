"""Issue 26, findings 4 and 5 (the office and gate side): junk on a gate's event topic cannot fill the
disk, and the office survives a full disk.

    4   a refused peer event is kept as a bounded summary (first bytes, length, sha256), at most
        KEEP_PER_MINUTE a minute from one gate (the rest are counted, not kept or logged), pruned by
        retention; the ``peer-events`` alert's detail counts the refusals by kind
    5   the office's storage guard: with its database full (SQLite's ``max_page_count``: no root needed) it
        acknowledges nothing it could not store, says so (status, ``/healthz``, the ``storage`` alert),
        does not call a gate silent, and once there is room again gets every message without a restart
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import need_mosquitto
from mqtt_helpers import Listener, wait_for
from test_site import PASSWORDS, make_keys, office_config, site_mosquitto, stop_parts

P = "gate/tianlin12"
ZONE = ZoneInfo("Asia/Shanghai")
JUNK = b"{" + b" " * 20000 + b"}"  # 20 KB, malformed (too large for an event)


def _db_bytes(store) -> int:
    """The database file's size once the WAL is folded back into it."""
    store.checkpoint()
    return Path(store.path).stat().st_size


def _event(signer, seq: int, ts: float | None = None) -> dict:
    from edge.contract import event_payload, subject
    from edge.keys import sign_record
    from edge.timeutil import iso

    payload = event_payload(event_id=str(uuid.uuid4()), seq=seq, ts=iso(ts or time.time(), ZONE), site="tianlin12",
                            gate="east", lane="in", kind="stranger", credential="face", subject=subject("unknown"),
                            decision="deny", reason="unknown face", fee_cents=0, session_id=None)
    return sign_record(signer, payload) if signer is not None else payload


# -- 4: quarantine ----------------------------------------------------------------------------------------
def test_2000_refused_events_keep_a_bounded_summary_and_the_alert_counts_them_by_kind(tmp_path, config, caplog):
    """Found: each refusal stored the whole payload (2,000 junk messages of 20 KB grew a database by 40 MB),
    logged a line each, and the alert said "1 so far" for ever."""
    import json

    from edge.alerts import Alerts
    from edge.keys import load_signer, load_verifier
    from edge.site.peers import PeerReceiver
    from edge.store import Store

    keys = make_keys(tmp_path)
    east = load_signer(keys / "east.key")
    store = Store(tmp_path / "gate.db")
    try:
        receiver = PeerReceiver(store, Alerts(config, store), site_mode=True,
                                gate_keys=lambda: {"east": load_verifier([keys / "east.pub"])})
        before = _db_bytes(store)
        caplog.set_level(logging.WARNING, logger="edge.site.peers")
        for _ in range(2000):
            assert receiver.receive("east", JUNK, f"{P}/east/event/entry") == "quarantined"
        for seq in range(1, 6):  # unsigned
            assert receiver.receive("east", json.dumps(_event(None, seq)).encode(), f"{P}/east/event/x") \
                == "quarantined"
        for seq in range(6, 9):  # signed, dated 2099
            assert receiver.receive("east", json.dumps(_event(east, seq, 4070908800.0)).encode(),
                                    f"{P}/east/event/x") == "quarantined"
        grown = _db_bytes(store) - before
        assert grown < 200_000, f"the database grew by {grown:,} bytes for 2,008 refusals"
        rows = store.quarantine.all(limit=10_000)
        assert len(rows) == 20, len(rows)  # KEEP_PER_MINUTE from east this minute; the rest counted
        junk = rows[-1]
        assert len(junk["payload"]) == 512 and junk["length"] == len(JUNK) and len(junk["sha256"]) == 64
        assert junk["gate"] == "east" and junk["topic"] == f"{P}/east/event/entry" and "too large" in junk["reason"]
        logged = [r for r in caplog.records if r.name == "edge.site.peers"]
        assert len(logged) < 30, f"{len(logged)} log lines for 2,008 refusals"
        detail = store.alerts.open_device("peer-events")["detail"]
        assert "2008 peer events refused" in detail, detail
        assert "malformed 2000" in detail and "signature 5" in detail and "future 3" in detail, detail
        assert "1988 of them only counted" in detail, detail
        assert receiver.receive("east", json.dumps(_event(east, 9)).encode(), f"{P}/east/event/x") == "applied"
    finally:
        store.close()


def test_the_quarantine_is_pruned_by_the_gates_and_the_offices_retention(tmp_path, config):
    from edge.alerts import Alerts
    from edge.gate.jobs import Jobs
    from edge.store import Store
    from edge.store.peer_progress import Quarantine

    store = Store(config.database)
    try:
        now = time.time()
        with store.transaction():
            for n in range(30):
                store.quarantine.add("east", f"{P}/east/event/x", "junk", JUNK, now - 40 * 86400 + n)
            for n in range(30):
                store.quarantine.add("east", f"{P}/east/event/x", "junk", JUNK, now - 60 + n)
        done = Jobs(config, store, Alerts(config, store)).retention()
        assert done["quarantine"] == 30 and store.quarantine.count() == 30  # older than KEEP_DAYS
        with store.transaction():
            assert store.quarantine.prune(now - 86400, max_rows=10) == 20  # and never more than MAX_ROWS
        assert [r["received_epoch"] for r in store.quarantine.all()] == [now - 60 + n for n in range(29, 19, -1)]
        assert Quarantine.MAX_ROWS <= 10_000
    finally:
        store.close()


def _office(folder, keys, port, **extra):
    from edge.config import load_config
    from edge.office.service import Office

    return Office(load_config(office_config(folder, keys, port, "ensemble", **extra))).start()


def test_junk_on_a_gates_event_topic_through_the_broker_grows_the_offices_database_a_little(tmp_path):
    """Found: 2,000 malformed 20 KB messages published with east's login grew the office's database from
    4.7 to 32.8 MB."""
    need_mosquitto()
    keys = make_keys(tmp_path)
    broker = site_mosquitto(tmp_path).start()
    office = flooder = None
    try:
        office = _office(tmp_path, keys, broker.port)
        before = _db_bytes(office.store)
        flooder = Listener(broker.port, f"{P}/east/cmd/#", client_id="east-junk", username="east",
                           password=PASSWORDS["east"])
        sent = [flooder.client.publish(f"{P}/east/event/entry", JUNK, qos=1) for _ in range(2000)]
        assert wait_for(lambda: all(info.is_published() for info in sent), 60), "the broker took not all"
        seen = []  # the broker may drop some of a burst (its queue for the office): until no more arrive

        def settled() -> bool:
            seen.append(office.archive.receiver.quarantined)
            return len(seen) > 20 and seen[-1] == seen[-20] > 1000
        assert wait_for(settled, 60, 0.1), seen[-1]
        grown = _db_bytes(office.store) - before
        assert grown < 500_000, f"the office's database grew by {grown:,} bytes for {seen[-1]} refusals"
        alert = office.store.alerts.open_device("peer-events")
        assert alert is not None and f"gate east: malformed {seen[-1]}" in alert["detail"], alert
    finally:
        stop_parts(flooder, office, broker=broker)


# -- 5: the office's storage guard ------------------------------------------------------------------------
def _fill(store) -> int:
    """Cap the database at its present size (SQLite's max_page_count, on the office's own connection: no
    root, no tmpfs) and fill its free pages: every write that needs a page now fails with SQLITE_FULL."""
    import sqlite3

    store.execute("CREATE TABLE IF NOT EXISTS filler(x BLOB)")
    pages = store.scalar("PRAGMA page_count")
    store.scalar(f"PRAGMA max_page_count = {pages}")
    rows = 0
    try:
        while True:
            store.execute("INSERT INTO filler VALUES (zeroblob(1000))")
            rows += 1
    except sqlite3.OperationalError as exc:
        assert "full" in str(exc), exc
    return rows


def _healthz(office) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{office.console.url}/healthz", timeout=5) as answer:
        return json.loads(answer.read())


def test_an_office_with_a_full_database_loses_nothing_and_recovers_without_a_restart(tmp_path):
    """Found: with the office's database full, then given room again, 150 s later it still missed east's
    seq 26-29, received nothing from the broker, reported west silent although it was up, and /healthz said
    ok throughout; only a restart helped."""
    from test_site import gate_config

    from edge.config import load_config
    from edge.gate.daemon import Daemon
    from edge.office.console.users import add_user
    from edge.office.service import Office

    need_mosquitto()
    keys = make_keys(tmp_path)
    add_user(tmp_path / "users", "admin1", "admin", "admin-pass-1")
    broker = site_mosquitto(tmp_path).start()
    office = east = None
    speed = 10.0  # the office's monotonic clock runs 10 times as fast: 30 s of silence is 3 s here
    try:
        office = Office(load_config(office_config(tmp_path, keys, broker.port, "ensemble", console={
            "listen": "127.0.0.1:0", "users_file": str(tmp_path / "users")})),
            monotonic=lambda: time.monotonic() * speed).start()
        east = Daemon(load_config(gate_config(tmp_path / "east", keys, broker.port, "east", cameras=[],
                                              barriers=[]))).start()
        assert wait_for(lambda: east.replica.synced, 30)
        for _ in range(3):
            east.gate.person("in", None)
        assert wait_for(lambda: office.store.events.seqs("east") == [1, 2, 3], 10)
        assert _healthz(office)["ok"] is True
        assert wait_for(lambda: not office.silent_gates.silent("east"), 10)
        _fill(office.store)
        full_since = time.time()
        for _ in range(12):  # 6 s: twice the silence limit at the office's speed
            east.gate.person("in", None)
            time.sleep(0.5)
            assert not office.silent_gates.silent("east"), f"east called silent after {time.time() - full_since:.1f} s"
        wait_for(lambda: _healthz(office).get("storage") == "degraded", 5)
        health, status = _healthz(office), office._status_payload("now", 0).get("storage")
        stored = office.store.events.seqs("east")  # a few fit in pages with room left; most cannot...
        assert len(stored) < 15, stored
        office.store.scalar("PRAGMA max_page_count = 1073741823")  # ...until there is room again
        assert wait_for(lambda: office.store.events.seqs("east") == list(range(1, 16)), 20), \
            f"room again, and the office still misses seqs {sorted(set(range(1, 16)) - set(stored))}"
        assert health["ok"] is False and health["storage"] == "degraded", health  # what it said meanwhile
        assert status["state"] == "degraded" and "full" in status["error"], status
        assert wait_for(lambda: _healthz(office)["ok"] is True, 10), _healthz(office)
        assert _healthz(office)["storage"] == "ok"
        assert office._status_payload("now", 0)["storage"]["state"] == "ok"
        assert not office.silent_gates.silent("east")
        silent = [a for a in office.store.alerts.all(subject="gate:east") if a["raised_epoch"] >= full_since]
        assert not silent, silent
        storage = office.store.alerts.all(subject="storage")  # raised from memory, stored afterwards
        assert [a["state"] for a in storage] == ["cleared"], storage
        for _ in range(2):  # and what follows arrives as usual
            east.gate.person("in", None)
        assert wait_for(lambda: office.store.events.seqs("east") == list(range(1, 18)), 10)
    finally:
        stop_parts(east, office, broker=broker)


def test_a_gate_heard_while_the_archive_cannot_be_written_is_not_silent(tmp_path):
    """Found: the office noted a gate as heard only after writing it down; with the disk full, a gate that
    was up was reported silent."""
    import json

    from edge.config import load_config
    from edge.contract import Topics
    from edge.keys import load_verifier
    from edge.office.archive import Archive
    from edge.office.listeners import Listeners
    from edge.office.silent_gates import SilentGates
    from edge.store import StorageFailure, Store

    keys = make_keys(tmp_path)
    config = load_config(office_config(tmp_path, keys, 1, "ensemble"))
    store = Store(tmp_path / "office.db")
    try:
        gates = SilentGates(config, store, None, clock=time.time)
        archive = Archive(config, store, None, Topics.of(config),
                          {name: load_verifier([path]) for name, path in config.gates.items()},
                          silent_gates=gates, listeners=Listeners(), clock=time.time, command_signer=None,
                          wake=lambda: None)

        def full(*args, **kwargs):
            raise StorageFailure("database or disk is full")

        store.gates.heard = full
        status = json.dumps({"v": 1, "state": "online", "ts": "2026-11-26T12:00:00.000+08:00", "seq": 3}).encode()
        with pytest.raises(StorageFailure):  # not acknowledged: the broker delivers it again
            archive.gate_status("east", status, time.time())
        assert gates.silence_s("east") is not None and gates.silence_s("east") < 5
        assert not gates.silent("east")
    finally:
        store.close()
