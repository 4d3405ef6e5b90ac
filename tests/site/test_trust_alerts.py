"""Issue 26, findings 1, 6 and 9: alerts that one gate's login cannot silence, one lock order, and a gate
given another gate's key.

A site on a real mosquitto with the site's ACL and passwords (the office, east and west, no cameras):
alerts are signed by the raising gate, numbered in a stream of their own and replayed; a ``cleared`` is
applied only once the office holds the signed sighting it names. The lock order is checked by
``edge.locks`` (the tests run with ``GATE_EDGE_LOCK_ORDER=check``), and the deadlock of the finding is
replayed step by step, so it fails every time the order is broken, not once in twelve floods.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from types import SimpleNamespace

import pytest
from mqtt_helpers import wait_for
from test_site import (
    PASSWORDS,
    SITE,
    make_keys,
    running_site,
    synced_with_office,
)

P = f"gate/{SITE}"
ZONE = __import__("zoneinfo").ZoneInfo("Asia/Shanghai")
BARRIER = [{"id": "foot", "type": "simulated", "lanes": ["in"]}]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with running_site(tmp_path_factory.mktemp("trust-alerts"), "ensemble", cameras=[], barriers=BARRIER) as state:
        yield state


def _care_watch_person(site, name: str) -> int:
    person = site.office.store.people.add(name, "7-101", care_watch=True)
    site.office.link.wake()
    assert wait_for(lambda: synced_with_office(site), 20)
    return person


def _office_alert(site, alert_id):
    return site.office.store.alerts.get(alert_id)


def _as_east(site, topic: str, payload: dict) -> None:
    """Published with east's own login and connection (what anyone holding east's password can do)."""
    info = site.gates["east"].link._client.publish(topic, json.dumps(payload), qos=1)
    info.wait_for_publish(5)


def _raise_inactivity(site, person: int) -> dict:
    """Both gates raise the person's episode; returns west's message."""
    later = time.time() + 49 * 3600
    raised = {name: {p["person_id"]: p for p in g.alerts.check_inactivity(later)}.get(person)
              for name, g in site.gates.items()}
    assert raised["east"] is not None and raised["east"]["alert_id"] == raised["west"]["alert_id"]
    return raised["west"]


def test_a_cleared_forged_with_easts_login_changes_nothing_and_is_quarantined(site):
    person = _care_watch_person(site, "王建国")
    raised = _raise_inactivity(site, person)
    alert_id = raised["alert_id"]
    assert wait_for(lambda: (_office_alert(site, alert_id) or {}).get("state") == "raised", 10)
    before = site.office.store.quarantine.count()
    forged = {"v": 1, "alert_id": alert_id, "state": "cleared", "person_id": person, "unit": "7-101",
              "last_seen": raised["last_seen"], "hours": 0.0, "ts": raised["ts"]}
    _as_east(site, f"{P}/alert/inactivity", forged)  # unsigned
    _as_east(site, f"{P}/alert/inactivity", {**forged, "gate": "west", "seq": 999, "kid": raised.get("kid"),
                                             "sig": raised.get("sig")})  # west's signature of another message
    time.sleep(0.5)
    assert _office_alert(site, alert_id)["state"] == "raised", "a forged cleared closed the alert"
    assert wait_for(lambda: site.office.store.quarantine.count() >= before + 2, 10), "forged clears not refused"
    assert raised["gate"] == "west" and raised["kid"] and raised["sig"] and raised["seq"] >= 1


def test_a_cleared_published_before_the_raise_does_not_hide_it(site):
    from edge.contract import inactivity_alert_id
    from edge.keys import load_signer, sign_record
    from edge.timeutil import parse_iso

    person = _care_watch_person(site, "李秀英")
    # The next episode's id is predictable: the person and their registration (they were never seen).
    registered = next(p for p in site.gates["east"].store.people.care_watch() if p["id"] == person)["created_at"]
    predicted = inactivity_alert_id(SITE, person, parse_iso(registered))
    old = site.gates["east"].gate.person("in", None, credential="face")  # some real event of east's
    forged = {"v": 1, "alert_id": predicted, "state": "cleared", "person_id": person, "unit": "7-101",
              "last_seen": registered, "hours": 0.0, "ts": registered, "gate": "east", "seq": 10**6,
              "event_id": old["event_id"]}
    _as_east(site, f"{P}/alert/inactivity", forged)
    # Even signed with east's own key (a stolen box): it names no sighting of this person after the last one.
    _as_east(site, f"{P}/alert/inactivity", sign_record(load_signer(site.keys / "east.key"),
                                                        {**forged, "seq": 10**6 + 1}))
    time.sleep(0.5)
    alert_id = _raise_inactivity(site, person)["alert_id"]
    assert alert_id == predicted
    assert wait_for(lambda: _office_alert(site, alert_id) is not None, 10), "the real raise never archived"
    time.sleep(0.5)
    assert _office_alert(site, alert_id)["state"] == "raised", "a cleared sent in advance hid the real alert"


def test_a_cleared_names_the_sighting_and_the_office_applies_it_once_it_holds_it(site):
    person = _care_watch_person(site, "张桂英")
    alert_id = _raise_inactivity(site, person)["alert_id"]
    assert wait_for(lambda: (_office_alert(site, alert_id) or {}).get("state") == "raised", 10)
    event = site.gates["west"].gate.person("in", person, credential="qr")  # seen at west
    assert event["decision"] == "open"
    assert wait_for(lambda: _office_alert(site, alert_id)["state"] == "cleared", 10)
    # Both gates cleared it (east on west's event), each naming west's sighting, signed, numbered.
    for name, gate in site.gates.items():
        log = gate.store.alert_log.by_seq(name, 1, None, 1000)
        cleared = [r["payload"] for r in log if r["payload"]["alert_id"] == alert_id
                   and r["payload"]["state"] == "cleared"]
        assert len(cleared) == 1, name
        assert cleared[0]["event_id"] == event["event_id"] and cleared[0]["kid"] and cleared[0]["gate"] == name


# -- another gate's key (finding 9) ----------------------------------------------------------------------
def test_check_config_refuses_another_gates_identity_key(site, capsys):
    import yaml

    from edge.cli.main import main

    east = site.gates["east"]
    assert east.store.records.get("settings") is not None
    path = site.folder / "east" / "gate.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    wrong = site.folder / "east" / "gate-wrong-key.yaml"
    wrong.write_text(yaml.safe_dump({**data, "identity_key_file": str(site.keys / "west.key")}), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    capsys.readouterr()
    assert main(["check-config", str(wrong)]) == 2
    err = capsys.readouterr().err
    assert "identity_key_file" in err and "west's key" in err and str(wrong) in err


def test_alerts_lost_while_the_offices_session_was_taken_are_replayed(site):
    """Finding 3's loss: alerts the broker queued for the office went to another client (here: the
    office's session wiped while it was down); the office asks west for them by its alert_seq."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from edge.config import load_config
    from edge.office.service import Office

    west = site.gates["west"]
    assert wait_for(lambda: "west" in site.office.store.gates.all(), 15), "west's status never seen"
    time.sleep(0.3)
    site.office.close()
    ids = [west.alerts.device(f"camera:lost-{i}", False, "unplugged") for i in range(3)]
    assert wait_for(lambda: west.store.outbox.depth() == 0, 10)
    config = load_config(site.office_yaml)
    thief = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=config.client_id, protocol=mqtt.MQTTv5)
    thief.username_pw_set("office", PASSWORDS["office"])
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    thief.connect("127.0.0.1", site.broker.port, clean_start=True, properties=props)
    thief.loop_start()
    assert wait_for(thief.is_connected, 5)
    thief.disconnect()
    thief.loop_stop()
    site.office = Office(config).start()
    try:
        assert wait_for(lambda: all(_office_alert(site, a) for a in ids), 30), "lost alerts never replayed"
    finally:  # the module's last use of the office (the thread guard checks each test)
        site.office.close()
        site.office = None


# -- the lock order (finding 6) ----------------------------------------------------------------------
@pytest.fixture
def gate_parts(tmp_path, write_config):
    from edge.alerts import Alerts
    from edge.config import load_config
    from edge.site.peers import PeerReceiver
    from edge.store import Store

    config = load_config(write_config({"site": SITE, "gate": "east", "database": str(tmp_path / "east.db")}))
    store = Store(config.database)
    alerts = Alerts(config, store)
    yield SimpleNamespace(config=config, store=store, alerts=alerts,
                          receiver=PeerReceiver(store, alerts, site_mode=False))
    store.close()


def test_a_transaction_taken_while_holding_the_alerts_lock_fails_at_once(gate_parts):
    from edge.locks import LockOrderError

    with pytest.raises(LockOrderError, match="'store'.*'alerts'"), gate_parts.alerts._lock, \
            gate_parts.store.transaction():
        pass
    with gate_parts.store.transaction(), gate_parts.alerts._lock:  # the order: store, then alerts
        pass


def test_the_inbox_and_device_health_never_deadlock(gate_parts):
    """The finding step by step: the inbox thread holds a transaction and quarantines a peer event (which
    raises a device alert) while the jobs thread reports a device's health. Each thread is held at its
    worst moment; with one lock order both finish."""
    alerts, store, receiver = gate_parts.alerts, gate_parts.store, gate_parts.receiver
    in_transaction, jobs_has_alerts_lock = threading.Event(), threading.Event()
    original = alerts._lock

    class Held:  # the alerts' lock, pausing the jobs thread once it holds it
        def __enter__(self):
            original.__enter__()
            if threading.current_thread().name == "jobs":
                jobs_has_alerts_lock.set()
                in_transaction.wait(0.5)  # the inbox thread is inside its transaction by now (or cannot be)
            return self

        def __exit__(self, *exc):
            return original.__exit__(*exc)

    alerts._lock = Held()
    errors = []

    def inbox():
        try:
            jobs_has_alerts_lock.wait(2)
            with store.transaction():
                in_transaction.set()
                receiver.receive("west", b"garbage", f"{P}/west/event/entry")  # quarantined: raises an alert
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def jobs():
        try:
            alerts.device("camera:face-in", False, "no frame for 30 s")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=jobs, name="jobs", daemon=True),
               threading.Thread(target=inbox, name="inbox", daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads), "deadlock: the inbox and the jobs thread wait for each other"
    assert not errors, errors
    assert {a["subject"] for a in store.alerts.all(state="raised")} == {"camera:face-in", "peer-events"}


# -- a cleared waits for its sighting (the office's archive, unit) -------------------------------------
def test_a_cleared_waits_for_the_sighting_it_names_and_another_persons_sighting_clears_nothing(tmp_path):
    from edge.contract import event_payload, inactivity_alert_id, inactivity_payload, subject
    from edge.keys import Verifier, load_signer, sign_record
    from edge.office.alert_archive import AlertArchive
    from edge.store import Store
    from edge.timeutil import iso

    keys = make_keys(tmp_path)
    west = load_signer(keys / "west.key")
    quarantined, told = [], []
    with Store(tmp_path / "office.db") as store:
        archive = AlertArchive(store, SITE, {"west": Verifier([west.public_key])}.get, clock=time.time,
                               quarantine=lambda *a: quarantined.append(a), announce=told.append)
        seen, now = time.time() - 50 * 3600, time.time()
        alert_id = inactivity_alert_id(SITE, 7, seen)

        def alert(state, seq, **extra):
            body = inactivity_payload(alert_id, state, 7, "7-101", iso(seen, ZONE), 50.0,
                                      iso(now, ZONE))
            return json.dumps(sign_record(west, {**body, "gate": "west", "seq": seq, **extra})).encode()

        def sighting(person):
            event = event_payload(event_id=str(uuid.uuid4()), seq=None, ts=iso(now - 60, ZONE),
                                  site=SITE, gate="west", lane="in", kind="entry", credential="qr",
                                  subject=subject("person", person_id=person), decision="open", reason="ok",
                                  fee_cents=None, session_id=None)
            with store.transaction():
                store.events.add_peer(event, now - 60)
            archive.event_arrived(event["event_id"])
            return event["event_id"]

        topic = f"{P}/alert/inactivity"
        assert archive.receive("inactivity", None, alert("raised", 1), topic) == "applied"
        mine = str(uuid.uuid4())
        assert archive.receive("inactivity", None, alert("cleared", 2, event_id=mine), topic) == "waiting"
        assert store.alerts.get(alert_id)["state"] == "raised"  # the sighting is not here yet
        other = sighting(8)  # somebody else's sighting named by a cleared: refused when it arrives
        assert archive.receive("inactivity", None, alert("cleared", 3, event_id=other), topic) == "waiting"
        assert store.alerts.get(alert_id)["state"] == "raised" and quarantined
        with store.transaction():  # now the sighting named by seq 2 arrives (from whichever gate)
            event = json.loads(json.dumps(event_payload(
                event_id=mine, seq=None, ts=iso(now - 30, ZONE), site=SITE, gate="east", lane="in",
                kind="entry", credential="face", subject=subject("person", person_id=7), decision="open",
                reason="ok", fee_cents=None, session_id=None)))
            store.events.add_peer(event, now - 30)
        archive.event_arrived(mine)
        assert store.alerts.get(alert_id)["state"] == "cleared"
        assert archive.receive("inactivity", None, b'{"v": 1, "alert_id": "x", "state": "cleared"}', topic) \
            == "quarantined"


def test_a_replay_resigns_what_an_earlier_wrong_key_signed(tmp_path):
    from edge.contract import Topics, event_payload, subject
    from edge.keys import load_signer, sign_record
    from edge.site.replay import Answerer
    from edge.store import Store
    from edge.timeutil import iso

    keys = make_keys(tmp_path)
    wrong, right = load_signer(keys / "west.key"), load_signer(keys / "east.key")
    with Store(tmp_path / "east.db") as store:
        with store.transaction():
            for seq in (1, 2):
                event = sign_record(wrong, event_payload(
                    event_id=str(uuid.uuid4()), seq=seq, ts=iso(time.time(), ZONE), site=SITE,
                    gate="east", lane="in", kind="stranger", credential="face", subject=subject("unknown"),
                    decision="deny", reason="unknown face", fee_cents=None, session_id=None))
                store.events.add_local(event, time.time())
        answerer = Answerer(store, Topics("gate", SITE, "east"), signer=right)
        assert answerer.answer("east", {"request_id": "r1", "from_seq": 1, "to_seq": 2}) == 2
        sent = [json.loads(r["payload"]) for r in store.rows("SELECT payload FROM outbox ORDER BY seq")]
        assert [p["kid"] for p in sent] == [right.kid, right.kid]
        from edge.keys import Verifier, verify_record

        assert all(verify_record(Verifier([right.public_key]), p) is None for p in sent)
