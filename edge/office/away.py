"""Who is away, at the office: setting and ending a pause, the sighting and the date that end it (DESIGN 7).

The rule (how far ahead, what ends it, how the episode counts) is ``edge.rules.away``'s; this keeps the
office's side of it. ``set`` and ``end`` serve the console and the API, and the residents' portal (a
resident of the same unit: ``by`` is ``portal:<their masked number>``, ``how`` is ``portal``); every change
goes through ``store.people.set_away``, so the signed person record changes in the same transaction and every
gate follows.

    set       away_until (the end of the last day away) and away_since (now) on the record; the reason and
              who set it stay here
    end       an admin ends it early: the pause ends now (away_until = now), so a resident back home but not
              yet seen counts as unseen from now, not from before they left
    seen      (inside the archive's transaction, for every let-through sighting) a sighting after the pause
              was set clears it from the record: every gate converges (each already ignores a pause older
              than a sighting it holds)
    due       (a job) a pause whose end has come is told once; the record keeps it: the gates go on counting
              the episode from its end

Each change is told, in the transaction that makes it, to ``notices.away_changed(AwayChange)``: who is
told (the duty recipients and the person's consenting contacts) is the notices' rule
(``edge.office.notify``). ``notices`` None: nobody is told (an office without notifications).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from edge.rules.away import Pause, end_of, last_day, reason_of, until_of
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class AwayChange:
    """A pause set or ended, as the notices tell it."""

    person_id: int
    state: str  # "set" or "ended"
    until: str | None  # ISO instant the pause ends (ended: when it ended)
    last_day: str | None  # the last day away, YYYY-MM-DD (set)
    reason: str | None  # why they are away (office only)
    by: str  # a console user; "portal:<masked number>" for a resident; "gate:<name>" for a sighting; "date"
    how: str  # "console", "portal", "seen", "date"
    at: float  # epoch of the change


def via(by: str | None) -> str:
    """Where a pause was set, from who set it: ``portal`` (a resident: ``portal:<masked number>``) or ``console``."""
    return "portal" if str(by or "").startswith("portal:") else "console"


class Absences:
    def __init__(self, config, store, *, clock, notices=None, wake=None):
        """``notices``: told of each change inside its transaction (``away_changed``); ``wake()``: after a
        record changed (the MQTT link publishes it)."""
        self.config = config
        self.store = store
        self.clock = clock
        self.zone = config.zone
        self.notices = notices
        self.wake = wake or (lambda: None)

    def today(self, now: float):
        return datetime.fromtimestamp(now, self.zone).date()

    def set(self, person_id: int, until, reason, by: str, how: str = "console") -> AwayChange:
        """Pause ``person_id`` until the end of the day ``until`` (YYYY-MM-DD); AwayRefused naming the field."""
        now = self.clock()
        day, reason = until_of(until, self.today(now)), reason_of(reason)
        change = AwayChange(person_id, "set", end_of(day, self.zone), day.isoformat(), reason, by, how, now)
        with self.store.transaction():
            self.store.people.get(person_id)
            self.store.people.set_away(person_id, until=change.until, since=iso(now, self.zone), reason=reason, by=by)
            self._tell(change)
            self.store.after_commit(self.wake)
        _LOG.info("away: person %s paused until %s (set by %s)", person_id, day, by)
        return change

    def end(self, person_id: int, by: str, how: str = "console") -> AwayChange | None:
        """End the person's pause now; None when they have none in force."""
        now = self.clock()
        with self.store.transaction():
            person = self.store.people.get(person_id)
            if not self._away_now(person, now):
                return None
            ended = iso(now, self.zone)
            change = AwayChange(person_id, "ended", ended, None, person["away_reason"], by, how, now)
            self.store.people.set_away(person_id, until=ended, since=person["away_since"],
                                       reason=person["away_reason"], by=person["away_by"])
            self.store.people.away_told_ended(person_id, ended)
            self._tell(change)
            self.store.after_commit(self.wake)
        _LOG.info("away: person %s no longer paused (ended by %s)", person_id, by)
        return change

    def seen(self, person_id: int, ts: float, gate: str) -> None:
        """Inside the archive's transaction: a let-through sighting of ``person_id`` at ``ts`` ends a pause
        set before it (an older sighting, replayed late, does not)."""
        person = self.store.people.find_by_id(person_id)
        if person is None or person["away_until"] is None:
            return
        try:
            pause = Pause.of(person["away_until"], person["away_since"])
        except ValueError:
            pause = None
        if pause is not None and not pause.ended_by(ts):
            return
        self.store.people.set_away(person_id, until=None, since=None, reason=None, by=None)
        if person["away_ended_at"] is None:  # its end was not told yet (by its date or an admin): this is it
            self._tell(AwayChange(person_id, "ended", iso(ts, self.zone), None, person["away_reason"],
                                  f"gate:{gate}", "seen", self.clock()))
        self.store.after_commit(self.wake)
        _LOG.info("away: person %s seen at gate %s: no longer paused", person_id, gate)

    def due(self, now: float | None = None) -> int:
        """Pauses whose end has come: told once (a job). Returns how many."""
        now = self.clock() if now is None else now
        count = 0
        with self.store.transaction():
            for person in self.store.people.away():
                pause = Pause.of(person["away_until"], person["away_since"])
                if now < pause.until:
                    continue
                self.store.people.away_told_ended(person["id"], iso(now, self.zone))
                self._tell(AwayChange(person["id"], "ended", person["away_until"], None, person["away_reason"],
                                      "date", "date", now))
                count += 1
        return count

    def listing(self, now: float | None = None) -> list[dict]:
        """Who is away now: person_id, unit, name, until (instant), last_day, reason, by, since, via (``via``)."""
        now = self.clock() if now is None else now
        return [{"person_id": p["id"], "unit": p["unit"], "name": p["name"], "until": p["away_until"],
                 "last_day": last_day(p["away_until"], self.zone), "reason": p["away_reason"], "by": p["away_by"],
                 "since": p["away_since"], "via": via(p["away_by"])}
                for p in self.store.people.away() if self._away_now(p, now)]

    def of_person(self, person: dict, now: float | None = None) -> dict | None:
        """A person row's pause in force now, as the API shows it, or None."""
        now = self.clock() if now is None else now
        if not self._away_now(person, now):
            return None
        return {"until": person["away_until"], "last_day": last_day(person["away_until"], self.zone),
                "reason": person["away_reason"], "by": person["away_by"], "since": person["away_since"],
                "via": via(person["away_by"])}

    def _away_now(self, person: dict, now: float) -> bool:
        try:
            pause = Pause.of(person["away_until"], person["away_since"])
        except ValueError:
            return False
        seen = self.store.sightings.get(f"person:{person['id']}")
        return pause is not None and pause.paused(now, seen["ts_epoch"] if seen else None)

    def _tell(self, change: AwayChange) -> None:
        if self.notices is not None:
            self.notices.away_changed(change)
