"""Camera → recognisers → consensus → gate, on videos written from real photographs."""

from __future__ import annotations

import json
import threading

import pytest
import yaml
from conftest import PLATES, face
from mqtt_helpers import wait_for
from test_camera import video

from drivers.barriers import make_barrier
from drivers.camera import Camera
from edge.alerts import Alerts
from edge.config import load_config
from edge.gate.controller import Gate
from edge.gate.pipeline import CameraWorker
from edge.gate.recognition import Recognizers
from edge.store import Store
from models.images import load_rgb


def gate_setup(tmp_path, engines, cameras, barrier_lanes=("in",), **sections):
    config_path = tmp_path / "gate.yaml"
    config_path.write_text(yaml.safe_dump({
        "site": "tianlin12", "gate": "east", "database": "registry.db",
        "cameras": cameras,
        "barriers": [{"id": "b", "type": "simulated", "lanes": list(barrier_lanes), "pulse_ms": 0}],
        "passes": {"secret_file": str(tmp_path / "pass.key")},
        **sections,
    }, allow_unicode=True))
    (tmp_path / "pass.key").write_bytes(b"k" * 32)
    config = load_config(config_path)
    store = Store(config.database)
    barrier = make_barrier(config.barriers[0])
    gate = Gate(config, store, {"b": barrier}, Alerts(config, store))
    recognizers = Recognizers(config, store, **engines)
    return config, store, barrier, gate, recognizers


def run_cameras(config, recognizers, gate, key=None, timeout=30):
    stop = threading.Event()
    cameras = [Camera(c, stop).start() for c in config.cameras]
    workers = [CameraWorker(cam, config, recognizers, gate, stop, key).start() for cam in cameras]
    try:
        assert wait_for(lambda: all(c.state == "ended" for c in cameras), timeout)
        for worker in workers:
            worker.join(10)
    finally:
        stop.set()
        for camera in cameras:
            camera.close()
    return workers


def events(store):
    return store.events.payloads()


def test_resident_then_stranger_gives_one_entry_and_one_stranger(tmp_path, engines):
    clip = video(tmp_path / "face.avi", [None, face("fr_obama", 2), None, face("dlib_John_Simm"), None],
                 seconds_each=2.0, fps=5, size=(640, 480))
    cams = [{"id": "face-in", "source": str(clip), "role": "face", "lane": "in", "fps": 5, "every_frame": True}]
    config, store, barrier, gate, recognizers = gate_setup(
        tmp_path, engines, cams, recognition={"face": {"scale": 1.0, "min_hits": 2}})
    resident = store.people.add("王建国", "12-301", care_watch=True)
    enrolment = engines["faces"].enrolment_template(load_rgb(face("fr_obama", 1)), "enrolment photo")
    store.templates.add(resident, engines["faces"].encoder.name, [enrolment])
    workers = run_cameras(config, recognizers, gate)
    assert workers[0].errors == 0
    kinds = [(e["kind"], e["decision"], e["subject"]["person_id"]) for e in events(store)]
    assert kinds == [("entry", "open", resident), ("stranger", "deny", None)]
    assert len(barrier.commands) == 1  # the stranger opened nothing
    assert store.sightings.get(f"person:{resident}") is not None
    assert [m["topic"] for m in store.outbox.messages()] == ["gate/tianlin12/east/event/entry",
                                                                 "gate/tianlin12/east/event/stranger"]
    store.close()


def test_plate_video_gives_one_decision_per_vehicle(tmp_path, engines):
    clip = video(tmp_path / "road.avi", [None, PLATES / "ccpd_07.jpg", None, PLATES / "ccpd2020_002.jpg", None],
                 seconds_each=2.0, fps=5, size=(1280, 720))
    cams = [{"id": "plate-in", "source": str(clip), "role": "plate", "lane": "in", "fps": 5, "every_frame": True}]
    config, store, barrier, gate, recognizers = gate_setup(
        tmp_path, engines, cams, recognition={"plate": {"province": "皖"}})
    owner = store.people.add("王建国", "12-301")
    store.vehicles.upsert("皖AY6B59", "resident", owner, valid_until="2099-12-31")
    run_cameras(config, recognizers, gate)
    got = [(e["kind"], e["decision"], e["subject"]["plate"], e["reason"]) for e in events(store)]
    assert got == [("entry", "open", "皖AY6B59", "resident permit valid"),
                   ("entry", "open", "皖AF06789", "unregistered vehicle: visitor")]
    assert len(barrier.commands) == 2
    sessions = [{"plate": s["plate"], "vehicle_class": s["vehicle_class"]} for s in store.sessions.open_sessions()]
    assert sorted(sessions, key=lambda s: s["plate"]) == [{"plate": "皖AF06789", "vehicle_class": "visitor"},
                        {"plate": "皖AY6B59", "vehicle_class": "resident"}]
    store.close()


def test_a_qr_pass_shown_to_a_camera_opens_for_its_person(tmp_path, engines):
    from edge.registry.passes import issue_token, record_pass
    from models.qr import write_qr_png

    with Store(tmp_path / "registry.db") as store:
        person = store.people.add("陈明", "5-101")  # declined face recognition
        token, claim = issue_token(b"k" * 32, person_id=person, valid_hours=1)
        record_pass(store, claim)
    write_qr_png(token, tmp_path / "pass.png")
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    write_qr_png(forged, tmp_path / "forged.png")
    write_qr_png("TEL:13800000000", tmp_path / "move-my-car.png")  # a windscreen sticker: not a pass at all
    clip = video(tmp_path / "qr.avi", [None, tmp_path / "pass.png", None, tmp_path / "move-my-car.png", None,
                                       tmp_path / "forged.png", None], seconds_each=1.5, fps=5, size=(640, 480))
    cams = [{"id": "face-in", "source": str(clip), "role": "face", "lane": "in", "fps": 5, "every_frame": True}]
    config, store, barrier, gate, recognizers = gate_setup(tmp_path, engines, cams)
    run_cameras(config, recognizers, gate, key=b"k" * 32)
    got = [(e["kind"], e["decision"], e["credential"], e["subject"]["person_id"]) for e in events(store)]
    # The sticker makes no event at all; only a code in our format that fails verification is denied.
    assert got == [("entry", "open", "qr", person), ("denied", "deny", "qr", None)]
    assert "forged" in events(store)[1]["reason"]
    assert len(barrier.commands) == 1
    store.close()


def test_a_worker_survives_a_failing_frame(tmp_path, engines):
    cams = [{"id": "c", "source": str(face("fr_obama")), "role": "face", "lane": "in", "fps": 10}]
    config, store, barrier, gate, recognizers = gate_setup(tmp_path, engines, cams)
    cam = config.cameras[0]
    stop = threading.Event()
    camera = Camera(cam, stop).start()
    worker = CameraWorker(camera, config, recognizers, gate, stop)
    calls = []

    def broken(rgb, ts, mono=None):
        calls.append(ts)
        raise RuntimeError("model exploded")

    worker.process = broken
    worker.start()
    try:
        assert wait_for(lambda: len(calls) >= 3, 10)
        assert worker.alive and worker.errors >= 3
    finally:
        stop.set()
        worker.join(5)
        camera.close()
        store.close()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the death is the test
def test_the_daemon_restarts_a_dead_worker_and_reports_it(tmp_path):
    import yaml

    from edge.gate.daemon import Daemon

    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump({
        "site": "tianlin12", "gate": "east", "database": "registry.db", "mqtt": {"enabled": False},
        "cameras": [{"id": "face-in", "source": str(face("fr_biden")), "role": "face", "lane": "in", "fps": 10}],
        "barriers": [{"id": "foot", "type": "simulated", "lanes": ["in"]}],
    }))
    daemon = Daemon(load_config(path))
    daemon.start()
    try:
        worker = daemon.workers[0]

        def die(rgb, ts, mono=None):
            raise SystemExit("a thread killed by a bug that even catches Exception cannot survive")

        worker.process = die
        assert wait_for(lambda: not worker.alive, 10)
        assert daemon.supervise() is False
        assert daemon.workers[0] is not worker and daemon.workers[0].alive
        assert wait_for(lambda: daemon.workers[0].frames > 0, 10)
        alert = daemon.store.alerts.all(subject="worker:face-in")
        assert len(alert) == 1 and "restarted" in alert[0]["detail"]
        assert daemon.supervise() is True and daemon.restarts == 1
    finally:
        daemon.close()


@pytest.mark.parametrize("days, kept", [(0, 0), (7, 1)])
def test_stranger_snapshots_are_kept_only_when_configured(tmp_path, engines, days, kept):
    clip = video(tmp_path / "face.avi", [None, face("dlib_John_Simm"), None], seconds_each=2.0, fps=5,
                 size=(640, 480))
    cams = [{"id": "face-in", "source": str(clip), "role": "face", "lane": "in", "fps": 5, "every_frame": True}]
    config, store, barrier, gate, recognizers = gate_setup(
        tmp_path, engines, cams, recognition={"face": {"scale": 1.0}}, retention={"stranger_snapshots_days": days})
    run_cameras(config, recognizers, gate)
    [event] = events(store)
    assert event["kind"] == "stranger"
    snapshots = store.events.snapshots()
    assert len(snapshots) == kept
    if kept:
        assert snapshots[0]["event_id"] == event["event_id"] and snapshots[0]["size"] > 1000
        assert "image" not in json.dumps(event) and event["snapshot"] == "kept on the gate"
    store.close()
