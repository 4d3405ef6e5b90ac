"""HyperLPR3's y5fu plate detector with a rectangular input (issue 30): the same weights, the graph's
fixed spatial shapes rewritten for H x W instead of S x S.

A 1280x720 frame letterboxed into 320x320 is 44% grey padding that the network computes anyway; at
320 wide and 192 high (180 rows of frame, 6 of grey above and below) the detector does 60% of the work.
YOLOv5's layers are convolutions, so only the graph's constants that name a feature map's size change:
the channel shuffles' and the detection head's Reshape shapes (..., H/s, W/s), and the head's anchor
grids (1, 3, H/s, W/s, 2), rebuilt from their own values (a grid is ``c * (x, y)``; the anchor sizes and
zeros are the same in every cell and are kept as one broadcast cell). Run once, in a throwaway
environment that has onnx (which the project never installs):

    python -m venv /tmp/convert && /tmp/convert/bin/pip install onnx onnxruntime==1.27.0
    /tmp/convert/bin/python models/convert_y5fu_rect.py models/weights/hyperlpr3/y5fu_320x_sim.onnx 192 320 \\
        models/weights/hyperlpr3/y5fu_320x192.onnx
    /tmp/convert/bin/python models/convert_y5fu_rect.py models/weights/hyperlpr3/y5fu_640x_sim.onnx 384 640 \\
        models/weights/hyperlpr3/y5fu_640x384.onnx

Before writing, the same rewrite for the source's own square size must give the source's outputs exactly
(onnxruntime, random input). The network sees less grey around a rectangle than around the square, so
its outputs are not the square's bit for bit: the plates found on frames are compared by
tests/test_plate_detector_rect.py and bench.plate_bench's tables (docs/plate-accuracy.md).
The same command writes the same file, byte for byte; its sha256 is in models/manifest.json.
"""

from __future__ import annotations

import sys

import numpy as np
import onnx
from onnx import numpy_helper

STRIDES = (8, 16, 32)


def rewrite(model: onnx.ModelProto, height: int, width: int) -> onnx.ModelProto:
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    source = graph.input[0].type.tensor_type.shape.dim[2].dim_value
    assert graph.input[0].type.tensor_type.shape.dim[3].dim_value == source, "square source expected"
    assert height % 32 == 0 and width % 32 == 0
    old = {source // s: (height // s, width // s) for s in STRIDES}  # feature-map side -> (h, w)
    reshapes = {n.input[1] for n in graph.node if n.op_type == "Reshape"}
    changed = 0
    for index, init in enumerate(graph.initializer):
        value = numpy_helper.to_array(init)
        if init.name in reshapes and value.ndim == 1 and len(value) >= 4 and value[-1] == value[-2] in old:
            new = value.copy()
            new[-2:] = old[int(value[-1])]
            graph.initializer[index].CopyFrom(numpy_helper.from_array(new, init.name))
            changed += 1
        elif value.ndim == 5 and value.shape[:2] == (1, 3) and value.shape[2] == value.shape[3] in old:
            side = value.shape[2]
            h, w = old[side]
            cell = value[:, :, :1, :1, :]
            if np.array_equal(value, np.broadcast_to(cell, value.shape)):
                new = cell.copy()  # the same in every cell (anchor sizes, zeros): broadcast
            else:
                assert value.shape[-1] == 2, init.name
                ys, xs = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
                step_x, step_y = value[0, :, 0, 1, 0], value[0, :, 1, 0, 1]
                base = value[0, :, 0, 0, :]
                rebuilt = base[:, None, None, :] + np.stack(
                    [xs[None] * step_x[:, None, None], ys[None] * step_y[:, None, None]], -1)
                assert np.array_equal(rebuilt[None].astype(value.dtype), value), f"{init.name} is not a grid"
                ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
                new = (base[:, None, None, :] + np.stack(
                    [xs[None] * step_x[:, None, None], ys[None] * step_y[:, None, None]], -1))[None]
                new = new.astype(value.dtype)
            graph.initializer[index].CopyFrom(numpy_helper.from_array(new, init.name))
            changed += 1
    dims = graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value, dims[3].dim_value = height, width
    rows = sum(3 * (height // s) * (width // s) for s in STRIDES)
    graph.output[0].type.tensor_type.shape.dim[1].dim_value = rows
    del graph.value_info[:]  # shapes inferred again at load
    onnx.checker.check_model(model)
    print(f"{changed} constants rewritten for {height}x{width} ({rows} rows)")
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0][0]


def main(source: str, height: str, width: str, out: str) -> int:
    model = onnx.load(source)
    height, width = int(height), int(width)
    side = model.graph.input[0].type.tensor_type.shape.dim[2].dim_value
    rng = np.random.default_rng(0)
    x = rng.random((1, 3, side, side), np.float32)
    same = np.abs(run(rewrite(model, side, side), x) - run(model, x)).max()
    print(f"the rewrite at {side}x{side} against the source: max difference {same:.1e}")
    assert same == 0
    rect = rewrite(model, height, width)
    rows = sum(3 * (height // st) * (width // st) for st in STRIDES)
    assert run(rect, np.ascontiguousarray(x[:, :, :height, :width])).shape == (rows, 15)
    onnx.save(rect, out)
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
