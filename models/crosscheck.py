"""Do the plate models compute the same on another machine (a Raspberry Pi, or aarch64 under emulation)?

``record`` (on a development machine with the project installed) reads the repository's plate test
images with the plate reader and writes every model call it made (inputs, outputs, which model) to an
``.npz`` file. ``replay`` runs the same inputs through the same ONNX files on the machine at hand and
prints, per model, the largest difference from the recorded outputs and whether every CTC frame's best
symbol is the same (then the decoded plates are the same). ``replay`` needs only numpy and
onnxruntime, so it runs where the rest of the project is not installed:

    .venv/bin/python -m models.crosscheck record /tmp/plate-calls.npz
    python3 models/crosscheck.py replay /tmp/plate-calls.npz [--model-dir DIR]   # on the other machine

``--model-dir``: a folder holding the ONNX files by name, when they are not where they were recorded.
Measured (2026-11-27) under qemu-user with Debian bookworm's arm64 Python 3.11.2 and onnxruntime 1.27.0's
aarch64 wheel: see docs/plate-accuracy.md ("aarch64").

The face path of the ``ensemble-yunet`` encoder the same way (issue 30): ``record-faces`` reads the
repository's face test images as a gate reads 640x480 frames and writes every model call (YuNet's input
and rows, dlib's five points for each box, the two 112x112 views and what faceplugin and MobileFaceNet
made of them, the template), and beside the gate's MobileFaceNet (the ONNX model OpenCV runs) what the
published .tflite makes of the same views under LiteRT; ``replay-faces`` needs numpy, OpenCV and dlib
(the wheels the project installs) and prints each model's largest difference, how far each template
moved and how far this machine's MobileFaceNet is from LiteRT's recorded outputs; ``--litert`` replays
the .tflite with LiteRT too (``--litert-reference``: on its reference kernels):

    .venv/bin/python -m models.crosscheck record-faces /tmp/face-calls.npz
    python3 models/crosscheck.py replay-faces /tmp/face-calls.npz [--model-dir DIR] [--litert [--litert-reference]]

Measured under the same emulation: docs/face-calibration.md ("aarch64").
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

TEST_IMAGES = Path(__file__).resolve().parents[1] / "tests" / "data" / "plates"


def record(out: Path) -> int:
    import cv2

    from models.images import load_rgb
    from models.plates import PlateReader

    # Every recogniser on every plate (no cascade: models.plate_crop_reader), so each model's calls are recorded.
    reader = PlateReader(fast=False)
    calls: list[tuple[str, dict, list]] = []

    class Recorder:
        def __init__(self, session):
            self.session, self.path = session, session._model_path

        def run(self, names, feeds):
            outputs = self.session.run(names, feeds)
            calls.append((self.path, {k: np.array(v) for k, v in feeds.items()}, [np.array(o) for o in outputs]))
            return outputs

        def __getattr__(self, name):
            return getattr(self.session, name)

    for recognizer, _, _ in reader.opinions:
        recognizer._session = Recorder(recognizer._session)
    detector = reader.plate_detector
    if detector.backend == "onnxruntime":
        if detector.fallback_size:
            detector.model(detector.fallback_size)  # loaded on first use otherwise: record its calls too
        for size in list(detector._models):
            detector._models[size] = Recorder(detector._models[size])
    texts = {f.name: [r.text for r in reader.read(load_rgb(f))] for f in sorted(TEST_IMAGES.glob("*.jpg"))}
    # The reader above is issue 30's "today" (the detector's square inputs); a gate's reader detects in a
    # wide frame through the rectangular ones (models/convert_y5fu_rect.py): each test image in a 1280x720
    # frame, at 320x192 (and its refined regions) and at 640x384.
    from models.images import letterbox
    from models.plate_detector import PlateDetector

    wide = PlateDetector(threads=1)
    if wide.backend == "onnxruntime":
        wide.model(*wide._input_shape(wide.fallback_size, 720, 1280))
        for key in list(wide._models):
            wide._models[key] = Recorder(wide._models[key])
        for f in sorted(TEST_IMAGES.glob("*.jpg")):
            frame = cv2.cvtColor(letterbox(load_rgb(f), 1280, 720), cv2.COLOR_RGB2BGR)
            wide.detect(frame)
            wide.detect(frame, size=wide.fallback_size)
    arrays, index = {}, []
    for n, (path, feeds, outputs) in enumerate(calls):
        index.append({"model": path, "inputs": sorted(feeds), "outputs": len(outputs)})
        for name, value in feeds.items():
            arrays[f"c{n}_in_{name}"] = value
        for k, value in enumerate(outputs):
            arrays[f"c{n}_out_{k}"] = value
    np.savez_compressed(out, index=json.dumps({"calls": index, "texts": texts}, ensure_ascii=False), **arrays)
    print(f"{len(calls)} model calls on {len(texts)} images written to {out} ({platform.machine()})")
    return 0


def replay(path: Path, model_dir: Path | None) -> int:
    import onnxruntime

    data = np.load(path)
    index = json.loads(str(data["index"]))
    sessions, worst, same = {}, {}, {}
    for n, call in enumerate(index["calls"]):
        model = call["model"] if model_dir is None else str(model_dir / Path(call["model"]).name)
        if model not in sessions:
            options = onnxruntime.SessionOptions()
            options.log_severity_level = 3
            sessions[model] = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        feeds = {name: data[f"c{n}_in_{name}"] for name in call["inputs"]}
        outputs = sessions[model].run(None, feeds)
        name = Path(model).name
        for k in range(call["outputs"]):
            expected = data[f"c{n}_out_{k}"]
            worst[name] = max(worst.get(name, 0.0), float(np.abs(outputs[k] - expected).max()))
        if "y5fu" not in name:  # a recogniser: is every frame's best symbol the same?
            axis = 1 if name == "sfi_rec.onnx" else -1  # SegmentationFree: (1, symbols, frames, 1)
            agree = bool((outputs[0].argmax(axis) == data[f"c{n}_out_0"].argmax(axis)).all())
            same[name] = same.get(name, True) and agree
    print(f"{platform.machine()}, Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}: "
          f"{len(index['calls'])} recorded calls")
    for name, difference in worst.items():
        extra = f"; best symbol in every frame the same: {same[name]}" if name in same else ""
        print(f"  {name}: largest difference from the recorded outputs {difference:.2e}{extra}")
    return 0 if all(same.values()) else 1


FACE_IMAGES = TEST_IMAGES.parent / "faces"
# A template that moved less than this (its encoder's tolerance is 0.937) is the same template.
TEMPLATE_AGREES = 0.01


def record_faces(out: Path) -> int:
    import cv2

    from models import face_yunet
    from models.face_arcface import aligned_views, mobilefacenet_input
    from models.faces import FaceEngine
    from models.images import letterbox, load_rgb
    from models.manifest import verified_path

    engine = FaceEngine("ensemble-yunet", scale=0.5)
    faceplugin, mobilefacenet = engine.encoder.parts
    litert = LiteRTMobileFaceNet(str(verified_path("mobilefacenet")))
    arrays, calls = {}, []

    def keep(kind, **values):
        n = len(calls)
        calls.append({"kind": kind, "arrays": sorted(values)})
        for name, value in values.items():
            arrays[f"c{n}_{name}"] = np.asarray(value)

    yunet_run = face_yunet._yunet

    def recording_yunet(width, height):
        detector = yunet_run(width, height)

        class Recorded:
            def detect(self, bgr):
                found = detector.detect(bgr)
                keep("yunet", input=bgr, rows=found[1] if found[1] is not None else np.zeros((0, 15), np.float32))
                return found

        return Recorded()

    face_yunet._yunet = recording_yunet
    sp5 = engine.detector._sp5

    def recording_sp5(image, rect):
        shape = sp5(image, rect)
        keep("sp5", image=image, rect=[rect.left(), rect.top(), rect.right(), rect.bottom()],
             points=[(p.x, p.y) for p in shape.parts()])
        return shape

    engine.detector._sp5 = recording_sp5
    templates = 0
    try:
        for path in sorted(FACE_IMAGES.glob("*/*.jpg")):
            frame = letterbox(load_rgb(path), 640, 480)
            for face in engine.analyze(frame):
                views = aligned_views(frame, face)
                outputs = np.stack([_net_output(faceplugin, v) for v in views])
                keep("encoders", views=np.stack(views), faceplugin=outputs,
                     mobilefacenet=mobilefacenet.outputs(views).copy(),
                     mobilefacenet_litert=litert(mobilefacenet_input(views)), template=face.template)
                templates += 1
    finally:
        face_yunet._yunet = yunet_run
    names = {"yunet": "yunet_2023mar", "sp5": "dlib_landmarks5", "faceplugin": "faceplugin_fr_feature",
             "mobilefacenet": "mobilefacenet_onnx", "mobilefacenet_litert": "mobilefacenet"}
    index = {"calls": calls, "models": {k: str(verified_path(v)) for k, v in names.items()}, "opencv": cv2.__version__}
    np.savez_compressed(out, index=json.dumps(index), **arrays)
    print(f"{len(calls)} model calls, {templates} templates written to {out} ({platform.machine()})")
    return 0


def _net_output(encoder, view):
    with encoder._lock:
        encoder._net.setInput(((view.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None])
        return encoder._net.forward().ravel().copy()


class LiteRTMobileFaceNet:
    """The published MobileFaceNet.tflite under LiteRT: the reference the ONNX model is held to (the gate
    never loads it; models/convert_mobilefacenet.py, bench.face_calibrate --litert)."""

    def __init__(self, path: str, reference_kernels: bool = False):
        from ai_edge_litert.interpreter import Interpreter, OpResolverType

        kernels = OpResolverType.BUILTIN_REF if reference_kernels else OpResolverType.AUTO
        self._interpreter = Interpreter(model_path=path, num_threads=1, experimental_op_resolver_type=kernels)
        self._interpreter.allocate_tensors()

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        """[2, 192] for a batch of two NHWC views, already scaled ((x - 127.5) / 128)."""
        self._interpreter.set_tensor(self._interpreter.get_input_details()[0]["index"],
                                     np.ascontiguousarray(batch, np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._interpreter.get_output_details()[0]["index"]).copy()


def _unit(vector):
    vector = np.asarray(vector, np.float32).ravel()
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


def replay_faces(path: Path, model_dir: Path | None, litert: bool = False, litert_reference: bool = False) -> int:
    """Each recorded call again, on this machine; the template rebuilt from this machine's outputs.
    ``litert``: the published .tflite under LiteRT too, against LiteRT's recorded outputs;
    ``litert_reference``: on LiteRT's reference kernels instead of its optimised ones and XNNPACK (under
    qemu-user 7.2 those stop the process with SIGSEGV in allocate_tensors)."""
    import cv2
    import dlib

    data = np.load(path)
    index = json.loads(str(data["index"]))
    models = {k: v if model_dir is None else str(model_dir / Path(v).name) for k, v in index["models"].items()}
    sp5 = dlib.shape_predictor(models["sp5"])
    net = cv2.dnn.readNetFromONNX(models["faceplugin"])
    mobile_net = cv2.dnn.readNetFromONNX(models["mobilefacenet"])
    reference = LiteRTMobileFaceNet(models["mobilefacenet_litert"], litert_reference) if litert else None
    worst = {"yunet box and landmarks (px)": 0.0, "yunet score": 0.0, "sp5 points (px)": 0.0,
             "faceplugin": 0.0, "mobilefacenet": 0.0, "template (distance)": 0.0,
             "mobilefacenet here against LiteRT's recorded": 0.0}
    if reference is not None:
        worst["mobilefacenet.tflite (LiteRT)"] = 0.0
    same_faces, count = True, 0
    for n, call in enumerate(index["calls"]):
        got = {name: data[f"c{n}_{name}"] for name in call["arrays"]}
        if call["kind"] == "yunet":
            image = got["input"]
            yunet = cv2.FaceDetectorYN.create(models["yunet"], "", (image.shape[1], image.shape[0]), 0.6, 0.3, 50)
            rows = yunet.detect(image)[1]
            rows = np.zeros((0, 15), np.float32) if rows is None else rows
            if rows.shape != got["rows"].shape:
                same_faces = False
                continue
            if len(rows):
                worst["yunet box and landmarks (px)"] = max(worst["yunet box and landmarks (px)"],
                                                            float(np.abs(rows[:, :14] - got["rows"][:, :14]).max()))
                worst["yunet score"] = max(worst["yunet score"], float(np.abs(rows[:, 14] - got["rows"][:, 14]).max()))
        elif call["kind"] == "sp5":
            left, top, right, bottom = (int(v) for v in got["rect"])
            shape = sp5(np.ascontiguousarray(got["image"]), dlib.rectangle(left, top, right, bottom))
            points = np.array([(p.x, p.y) for p in shape.parts()], np.float64)
            worst["sp5 points (px)"] = max(worst["sp5 points (px)"], float(np.abs(points - got["points"]).max()))
        else:
            count += 1
            outputs = []
            for view in got["views"]:
                net.setInput(((view.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None])
                outputs.append(net.forward().ravel())
            worst["faceplugin"] = max(worst["faceplugin"], float(np.abs(np.stack(outputs) - got["faceplugin"]).max()))
            batch = np.stack([(v.astype(np.float32) - 127.5) / 128.0 for v in got["views"]])
            mobile_net.setInput(np.ascontiguousarray(batch.transpose(0, 3, 1, 2)))
            mobile = mobile_net.forward()
            worst["mobilefacenet"] = max(worst["mobilefacenet"], float(np.abs(mobile - got["mobilefacenet"]).max()))
            key = "mobilefacenet here against LiteRT's recorded"
            worst[key] = max(worst[key], float(np.abs(mobile - got["mobilefacenet_litert"]).max()))
            if reference is not None:
                key = "mobilefacenet.tflite (LiteRT)"
                worst[key] = max(worst[key], float(np.abs(reference(batch) - got["mobilefacenet_litert"]).max()))
            template = _unit(np.concatenate([_unit(_unit(outputs[0]) + _unit(outputs[1])),
                                             _unit(_unit(mobile[0]) + _unit(mobile[1]))]))
            worst["template (distance)"] = max(worst["template (distance)"],
                                               float(np.linalg.norm(template - got["template"])))
    kernels = "" if reference is None else f", LiteRT {'reference' if litert_reference else 'default'} kernels"
    print(f"{platform.machine()}, Python {platform.python_version()}, OpenCV {cv2.__version__} (recorded with "
          f"{index['opencv']}), dlib {dlib.__version__}{kernels}: {len(index['calls'])} recorded calls, "
          f"{count} templates")
    print(f"  YuNet found the same number of faces in every frame: {same_faces}")
    for name, difference in worst.items():
        print(f"  {name}: largest difference from the recorded {difference:.2e}")
    agrees = same_faces and worst["template (distance)"] < TEMPLATE_AGREES
    print(f"  every template within {TEMPLATE_AGREES} of the recorded one: {agrees}")
    return 0 if agrees else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "replay", "record-faces", "replay-faces"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--litert", action="store_true",
                        help="replay-faces: the published .tflite under LiteRT too (needs ai-edge-litert)")
    parser.add_argument("--litert-reference", action="store_true",
                        help="with --litert: LiteRT's reference kernels (under qemu-user, where XNNPACK crashes)")
    args = parser.parse_args(argv)
    return {"record": lambda: record(args.file), "replay": lambda: replay(args.file, args.model_dir),
            "record-faces": lambda: record_faces(args.file),
            "replay-faces": lambda: replay_faces(args.file, args.model_dir, args.litert or args.litert_reference,
                                                 args.litert_reference)}[args.mode]()


if __name__ == "__main__":
    sys.exit(main())
