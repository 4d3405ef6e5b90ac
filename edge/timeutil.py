"""Clock and timestamp helpers: one injectable clock, ISO-8601 with the site's offset."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo


class Clock:
    """Wall clock in epoch seconds: the one clock every part of a daemon is handed (``clock_from_config``).

    ``simulated`` is the site demo's declared mode: wall time plus the seconds held in ``offset_file``
    (re-read when the file changes), shared by every process of the demo so that two days pass at once
    for the office and both gates.
    """

    def __init__(self, offset_s: float = 0.0, offset_file: str | None = None):
        self.offset_s = offset_s
        self.offset_file = offset_file
        self._mtime = None

    @property
    def simulated(self) -> bool:
        return bool(self.offset_file) or self.offset_s != 0.0

    def _file_offset(self) -> None:
        import os

        try:
            mtime = os.stat(self.offset_file).st_mtime_ns
            if mtime != self._mtime:
                with open(self.offset_file, encoding="utf-8") as handle:
                    self.offset_s = float(handle.read().strip() or 0)
                self._mtime = mtime
        except (OSError, ValueError):
            pass

    def now(self) -> float:
        return self.read()[0]

    def read(self) -> tuple[float, float]:
        """(now, the declared offset in it): one reading, so a watcher never sees a half-moved clock."""
        if self.offset_file:
            self._file_offset()
        offset = self.offset_s
        return time.time() + offset, offset

    def __call__(self) -> float:
        return self.now()


def clock_from_config(config) -> Clock:
    """The daemon's clock as its file declares it (``clock:``): the system's, or the demo's simulated time."""
    section = getattr(config, "clock", None)
    if section is not None and section.mode == "simulated":
        return Clock(offset_file=str(section.offset_file))
    return Clock()


def advance_simulated(offset_file, seconds: float) -> float:
    """Move a simulated clock (the site demo's fast-forward): every process reading the file follows."""
    from pathlib import Path

    path = Path(offset_file)
    try:
        current = float(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        current = 0.0
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(repr(current + seconds), encoding="utf-8")
    tmp.replace(path)
    return current + seconds


class FixedClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, epoch: float):
        super().__init__()
        self.epoch = epoch

    def now(self) -> float:
        return self.epoch

    def read(self) -> tuple[float, float]:
        return self.epoch, 0.0

    def advance(self, seconds: float) -> None:
        self.epoch += seconds


def iso(epoch: float, zone: ZoneInfo) -> str:
    """ISO-8601 with the zone's offset, to the millisecond: 2026-11-26T12:00:00.000+08:00."""
    return datetime.fromtimestamp(epoch, zone).isoformat(timespec="milliseconds")


def parse_iso(text: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp that carries its offset."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return moment.timestamp()


class InvalidDay(ValueError):
    """A text that is not a YYYY-MM-DD date: ``said`` names it (and its field, when the caller names one),
    marked for the console's catalog."""

    def __init__(self, text, field=None):
        from edge.schemas.phrases import tell

        example = "2026-12-31"
        self.said = (tell("{value!r} is not a date; write YYYY-MM-DD, e.g. {example}", value=text, example=example)
                     if field is None else
                     tell("{field}: {value!r} is not a date; write YYYY-MM-DD, e.g. {example}", field=field,
                          value=text, example=example))
        super().__init__(self.said.text)


def parse_day(text: str, field=None) -> date:
    """A YYYY-MM-DD date, or InvalidDay (a ValueError) naming the text, and ``field`` when given."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise InvalidDay(text, field) from None


def end_of_day(day: date, zone: ZoneInfo) -> float:
    """Epoch of the last instant of ``day`` in ``zone`` (a permit valid until a day is valid all that day)."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=zone).timestamp()


def start_of_day(day: date, zone: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
