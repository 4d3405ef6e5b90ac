"""Test helpers for MQTT: a gate config pointed at a test broker, and a listening 'office' client."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import load_config


def gate_config(folder, port, *, gate="east", cameras=(), barriers=(), extra=None, **mqtt_settings):
    folder.mkdir(parents=True, exist_ok=True)
    data = {
        "site": "tianlin12", "gate": gate, "database": str(folder / "registry.db"),
        "mqtt": {"host": "127.0.0.1", "port": port, **mqtt_settings},
        "cameras": list(cameras), "barriers": list(barriers), **(extra or {}),
    }
    path = folder / "gate.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return load_config(path)


def wait_for(predicate, timeout=20.0, step=0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return False


class Listener:
    """The office: subscribes (persistent session, QoS 1) and keeps every message.

    Ready once the broker has acknowledged the subscription (SUBACK), not after a guessed pause: a message
    published after the constructor returns is received. ``ready`` is cleared while disconnected and set
    again by the next SUBACK. A subscription the broker refuses (ACL) is an error, never silence."""

    def __init__(self, port, topic="gate/#", *, client_id="office", username=None, password=None, tls=None):
        self.messages: list[tuple[str, object, bool]] = []
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.refused: str | None = None
        self._subscribe_mid: int | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set(ca_certs=str(tls["ca"]))
        self.topic = topic
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda *a: self.ready.clear()
        self.client.reconnect_delay_set(0.2, 1)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 3600
        self.client.connect_async("127.0.0.1", port, 30, clean_start=False, properties=props)
        self.client.loop_start()
        if not self.ready.wait(10):
            self.close()
            raise AssertionError(f"listener could not connect and subscribe to {topic} (no SUBACK in 10 s)")
        if self.refused:
            self.close()
            raise AssertionError(f"the broker refused the subscription to {topic}: {self.refused}")

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            # Runs in paho's network thread, which also reads the SUBACK: the mid is known before it arrives.
            self._subscribe_mid = client.subscribe(self.topic, qos=1)[1]

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._subscribe_mid:
            return
        failed = [str(code) for code in reason_codes if code.is_failure]
        self.refused = ", ".join(failed) or None
        self.ready.set()

    def _on_message(self, client, userdata, message):
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = message.payload
        with self.lock:
            self.messages.append((message.topic, payload, bool(message.retain)))

    def on(self, suffix: str) -> list:
        with self.lock:
            return [p for t, p, _ in self.messages if t.endswith(suffix)]

    def publish(self, topic, payload, qos=1):
        data = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        info = self.client.publish(topic, data, qos=qos)
        info.wait_for_publish(5)

    def close(self):
        # disconnect first: paho's loop_stop alone waits, without end, for every QoS 1 message unacknowledged
        self.client.disconnect()
        self.client.loop_stop()
