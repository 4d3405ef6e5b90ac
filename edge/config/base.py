"""Building blocks shared by every config section: the strict base model and checked field types."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


def _resolve(value: str | Path, info: ValidationInfo) -> Path:
    path = Path(os.path.expanduser(str(value)))
    base = (info.context or {}).get("base_dir") if info.context else None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


def _readable_file(value: str | Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    if not path.is_file():
        raise ValueError(f"file {str(path)!r} does not exist; create it or fix the path")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file {str(path)!r} is not readable by this user; check its owner and mode")
    return path


def _any_path(value: str | Path, info: ValidationInfo) -> Path:
    return _resolve(value, info)


# A file that must exist and be readable when the config is loaded (keys, certificates, passwords).
ReadableFile = Annotated[Path, AfterValidator(_readable_file)]
# A path resolved relative to the config file's folder; it need not exist yet (the database).
ConfigPath = Annotated[Path, AfterValidator(_any_path)]

def _known_zone(name: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Asia/Shanghai'") from None
    return name


# An IANA time zone name (fees, days and timestamps are in the site's zone).
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]

# Topic levels under P that are not gates (DESIGN 4.3): a gate may not be called so.
RESERVED_GATE_NAMES = ("registry", "office", "alert")


def not_reserved(name: str) -> str:
    if name in RESERVED_GATE_NAMES:
        raise ValueError(f"gate name {name!r} is reserved (topics P/{name}/…); choose another")
    return name


# Names that end up inside MQTT topics and file names: no '/', '+', '#', spaces.
Identifier = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        max_length=64,
        description="letters, digits, '-', '_' and '.', starting with a letter or digit",
    ),
]
