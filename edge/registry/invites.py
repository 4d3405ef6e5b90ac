"""Residents' invitations (DESIGN 8, issue 29): the one owner of what an invitation is and may be.

Whoever asks (the residents' portal for their own unit; the console lists and cancels), an invitation is
one of two things, each through what every gate already trusts:

    a car        a plate that is not registered is registered for a window of at most MAX_HOURS, as
                 ``family`` (the two free hours) or ``visitor``: a vehicle row whose ``valid_from_at`` /
                 ``valid_until_at`` give the window (``edge.rules.permits``: outside it the car is a
                 stranger's), published to every gate as a signed vehicle record like any change. A plate
                 already registered (to any unit, in any class, blocked too) is refused and nothing
                 changes; only a plate whose last registration was an invitation now over may be invited
                 again. Cancelling ends the window now (a car already inside keeps the rules it came in
                 under; the row stays, so its stay is charged as it began). A day after its window, a car
                 not in the car park is removed from the registry (``tidy``, an office job).
    a visitor    a QR pass of kind ``visitor`` (``edge.registry.passes``) whose subject is the unit, never a
                 person, valid for at most MAX_HOURS from now or from a chosen time of a later day; signed
                 with the office's pass key; its image to share. The visitor's name stays here (the gates
                 never see it). Cancelling revokes the pass (a signed revocation reaches every gate).

A unit makes at most ``per_unit_per_day`` invitations a day (the site's day; cancelled ones count: a
cancel does not give one back). Every refusal is an ``InviteRefused`` naming the field, with the HTTP
status the portal answers. ``Invitations`` takes the store, the site's zone and the clock; the caller
audits and wakes the publisher (``ctx.published()``) after a write.
"""

from __future__ import annotations

import base64
import time
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from edge.rules.permits import invited
from edge.schemas.phrases import Message, ptell, tell
from edge.timeutil import iso, parse_iso, start_of_day

MAX_HOURS = 24  # DESIGN 8: an invitation is for a visit, at most a day
MAX_DAYS_AHEAD = 30  # a visit is planned for a chosen day, not months ahead
LATE_S = 15 * 60  # a start a little in the past (the form was filled in slowly) starts now
NAME_MAX = 40
KEEP_OVER_S = 86400  # an invited car stays registered a day past its window: a late exit still finds its class
CLASSES = ("family", "visitor")
KINDS = ("car", "visitor")


class InviteRefused(ValueError):
    """An invitation refused: ``field`` (plate, class, hours, from, name, id; None: the request as a whole),
    ``said`` (marked for the catalogs) and the HTTP ``status`` the portal and the console answer."""

    def __init__(self, said: Message, field: str | None = None, status: int = 400):
        self.said = said
        self.field = field
        self.status = status
        super().__init__(said.text)


@dataclass(frozen=True)
class Inviter:
    """Who invites: their unit, the person (None: not a resident, e.g. a test) and how the audit names them."""

    unit: str
    person_id: int | None
    label: str  # e.g. "portal:138****5678"; the console shows the person's name beside it


@dataclass(frozen=True)
class Window:
    start: float
    end: float


def hours_of(value) -> int:
    """A visit's length: a whole number of hours from 1 to MAX_HOURS."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_HOURS:
        raise InviteRefused(tell("hours: a whole number of hours from 1 to {most}", most=MAX_HOURS), "hours")
    return value


def window_of(start, hours, now: float, zone: ZoneInfo) -> Window:
    """When the visit is: from ``start`` (None or empty: now; ``YYYY-MM-DD``: that day, from now if it is
    today, else from its first minute; ``YYYY-MM-DDTHH:MM``: that time in the site's zone) for ``hours``."""
    length = hours_of(hours)
    today = datetime.fromtimestamp(now, zone).date()
    if start is None or (isinstance(start, str) and not start.strip()):
        begin = now
    elif not isinstance(start, str):
        raise InviteRefused(_bad_start(start), "from")
    else:
        begin = _start_of(start.strip(), zone, today, now)
    if begin < now - LATE_S:
        raise InviteRefused(tell("from: {when} has passed; choose a later time", when=_local(begin, zone)), "from")
    begin = max(begin, now)
    last_day = today + timedelta(days=MAX_DAYS_AHEAD)
    if datetime.fromtimestamp(begin, zone).date() > last_day:
        raise InviteRefused(tell("from: at most {days} days ahead (until {last})", days=MAX_DAYS_AHEAD,
                                 last=last_day.isoformat()), "from")
    return Window(begin, begin + length * 3600)


def _start_of(text: str, zone: ZoneInfo, today: date, now: float) -> float:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return now if day == today else start_of_day(day, zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InviteRefused(_bad_start(text), "from") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.timestamp()


def _bad_start(value) -> Message:
    return tell("from: {value!r} is not a day or a time; write YYYY-MM-DD or YYYY-MM-DDTHH:MM, e.g. {example}",
                value=value, example="2026-12-31T14:00")


def _local(epoch: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%Y-%m-%d %H:%M")


def name_of(value) -> str:
    """A visitor's name as the resident writes it: one line, at most NAME_MAX characters."""
    if not isinstance(value, str) or not value.strip():
        raise InviteRefused(tell("name: required, the visitor's name"), "name")
    value = value.strip()
    if len(value) > NAME_MAX or any(ord(c) < 32 or unicodedata.category(c) == "Cf" for c in value):
        raise InviteRefused(tell("name: one line of at most {limit} characters", limit=NAME_MAX), "name")
    return value


def plate_of(value) -> str:
    from edge.plates import InvalidPlate, parse_plate

    if not isinstance(value, str) or not value.strip():
        raise InviteRefused(tell("plate: required, e.g. {example}", example="沪A12345"), "plate")
    try:
        return parse_plate(value, field=ptell("field", "plate")).text
    except InvalidPlate as exc:
        raise InviteRefused(exc.said, "plate") from None


def class_of(value) -> str:
    if value not in CLASSES:
        raise InviteRefused(tell("class: family (two hours free) or visitor"), "class")
    return value


class Invitations:
    """Make, list and cancel invitations on ``store`` (the office's), on the site's ``zone`` and ``clock``.

    ``pass_key``: what visitor passes are signed with (``edge.registry.passes.pass_issuer``; None: this office
    issues no passes, and a visitor's invitation is refused saying so); ``per_unit_per_day``: the daily
    limit (``portal.invites_per_unit_per_day``)."""

    def __init__(self, store, zone: ZoneInfo, *, clock=time.time, pass_key=None, per_unit_per_day: int = 5):
        self.store = store
        self.zone = zone
        self.clock = clock
        self.pass_key = pass_key
        self.per_unit_per_day = per_unit_per_day

    # -- making ----------------------------------------------------------------------------------
    def car(self, who: Inviter, *, plate, vehicle_class, hours, start=None) -> dict:
        """Register ``plate`` for the window; the invitation as ``view`` shows it."""
        plate, vehicle_class = plate_of(plate), class_of(vehicle_class)
        now = self.clock()
        window = window_of(start, hours, now, self.zone)
        store = self.store
        with store.transaction():  # checked and written at once: two invitations of one plate cannot both pass
            self._within_limit(who.unit, now)
            registered = store.vehicles.get(plate)
            if registered is not None and not self._invitation_over(registered, now):
                raise InviteRefused(tell("{plate} is already registered at this site, so it needs no invitation "
                                         "(the committee office can say more)", plate=plate), "plate", 409)
            day = lambda epoch: datetime.fromtimestamp(epoch, self.zone).date().isoformat()  # noqa: E731
            store.vehicles.upsert(plate, vehicle_class, who.person_id, valid_from=day(window.start),
                                  valid_until=day(window.end - 1), valid_from_at=iso(window.start, self.zone),
                                  valid_until_at=iso(window.end, self.zone), keep=())
            invite_id = store.invites.add(unit=who.unit, kind="car", plate=plate, vehicle_class=vehicle_class,
                                          name=None, pass_id=None, valid_from_epoch=window.start,
                                          valid_until_epoch=window.end, by_person_id=who.person_id,
                                          made_by=who.label, created_epoch=now)
        return self.view(store.invites.get(invite_id))

    def visitor(self, who: Inviter, *, name, hours, start=None) -> dict:
        """Issue a visitor pass for ``who``'s unit; the invitation with the pass's ``token`` and its QR image
        (``qr_png_base64``), which the office does not keep."""
        from edge.registry.passes import issue_token, qr_png, record_pass

        name = name_of(name)
        now = self.clock()
        window = window_of(start, hours, now, self.zone)
        if self.pass_key is None:
            raise InviteRefused(tell("this office issues no passes (no passes: section in its config)"), None, 409)
        store = self.store
        with store.transaction():
            self._within_limit(who.unit, now)
            token, claim = issue_token(self.pass_key, unit=who.unit, valid_hours=(window.end - window.start) / 3600,
                                       now=now, valid_from=window.start)
            record_pass(store, claim)
            invite_id = store.invites.add(unit=who.unit, kind="visitor", plate=None, vehicle_class=None, name=name,
                                          pass_id=claim.pass_id, valid_from_epoch=claim.issued,
                                          valid_until_epoch=claim.valid_until, by_person_id=who.person_id,
                                          made_by=who.label, created_epoch=now)
        return {**self.view(store.invites.get(invite_id)), "token": token,
                "qr_png_base64": base64.b64encode(qr_png(token)).decode("ascii")}

    def pass_of(self, invite_id, *, unit: str | None = None) -> dict:
        """A visitor's pass shown again (the resident closed the page, or wants to share it once more): signed
        anew from the invitation's pass id, unit and times, which gives the very same token (Ed25519 signs
        deterministically), so the office still keeps no token. Only while it may still be used."""
        from edge.registry.passes import issue_token, qr_png

        row = self._row(invite_id, unit)
        if row["kind"] != "visitor":
            raise InviteRefused(tell("invitation {id} is a car's: a car is known by its plate, it has no pass",
                                     id=invite_id), "id", 409)
        if row["cancelled_epoch"] is not None or self.clock() >= row["valid_until_epoch"]:
            raise InviteRefused(tell("invitation {id} is cancelled or over: its pass is no longer valid",
                                     id=invite_id), "id", 409)
        if self.pass_key is None:
            raise InviteRefused(tell("this office issues no passes (no passes: section in its config)"), None, 409)
        issued, until = int(row["valid_from_epoch"]), int(row["valid_until_epoch"])
        token, _ = issue_token(self.pass_key, unit=row["unit"], valid_hours=(until - issued) / 3600, now=issued,
                               valid_from=issued, pass_id=bytes.fromhex(row["pass_id"]))
        return {**self.view(row), "token": token,
                "qr_png_base64": base64.b64encode(qr_png(token)).decode("ascii")}

    def _row(self, invite_id, unit: str | None) -> dict:
        """The invitation ``invite_id`` of ``unit`` (None: any); another unit's is answered as none at all."""
        row = self.store.invites.get(invite_id) if isinstance(invite_id, int) else None
        if row is None or (unit is not None and row["unit"] != unit):
            raise InviteRefused(tell("no invitation {id}", id=invite_id), "id", 404)
        return row

    def _within_limit(self, unit: str, now: float) -> None:
        today = datetime.fromtimestamp(now, self.zone).date()
        made = self.store.invites.made_since(unit, start_of_day(today, self.zone))
        if made >= self.per_unit_per_day:
            raise InviteRefused(tell("at most {limit} invitations a day for a unit (cancelled ones count); "
                                     "try again tomorrow", limit=self.per_unit_per_day), None, 429)

    @staticmethod
    def _invitation_over(vehicle: dict, now: float) -> bool:
        """The plate's registration is an invitation whose window is over: it may be invited again."""
        until = vehicle.get("valid_until_at")
        return invited(vehicle) and until is not None and now >= parse_iso(until)

    # -- cancelling ------------------------------------------------------------------------------
    def cancel(self, invite_id, *, by: str, unit: str | None = None) -> dict:
        """Cancel an invitation of ``unit`` (None: any unit, an admin's): a car's window ends now, a visitor's
        pass is revoked. Another unit's invitation is answered as one that does not exist."""
        store, now = self.store, self.clock()
        with store.transaction():
            row = self._row(invite_id, unit)
            if row["cancelled_epoch"] is not None:
                raise InviteRefused(tell("invitation {id} is already cancelled", id=invite_id), "id", 409)
            if now >= row["valid_until_epoch"]:
                raise InviteRefused(tell("invitation {id} is already over", id=invite_id), "id", 409)
            store.invites.cancel(row["id"], by, now)
            if row["kind"] == "visitor":
                from edge.registry.passes import revoke_pass

                revoke_pass(store, row["pass_id"], now)
            else:
                self._end_window(row, now)
        return self.view(store.invites.get(row["id"]))

    def _end_window(self, row: dict, now: float) -> None:
        """The car's window ends now (or never begins), if the plate is still registered by this invitation."""
        store = self.store
        vehicle = store.vehicles.get(row["plate"])
        if vehicle is None or vehicle["valid_from_at"] != iso(row["valid_from_epoch"], self.zone):
            return  # the committee registered it since (or removed it): not the invitation's any more
        end = max(min(now, row["valid_until_epoch"]), row["valid_from_epoch"])
        day = datetime.fromtimestamp(min(now, row["valid_until_epoch"]), self.zone).date().isoformat()
        store.vehicles.upsert(row["plate"], vehicle["class"], vehicle["person_id"], valid_from=vehicle["valid_from"],
                              valid_until=day, valid_from_at=vehicle["valid_from_at"],
                              valid_until_at=iso(end, self.zone), keep=("documents",))

    def tidy(self) -> list[str]:
        """Remove the registrations of invitations over for more than KEEP_OVER_S whose car is not in the car
        park (an office job): the plate may be invited again without waiting, and the household lists no car
        of last week. Each removal is a signed tombstone like any (the invitation itself stays listed)."""
        now, store, removed = self.clock(), self.store, []
        with store.transaction():
            for vehicle in store.vehicles.invited():
                if now - parse_iso(vehicle["valid_until_at"]) >= KEEP_OVER_S and store.sessions.open_for(
                        vehicle["plate"]) is None:
                    store.vehicles.remove(vehicle["plate"])
                    removed.append(vehicle["plate"])
        return removed

    # -- reading -----------------------------------------------------------------------------------
    def of_unit(self, unit: str) -> list[dict]:
        return [self.view(row) for row in self.store.invites.of_unit(unit)]

    def recent(self) -> list[dict]:
        return [self.view(row) for row in self.store.invites.recent()]

    def view(self, row: dict) -> dict:
        """An invitation as the portal and the console show it (times in the site's zone)."""
        now, zone = self.clock(), self.zone
        if row["cancelled_epoch"] is not None:
            state = "cancelled"
        elif now >= row["valid_until_epoch"]:
            state = "over"
        elif now < row["valid_from_epoch"]:
            state = "waiting"
        else:
            state = "active"
        return {"id": row["id"], "kind": row["kind"], "unit": row["unit"], "plate": row["plate"],
                "class": row["vehicle_class"], "name": row["name"], "pass_id": row["pass_id"],
                "valid_from": iso(row["valid_from_epoch"], zone), "valid_until": iso(row["valid_until_epoch"], zone),
                "state": state, "made_by": row["made_by"], "by_person_id": row["by_person_id"],
                "made_at": iso(row["created_epoch"], zone),
                "cancelled_at": iso(row["cancelled_epoch"], zone) if row["cancelled_epoch"] is not None else None,
                "cancelled_by": row["cancelled_by"]}
