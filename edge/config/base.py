"""Building blocks shared by every config section: the strict base model and checked field types."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, model_validator

from edge.contract import IDENTIFIER_MAX, IDENTIFIER_PATTERN, is_reserved_gate_name


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, values are immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class KeyedProblems(ValueError):
    """Problems found by a validator about keys below the one it validates: ``[(loc, message)]`` with
    ``loc`` relative to the validated key (``(1, "baudrate")`` under ``barriers``), so check-config
    names each problem's own key and line, not only the section's."""

    def __init__(self, problems: list[tuple[tuple, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{'.'.join(map(str, loc))}: {message}" for loc, message in problems))


def _resolve(value: str | Path, info: ValidationInfo) -> Path:
    path = Path(os.path.expanduser(str(value)))
    base = (info.context or {}).get("base_dir") if info.context else None
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return path


_CREDENTIALS = re.compile(r"(\w[\w+.-]*://)[^/@\s'\"]+@")
# Fields that name a file holding a secret: a technician may type the secret itself there by mistake,
# so their value is never repeated in a message (it would end up in the journal).
SECRET_FILE_FIELDS = {"password_file", "secret_file", "url_file", "pin_file", "command_key_file",
                      "identity_key_file", "signing_key_file", "key"}


def mask_credentials(text: str) -> str:
    """``rtsp://user:password@host/…`` → ``rtsp://***@host/…`` anywhere in ``text`` (logs, messages)."""
    return _CREDENTIALS.sub(r"\1***@", text)


def _readable_file(value: str | Path, info: ValidationInfo) -> Path:
    path = _resolve(value, info)
    shown = "the file named here" if info.field_name in SECRET_FILE_FIELDS else f"file {str(path)!r}"
    if not path.is_file():
        raise ValueError(f"{shown} does not exist; create it or fix the path" + (
            " (give the path of a file holding the secret, never the secret itself)"
            if info.field_name in SECRET_FILE_FIELDS else ""))
    if not os.access(path, os.R_OK):
        raise ValueError(f"{shown} is not readable by this user; check its owner and mode")
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


# The logging level of the daemon (Python's names).
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]

# An IANA time zone name (fees, days and timestamps are in the site's zone).
TimeZoneName = Annotated[str, AfterValidator(_known_zone)]

def not_reserved(name: str) -> str:
    """A gate's name, unless it is a topic level that is not a gate (``edge.contract`` owns the rule)."""
    if is_reserved_gate_name(name):
        raise ValueError(f"gate name {name!r} is reserved (topics P/{name}/…); choose another")
    return name


# Names that end up inside MQTT topics and file names: no '/', '+', '#', spaces (the rule: edge.contract).
Identifier = Annotated[
    str,
    Field(
        pattern=IDENTIFIER_PATTERN,
        max_length=IDENTIFIER_MAX,
        description="letters, digits, '-', '_' and '.', starting with a letter or digit",
    ),
]


class ClockConfig(Section):
    """The daemon's one clock (``edge.timeutil.clock_from_config``): the system's, or the demo's declared
    simulated time, which every process of a site demo shares through one offset file."""

    mode: Literal["real", "simulated"] = Field("real", description=(
        "real: the system clock (keep it synchronised: README, one time for the site); simulated: the demo's "
        "declared fast-forward, wall time plus the seconds written in offset_file"))
    offset_file: ConfigPath | None = Field(None, description="simulated mode only: a file holding the seconds to add")
    max_offset_s: float = Field(120.0, ge=5, le=3600, description=(
        "a gate's clock further than this from the office's (or chrony's) raises the clock alert"))

    @model_validator(mode="after")
    def _offset_only_when_simulated(self):
        if self.mode == "simulated" and self.offset_file is None:
            raise ValueError("clock.mode: simulated needs clock.offset_file (a file holding the seconds to add)")
        if self.mode == "real" and self.offset_file is not None:
            raise ValueError("clock.offset_file is only read with clock.mode: simulated")
        return self
