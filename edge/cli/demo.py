"""``gate-edge demo``: the whole daemon on bundled media, with a simulated barrier and a private broker.

A working folder gets the demo config, videos made from the photos in config/demo/ (residents, a
stranger, three cars, a QR pass for a resident who declined face recognition), fresh keys, a private
``mosquitto`` when one is installed, and an RS-485 barrier controller simulated on a pseudo-terminal.
The demo then plays the office: it prints every message the broker carries as a JSON line, pays the
visitor's parking fee with a signed command, and finally lets two days pass to show a care-watch alert.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "config" / "demo.yaml"
MEDIA = REPO / "config" / "demo"
FPS = 5


def _say(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def write_clip(path: Path, size: tuple[int, int], parts) -> None:
    """Write a video of ``size`` (width, height) at FPS frames a second, atomically: ``parts`` is a list
    of (still or None for an empty scene, seconds). A camera retrying its file never reads half a video."""
    import numpy as np

    from models.images import letterbox, load_rgb, write_video

    width, height = size
    blank = np.full((height, width, 3), 40, np.uint8)

    def frames():
        for still, seconds in parts:
            frame = blank if still is None else letterbox(load_rgb(still), width, height)
            yield from [frame] * int(seconds * FPS)

    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    write_video(tmp, frames(), FPS)
    tmp.replace(path)


FACE_SIZE, ROAD_SIZE = (640, 480), (1280, 720)


def make_media(workdir: Path, qr_png: Path) -> None:
    """Videos for the three cameras, made from the bundled stills."""
    media = workdir / "media"
    media.mkdir(exist_ok=True)
    write_clip(media / "face-in.avi", FACE_SIZE, [
        (None, 1), (MEDIA / "resident-wang-at-gate.jpg", 2.4), (None, 1.2), (MEDIA / "stranger-at-gate.jpg", 2.4),
        (None, 1.2), (MEDIA / "resident-li-at-gate.jpg", 2.4), (None, 1.2), (qr_png, 2.4), (None, 1)])
    write_clip(media / "plate-in.avi", ROAD_SIZE, [
        (None, 1), (MEDIA / "plate-resident.jpg", 3), (None, 1.6), (MEDIA / "plate-visitor.jpg", 3), (None, 1.6),
        (MEDIA / "plate-family-green.jpg", 3), (None, 1)])
    write_clip(media / "plate-out.avi", ROAD_SIZE, [(None, 15), (MEDIA / "plate-visitor.jpg", 3), (None, 1)])


def prepare(workdir: Path, broker_port: int | None, barrier_port: str) -> Path:
    """Write the demo config and keys into ``workdir``; return the config path."""
    config = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    config["mqtt"]["enabled"] = broker_port is not None
    if broker_port is not None:
        config["mqtt"]["port"] = broker_port
    for barrier in config["barriers"]:
        if barrier["type"] == "modbus_rtu":
            barrier["port"] = barrier_port
    for name in ("pass.key", "command.key"):
        key = workdir / name
        key.write_bytes(os.urandom(32).hex().encode())
        key.chmod(0o600)
    path = workdir / "gate.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    (workdir / "media").mkdir(exist_ok=True)
    for camera in config["cameras"]:
        source = workdir / camera["source"]
        if not source.exists():
            source.touch()  # a placeholder until make_media writes the video: the config validates now
    return path


def register_residents(store, enroller, pass_key, pass_hours: float) -> tuple[dict, str]:
    """The demo's people, in one transaction of ``store``: 王建国 (care-watch) and 李桂兰 enrolled from
    their photos, 陈明 (who declined face recognition) with a QR pass, and two cars. Returns the ids by
    name and the pass's token. The single-gate demo and the site demo both register them here."""
    from edge.registry.passes import issue_token, record_pass

    with store.transaction():
        wang = store.people.add("王建国", "12-301", "13800000001", care_watch=True, face_consent=True)
        enroller.enrol(store, wang, [MEDIA / "resident-wang-enrol.jpg"])
        li = store.people.add("李桂兰", "3-402", "13800000002", face_consent=True)
        enroller.enrol(store, li, [MEDIA / "resident-li-enrol.jpg"])
        chen = store.people.add("陈明", "5-101", "13800000003")  # declined face recognition
        month = (date.today() + timedelta(days=30)).isoformat()
        store.vehicles.upsert("皖AY6B59", "resident", wang, valid_until=month)
        store.vehicles.upsert("皖AF06789", "family", li, valid_until=month)
        token, claim = issue_token(pass_key, person_id=chen, valid_hours=pass_hours)
        record_pass(store, claim)
    return {"王建国": wang, "李桂兰": li, "陈明": chen}, token


def enrol_residents(config) -> dict:
    """The single-gate demo's registry (``register_residents``) and the QR pass as a picture."""
    from edge.registry.enrol import Enroller
    from edge.registry.passes import read_key
    from edge.store import Store
    from models.qr import write_qr_png

    with Store(config.database) as store:
        people, token = register_residents(store, Enroller(config.recognition.face),
                                           read_key(config.passes.secret_file), 24)
    qr = config.database.parent / "pass-chen.png"
    write_qr_png(token, qr)
    return {"people": people, "qr": qr}


class Office:
    """The committee office's side: prints what arrives on the broker, pays fees with signed commands."""

    def __init__(self, config):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        from edge.contract import Topics

        self.config = config
        self.topics = Topics.of(config)
        self.messages: list[tuple[str, dict]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="demo-office", protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, *a: c.subscribe(f"{self.topics.base}/#", qos=1)
        self.client.connect(config.mqtt.host, config.mqtt.port)
        self.client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        try:
            payload = json.loads(message.payload)
        except ValueError:
            payload = message.payload.decode(errors="replace")
        self.messages.append((message.topic, payload))
        _say({"topic": message.topic, "payload": payload})

    def pay(self, session_id: str, amount_cents: int) -> None:
        from edge.keys import read_secret
        from edge.site.remote import new_command

        key = read_secret(self.config.mqtt.command_key_file)
        body = new_command("pay", site=self.config.site, gate=self.config.gate, key=key, zone=self.config.zone,
                           request_id=f"demo-{int(time.time() * 1000)}", session_id=session_id,
                           amount_cents=amount_cents)
        self.client.publish(self.topics.command("pay"), json.dumps(body, ensure_ascii=False), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def run_demo(seconds: float = 45.0, workdir: str | None = None, keep: bool = False) -> int:
    from drivers.barrier_simulator import BarrierSimulator
    from drivers.ptylink import PtyLink
    from edge.config import load_config
    from edge.gate.daemon import Daemon
    from edge.site.localbroker import LocalBroker, mosquitto_binary
    from edge.timeutil import Clock

    started = time.monotonic()
    work = Path(workdir or tempfile.mkdtemp(prefix="gate-edge-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    link = PtyLink(work, baudrate=9600)
    simulator = BarrierSimulator(link.device_path, arm_up_s=2.0).start()
    broker = None
    if mosquitto_binary():
        broker = LocalBroker(work / "broker").start()
    else:
        print("demo: mosquitto is not installed: events stay in the outbox (apt-get install mosquitto to see "
              "them published)", file=sys.stderr)
    office = daemon = None
    try:
        config = load_config(prepare(work, broker.port if broker else None, link.host_path))
        people = enrol_residents(config)
        make_media(work, people["qr"])
        config = load_config(work / "gate.yaml")  # now the camera files exist
        clock = Clock()
        office = Office(config) if broker else None
        state = {"visitor_in": False, "paid": False, "events": []}

        def on_event(event: dict) -> None:
            state["events"].append(event)
            if office is None:
                _say({"event": event})
            subj = event["subject"]
            if event["kind"] == "entry" and subj.get("plate") == "皖A1A346" and not state["visitor_in"]:
                state["visitor_in"] = True
                # The visitor stays 45 minutes; rather than wait, the demo dates the entry back.
                daemon.store.sessions.backdate_entry(event["session_id"], 2700)
            if event["kind"] == "exit" and event["decision"] == "hold" and not state["paid"]:
                state["paid"] = True
                # The guard takes the fee; the office confirms it with a signed command (or directly, offline).
                fee, session = event["fee_cents"], event["session_id"]
                if office is not None:
                    office.pay(session, fee)
                else:
                    threading.Thread(target=lambda: daemon.gate.pay(session, fee, "demo-offline"),
                                     daemon=True).start()

        daemon = Daemon(config, clock=clock, on_event=on_event).start()
        deadline = started + seconds
        while time.monotonic() < deadline and not all(c.state == "ended" for c in daemon.cameras):
            time.sleep(0.2)
        time.sleep(1.5)  # let the last decisions and the pay command settle
        clock.offset_s += 49 * 3600  # two days later: nobody has seen 王建国 since he came home
        alerts = daemon.jobs.inactivity()
        if office is None:
            for alert in alerts:
                _say({"alert": alert})
        time.sleep(1.0)
        summary = _summary(state["events"], alerts, simulator, daemon, office, time.monotonic() - started)
        _say({"summary": summary})
        return 0
    finally:
        if daemon is not None:
            daemon.close()
        if office is not None:
            office.close()
        simulator.close()
        link.close()
        if broker is not None:
            broker.stop()
        if not keep and workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def _summary(events, alerts, simulator, daemon, office, elapsed) -> dict:
    counts: dict[str, int] = {}
    for event in events:
        key = f"{event['kind']}/{event['decision']}"
        counts[key] = counts.get(key, 0) + 1
    outbox = daemon.store.outbox.depth()
    return {
        "events": counts,
        "inactivity_alerts": len(alerts),
        "barrier_pulses": {"east-car in": len(simulator.pulses(0)), "east-car out": len(simulator.pulses(1)),
                           "east-foot in": len(daemon.barriers["east-foot"].commands)},
        "published_messages_seen_by_office": len(office.messages) if office else None,
        "outbox_unsent": outbox,
        "seconds": round(elapsed, 1),
    }
