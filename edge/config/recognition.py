"""The ``recognition:`` section: face and plate recogniser settings and their consensus rules."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from edge.config.base import Section
from edge.rules.plate_vote import AGREEING_HITS


def known_encoder(name: str) -> str:
    """A face encoder the models know ('default' = the measured best); anything else is refused by
    check-config with the allowed names, not a traceback at run time."""
    from models.faces import ENCODERS

    if name != "default" and name not in ENCODERS:
        raise ValueError(f"unknown face encoder {name!r}; use one of: default, {', '.join(ENCODERS)}")
    return name


def known_province(abbreviation: str | None) -> str | None:
    """A province abbreviation as plates show it (沪, 京 …); anything else is refused with the allowed ones."""
    from edge.plates import PROVINCES

    if abbreviation is not None and (len(abbreviation) != 1 or abbreviation not in PROVINCES):
        raise ValueError(f"unknown province {abbreviation!r}; use one of: {', '.join(PROVINCES)}")
    return abbreviation


class FaceRecognitionConfig(Section):
    encoder: Annotated[str, AfterValidator(known_encoder)] = Field(
        "default", description="face encoder from models/manifest.json; default = the one measured best on our photos "
        "(docs/face-calibration.md); ensemble-yunet reads frames with YuNet (no 68-point model: less memory and CPU) "
        "and matches the ensemble's templates"
    )
    tolerance: float | None = Field(
        None, gt=0, le=2, description="max distance for a match; default = the encoder's calibrated value"
    )
    margin: float | None = Field(
        None, ge=0, le=1, description="required distance gap between best and second-best person"
    )
    min_hits: int = Field(2, ge=1, le=20, description="agreeing frames needed for a decision")
    window_s: float = Field(3.0, gt=0, le=30, description="frames older than this no longer count")
    cooldown_s: float = Field(10.0, ge=0, le=600, description="one decision per person per lane per this")
    upsample: int = Field(0, ge=0, le=2, description="dlib detector upsampling (finds smaller faces, slower); "
                          "not used by YuNet")
    scale: float = Field(0.5, gt=0, le=1, description="downscale frames by this before detection")
    detector: Literal["hog", "cnn"] = Field("hog", description="dlib HOG (fast) or CNN (slow on a Pi), for enrolment "
                                             "photos and for frames unless the encoder reads them with YuNet")
    min_face_px: int = Field(40, ge=16, description="ignore faces smaller than this (pixels, full frame)")
    keep_photos: bool = Field(
        False, description="store enrolment photos (needed to re-enrol when the encoder changes)"
    )


class PlateRecognitionConfig(Section):
    min_confidence: float = Field(0.8, ge=0, le=1, description="ignore readings below this confidence")
    min_hits: int = Field(2, ge=1, le=20, description="agreeing frames needed for a decision")
    agreeing_hits: int = Field(
        AGREEING_HITS, ge=0, le=20,
        description="of those, frames that must read exactly the voted plate (0: each position's vote decides alone)",
    )
    window_s: float = Field(4.0, gt=0, le=60, description="readings of one vehicle cluster within this")
    cooldown_s: float = Field(20.0, ge=0, le=600, description="one decision per plate per lane per this")
    fuzzy: bool = Field(
        True, description="allow a one-confusion fuzzy match to open (it may always deny a blocked plate)"
    )
    province: Annotated[str | None, AfterValidator(known_province)] = Field(
        None, description="the site's usual province (e.g. 沪), used only as evidence, never as text"
    )


class RecognitionConfig(Section):
    face: FaceRecognitionConfig = Field(default_factory=FaceRecognitionConfig)
    plate: PlateRecognitionConfig = Field(default_factory=PlateRecognitionConfig)
