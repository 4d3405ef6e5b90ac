"""Typed config of one camera (``cameras:`` list item), shared by the OpenCV camera driver."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from edge.config.base import Identifier, Section


class CameraConfig(Section):
    id: Identifier = Field(description="unique camera name, used in status and alerts")
    source: str | int = Field(
        description="rtsp://… URL, /dev/videoN, a V4L2 index, or a video/image file (relative to the config)"
    )
    role: Literal["face", "plate"] = Field(
        description="face or plate: what the camera recognises (plus QR passes unless read_qr: false)"
    )
    lane: Literal["in", "out"] = Field(description="the lane the camera watches")
    roi: tuple[int, int, int, int] | None = Field(
        None, description="region of interest [x1, y1, x2, y2] in pixels; null = whole frame"
    )
    barrier: str | None = Field(None, description="barrier id this camera opens; default: the one serving its lane")
    read_qr: bool = Field(
        True, description="also read QR passes here (on by default: a car without a registered plate shows its "
        "pass at the car lane); a code that is not a gate-edge pass (a URL, a phone number) is ignored, a pass "
        "that fails verification is denied"
    )
    fps: float | None = Field(
        None, gt=0, le=120, description="files: pace at this rate (null = the file's own); live: ignored"
    )
    realtime: bool = Field(True, description="files: pace frames in real time (false = as fast as possible)")
    every_frame: bool = Field(
        False, description="files: hand over every frame, waiting for the analysis (recorded footage; frame times "
        "follow the video, not the wall clock)"
    )
    loop: bool = Field(False, description="files: start again at the end")
    process_every_s: float = Field(0.2, ge=0, le=10, description="min seconds between analysed frames")
    down_alert_s: float = Field(60, gt=0, description="no frame for this long raises a device alert")
    reconnect_max_s: float = Field(30, gt=0, le=600, description="cap of the back-off between reconnect tries")

    @field_validator("source")
    @classmethod
    def _file_source_exists(cls, source, info: ValidationInfo):
        src = str(source)
        if isinstance(source, int) or src.isdigit() or src.startswith("/dev/") or "://" in src:
            return source  # devices and streams may be absent now and come back later
        path = Path(os.path.expanduser(src))
        base = (info.context or {}).get("base_dir")
        if not path.is_absolute() and base:
            path = Path(base) / path
        if not path.is_file():
            raise ValueError(f"camera file {str(path)!r} does not exist; fix the path or use rtsp://, /dev/videoN")
        return str(path)

    @field_validator("roi")
    @classmethod
    def _roi_is_a_box(cls, roi):
        if roi is not None:
            x1, y1, x2, y2 = roi
            if min(roi) < 0 or x2 <= x1 or y2 <= y1:
                raise ValueError(f"roi {list(roi)} is not a box: give [x1, y1, x2, y2] with x2 > x1 and y2 > y1")
        return roi

    @property
    def is_file(self) -> bool:
        """True when the source is a video or image file rather than a device or stream."""
        src = str(self.source)
        return not (src.isdigit() or src.startswith("/dev/") or "://" in src)
