"""Memory of a gate and of the office: today's loading beside ours, each in its own process, same frames.

Issue 30's target: a gate with one face and one plate camera peaks at or below 300 MB RSS.

    gate    the recognisers of a gate with one face and one plate camera, fed 1280x720 frames made on
            the fly from ../shared/data (face photos letterboxed, plate scenes resized), alternately a
            face frame (detect, encode, match against 36 enrolled people) and a plate frame, ``--loops``
            times. *today*: the face engine and plate reader as main loaded them before issue 30
            (``PlateReader(lean=False)``: both plate detector sizes at start, onnxruntime arenas);
            *ours*: what the daemon loads now (``edge.gate.recognition.Recognizers`` for that config),
            and what loading freed given back (``edge.gate.memory.give_back``), once per face encoder
            given with ``--encoders``.
    run     a real ``gate-edge run`` (the demo's gate with its face and entry plate cameras playing
            their videos, the rest simulated), its VmHWM read from /proc/<pid>/status after
            ``--run-seconds``; *today*: main before issue 30 (``TODAY_REV``, checked out beside with
            ``git worktree``), *ours*: this checkout, once per encoder.
    office  the office service with its console (a private mosquitto), enrolling the 36 enrolment
            photos through the office's enroller as the console's form does; VmHWM at the end.

Prints, per process: RSS once the models are loaded, peak RSS (VmHWM, the kernel's own high-water
mark), RSS at the end and the CPU time per frame.

    python -m bench.memory [--loops 2] [--encoders ensemble,ensemble-yunet] [--skip run,office]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import REPO, shared_data, status_mb

ROAD = (1280, 720)


def frames(data: Path):
    """(kind, path) alternately face and plate: 30 of each."""
    faces = sorted((data / "faces").glob("*/2.jpg"))[:30]
    plates = sorted((data / "plates").glob("*.jpg"))[:30]
    return [item for pair in zip((("face", p) for p in faces), (("plate", p) for p in plates)) for item in pair]


def enrolment_photos(data: Path) -> list[Path]:
    return sorted((data / "faces").glob("*/1.jpg"))


def enrol_child(data: Path, out: str) -> dict:
    """The ensemble's templates of the 36 enrolment photos, written to ``out`` (.npy)."""
    import numpy as np

    from models.faces import FaceEngine
    from models.images import load_rgb

    engine = FaceEngine("ensemble")
    np.save(out, np.stack([engine.enrolment_template(load_rgb(p), p.parent.name) for p in enrolment_photos(data)]))
    return {"templates": out}


def gate_child(data: Path, loops: int, mode: str, encoder: str, templates_file: str) -> dict:
    from types import SimpleNamespace

    import numpy as np

    from edge.gate.memory import ARENA_MAX, return_freed_memory

    return_freed_memory(None if mode == "today" else ARENA_MAX)  # what the daemon does first, today and now
    import cv2

    from models.images import letterbox, load_rgb

    if mode == "today":
        from models import face_arcface
        from models.faces import FaceEngine

        # MobileFaceNet on LiteRT (its .tflite), as before issue 30; ours runs the converted ONNX in OpenCV.
        face_arcface.MobileFaceNetEncoder = face_arcface.MobileFaceNetLiteRTEncoder
        from models.plates import PlateReader

        face_engine, plates = FaceEngine("ensemble", "hog", 0, 0.5), PlateReader(lean=False)
        from edge.rules.matcher import FaceMatcher

        matcher = FaceMatcher(face_engine.encoder.tolerance, face_engine.encoder.margin)
    else:
        from edge.config.recognition import FaceRecognitionConfig, RecognitionConfig
        from edge.gate.recognition import Recognizers

        config = SimpleNamespace(recognition=RecognitionConfig(face=FaceRecognitionConfig(encoder=encoder)))
        recognizers = Recognizers(config)
        face_engine, plates = recognizers.faces, recognizers.plates
        matcher = recognizers.matcher()
    from edge.store import TemplateSet

    # The templates a gate receives from the office: enrolled in another process (enrolment loads what a
    # gate never needs), the ensemble's for both encoders (models.faces.TEMPLATES_OF).
    templates = np.load(templates_file)
    matcher.load(TemplateSet(face_engine.encoder.templates, np.arange(len(templates)), templates, 1))
    if mode != "today":
        from edge.gate.memory import give_back

        give_back()  # as the daemon does once its models are loaded
    loaded = status_mb("VmRSS")
    seconds, count = 0.0, 0
    for _ in range(loops):
        for kind, path in frames(data):
            image = load_rgb(path)
            frame = letterbox(image, *ROAD) if kind == "face" else cv2.resize(image, ROAD)
            started = time.process_time()
            if kind == "face":
                faces = face_engine.analyze(frame)
                if faces:
                    matcher.match(np.stack([f.template for f in faces]))
            else:
                plates.read(frame)
            seconds += time.process_time() - started
            count += 1
    return {"loaded_mb": loaded, "peak_mb": status_mb("VmHWM"), "end_mb": status_mb("VmRSS"),
            "cpu_ms_per_frame": round(1000 * seconds / count, 1)}


def office_child(data: Path, encoder: str) -> dict:
    sys.path[:0] = [str(REPO / "tests"), str(REPO / "tests" / "site")]
    from test_site import make_keys, office_config, site_mosquitto

    from edge.config import load_config
    from edge.office.console.users import add_user
    from edge.office.service import Office
    from edge.registry.enrol import Enroller

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        keys = make_keys(folder)
        add_user(folder / "users", "admin1", "admin", "admin-pass-1")
        broker = site_mosquitto(folder, site=True).start()
        office = Office(load_config(office_config(folder, keys, broker.port, encoder, console={
            "listen": "127.0.0.1:0", "users_file": str(folder / "users")}))).start()
        try:
            started_mb = status_mb("VmRSS")
            enroller = Enroller(office.config.recognition.face)  # what the console's form loads (uploads.py)
            started = time.process_time()
            for n, photo in enumerate(enrolment_photos(data)):
                person = office.store.people.add(f"居民{n}", f"{n + 1}-101")
                enroller.enrol(office.store, person, [photo])
            seconds = time.process_time() - started
            return {"service_mb": started_mb, "peak_mb": status_mb("VmHWM"), "end_mb": status_mb("VmRSS"),
                    "cpu_ms_per_enrolment": round(1000 * seconds / len(enrolment_photos(data)), 1)}
        finally:
            office.close()
            broker.stop()


TODAY_REV = "e7ddcf1"  # main before issue 30: the "today" of the running gate


@contextlib.contextmanager
def today_checkout():
    """main as it was before issue 30, checked out beside (git worktree), with this checkout's weights."""
    with tempfile.TemporaryDirectory() as name:
        tree = Path(name) / "today"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(tree), TODAY_REV], cwd=REPO, check=True)
        try:
            for weight in (REPO / "models" / "weights").iterdir():
                if not (tree / "models" / "weights" / weight.name).exists():
                    (tree / "models" / "weights" / weight.name).symlink_to(weight.resolve())
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, check=False)


def run_gate(encoder: str, seconds: float, code: Path = REPO) -> dict:
    """A real ``gate-edge run`` with one face and one plate camera; VmHWM and VmRSS from /proc. ``code``:
    the checkout whose gate runs (the config and the registry are made by this one)."""
    import yaml

    from edge.cli import demo

    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = demo.prepare(folder, None, "unused")
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        raw["cameras"] = [c for c in raw["cameras"] if c["id"] in ("east-face-in", "east-plate-in")]
        for camera in raw["cameras"]:
            camera["loop"] = True
        raw["barriers"] = [{"id": b["id"], "type": "simulated", "lanes": b["lanes"]} for b in raw["barriers"]]
        raw["recognition"]["face"]["encoder"] = encoder
        from models.faces import make_encoder

        if make_encoder(encoder).detector == "yunet":
            # The demo's scale 1.0 is for dlib's HOG (faces from ~80 px); YuNet finds its 100 px faces at the
            # default 0.5, which keeps its input at 320x240 (13 MB of activations instead of 28).
            del raw["recognition"]["face"]["scale"]
        path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
        # The registry by the code that runs (its schema is that code's), the media with it.
        subprocess.run([sys.executable, "-c", "import sys\nfrom pathlib import Path\nfrom edge.cli import demo\n"
                        "from edge.config import load_config\npath = Path(sys.argv[1])\n"
                        "demo.make_media(path.parent, demo.enrol_residents(load_config(path))['qr'])", str(path)],
                       cwd=code, env={**os.environ, "PYTHONPATH": str(code)}, check=True, capture_output=True)
        process = subprocess.Popen([sys.executable, "-m", "edge.cli.main", "run", "-c", str(path)], cwd=code,
                                   env={**os.environ, "PYTHONPATH": str(code)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.5)
            if process.poll() is not None:
                raise RuntimeError(f"gate-edge run stopped: {process.stderr.read()[-2000:]}")
            status = dict(line.split(":", 1) for line in Path(f"/proc/{process.pid}/status").read_text().splitlines())
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            ticks = os.sysconf("SC_CLK_TCK")
            mb = {key: int(status[key].split()[0]) // 1024 for key in ("VmHWM", "VmRSS")}
            return {"peak_mb": mb["VmHWM"], "rss_mb": mb["VmRSS"],
                    "cpu_s": round((int(fields[11]) + int(fields[12])) / ticks, 1), "seconds": seconds}
        finally:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def child(args) -> int:
    data = shared_data()
    kind, _, rest = args.child.partition(":")
    mode, _, encoder = rest.partition(":")
    if kind == "enrol":
        result = enrol_child(data, args.templates)
    elif kind == "gate":
        result = gate_child(data, args.loops, mode, encoder, args.templates)
    elif kind == "office":
        result = office_child(data, encoder)
    else:
        result = run_gate(encoder, args.run_seconds, Path(mode) if mode else REPO)
    print(json.dumps(result))
    return 0


def measure(spec: str, args) -> dict:
    done = subprocess.run([sys.executable, "-m", "bench.memory", "--child", spec, "--loops", str(args.loops),
                           "--run-seconds", str(args.run_seconds), "--templates", args.templates],
                          cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def table(header: str, runs: list[tuple[str, str, str]], args, cells) -> None:
    """A markdown table: ``header``, then a row for each (label, encoder, spec) of ``runs`` as it is measured:
    ``cells`` of the child's answer, or its error and the rest of the row empty."""
    width = header.count("|") - 1
    print(header)
    print("|---" * width + "|")
    for label, encoder, spec in runs:
        r = measure(spec, args)
        shown = f"{r['error']} |" + " |" * (width - 3) if "error" in r else " | ".join(map(str, cells(r))) + " |"
        print(f"| {label} | {encoder} | {shown}", flush=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--encoders", default="ensemble", help="our face encoders to measure, comma-separated")
    parser.add_argument("--run-seconds", type=float, default=40.0)
    parser.add_argument("--skip", default="", help="parts not to run: run, office")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--templates", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if shared_data() is None:
        return 1
    if args.child:
        return child(args)
    skip = set(filter(None, args.skip.split(",")))
    encoders = args.encoders.split(",")
    folder = tempfile.TemporaryDirectory()
    args.templates = str(Path(folder.name) / "templates.npy")
    made = measure("enrol::", args)
    if "error" in made:
        print(f"enrolment failed: {made['error']}", file=sys.stderr)
        return 1
    table("| process | face encoder | loaded MB | peak MB | end MB | CPU ms per frame |",
          [(f"gate, {mode}", encoder, f"gate:{mode}:{encoder}")
           for mode, encoder in [("today", "ensemble")] + [("ours", e) for e in encoders]], args,
          lambda r: [r["loaded_mb"], f"**{r['peak_mb']}**", r["end_mb"], r["cpu_ms_per_frame"]])
    if "run" not in skip:
        with today_checkout() as tree:
            table(f"\n| `gate-edge run`, one face + one plate camera, {args.run_seconds:.0f} s | face encoder "
                  "| peak MB (VmHWM) | RSS MB at the end | CPU s |",
                  [(f"gate-edge run, today ({TODAY_REV})", "ensemble", f"run:{tree}:ensemble")]
                  + [("gate-edge run, ours", encoder, f"run::{encoder}") for encoder in encoders], args,
              lambda r: [f"**{r['peak_mb']}**", r["rss_mb"], r["cpu_s"]])
    if "office" not in skip:
        table("\n| office with its console, enrolling 36 photos | site face encoder | service MB | peak MB "
              "| end MB | CPU ms per enrolment |",
              [("office", encoder, f"office::{encoder}") for encoder in dict.fromkeys(["ensemble", *encoders])],
              args, lambda r: [r["service_mb"], f"**{r['peak_mb']}**", r["end_mb"], r["cpu_ms_per_enrolment"]])
    return 0


if __name__ == "__main__":
    sys.exit(main())
