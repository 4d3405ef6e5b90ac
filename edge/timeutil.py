"""Clock and timestamp helpers: one injectable clock, ISO-8601 with the site's offset."""

from __future__ import annotations

import time
from datetime import date, datetime
from zoneinfo import ZoneInfo


class Clock:
    """Wall clock in epoch seconds; tests and the demo substitute an offset or a fixed time."""

    def __init__(self, offset_s: float = 0.0):
        self.offset_s = offset_s

    def now(self) -> float:
        return time.time() + self.offset_s


class FixedClock(Clock):
    """A clock that only moves when told to (tests)."""

    def __init__(self, epoch: float):
        super().__init__()
        self.epoch = epoch

    def now(self) -> float:
        return self.epoch

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


def parse_day(text: str) -> date:
    """A YYYY-MM-DD date, or ValueError naming the text."""
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date; write YYYY-MM-DD, e.g. 2026-12-31") from None


def end_of_day(day: date, zone: ZoneInfo) -> float:
    """Epoch of the last instant of ``day`` in ``zone`` (a permit valid until a day is valid all that day)."""
    return datetime(day.year, day.month, day.day, 23, 59, 59, 999999, tzinfo=zone).timestamp()


def start_of_day(day: date, zone: ZoneInfo) -> float:
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
