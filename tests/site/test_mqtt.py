"""Events, outbox and MQTT against a real mosquitto: nothing lost, nobody unauthorised."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from mqtt_helpers import Listener, gate_config, wait_for

from edge.alerts import Alerts
from edge.contract import Topics
from edge.site.mqtt_link import MqttLink
from edge.store import Store


def add_events(store, config, n, start=0, pause=0.0):
    topics = Topics(config.mqtt.topic_prefix, config.site, config.gate)
    ids = []
    for i in range(start, start + n):
        event_id = str(uuid.uuid4())
        store.outbox.enqueue(topics.event("entry"), {"event_id": event_id, "n": i}, msg_id=f"event:{event_id}")
        ids.append(event_id)
        if pause:
            time.sleep(pause)
    return ids


def unsent(store) -> int:
    return store.outbox.depth()


def test_broker_down_during_500_events_loses_none(tmp_path, broker):
    config = gate_config(tmp_path / "gate", broker.port)
    office = Listener(broker.port, "gate/tianlin12/east/event/#")
    store = Store(config.database)
    link = MqttLink(config, store).start()
    try:
        assert link.connected.wait(10)
        writer_ids: list[str] = []
        writer = threading.Thread(target=lambda: writer_ids.extend(add_events(store, config, 500, pause=0.004)))
        writer.start()
        assert wait_for(lambda: len(office.on("/entry")) >= 100)
        broker.stop()  # the committee office's broker goes down in the middle
        time.sleep(1.5)
        broker.start()
        writer.join()
        assert wait_for(lambda: unsent(store) == 0, 40), f"{unsent(store)} rows never acknowledged"
        assert wait_for(lambda: len({p["event_id"] for p in office.on("/entry")}) == 500, 20)
        received = [p["event_id"] for p in office.on("/entry")]
        assert set(received) == set(writer_ids)
        # QoS 1 is at-least-once: a message in flight when the broker died may come twice, never more.
        assert len(received) - len(set(received)) <= link.window
    finally:
        link.close()
        office.close()
        store.close()


def run_daemon(config_path, env=None):
    # Its log goes to a file beside the config: a pipe that nobody reads would stop the daemon once full.
    with (Path(config_path).parent / "daemon.log").open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "edge", "run", "-c", str(config_path)],
                                env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)


def test_sigkill_while_the_broker_is_down_then_restart_delivers_everything(tmp_path, make_broker):
    broker = make_broker()
    port = broker.port
    broker.stop()
    config = gate_config(tmp_path / "gate", port)
    with Store(config.database) as store:
        ids = add_events(store, config, 200)
    daemon = run_daemon(tmp_path / "gate" / "gate.yaml")
    try:
        time.sleep(4)
        daemon.send_signal(signal.SIGKILL)  # power cut at the gate while the office broker is down
        daemon.wait(10)
        broker.start()
        office = Listener(port, "gate/tianlin12/east/event/#")
        daemon = run_daemon(tmp_path / "gate" / "gate.yaml")
        assert wait_for(lambda: len({p["event_id"] for p in office.on("/entry")}) == 200, 40)
        assert {p["event_id"] for p in office.on("/entry")} == set(ids)
        with Store(config.database) as store:
            assert wait_for(lambda: unsent(store) == 0, 10)
        office.close()
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(20)
    assert daemon.returncode == 0


def test_status_is_retained_with_an_offline_last_will(tmp_path, broker):
    config = gate_config(tmp_path / "gate", broker.port)
    daemon = run_daemon(tmp_path / "gate" / "gate.yaml")
    try:
        office = Listener(broker.port, "gate/tianlin12/east/status")
        assert wait_for(lambda: any(p["state"] == "online" for p in office.on("/status")), 30)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(10)
        assert wait_for(lambda: office.on("/status")[-1]["state"] == "offline", 10)
        office.close()
        late = Listener(broker.port, "gate/tianlin12/east/status", client_id="late-office")
        assert wait_for(lambda: late.on("/status"), 5)
        assert late.messages[-1][2] is True and late.on("/status")[-1]["state"] == "offline"  # retained
        late.close()
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.wait(10)
    assert config.client_id == "tianlin12-east"


USERS = {"east": "east-secret", "office": "office-secret"}
ACL = """user office
topic readwrite gate/#

user east
topic write gate/tianlin12/east/status
topic write gate/tianlin12/east/alert/#
topic write gate/tianlin12/east/cmd/result
topic read gate/tianlin12/east/cmd/#
topic read gate/tianlin12/+/event/#
"""


def test_acl_refusal_keeps_rows_unsent_and_raises_a_device_alert(tmp_path, make_broker):
    broker = make_broker(users=USERS, acl=ACL)
    (tmp_path / "pw").write_text("east-secret\n")
    config = gate_config(tmp_path / "gate", broker.port, username="east", password_file=str(tmp_path / "pw"))
    office = Listener(broker.port, "gate/#", username="office", password="office-secret")
    store = Store(config.database)
    alerts = Alerts(config, store)
    link = MqttLink(config, store, on_refused=lambda seq, why: alerts.device("broker", False, why)).start()
    alerts.wake = link.wake
    try:
        assert link.connected.wait(10)
        add_events(store, config, 3)
        assert wait_for(lambda: store.alerts.all(subject="broker"), 10)
        assert wait_for(lambda: office.on("/alert/device"), 10)
        alert = office.on("/alert/device")[0]
        assert alert["device"] == "broker" and alert["state"] == "raised" and "authori" in alert["detail"].lower()
        assert office.on("/event/entry") == []
        def refused_rows() -> list[dict]:  # the alert is raised at the first refusal; the other two follow
            rows = [m for m in store.outbox.messages() if "/event/" in m["topic"]]
            return [r for r in rows if "authori" in (r["last_error"] or "").lower()] if len(rows) == 3 else []

        assert wait_for(lambda: len(refused_rows()) == 3, 10)
        # The alert itself went out (its "sent" mark is committed with the next batch); the events did not.
        assert wait_for(lambda: unsent(store) == 3, 5)
    finally:
        link.close()
        office.close()
        store.close()


def test_wrong_password_never_connects_and_the_gate_keeps_deciding(tmp_path, make_broker):
    from drivers.barriers.simulated import Barrier, Config
    from edge.gate.controller import Gate

    broker = make_broker(users=USERS, acl=ACL)
    (tmp_path / "pw").write_text("wrong\n")
    config = gate_config(tmp_path / "gate", broker.port, username="east", password_file=str(tmp_path / "pw"))
    store = Store(config.database)
    link = MqttLink(config, store).start()
    try:
        barrier = Barrier(Config(id="foot", type="simulated", lanes=["in"]))
        gate = Gate(config, store, {"foot": barrier}, Alerts(config, store), wake=link.wake)
        person = store.people.add("王建国", "12-301")
        event = gate.person("in", person)
        assert event["decision"] == "open" and len(barrier.commands) == 1
        time.sleep(4)
        assert not link.connected.is_set()
        assert "refused" in link.last_error and "east-secret" not in link.last_error
        assert 1 <= link.connect_failures <= 4  # back-off: not a tight loop of attempts
        assert unsent(store) == 1
    finally:
        link.close()
        store.close()


def test_tls_with_client_certificate_connects_and_a_wrong_ca_does_not(tmp_path, make_broker):
    from certs import make_pki

    pki = make_pki(tmp_path / "pki")
    other = make_pki(tmp_path / "other", "someone else's CA")
    broker = make_broker(tls={"ca": pki["ca"], "cert": pki["server"], "key": pki["server_key"],
                              "require_certificate": True})
    good = gate_config(tmp_path / "good", broker.port, tls={"ca": str(pki["ca"]), "cert": str(pki["client"]),
                                                             "key": str(pki["client_key"])})
    with Store(good.database) as store:
        link = MqttLink(good, store).start()
        try:
            assert link.connected.wait(10), link.last_error
            add_events(store, good, 2)
            assert wait_for(lambda: unsent(store) == 0, 10)
        finally:
            link.close()
    bad = gate_config(tmp_path / "bad", broker.port, tls={"ca": str(other["ca"]), "cert": str(pki["client"]),
                                                           "key": str(pki["client_key"])})
    with Store(bad.database) as store:
        link = MqttLink(bad, store).start()
        try:
            time.sleep(3)
            assert not link.connected.is_set()
            assert link.connect_failures >= 1 and "TLS" in link.last_error
        finally:
            link.close()
