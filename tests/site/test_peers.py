"""Peer events that are never lost and never trusted blindly (edge.site.peers, edge.site.replay), over a real
mosquitto with the site's ACL: a backlog through a broker whose queue drops, a broker that loses our
session mid-stream, and forged or implausible events that change nothing and raise an alert."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from conftest import need_mosquitto
from mqtt_helpers import Listener, wait_for
from test_site import PASSWORDS, gate_config, make_keys, office_config, site_mosquitto, stop_parts

P = "gate/tianlin12"


def _gate(folder, keys, port, name):
    from edge.config import load_config
    from edge.gate.daemon import Daemon

    return Daemon(load_config(gate_config(folder / name, keys, port, name, cameras=[], barriers=[]))).start()


def _office(folder, keys, port):
    from edge.config import load_config
    from edge.office.service import Office

    return Office(load_config(office_config(folder, keys, port, "ensemble"))).start()


def _backlog(folder: Path, keys: Path, n: int, start_epoch: float) -> Path:
    """East's database with ``n`` signed events waiting in its outbox (decided while the broker was away)."""
    from edge.config import load_config
    from edge.contract import Topics, event_payload, subject
    from edge.keys import load_signer, sign_record
    from edge.store import Store
    from edge.timeutil import iso

    config = load_config(gate_config(folder / "east", keys, 1, "east", cameras=[], barriers=[]))
    signer, topics = load_signer(keys / "east.key"), Topics("gate", "tianlin12", "east")
    with Store(config.database) as store, store.transaction():
        for i in range(n):
            ts = start_epoch + i
            payload = event_payload(event_id=str(uuid.uuid4()), seq=store.events.next_seq(), ts=iso(ts, config.zone),
                                    site="tianlin12", gate="east", lane="in", kind="stranger", credential="face",
                                    subject=subject("unknown"), decision="deny", reason="unknown face",
                                    fee_cents=0, session_id=None)
            payload = sign_record(signer, payload)
            store.events.add_local(payload, ts)
            store.outbox.enqueue(topics.event("stranger"), payload, msg_id=f"event:{payload['event_id']}", now=ts)
    return config.database


def test_a_10000_event_backlog_reaches_the_peer_and_the_office_in_full(tmp_path):
    need_mosquitto()
    keys = make_keys(tmp_path)
    n = 10_000
    _backlog(tmp_path, keys, n, time.time() - 3 * 3600)  # one a second, all in the past
    broker = site_mosquitto(tmp_path, extra=["max_queued_messages 200"]).start()  # today this loses most of them
    office = west = east = None
    try:
        office = _office(tmp_path, keys, broker.port)
        west = _gate(tmp_path, keys, broker.port, "west")
        assert wait_for(lambda: west.replica.synced, 30)  # west knows east's key from the site settings
        started = time.monotonic()
        east = _gate(tmp_path, keys, broker.port, "east")
        assert wait_for(lambda: len(west.store.events.seqs("east")) == n, 150), \
            f"west has {len(west.store.events.seqs('east'))} of {n}"
        west_s = time.monotonic() - started
        assert wait_for(lambda: len(office.store.events.seqs("east")) == n, 150), \
            f"the office has {len(office.store.events.seqs('east'))} of {n}"
        assert west.store.events.seqs("east") == list(range(1, n + 1))  # each once, none missing
        assert west.store.quarantine.count() == 0
        log = (broker.dir / "mosquitto.log").read_text(errors="replace")
        assert "req/replay" in log, "nothing was lost on the way: the test did not provoke the broker's limit"
        print(f"\n{n:,} events: all at west after {west_s:.1f} s, at the office after "
              f"{time.monotonic() - started:.1f} s")
    finally:
        stop_parts(east, west, office, broker=broker)


def test_a_broker_that_loses_our_session_mid_stream_is_made_up_for_by_replay(tmp_path):
    need_mosquitto()
    keys = make_keys(tmp_path)
    broker = site_mosquitto(tmp_path, persistence=False).start()  # a restart forgets every session
    office = west = east = None
    try:
        office = _office(tmp_path, keys, broker.port)
        west = _gate(tmp_path, keys, broker.port, "west")
        east = _gate(tmp_path, keys, broker.port, "east")
        assert wait_for(lambda: west.replica.synced and east.replica.synced, 30)
        for _ in range(5):
            east.gate.person("in", None)
        assert wait_for(lambda: len(west.store.events.seqs("east")) == 5, 10)
        west.link.close()  # west away; east goes on deciding
        for _ in range(20):
            east.gate.person("in", None)
        assert wait_for(lambda: east.store.outbox.depth() == 0, 10)  # the broker took them for west...
        broker.stop()
        broker.start()  # ...and forgot them: west's session is gone
        west.link = west.make_link().start()
        west.on_close(west.link.close)
        west.jobs.link = west.link
        assert wait_for(lambda: len(west.store.events.seqs("east")) == 25, 30), west.store.events.seqs("east")
        for _ in range(3):  # and what follows arrives as usual
            east.gate.person("in", None)
        assert wait_for(lambda: west.store.events.seqs("east") == list(range(1, 29)), 20)
    finally:
        stop_parts(east, west, office, broker=broker)


def test_forged_and_implausible_events_change_nothing_and_raise_an_alert(tmp_path):
    from edge.contract import event_payload, subject
    from edge.keys import load_signer, sign_record
    from edge.timeutil import iso

    need_mosquitto()
    keys = make_keys(tmp_path)
    broker = site_mosquitto(tmp_path).start()
    office = west = None
    stolen = None
    try:
        office = _office(tmp_path, keys, broker.port)
        west = _gate(tmp_path, keys, broker.port, "west")
        assert wait_for(lambda: west.replica.synced, 30)
        resident = office.store.people.add("王建国", "12-301", care_watch=True)
        office.link.wake()
        assert wait_for(lambda: west.store.people.find_by_id(resident) is not None, 20)
        east_key, west_key = load_signer(keys / "east.key"), load_signer(keys / "west.key")
        zone = west.config.zone

        def event(seq, *, ts=None, kind="entry", subj=None, **fields):
            return event_payload(event_id=str(uuid.uuid4()), seq=seq, ts=iso(ts or time.time(), zone), site="tianlin12",
                                 gate=fields.pop("gate", "east"), lane="in", kind=kind, credential="face",
                                 subject=subj or subject("person", person_id=resident), decision="open",
                                 reason="r", fee_cents=fields.pop("fee_cents", 0),
                                 session_id=fields.pop("session_id", None))

        # A genuine entry of a visitor's car, so the forged exit below has a session to lie about.
        genuine = sign_record(east_key, event(1, subj=subject("vehicle", plate="沪V00001", vehicle_class="visitor"),
                                              session_id="s-1"))
        stolen = Listener(broker.port, f"{P}/east/cmd/#", client_id="stolen-east", username="east",
                          password=PASSWORDS["east"])  # a gate's own login: the ACL lets it write east/#
        stolen.publish(f"{P}/east/event/entry", genuine)
        assert wait_for(lambda: west.store.sessions.open_for("沪V00001") is not None, 10)
        before = (west.store.sightings.get(f"person:{resident}"), west.store.sessions.occupied())
        forged = {
            "unsigned": event(2),
            "signed with west's key": sign_record(west_key, event(3)),
            "dated 2099": sign_record(east_key, event(4, ts=4070908800.0)),
            "seq 1 again": sign_record(east_key, event(1)),
            "another gate's name": sign_record(east_key, event(5, gate="west")),
            "a fee of 1,179,240 yuan": sign_record(east_key, event(
                6, kind="exit", subj=subject("vehicle", plate="沪V00001", vehicle_class="visitor"),
                session_id="s-1", fee_cents=117_924_000)),
        }
        for payload in forged.values():
            stolen.publish(f"{P}/east/event/{payload['kind']}", payload)
        stolen.publish(f"{P}/east/event/entry", b"{" + b" " * 20000 + b"}")  # oversized
        assert wait_for(lambda: west.store.quarantine.count() == len(forged) + 1, 10), \
            [q["reason"] for q in west.store.quarantine.all()]
        reasons = " | ".join(q["reason"] for q in west.store.quarantine.all())
        for words in ("no signature", "signed with unknown key", "ahead of this clock", "seq 1 already belongs",
                      "on gate 'east'", "more than the stay can cost", "too large"):
            assert words in reasons, words
        assert (west.store.sightings.get(f"person:{resident}"), west.store.sessions.occupied()) == before
        alert = west.store.alerts.open_device("peer-events")
        assert alert is not None and "kept aside, not applied" in alert["detail"]
        # The office checks the same way: nothing forged in its archive either.
        assert wait_for(lambda: office.store.quarantine.count() >= len(forged), 10)
        assert len(office.store.events.seqs("east")) == 1
    finally:
        if stolen is not None:
            stolen.close()
        stop_parts(west, office, broker=broker)
