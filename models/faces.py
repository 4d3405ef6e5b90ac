"""Faces: detection, landmarks and pluggable template encoders.

An encoder turns a detected face (image + landmarks) into an L2-comparable template. Every encoder
declares its name, its dimension, the thresholds calibrated for it (tools: ``bench/face_calibrate``) and
how its templates and its camera frames are made (``made_by``: detector, alignment, networks). Templates
are stored under the name of the encoder that made them (``templates_of``), and templates of different
encoders are never compared. A change of detector or alignment is a new encoder name.

Two face paths: dlib's HOG (or CNN) detector with its 68-point landmarks (``FaceDetector``, this module;
the ``ensemble`` encoder and its parts), and YuNet with dlib's five landmarks (``models.face_yunet``),
which needs neither HOG nor the 68-point model (issue 30). The ``ensemble-yunet`` encoder reads camera
frames the light way and matches them against the ``ensemble``'s templates, made the thorough way at
enrolment: measured, those templates serve its frames better than templates enrolled through YuNet
(docs/face-calibration.md), and nobody has to enrol again. dlib's models load only when a path needs
them (a gate that never enrols never loads the 68-point model).

Encoders register in ``ENCODERS``; ``encoder: default`` in the config means ``DEFAULT_ENCODER``.
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field

import numpy as np

from edge.schemas.phrases import tell
from models.images import crop_roi, resize
from models.manifest import verified_path

# Chosen by measurement on ../shared/data (docs/face-calibration.md): see DEFAULT_ENCODER's notes there.
DEFAULT_ENCODER = "ensemble"
ENCODERS = {
    "dlib": "models.faces:DlibEncoder",
    "faceplugin": "models.face_arcface:FacepluginEncoder",
    "mobilefacenet": "models.face_arcface:MobileFaceNetEncoder",
    "ensemble": "models.face_arcface:EnsembleEncoder",
    "ensemble-yunet": "models.face_arcface:EnsembleYuNetEncoder",
}
# Encoders whose templates are another encoder's (made the same way, so stored under that name).
TEMPLATES_OF = {"ensemble-yunet": "ensemble"}


def templates_of(name: str) -> str:
    """The encoder name the templates of encoder ``name`` ('default' resolved) are stored under."""
    name = encoder_name(name)
    return TEMPLATES_OF.get(name, name)

_dlib_lock = threading.Lock()
_dlib_state: dict = {}
# dlib's detectors keep a mutable scanner inside (object_detector::scanner): one detector called from two
# threads at once (two face cameras, or an enrolment at the office beside a camera) corrupts memory and
# crashes the process. Each thread gets its own HOG detector (cheap: the model is built into dlib); the
# CNN detector (enrolment only) is shared under a lock. The shape predictor is stateless and shared.
_per_thread = threading.local()
_cnn_lock = threading.Lock()
_resnet_lock = threading.Lock()


def _thread_hog():
    hog = getattr(_per_thread, "hog", None)
    if hog is None:
        hog = _per_thread.hog = dlib_state()["dlib"].get_frontal_face_detector()
    return hog


def dlib_state(*, sp68: bool = False, sp5: bool = False, resnet: bool = False) -> dict:
    """dlib and the models asked for, each loaded once per process when first asked for (the 68-point
    predictor is 75 MB of memory, the 5-point one 11 MB, dlib's ResNet 22 MB: issue 30)."""
    with _dlib_lock:
        if not _dlib_state:
            import dlib

            _dlib_state["dlib"] = dlib
        dlib = _dlib_state["dlib"]
        if sp68 and "sp68" not in _dlib_state:
            _dlib_state["sp68"] = dlib.shape_predictor(str(verified_path("dlib_hog_landmarks68")))
        if sp5 and "sp5" not in _dlib_state:
            _dlib_state["sp5"] = dlib.shape_predictor(str(verified_path("dlib_landmarks5")))
        if resnet and "resnet" not in _dlib_state:
            _dlib_state["resnet"] = dlib.face_recognition_model_v1(str(verified_path("dlib_resnet_v1")))
        return _dlib_state


@dataclass
class DetectedFace:
    """One face in an image: box in full-image pixels (top, right, bottom, left) and landmarks."""

    box: tuple[int, int, int, int]
    # float32, full-image pixels (x, y): dlib's 68 points (FaceDetector) or its 5 (models.face_yunet)
    landmarks: np.ndarray
    template: np.ndarray | None = None
    extras: dict = field(default_factory=dict)
    # What strangers are grouped by over frames: the template, or with a cascade the first network's unit
    # vector (every face has it, not every face the full template).
    likeness: np.ndarray | None = None

    @property
    def size(self) -> int:
        top, right, bottom, left = self.box
        return min(bottom - top, right - left)


@dataclass(frozen=True)
class Cascade:
    """When an ensemble encoder's first network alone decides (``edge.rules.matcher.identify``): its best
    person is a match when at most ``accept_below`` away and at least ``accept_margin`` closer than the
    next person; nobody is when the best is farther than ``reject_above``; anything between is unsure,
    and the encoder's full template (every network) decides with its tolerance and margin."""

    accept_below: float
    accept_margin: float
    reject_above: float


class FaceEncoder:
    """Base of template encoders.

    Subclasses must set ``name``, ``dim``, ``tolerance`` (max distance for a match) and ``margin``
    (min gap to the second-best person), say how their templates are made (``detector``: ``dlib`` for
    the configured HOG/CNN detector with the 68 landmarks, or ``yunet``; ``alignment``; ``networks``),
    and override ``encode(rgb, face) -> np.ndarray`` returning an L2-normalised float32 vector (so one
    Euclidean matcher serves every encoder).
    """

    name = "base"
    dim = 0
    tolerance = 0.5
    margin = 0.0
    detector = "dlib"  # of camera frames: "dlib" (recognition.face.detector, hog or cnn) or "yunet"
    alignment = ""  # of camera frames
    networks = ""
    cascade: Cascade | None = None  # an ensemble whose first network decides clear faces alone

    @property
    def templates(self) -> str:
        """The encoder name this encoder's templates are stored and matched under."""
        return TEMPLATES_OF.get(self.name, self.name)

    @property
    def made_by(self) -> dict:
        """How this encoder's frames are read and under which templates they are matched (README,
        bench.face_calibrate, docs/face-calibration.md)."""
        return {"detector": self.detector, "alignment": self.alignment, "networks": self.networks,
                "templates": self.templates, "cascade": self.cascade}

    def encode(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError


class DlibEncoder(FaceEncoder):
    """dlib's ResNet (face_recognition's encoder): 128-d, 150x150 chip aligned by 5 landmarks."""

    name = "dlib"
    dim = 128
    # Calibrated on ../shared/data: zero false accepts (docs/face-calibration.md).
    tolerance = 0.478
    margin = 0.10
    alignment = "dlib 5 landmarks on the detector's box, dlib's 150x150 chip"
    networks = "dlib_resnet_v1"

    def __init__(self, jitters: int = 0):
        state = dlib_state(sp5=True, resnet=True)
        self._dlib = state["dlib"]
        self._sp5 = state["sp5"]
        self._resnet = state["resnet"]
        self.jitters = jitters

    def encode(self, rgb: np.ndarray, face: DetectedFace) -> np.ndarray:
        top, right, bottom, left = face.box
        shape = self._sp5(rgb, self._dlib.rectangle(left, top, right, bottom))
        with _resnet_lock:  # dlib's network keeps its layers' outputs inside: one caller at a time
            vector = np.asarray(self._resnet.compute_face_descriptor(rgb, shape, self.jitters), dtype=np.float32)
        return vector / max(float(np.linalg.norm(vector)), 1e-9)


def make_encoder(name: str) -> FaceEncoder:
    """The encoder registered as ``name`` ('default' = DEFAULT_ENCODER)."""
    name = DEFAULT_ENCODER if name == "default" else name
    if name not in ENCODERS:
        raise ValueError(f"unknown face encoder {name!r}; known: {', '.join(ENCODERS)}")
    module, _, attr = ENCODERS[name].partition(":")
    return getattr(importlib.import_module(module), attr)()


def encoder_name(name: str) -> str:
    return DEFAULT_ENCODER if name == "default" else name


class FaceDetector:
    """dlib HOG (or CNN) detector plus 68-point landmarks, on a region of interest, downscaled."""

    def __init__(self, detector: str = "hog", upsample: int = 0, scale: float = 1.0, min_face_px: int = 40):
        state = dlib_state(sp68=True)
        self._dlib = state["dlib"]
        self._sp68 = state["sp68"]
        if detector == "cnn":
            if "cnn" not in state:
                state["cnn"] = self._dlib.cnn_face_detection_model_v1(str(verified_path("dlib_mmod_cnn")))
            def cnn(img, up):
                with _cnn_lock:
                    return [d.rect for d in state["cnn"](img, up)]

            self._detect = cnn
        else:
            self._detect = lambda img, up: list(_thread_hog()(img, up))
        self.upsample = upsample
        self.scale = scale
        self.min_face_px = min_face_px

    def detect(self, rgb: np.ndarray, roi=None, *, upsample: int | None = None, scale: float | None = None,
               min_face_px: int | None = None) -> list[DetectedFace]:
        """Faces in ``rgb`` (full-image coordinates), largest first; ``roi`` = (x1, y1, x2, y2)."""
        scale = self.scale if scale is None else scale
        upsample = self.upsample if upsample is None else upsample
        min_face_px = self.min_face_px if min_face_px is None else min_face_px
        view, x0, y0 = crop_roi(rgb, roi)
        small = np.ascontiguousarray(resize(view, scale))
        faces = []
        for rect in self._detect(small, upsample):
            # Landmarks on the full-resolution view: sharper than on the downscaled one.
            full = self._dlib.rectangle(
                int(rect.left() / scale), int(rect.top() / scale), int(rect.right() / scale), int(rect.bottom() / scale)
            )
            shape = self._sp68(np.ascontiguousarray(view), full)
            points = np.array([(p.x + x0, p.y + y0) for p in shape.parts()], dtype=np.float32)
            h, w = rgb.shape[:2]
            box = (
                max(full.top() + y0, 0),
                min(full.right() + x0, w),
                min(full.bottom() + y0, h),
                max(full.left() + x0, 0),
            )
            face = DetectedFace(box=box, landmarks=points)
            if face.size >= min_face_px:
                faces.append(face)
        faces.sort(key=lambda f: -f.size)
        return faces


class PhotoRefused(ValueError):
    """An enrolment photo without exactly one usable face; the message names the file and the count."""

    def __init__(self, source: str, count: int):
        self.count = count
        if count == 0:
            self.said = tell("{file}: no face found; use a frontal, well-lit photo where the face is at least 80 px "
                             "wide", file=source)
        else:
            self.said = tell("{file}: {count} faces found; enrolment needs a photo of one person alone", file=source,
                             count=count)
        super().__init__(self.said.text)


class FaceEngine:
    """Detector + encoder: frames to faces with templates, and enrolment photos to one template."""

    def __init__(self, encoder: str = "default", detector: str = "hog", upsample: int = 0, scale: float = 1.0,
                 min_face_px: int = 40):
        """``detector``, ``upsample``: dlib's (hog or cnn), for frames of encoders aligned on its 68
        landmarks and for enrolment photos; an encoder that reads frames with YuNet
        (``encoder.detector == "yunet"``) detects them with YuNet and loads dlib's detector and 68-point
        model only when a photo is enrolled."""
        self.encoder = make_encoder(encoder)
        self._dlib_args = (detector, upsample, scale, min_face_px)
        self._enrolment_detector = None
        self._lock = threading.Lock()
        if self.encoder.detector == "yunet":
            from models.face_yunet import YuNetDetector

            self.detector = YuNetDetector(scale, min_face_px)
        else:
            self.detector = self._enrolment_detector = FaceDetector(*self._dlib_args)

    @property
    def enrolment_detector(self) -> FaceDetector:
        """dlib's detector with the 68 landmarks: enrolment photos and stills (loaded on first use)."""
        with self._lock:
            if self._enrolment_detector is None:
                self._enrolment_detector = FaceDetector(*self._dlib_args)
            return self._enrolment_detector

    def analyze(self, rgb: np.ndarray, roi=None, *, encode: bool = True) -> list[DetectedFace]:
        """Faces in a frame with their templates (``encode=False``: found and aligned only, for a
        cascade that encodes them itself: ``edge.rules.matcher.identify``)."""
        faces = self.detector.detect(rgb, roi)
        for face in faces if encode else ():
            face.template = self.encoder.encode(rgb, face)
        return faces

    def enrolment_template(self, rgb: np.ndarray, source: str) -> np.ndarray:
        """The template of the single face in an enrolment photo, or PhotoRefused."""
        image, faces = self.find_faces_thoroughly(rgb)
        if len(faces) != 1:
            raise PhotoRefused(source, len(faces))
        return self.encoder.encode(image, faces[0])

    def find_faces_thoroughly(self, rgb: np.ndarray, frames: bool = False) -> tuple[np.ndarray, list[DetectedFace]]:
        """(image, faces) trying harder than the per-frame path: enrolment and stills must not miss.

        Full resolution, then upsampled, then with a mirrored border: HOG misses faces that touch the
        edges of tight passport-style crops. The returned image is the one the boxes refer to.
        ``frames``: with the camera frames' detector and landmarks (a still read as the gate reads
        frames) instead of the enrolment's.
        """
        detector = self.detector if frames else self.enrolment_detector
        h, w = rgb.shape[:2]
        # Upsampling a large image costs seconds and finds nothing a 1x pass would miss at that size.
        for upsample in (0, 1) if max(h, w) <= 1000 else (0,):
            faces = detector.detect(rgb, upsample=upsample, scale=1.0, min_face_px=20)
            if faces:
                return rgb, faces
        if max(h, w) > 500:
            return rgb, []  # the border trick is for tight crops only
        pad = max(h, w) // 4
        padded = np.pad(rgb, ((pad, pad), (pad, pad), (0, 0)), mode="reflect" if pad < min(h, w) else "edge")
        faces = detector.detect(padded, upsample=1, scale=1.0, min_face_px=20)
        if len(faces) > 1:
            # A reflected border can mirror the face itself: keep only faces centred in the original.
            faces = [f for f in faces if pad <= (f.box[1] + f.box[3]) / 2 < pad + w
                     and pad <= (f.box[0] + f.box[2]) / 2 < pad + h]
        return padded, faces
