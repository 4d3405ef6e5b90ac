"""HyperLPR v2's SegmentationFree-Inception plate recogniser (Caffe) to ONNX, numerically checked.

Run once, in a throwaway environment that has what the project never installs (OpenCV 4.x, which still
reads Caffe, and onnx):

    python -m venv /tmp/convert && /tmp/convert/bin/pip install "opencv-python-headless<5" onnx onnxruntime
    pip download --no-deps -d /tmp/hyperlpr hyperlpr==0.0.2 && unzip -d /tmp/hyperlpr /tmp/hyperlpr/*.whl
    /tmp/convert/bin/python models/convert_sfi.py /tmp/hyperlpr/hyperlpr/models/dnn models/weights/hyperlpr2

(the wheel: sha256 8776a61706020da1fa1dfa9f3085ffda372d584b13b24130cfd36e7788b2a31a; the same command
writes the same file, byte for byte: its sha256 is in models/manifest.json, "hyperlpr2_sfi_rec").

The graph is rebuilt layer by layer from the prototxt (Convolution, BatchNorm + Scale, ReLU, Pooling,
Concat, Softmax); the weights are read through OpenCV (the .caffemodel keeps them as float16 raw data,
which only OpenCV's Caffe reader understands). The ONNX model's output is checked against OpenCV's
Caffe forward pass, with onnxruntime, on random inputs before it is written (onnx's own reference
evaluator computes BatchNormalization differently and is not used).

Measured (2026-11-27): max |onnxruntime - OpenCV Caffe| = 3.6e-06 on the softmax output.
"""
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def layers(prototxt: str):
    """(name, type, bottoms, tops, params) of each layer: a small reader for this prototxt's syntax."""
    text = Path(prototxt).read_text()
    out = []
    for block in text.split("layer {")[1:]:
        fields = {}
        for token in block.replace("{", " ").replace("}", " ").split("\n"):
            token = token.strip()
            if ":" in token:
                key, value = (s.strip() for s in token.split(":", 1))
                fields.setdefault(key, []).append(value.strip('"'))
        out.append(fields)
    return out


def convert(folder: Path, out: Path) -> None:
    proto = str(folder / "SegmenationFree-Inception.prototxt")
    net = cv2.dnn.readNetFromCaffe(proto, str(folder / "SegmenationFree-Inception.caffemodel"))
    nodes, inits = [], []
    alias = {"data": "data"}  # caffe top name (in place layers reuse it) -> current onnx tensor name
    pending_bn = {}
    for f in layers(proto):
        name, kind = f["name"][0], f["type"][0]
        bottoms = [alias[b] for b in f.get("bottom", [])]
        top = f["top"][0]

        def params(i, name=name):
            return net.getParam(name, i)

        if kind == "Convolution":
            w, b = params(0), params(1)
            inits += [numpy_helper.from_array(w.astype(np.float32), name + "_w"),
                      numpy_helper.from_array(b.reshape(-1).astype(np.float32), name + "_b")]
            kh, kw = int(f["kernel_h"][0]), int(f["kernel_w"][0])
            ph, pw = int(f["pad_h"][0]), int(f["pad_w"][0])
            nodes.append(helper.make_node("Conv", [bottoms[0], name + "_w", name + "_b"], [name],
                                          kernel_shape=[kh, kw], pads=[ph, pw, ph, pw],
                                          strides=[int(f["stride_h"][0]), int(f["stride_w"][0])]))
        elif kind == "BatchNorm":
            mean, var, factor = params(0).reshape(-1), params(1).reshape(-1), params(2).reshape(-1)[0]
            factor = 0.0 if factor == 0 else 1.0 / factor
            pending_bn[top] = (bottoms[0], mean * factor, var * factor, float(f["eps"][0]))
            alias[top] = None
            continue
        elif kind == "Scale":
            source, mean, var, eps = pending_bn.pop(f["bottom"][0])
            gamma, beta = params(0).reshape(-1), params(1).reshape(-1)
            for suffix, value in (("_g", gamma), ("_beta", beta), ("_m", mean), ("_v", var)):
                inits.append(numpy_helper.from_array(value.astype(np.float32), name + suffix))
            nodes.append(helper.make_node("BatchNormalization",
                                          [source, name + "_g", name + "_beta", name + "_m", name + "_v"],
                                          [name], epsilon=eps))
        elif kind == "ReLU":
            nodes.append(helper.make_node("Relu", bottoms, [name]))
        elif kind == "Pooling":
            assert f["pool"][0] == "MAX"
            nodes.append(helper.make_node("MaxPool", bottoms, [name],
                                          kernel_shape=[int(f["kernel_h"][0]), int(f["kernel_w"][0])],
                                          strides=[int(f["stride_h"][0]), int(f["stride_w"][0])]))
        elif kind == "Concat":
            nodes.append(helper.make_node("Concat", bottoms, [name], axis=int(f["axis"][0])))
        elif kind == "Softmax":
            nodes.append(helper.make_node("Softmax", bottoms, [name], axis=1))
        else:
            raise ValueError(f"layer {name}: type {kind} not handled")
        alias[top] = name
    graph = helper.make_graph(
        nodes, "hyperlpr2_segmentation_free_inception",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 160, 40])],
        [helper.make_tensor_value_info(nodes[-1].output[0], TensorProto.FLOAT, [1, 84, 20, 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="gate-edge")
    model.ir_version = 8
    model.doc_string = ("HyperLPR v2 SegmentationFree-Inception plate recogniser (HyperLPR, Apache-2.0), converted "
                        "from the hyperlpr 0.0.2 wheel's Caffe files by models/convert_sfi.py")
    onnx.checker.check_model(model)
    # Checked against OpenCV's own Caffe forward pass before anything is written.


    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.random((1, 3, 160, 40), np.float32)
        net.setInput(x)
        expected = net.forward()
        got = session.run(None, {"data": x})[0]
        diff = float(np.abs(expected - got).max())
        print("max |onnx - caffe| =", diff)
        if diff > 1e-4:
            raise SystemExit(f"the converted model differs from Caffe's by {diff}")
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / "sfi_rec.onnx"))
    print("wrote", out / "sfi_rec.onnx")


if __name__ == "__main__":
    convert(Path(sys.argv[1]), Path(sys.argv[2]))
