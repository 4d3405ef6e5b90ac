"""Away: a care-watch resident paused until a date (DESIGN 7), the one owner of the rule, whoever sets it
(the office's console and API, later the residents' portal) and wherever it is applied (every gate's
inactivity check, the office's listing and the sighting that ends it).

    the date      ``until_of``: a YYYY-MM-DD after today (the site's date), at most MAX_DAYS ahead; the
                  pause lasts all that day (as a permit valid until a day is valid all that day) and ends
                  when the next day begins, the instant ``end_of`` gives (ISO-8601 with the site's offset on
                  the signed person record, so every gate reads the same instant)
    the reason    ``reason_of``: one line, at most REASON_MAX characters (kept at the office only)
    in force      ``Pause.in_force``: set, and the person not seen at a gate since it was set; a sighting
                  after it was set ends it (``ended_by``), at every gate at once, before the office clears it
    the episode   ``episode_start``: while in force and before its end, no inactivity alert (None); after
                  its end, if they have not been seen, the episode counts from the end of the pause, so
                  every gate derives the same alert id from the same instant

Pure: no I/O; the callers give the clock's ``now`` and the site's ``today`` and zone.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.schemas.phrases import Message, ptell, tell
from edge.timeutil import InvalidDay, iso, parse_day, parse_iso

MAX_DAYS = 60  # DESIGN 7: a pause is at most 60 days ahead (a longer stay is a change of address)
REASON_MAX = 100


class AwayRefused(ValueError):
    """A value the rule refuses: ``field`` (until, reason) and ``said`` (marked for the console's catalog)."""

    def __init__(self, field: str, said: Message):
        self.field = field
        self.said = said
        super().__init__(said.text)


def until_of(value, today: date) -> date:
    """The last day of the pause, from a YYYY-MM-DD text; AwayRefused naming ``until`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise AwayRefused("until", tell("until: required, the last day away (YYYY-MM-DD)"))
    try:
        day = parse_day(value.strip(), field=ptell("field", "until"))
    except InvalidDay as exc:
        raise AwayRefused("until", exc.said) from None
    if day <= today:
        raise AwayRefused("until", tell("until: {day} is not after today ({today})", day=day.isoformat(),
                                        today=today.isoformat()))
    if day > today + timedelta(days=MAX_DAYS):
        raise AwayRefused("until", tell("until: {day} is more than {days} days ahead (at most {last})",
                                        day=day.isoformat(), days=MAX_DAYS,
                                        last=(today + timedelta(days=MAX_DAYS)).isoformat()))
    return day


def reason_of(value) -> str:
    """Why they are away, one line; AwayRefused naming ``reason`` when missing or too long."""
    if not isinstance(value, str) or not value.strip():
        raise AwayRefused("reason", tell("reason: required (e.g. staying with their daughter)"))
    value = value.strip()
    if len(value) > REASON_MAX or any(ord(c) < 32 or unicodedata.category(c) == "Cf" for c in value):
        raise AwayRefused("reason", tell("reason: one line of at most {limit} characters", limit=REASON_MAX))
    return value


def end_of(day: date, zone: ZoneInfo) -> str:
    """The instant the pause ends (the next day begins, in the site's zone), as the record carries it."""
    following = day + timedelta(days=1)
    return iso(datetime(following.year, following.month, following.day, tzinfo=zone).timestamp(), zone)


def last_day(until: str, zone: ZoneInfo) -> str:
    """The last day away (YYYY-MM-DD) of an ``away_until`` instant, as the console shows it."""
    return (datetime.fromtimestamp(parse_iso(until), zone) - timedelta(microseconds=1)).date().isoformat()


@dataclass(frozen=True)
class Pause:
    """A person's away as the signed record carries it: ``until`` (the pause ends) and ``since`` (set)."""

    until: float
    since: float

    @classmethod
    def of(cls, until: str | None, since: str | None) -> Pause | None:
        """From the record's (or the row's) ISO texts; None when not set. ValueError for an unreadable one
        (a gate refuses such a record, as it refuses any field it uses that it cannot read)."""
        if until is None and since is None:
            return None
        if not isinstance(until, str) or not isinstance(since, str):
            raise ValueError("away_until and away_since go together, as ISO-8601 texts")
        return cls(parse_iso(until), parse_iso(since))

    def ended_by(self, seen_ts: float | None) -> bool:
        """A sighting at ``seen_ts`` ends the pause: it is not older than the moment it was set."""
        return seen_ts is not None and seen_ts >= self.since

    def in_force(self, last_seen: float | None) -> bool:
        return not self.ended_by(last_seen)

    def paused(self, now: float, last_seen: float | None) -> bool:
        """No care-watch alert now: in force and not over yet."""
        return self.in_force(last_seen) and now < self.until


def episode_start(unseen_since: float, pause: Pause | None, last_seen: float | None, now: float) -> float | None:
    """Since when a care-watch resident counts as unseen (``unseen_since``: their last sighting, or their
    registration), with their pause: None while paused (no alert); after a pause in force, its end."""
    if pause is None or not pause.in_force(last_seen):
        return unseen_since
    if now < pause.until:
        return None
    return max(unseen_since, pause.until)
