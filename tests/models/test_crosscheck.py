"""models/crosscheck.py: the record a developer makes replays identically here, and a model that computes
differently is caught (the check a technician runs on a Raspberry Pi, or under aarch64 emulation)."""

from __future__ import annotations

import json

import numpy as np

from models import crosscheck


def test_recorded_plate_model_calls_replay_identically_and_a_different_result_is_caught(tmp_path, capsys):
    record = tmp_path / "calls.npz"
    assert crosscheck.record(record) == 0
    data = dict(np.load(record))
    index = json.loads(str(data["index"]))
    models = {call["model"].rsplit("/", 1)[-1] for call in index["calls"]}
    assert {"sfi_rec.onnx", "clp_v2_c_rec.onnx", "ch_PP-OCRv4_rec_infer.onnx", "y5fu_320x_sim.onnx"} <= models
    assert index["texts"]["ccpd_07.jpg"] == ["皖AY6B59"]

    assert crosscheck.replay(record, None) == 0
    assert "sfi_rec.onnx: largest difference from the recorded outputs 0.00e+00" in capsys.readouterr().out

    # A machine whose recogniser put another symbol first in one frame: the replay says so and fails.
    n = next(i for i, call in enumerate(index["calls"]) if call["model"].endswith("sfi_rec.onnx"))
    altered = data[f"c{n}_out_0"].copy()
    altered[0, :, 0, 0] = altered[0, ::-1, 0, 0]
    data[f"c{n}_out_0"] = altered
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **data)
    assert crosscheck.replay(tampered, None) == 1
    assert "sfi_rec.onnx: largest difference" in capsys.readouterr().out


def test_recorded_face_model_calls_replay_identically_and_a_moved_template_is_caught(tmp_path, capsys):
    """Issue 30: the ensemble-yunet face path (YuNet, dlib's five points, both networks) the same way."""
    record = tmp_path / "faces.npz"
    assert crosscheck.record_faces(record) == 0
    data = dict(np.load(record))
    index = json.loads(str(data["index"]))
    kinds = [call["kind"] for call in index["calls"]]
    assert {"yunet", "sp5", "encoders"} == set(kinds) and kinds.count("encoders") >= 20

    assert crosscheck.replay_faces(record, None) == 0
    out = capsys.readouterr().out
    assert "template (distance): largest difference from the recorded 0.00e+00" in out
    assert "every template within 0.01 of the recorded one: True" in out

    # One template this machine does not compute (as on a machine whose networks compute otherwise): caught.
    n = kinds.index("encoders")
    data[f"c{n}_template"] = np.roll(data[f"c{n}_template"], 1)
    tampered = tmp_path / "tampered.npz"
    np.savez(tampered, **data)
    assert crosscheck.replay_faces(tampered, None) == 1
    assert "every template within 0.01 of the recorded one: False" in capsys.readouterr().out
