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
    from models.images import load_rgb
    from models.plates import PlateReader

    reader = PlateReader()
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=("record", "replay"))
    parser.add_argument("file", type=Path)
    parser.add_argument("--model-dir", type=Path)
    args = parser.parse_args(argv)
    return record(args.file) if args.mode == "record" else replay(args.file, args.model_dir)


if __name__ == "__main__":
    sys.exit(main())
