"""The recognisers a gate uses, loaded once and shared: faces (+ matcher), plates, QR codes.

Models load lazily (a plate-only gate never loads dlib) and are verified against the manifest.
"""

from __future__ import annotations

import threading
import time

from edge.rules.matcher import FaceMatcher, identify
from edge.rules.plate_match import PlateIndex

REFRESH_EVERY_S = 1.0


class Recognizers:
    def __init__(self, config=None, store=None, *, faces=None, plates=None, qr=None):
        """``faces``, ``plates``, ``qr``: already loaded engines to share (tests, several gates)."""
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        self._faces, self._plates, self._qr = faces, plates, qr
        self._matcher: FaceMatcher | None = None
        self._checked = float("-inf")
        self._plate_index: PlateIndex | None = None

    @property
    def face_config(self):
        if self.config is not None:
            return self.config.recognition.face
        from edge.config.recognition import FaceRecognitionConfig

        return FaceRecognitionConfig()

    @property
    def faces(self):
        with self._lock:
            if self._faces is None:
                from models.faces import FaceEngine

                fc = self.face_config
                self._faces = FaceEngine(fc.encoder, fc.detector, fc.upsample, fc.scale, fc.min_face_px)
            return self._faces

    @property
    def plates(self):
        with self._lock:
            if self._plates is None:
                from models.plates import PlateReader

                # The site's province helps only where the first character is unsure (models.plates).
                province = self.config.recognition.plate.province if self.config is not None else None
                self._plates = PlateReader(province=province)
            return self._plates

    @property
    def qr(self):
        with self._lock:
            if self._qr is None:
                from models.qr import QrReader

                self._qr = QrReader()
            return self._qr

    def matcher(self) -> FaceMatcher:
        """The face matcher, reloaded when the registry's templates changed (looked at once a second:
        this runs for every analysed frame, and enrolments from the CLI are not that urgent)."""
        encoder = self.faces.encoder
        with self._lock:
            if self._matcher is None:
                fc = self.face_config
                tolerance = fc.tolerance if fc.tolerance is not None else encoder.tolerance
                margin = fc.margin if fc.margin is not None else encoder.margin
                self._matcher = FaceMatcher(tolerance, margin)
            now = time.monotonic()
            if self.store is not None and now - self._checked >= REFRESH_EVERY_S:
                self._checked = now
                self._matcher.refresh(self.store, encoder.templates)
            return self._matcher

    def identify_faces(self, rgb, roi=None, *, faces=None) -> list[tuple]:
        """(face, FaceMatch) for every face in a frame (``edge.rules.matcher.identify``: with the cascade of
        ``ensemble-yunet``, the second network runs only for faces the first is unsure of). ``faces``:
        already found in ``rgb`` (``gate-edge identify``'s thorough search of a still), matched alike."""
        return identify(self.faces, self.matcher(), rgb, roi, faces=faces)

    def reload(self) -> None:
        """Forget the cached templates and plate index: the next frame reads them from the registry
        (the office's ``reload`` command, after it edited the registry behind the gate's back)."""
        with self._lock:
            self._checked = float("-inf")
            if self._matcher is not None:
                self._matcher.revision = None
            self._plate_index = None

    def plate_index(self) -> PlateIndex:
        with self._lock:
            if self.store is None:
                return PlateIndex([])
            if self._plate_index is None or self._plate_index.revision != self.store.vehicles.revision():
                self._plate_index = PlateIndex.from_registry(self.store)
            return self._plate_index
