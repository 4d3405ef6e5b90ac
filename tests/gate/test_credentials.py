"""Credential processors (edge.gate.credentials): the list a camera runs, foreign QR codes, the monotonic clock."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from conftest import PLATES, TWO_PEOPLE, face

from drivers.barriers import make_barrier
from edge.alerts import Alerts
from edge.config import load_config
from edge.gate.controller import Gate
from edge.gate.recognition import Recognizers
from edge.schemas import validate
from edge.store import Store
from models.images import letterbox, load_rgb

KEY = b"k" * 32
T0 = 1_760_000_000.0  # some wall-clock moment
TWO_DAYS = 2 * 86400.0


def setup_gate(tmp_path, engines, cameras, **sections):
    """A gate (real Gate, registry and simulated barrier) with ``cameras``; (config, registry, barrier, gate,
    recognizers)."""
    path = tmp_path / "gate.yaml"
    path.write_text(yaml.safe_dump({
        "site": "tianlin12", "gate": "east", "database": "registry.db", "cameras": cameras,
        "barriers": [{"id": "b", "type": "simulated", "lanes": ["in", "out"], "pulse_ms": 0}],
        "passes": {"secret_file": str(tmp_path / "pass.key")}, **sections,
    }, allow_unicode=True))
    (tmp_path / "pass.key").write_bytes(KEY)
    config = load_config(path)
    store = Store(config.database)
    barrier = make_barrier(config.barriers[0])
    gate = Gate(config, store, {"b": barrier}, Alerts(config, store))
    return config, store, barrier, gate, Recognizers(config, store, **engines)


def camera(cam_id="cam", role="face", lane="in", **kw):
    return {"id": cam_id, "source": "/dev/video97", "role": role, "lane": lane, **kw}


def qr_frame(text: str) -> np.ndarray:
    from models.qr import qr_image

    grey = qr_image(text)
    return letterbox(np.stack([grey] * 3, axis=-1), 640, 480)


def kinds(store) -> list[tuple]:
    return [(e["kind"], e["decision"], e["credential"]) for e in store.events.payloads()]


# -- the models a gate loads ---------------------------------------------------------------------------
@pytest.mark.parametrize("role, given, never", [("face", "faces", "plates"), ("plate", "plates", "faces")])
def test_a_gate_loads_only_the_models_its_cameras_need(tmp_path, engines, role, given, never):
    """Issue 30: starting a gate (RecognitionReady.prepare, then a frame through each processor) loads the
    engine of its cameras' role and nothing for another role, nor the QR reader when no camera reads passes.
    Only the needed engine is given; asking for any other would load it for real."""
    from edge.gate.pipeline import CameraWorker
    from edge.gate.recognition_ready import RecognitionReady

    config, store, _, gate, _ = setup_gate(tmp_path, {}, [camera(role=role, read_qr=False)])
    recognizers = Recognizers(config, store, **{given: engines[given]})
    RecognitionReady(config, store, recognizers, Alerts(config, store), guard=None).prepare()
    worker = CameraWorker(SimpleNamespace(config=config.cameras[0]), config, recognizers, gate, threading.Event())
    worker.process(np.zeros((480, 640, 3), np.uint8), T0, 0.0)
    assert getattr(recognizers, f"_{given}") is engines[given]
    assert getattr(recognizers, f"_{never}") is None and recognizers._qr is None
    store.close()


# -- the processor list -------------------------------------------------------------------------------
def test_each_camera_runs_the_processors_of_its_role_and_qr_unless_turned_off(tmp_path):
    from edge.gate.credentials import FaceProcessor, PlateProcessor, Processor, QrProcessor, processors_for
    from edge.gate.pipeline import CameraWorker

    cams = [camera("face-in"), camera("plate-in", "plate"), camera("plate-out", "plate", "out", read_qr=False)]
    config, store, _, gate, recognizers = setup_gate(tmp_path, {}, cams)
    chains = {c.id: [type(p) for p in processors_for(c, config, recognizers, gate, KEY)] for c in config.cameras}
    assert chains == {"face-in": [FaceProcessor, QrProcessor], "plate-in": [PlateProcessor, QrProcessor],
                      "plate-out": [PlateProcessor]}
    assert config.cameras[0].read_qr is True  # on by default: an unlicensed car's pass is shown at the car lane
    worker = CameraWorker(SimpleNamespace(config=config.cameras[1]), config, recognizers, gate, threading.Event())
    assert [type(p) for p in worker.processors] == [PlateProcessor, QrProcessor]
    assert all(isinstance(p, Processor) and p.cam is config.cameras[1] for p in worker.processors)
    worker.pass_key = KEY  # the daemon's reload hands every worker the current pass key
    assert worker.processors[1].pass_key == KEY
    store.close()


# -- QR codes -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["https://example.com/menu?table=12", "TEL:13800000000", "GE1:HELLOWORLD"])
def test_a_foreign_qr_code_makes_no_event_and_no_denial(tmp_path, text, caplog):
    from edge.gate.credentials import QrProcessor, Shot
    from models.qr import QrReader

    config, store, barrier, gate, recognizers = setup_gate(tmp_path, {"qr": QrReader()}, [camera()])
    qr = QrProcessor(config.cameras[0], config, recognizers, gate, KEY)
    rgb = qr_frame(text)
    assert [c.text for c in qr.observe(Shot(rgb, T0, 0.0))] == [text]  # it is read: the test can fail
    with caplog.at_level("DEBUG", logger="edge.gate.credentials.qr"):
        events = [e for i in range(20) for e in qr.process(Shot(rgb, T0 + i, 100.0 + 20 * i))]
    assert events == [] and kinds(store) == [] and barrier.commands == []
    assert "not a gate-edge pass" in caplog.text
    store.close()


def test_a_pass_of_our_format_that_fails_verification_is_denied(tmp_path):
    from edge.gate.credentials import QrProcessor, Shot
    from edge.registry.passes import issue_token, record_pass
    from models.qr import QrReader

    config, store, barrier, gate, recognizers = setup_gate(tmp_path, {"qr": QrReader()}, [camera()])
    person = store.people.add("陈明", "5-101")
    token, claim = issue_token(KEY, person_id=person, valid_hours=1)
    record_pass(store, claim)
    forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    qr = QrProcessor(config.cameras[0], config, recognizers, gate, KEY)
    [denied] = qr.process(Shot(qr_frame(forged), T0, 10.0))
    assert (denied["kind"], denied["decision"], denied["credential"]) == ("denied", "deny", "qr")
    assert "forged" in denied["reason"]
    [entry] = qr.process(Shot(qr_frame(token), T0 + 1, 11.0))
    assert (entry["kind"], entry["decision"], entry["subject"]["person_id"]) == ("entry", "open", person)
    assert len(barrier.commands) == 1
    store.close()


# -- agreement over frames on the monotonic clock -------------------------------------------------------
def jumping_stamps(count=30, jump_at=10) -> list[tuple[float, float]]:
    """(ts, mono) of frames 0.2 s apart on the monotonic clock while the wall clock jumps two days at ``jump_at``."""
    return [(T0 + 0.2 * i + (TWO_DAYS if i >= jump_at else 0.0), 5000.0 + 0.2 * i) for i in range(count)]


def held_up(tmp_path, engines, credential):
    """A gate whose one camera sees ``credential`` (a resident's face, a plate, a valid pass) in every frame:
    (config, registry, barrier, gate, recognizers, rgb)."""
    from edge.registry.passes import issue_token, record_pass

    cam = camera(role="plate" if credential == "plate" else "face", read_qr=credential == "qr", process_every_s=0)
    config, store, barrier, gate, recognizers = setup_gate(
        tmp_path, engines, [cam], recognition={"face": {"scale": 1.0}, "plate": {"province": "皖"}})
    if credential == "face":
        resident = store.people.add("王建国", "12-301")
        enrolment = engines["faces"].enrolment_template(load_rgb(face("fr_obama", 1)), "enrolment photo")
        store.templates.add(resident, engines["faces"].encoder.name, [enrolment])
        rgb = letterbox(load_rgb(face("fr_obama", 2)), 640, 480)
    elif credential == "plate":
        rgb = letterbox(load_rgb(PLATES / "ccpd_07.jpg"), 1280, 720)
    else:
        token, claim = issue_token(KEY, person_id=store.people.add("陈明", "5-101"), valid_hours=1)
        record_pass(store, claim)
        rgb = qr_frame(token)
    return config, store, barrier, gate, recognizers, rgb


@pytest.mark.parametrize("credential", ["face", "plate", "qr"])
def test_a_processor_does_not_re_trigger_when_the_wall_clock_jumps(tmp_path, engines, credential):
    from edge.gate.credentials import FaceProcessor, PlateProcessor, QrProcessor, Shot

    config, store, barrier, gate, recognizers, rgb = held_up(tmp_path, engines, credential)
    kind = {"face": FaceProcessor, "plate": PlateProcessor, "qr": QrProcessor}[credential]
    processor = kind(config.cameras[0], config, recognizers, gate)
    if credential == "qr":
        processor.pass_key = KEY
    events = [e for ts, mono in jumping_stamps() for e in processor.process(Shot(rgb, ts, mono))]
    # 6 s on the monotonic clock, well within every cooldown: one passage, one entry.
    assert [(e["kind"], e["decision"], e["credential"]) for e in events] == [("entry", "open", credential)]
    assert len(barrier.commands) == 1
    store.close()


class ScriptedCamera:
    """A camera handing out prepared frames (with ``ts`` and ``mono``), then "ended"."""

    def __init__(self, config, frames):
        self.config, self.state, self._frames = config, "ok", list(frames)

    def wait_newer(self, seq, timeout):
        if not self._frames:
            self.state = "ended"
            return None
        return self._frames.pop(0)


@pytest.mark.parametrize("credential", ["face", "plate", "qr"])
def test_a_camera_worker_does_not_let_anyone_in_twice_when_the_wall_clock_jumps(tmp_path, engines, credential):
    """The site demo's case: the simulated clock moves 45 minutes (here two days) while a car is in view."""
    from edge.gate.pipeline import CameraWorker

    config, store, barrier, gate, recognizers, rgb = held_up(tmp_path, engines, credential)
    frames = [SimpleNamespace(seq=n + 1, ts=ts, mono=mono, image=rgb) for n, (ts, mono) in enumerate(jumping_stamps())]
    stop = threading.Event()
    worker = CameraWorker(ScriptedCamera(config.cameras[0], frames), config, recognizers, gate, stop, KEY).start()
    worker.join(60)
    stop.set()
    assert worker.errors == 0 and worker.frames == 30
    assert kinds(store) == [("entry", "open", credential)]
    assert len(barrier.commands) == 1
    store.close()


# -- the camera's stamps --------------------------------------------------------------------------------
def test_frames_carry_a_monotonic_stamp_that_follows_the_video_in_every_frame_mode(tmp_path):
    from test_camera import camera_config, video

    from drivers.camera import Camera

    path = video(tmp_path / "v.avi", [face("fr_obama")], seconds_each=1.0, fps=10)
    with Camera(camera_config(path, every_frame=True), clock=lambda: T0) as cam:
        got, seq = [], 0
        while cam.state != "ended" or cam.latest().seq > seq:
            frame = cam.wait_newer(seq, timeout=1.0)
            if frame is not None:
                got.append(frame)
                seq = frame.seq
                time.sleep(0.02)
    assert len(got) == 10
    assert [round(f.ts - T0, 6) for f in got] == [round(f.mono - got[0].mono, 6) for f in got]
    assert abs(got[0].mono - time.monotonic()) < 30
    with Camera(camera_config(face("fr_obama"), fps=20), clock=lambda: T0) as cam:
        before = time.monotonic()
        frame = cam.wait_newer(0, timeout=5)
        assert frame is not None and frame.ts == T0 and before - 1 <= frame.mono <= time.monotonic()


# -- the cascade of ensemble-yunet (issue 30) -------------------------------------------------------------
def test_a_gate_on_the_yunet_encoder_lets_residents_in_through_the_cascade_and_groups_a_stranger(tmp_path, engines):
    """Residents enrolled the ensemble's way: Obama's frames are decided by faceplugin alone, Biden's second photo
    (unsure to it) by both networks; a stranger's frames, never given to the second network, are one stranger."""
    from edge.gate.credentials import FaceProcessor, Shot
    from models.faces import FaceEngine

    yunet = FaceEngine("ensemble-yunet", scale=0.5)
    config, store, barrier, gate, recognizers = setup_gate(
        tmp_path, {"faces": yunet}, [camera(process_every_s=0)],
        recognition={"face": {"encoder": "ensemble-yunet", "scale": 0.5}})
    residents = {}
    for name, identity in (("王建国", "fr_obama"), ("李强", "fr_biden")):
        residents[identity] = store.people.add(name, "12-301")
        enrolment = engines["faces"].enrolment_template(load_rgb(face(identity, 1)), "enrolment photo")
        store.templates.add(residents[identity], "ensemble", [enrolment])
    processor = FaceProcessor(config.cameras[0], config, recognizers, gate)
    events, escalated, mono = [], {}, 100.0
    for identity, n in (("fr_obama", 2), ("fr_biden", 2), ("kate_siegel", 1)):
        rgb = letterbox(load_rgb(face(identity, n)), 640, 480)
        for _ in range(3):
            mono += 0.2
            escalated.setdefault(identity, []).extend(
                f.extras["escalated"] for f, _ in recognizers.identify_faces(rgb))
            events += processor.process(Shot(rgb, T0 + mono, mono))
    assert escalated == {"fr_obama": [False] * 3, "fr_biden": [True] * 3, "kate_siegel": [False] * 3}
    assert [(e["kind"], e["decision"], e["subject"].get("person_id")) for e in events] == [
        ("entry", "open", residents["fr_obama"]), ("entry", "open", residents["fr_biden"]),
        (events[2]["kind"], "deny", None)]
    assert len(barrier.commands) == 2
    # Found in review: the entry's distance is faceplugin's own for Obama's, the full template's for Biden's.
    # The event says which, and Biden's is the full template's own distance (the tolerance's scale).
    assert [e.get("distance_by") for e in events[:2]] == ["faceplugin", "template"]
    [(_, biden)] = recognizers.identify_faces(letterbox(load_rgb(face("fr_biden", 2)), 640, 480))
    assert events[1]["distance"] == round(biden.distance, 3) and biden.distance <= yunet.encoder.tolerance
    for event in events:
        assert validate("event", event) == [], event
    store.close()


def test_an_entry_agreed_over_frames_of_both_scales_reports_the_full_templates_distance():
    """Found in review: consensus can agree over frames faceplugin decided alone and frames the full template
    decided. The closest of all mixed two scales; the event carries the closest the full template decided."""
    from edge.gate.credentials import FaceProcessor
    from edge.rules.consensus import Agreed
    from edge.rules.matcher import MATCH, FaceMatch

    asked = {}
    gate = SimpleNamespace(person=lambda lane, person_id, camera, extra: asked.update(extra) or extra)
    config = SimpleNamespace(recognition=SimpleNamespace(face=SimpleNamespace(
        min_hits=3, window_s=2.0, cooldown_s=5.0)))
    processor = FaceProcessor(SimpleNamespace(lane="in", id="cam", roi=None), config, None, gate)
    observations = [FaceMatch(MATCH, 7, 0.62, None, "faceplugin"), FaceMatch(MATCH, 7, 0.81, None),
                    FaceMatch(MATCH, 7, 0.77, None)]
    processor.request((None, observations[0], Agreed("in", ("person", 7), observations)), None)
    assert (asked["distance"], asked["distance_by"]) == (0.77, "template")
    alone = [FaceMatch(MATCH, 7, d, None, "faceplugin") for d in (0.7, 0.65)]
    processor.request((None, alone[0], Agreed("in", ("person", 7), alone)), None)
    assert (asked["distance"], asked["distance_by"]) == (0.65, "faceplugin")


def test_gate_edge_identify_sees_what_a_yunet_gate_sees(tmp_path, engines):
    """Found in review: ``gate-edge identify`` ("what the gate would see") matched every face by the full
    template, read the enrolment's way, while an ensemble-yunet gate reads frames with YuNet and decides clear
    faces by faceplugin alone. It now finds faces with the frames' detector and matches them by the gate's own
    rule (edge.rules.matcher.identify): on the test photos, each face's verdict, distance and whose distance
    it is are the gate's (the gate detecting at scale 1, as a still is searched, so the boxes are the same)."""
    from edge.cli.commands.identify import identify_image
    from models.faces import FaceEngine

    yunet = FaceEngine("ensemble-yunet", scale=1.0)
    config, store, _, _, recognizers = setup_gate(
        tmp_path, {"faces": yunet, "plates": engines["plates"], "qr": engines["qr"]}, [camera()],
        recognition={"face": {"encoder": "ensemble-yunet", "scale": 1.0}})
    for name, identity in (("王建国", "fr_obama"), ("李强", "fr_biden"), ("张伟", "df_katy_perry")):
        person = store.people.add(name, "12-301")
        store.templates.add(person, "ensemble", [
            engines["faces"].enrolment_template(load_rgb(face(identity, 1)), "enrolment photo")])
    by = []
    for photo in [face("fr_obama", 2), face("fr_obama", 3), face("fr_biden", 2), face("df_katy_perry", 2),
                  face("kate_siegel"), face("wm_tzuyu"), TWO_PEOPLE]:
        seen = identify_image(str(photo), recognizers, None, store, config)["faces"]
        gate = [{"box": list(f.box), "person_id": m.person_id if m.matched else None,
                 "distance": round(m.distance, 4), "distance_by": m.by, "match": m.tier}
                for f, m in recognizers.identify_faces(load_rgb(photo))]
        assert seen == gate, photo
        by += [f["distance_by"] for f in seen]
    assert {"faceplugin", "template"} <= set(by)  # both stages of the cascade were compared
    store.close()
