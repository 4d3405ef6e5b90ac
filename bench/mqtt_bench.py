"""MQTT: publish latency on loopback and how fast a backlog of queued events drains after reconnect.

    latency  event committed to the outbox -> received by a subscriber (ours), against a bare paho
             publish that waits for its PUBACK (no outbox, no durability): the price of the outbox
    drain    10,000 events queued while the broker was away, then the link connects: ours (in-flight
             window, batched "sent" updates) against the naive outbox loop (publish one, wait for its
             PUBACK, mark it sent, next)

Needs ``mosquitto``; starts its own on a free loopback port.

    python -m bench.mqtt_bench [--events 10000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from edge.config import load_config
from edge.contract import Topics
from edge.site.localbroker import LocalBroker, mosquitto_binary
from edge.site.mqtt_link import MqttLink
from edge.store import Store


def gate(folder: Path, port: int):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gate.yaml"
    path.write_text(yaml.safe_dump({"site": "bench", "gate": "east", "database": str(folder / "registry.db"),
                                    "mqtt": {"port": port}}))
    return load_config(path)


class Receiver:
    def __init__(self, port):
        self.times: dict[str, float] = {}
        self.count = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.ready = threading.Event()
        self.client.on_connect = lambda c, *a: (c.subscribe("gate/+/+/event/#", qos=1), self.ready.set())
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.ready.wait(5)
        time.sleep(0.2)

    def _message(self, client, userdata, message):
        self.times[json.loads(message.payload)["event_id"]] = time.perf_counter()
        self.count += 1

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def fill(store, topics, n):
    ids = []
    with store.transaction():
        for _ in range(n):
            event_id = str(uuid.uuid4())
            store.outbox.enqueue(topics.event("entry"), {"event_id": event_id}, msg_id=event_id)
            ids.append(event_id)
    return ids


def naive_drain(store, port, n) -> float:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.connect("127.0.0.1", port)
    client.loop_start()
    outbox = store.outbox
    started = time.perf_counter()
    sent = 0
    while sent < n:
        rows = outbox.unsent(100)
        if not rows:
            break
        for row in rows:
            client.publish(row["topic"], row["payload"], qos=1).wait_for_publish(5)
            outbox.mark_sent([row["seq"]])
            sent += 1
    elapsed = time.perf_counter() - started
    client.disconnect()
    client.loop_stop()
    return sent / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--latency-samples", type=int, default=300)
    args = parser.parse_args(argv)
    if mosquitto_binary() is None:
        print("bench: mosquitto is not installed; apt-get install mosquitto")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        broker = LocalBroker(folder / "broker", persistence=False).start()
        try:
            config = gate(folder / "a", broker.port)
            topics = Topics("gate", "bench", "east")
            receiver = Receiver(broker.port)
            with Store(config.database) as store:
                link = MqttLink(config, store).start()
                link.connected.wait(10)
                ours = []
                for _ in range(args.latency_samples):
                    started = time.perf_counter()
                    [event_id] = fill(store, topics, 1)
                    link.wake()
                    deadline = time.monotonic() + 10
                    while event_id not in receiver.times and time.monotonic() < deadline:
                        time.sleep(0.0002)
                    ours.append(receiver.times[event_id] - started)
                link.close()
            bare = []
            client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
            client.connect("127.0.0.1", broker.port)
            client.loop_start()
            for _ in range(args.latency_samples):
                started = time.perf_counter()
                client.publish("bare/bench", "x", qos=1).wait_for_publish(5)
                bare.append(time.perf_counter() - started)
            client.disconnect()
            client.loop_stop()
            o50, o95 = np.percentile(ours, [50, 95]) * 1000
            b50, b95 = np.percentile(bare, [50, 95]) * 1000
            print("| publish latency | p50 ms | p95 ms |")
            print("|---|---|---|")
            print(f"| ours: committed to the outbox -> received by a subscriber | {o50:.2f} | {o95:.2f} |")
            print(f"| bare paho publish -> PUBACK (no outbox, nothing durable) | {b50:.2f} | {b95:.2f} |")

            # The drain: the broker was away while the gate queued events; then it comes back.
            config = gate(folder / "b", broker.port)
            with Store(config.database) as store:
                fill(store, topics, args.events)
                link = MqttLink(config, store)
                started = time.perf_counter()
                link.start()
                outbox = store.outbox
                while outbox.depth() > 0:
                    time.sleep(0.01)
                ours_rate = args.events / (time.perf_counter() - started)
                link.close()
            config = gate(folder / "c", broker.port)
            with Store(config.database) as store:
                n = min(args.events, 2000)  # the naive loop is slow: a sample gives its rate
                fill(store, topics, n)
                naive_rate = naive_drain(store, broker.port, n)
            receiver.close()
            print(f"\n| backlog drain | events/s |\n|---|---|\n| ours ({args.events:,} queued) | {ours_rate:,.0f} |")
            print(f"| naive one-by-one outbox loop | {naive_rate:,.0f} |")
            print(f"\nours / naive: {ours_rate / naive_rate:.1f}x")
        finally:
            broker.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
