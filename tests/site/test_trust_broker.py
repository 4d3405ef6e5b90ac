"""Issue 26, findings 3 and 4 (broker side): the site's broker ties each login to its own client id and
refuses oversize messages, with the settings of ``config/site/mosquitto.conf`` and the site's ACL.

A gate's login cannot take the office's session; two gates configured with one name say so plainly, raise
an alert and stop throwing each other off; ``gate-edge cmd``, the console's commands and a gate waiting for
its database use logins of their own (the service stays connected); a message above the limit reaches
nobody (the broker refuses it, and every client of ours announces a maximum packet size as well).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
import yaml
from conftest import need_mosquitto
from mqtt_helpers import wait_for
from paho.mqtt.enums import CallbackAPIVersion
from test_site import PASSWORDS, gate_config, make_keys, office_config, site_mosquitto

P = "gate/tianlin12"
BIG = 2 * 1024 * 1024  # above the site's message_size_limit (1 MB) and every client's maximum packet size


def site_lines() -> list[str]:
    """The site's own broker settings, as config/site/mosquitto.conf sets them (read here, so this file also
    runs against an older checkout whose LocalBroker cannot add them itself)."""
    import edge

    keys = ("use_username_as_clientid", "message_size_limit", "max_queued_messages")
    text = (Path(edge.__file__).resolve().parents[1] / "config/site/mosquitto.conf").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip().split(" ", 1)[0] in keys]


@pytest.fixture
def site_broker(tmp_path):

    need_mosquitto()
    broker = site_mosquitto(tmp_path, extra=site_lines()).start()
    yield broker
    broker.stop()


@pytest.fixture
def keys(tmp_path):
    return make_keys(tmp_path)


def without_helper_logins(path: Path, helpers: bool) -> Path:
    """The config as written, or without its helper logins (where the test is not about them: so this file
    fails on an older checkout for the reason it tests, not for a config key it does not know)."""
    if not helpers:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["mqtt"].pop("cmd_login", None)
        data["mqtt"].pop("waiting_login", None)
        path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def start_office(tmp_path, keys, port, helpers=False):
    from edge.config import load_config
    from edge.office.service import Office

    path = without_helper_logins(office_config(tmp_path, keys, port, "ensemble"), helpers)
    office = Office(load_config(path)).start()
    assert office.link.connected.wait(10) and office.link.subscribed.wait(10)
    return office


def start_gate(folder, keys, port, name="east", helpers=False):
    from edge.config import load_config
    from edge.gate.daemon import Daemon

    path = gate_config(folder, keys, port, name, barriers=[{"id": "foot", "type": "simulated", "lanes": ["in"]}])
    return Daemon(load_config(without_helper_logins(path, helpers))).start()


def client(port, login, client_id, **kwargs):
    """A bare paho client under a site login (an attacker's or a technician's)."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5, **kwargs)
    c.username_pw_set(login, PASSWORDS[login])
    c.acks = {}
    c.on_publish = lambda cl, u, mid, rc, p: cl.acks.__setitem__(mid, rc)
    c.connect("127.0.0.1", port, 30)
    c.loop_start()
    assert wait_for(c.is_connected, 10), f"{login} could not connect"
    return c


def close(c) -> None:
    c.disconnect()
    c.loop_stop()


def takeovers(broker) -> int:
    """How often the broker has thrown a connected client off for a newcomer with the same client id."""
    return broker.log.read_text(errors="replace").count("already connected, closing old connection")


def status(gate: str) -> str:
    from edge.contract import status_payload

    return json.dumps(status_payload("online", "2026-11-26T12:00:00+08:00", {}, {}, 0))


def test_a_gates_login_cannot_take_the_offices_client_id_or_session(tmp_path, keys, site_broker):
    office = start_office(tmp_path, keys, site_broker.port)
    attacker = None
    try:
        # East's password, the office's client id, a session that would outlive the connection.
        attacker = client(site_broker.port, "east", office.config.client_id, reconnect_on_failure=True)
        time.sleep(1.5)  # what the broker does with it: a takeover would show at once, and again every second
        assert takeovers(site_broker) == 0, "east's login took the office's client id"
        assert office.link.connected.is_set()
        # While the attacker is connected, what a gate publishes still reaches the office.
        west = client(site_broker.port, "west", "tianlin12-west")
        west.publish(f"{P}/west/status", status("west"), qos=1, retain=True)
        assert wait_for(lambda: "west" in office.store.gates.all(), 10), "the office missed west's status"
        close(west)
        assert takeovers(site_broker) == 0 and office.link.connected.is_set()
    finally:
        if attacker is not None:
            close(attacker)
        office.close()


def test_two_gates_configured_with_one_name_say_so_raise_an_alert_and_stop_fighting(tmp_path, keys, site_broker,
                                                                                     caplog):
    caplog.set_level(logging.ERROR, logger="edge.site.takeover")
    first = start_gate(tmp_path / "first", keys, site_broker.port)
    second = None
    try:
        assert first.link.connected.wait(10) and first.link.subscribed.wait(10)
        second = start_gate(tmp_path / "second", keys, site_broker.port)  # a technician's copy of east's config

        def alerted():
            return [g for g in (first, second) if g.store.alerts.open_device("mqtt-session")]

        assert wait_for(alerted, 30), f"no alert after {takeovers(site_broker)} takeovers"
        detail = alerted()[0].store.alerts.open_device("mqtt-session")["detail"]
        assert "took its session over" in detail and "'east'" in detail and "tianlin12-east" in detail
        errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
        assert any("took its session over" in e and "login 'east'" in e and "trying again in" in e for e in errors)
        # The one that said so backs off: no more fighting every second.
        before = takeovers(site_broker)
        time.sleep(3)
        assert takeovers(site_broker) - before <= 1
    finally:
        if second is not None:
            second.close()
        first.close()


def test_a_broker_that_says_session_taken_over_is_believed_at_once(tmp_path, caplog):
    """Mosquitto from 2.0.15 and EMQX send reason 0x8E: no need to wait for a third drop."""
    from mqtt_helpers import gate_config as plain_gate_config
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.reasoncodes import ReasonCode

    from edge.site.mqtt_link import MqttLink
    from edge.store import Store

    caplog.set_level(logging.ERROR, logger="edge.site.takeover")
    config = plain_gate_config(tmp_path / "gate", 1, username="east")
    told = []
    with Store(config.database) as store:
        link = MqttLink(config, store, on_taken_over=told.append)
        link.connected.set()
        flags = mqtt.DisconnectFlags(is_disconnect_packet_from_server=True)
        link._on_disconnect(link._client, None, flags, ReasonCode(PacketTypes.DISCONNECT, identifier=0x8E), None)
        link.takeover.check(link._client, link.connected.is_set())
    assert len(told) == 1 and "reason 0x8E" in told[0] and "tianlin12-east" in told[0]
    assert any("took its session over" in r.getMessage() for r in caplog.records)


def test_cmd_the_consoles_commands_and_a_waiting_gate_use_logins_of_their_own(tmp_path, keys, site_broker,
                                                                              capsys):
    from edge.cli.main import main
    from edge.gate.waiting import Waiter
    from edge.site.command_client import command_key

    office = start_office(tmp_path, keys, site_broker.port, helpers=True)
    east = start_gate(tmp_path / "east", keys, site_broker.port, helpers=True)
    waiter = None
    try:
        assert east.link.connected.wait(10) and east.link.subscribed.wait(10)
        opened = len(east.barriers["foot"].commands)
        # The technician's tool at the office, under mqtt.cmd_login.
        assert main(["cmd", "-c", str(tmp_path / "office.yaml"), "--gate", "east", "open", "--timeout", "10"]) == 0
        assert json.loads(capsys.readouterr().out)["ok"] is True
        # The console's "open", over the office's own connection.
        result = office.commands.send("east", "open", {"lane": "in"}, 10, key=command_key(office.config))
        assert result["ok"] is True and len(east.barriers["foot"].commands) == opened + 2
        # A second east process waiting for its database, under mqtt.waiting_login.
        waiter = Waiter(east.config, time.time, OSError("disk I/O error"))
        waiter.start()
        assert wait_for(lambda: waiter._client.is_connected(), 10)
        time.sleep(1)
        log = site_broker.log.read_text(errors="replace")
        assert "as office-cmd" in log and "as east-waiting" in log
        assert takeovers(site_broker) == 0
        assert office.link.connected.is_set() and east.link.connected.is_set()
    finally:
        if waiter is not None:
            waiter.close()
        east.close()
        office.close()


def test_an_oversize_message_is_refused_by_the_sites_broker_and_reaches_no_one(tmp_path, keys, site_broker):
    office = start_office(tmp_path, keys, site_broker.port)
    seen: list[tuple[str, int]] = []
    handle = office.link.router.handle
    office.link.router.handle = lambda message: (seen.append((message.topic, len(message.payload))), handle(message))
    east = client(site_broker.port, "east", "tianlin12-east")
    west = client(site_broker.port, "west", "tianlin12-west")
    try:
        east.publish(f"{P}/east/event/entry", b"{" + b" " * BIG + b"}", qos=1)
        assert wait_for(lambda: "Dropped too large PUBLISH" in site_broker.log.read_text(errors="replace"), 10), \
            "the broker took a 2 MB message (message_size_limit)"
        west.publish(f"{P}/west/status", status("west"), qos=1, retain=True)  # a marker behind it
        assert wait_for(lambda: any(t.endswith("/west/status") for t, _ in seen), 10)
        assert max(size for _, size in seen) < 1024 * 1024
        assert office.link.connected.is_set() and takeovers(site_broker) == 0
    finally:
        close(east)
        close(west)
        office.close()


def test_a_client_of_ours_never_receives_a_message_above_its_maximum_packet_size(tmp_path, make_broker):
    """Also behind a broker without the site's limit (a district broker, an older config)."""
    from mqtt_helpers import gate_config as plain_gate_config
    from paho.mqtt.subscribeoptions import SubscribeOptions

    from edge.contract import Topics
    from edge.site.mqtt_link import MqttLink
    from edge.site.router import Router
    from edge.store import Store

    broker = make_broker()
    config = plain_gate_config(tmp_path / "gate", broker.port)
    seen: list[int] = []
    with Store(config.database) as store:
        topics = Topics.of(config)
        router = (Router().subscribe(topics.peer_events, SubscribeOptions(qos=1, noLocal=True))
                  .route(topics.event("+", "+"), lambda message: seen.append(len(message.payload))))
        link = MqttLink(config, store, router=router).start()
        try:
            assert link.connected.wait(10)
            west = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="west", protocol=mqtt.MQTTv5)
            west.connect("127.0.0.1", broker.port, 30)
            west.loop_start()
            time.sleep(0.5)  # the link's subscriptions are in place
            west.publish(f"{P}/west/event/entry", b"{" + b" " * BIG + b"}", qos=1).wait_for_publish(10)
            west.publish(f"{P}/west/event/entry", b"{}", qos=1).wait_for_publish(10)  # a marker behind it
            assert wait_for(lambda: 2 in seen, 10), seen
            assert max(seen) < 1024 * 1024, "a 2 MB message reached the gate"
            west.disconnect()
            west.loop_stop()
        finally:
            link.close()
