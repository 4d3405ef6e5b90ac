"""What a notification says (DESIGN 7): the texts of every message kind, in the site's language and time zone.

One function per kind: ``care_watch``, ``device``, ``roll_call``, ``ack``, ``cleared``, ``storm``, ``away``.
Each takes the facts (plain dataclasses the steps gather) and the ``Audience`` of one recipient, and returns
the text.
What an audience may read (the one owner of the rule)::

    minimal   unit, hours unseen, last gate, the short code; never a name or a phone number (not even in
              an acknowledgement's note: numbers and the resident's name are masked there)
    full      the resident's name; their phone and their contacts' numbers only to ``staff`` (a contact
              told at a later step is no staff: they read the name, never other people's numbers)

Every sentence is an English template marked for the console's catalog (``tell``) and said from it in
``LANG`` (the Chinese of ``edge/office/console/locale/zh/LC_MESSAGES/messages.po``), so a notification and
the console word things alike; a template the catalog cannot say whole is sent in English, never half.
``payload`` builds the message JSON every channel carries (the webhook posts it as it is).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from edge.config.notify import mask_address
from edge.office.console.catalogs import device as device_words
from edge.office.console.catalogs import said as said_field
from edge.office.console.catalogs import say_in
from edge.schemas.phrases import Listing, Said, tell
from edge.timeutil import iso, parse_iso

SMS_BY = "sms:"  # who acknowledged by SMS: "sms:<the number it came from>" (edge.office.notify.ack)
LANG = "zh"  # the site's language: the committee, the duty phone and the families read Chinese
PAYLOAD_VERSION = 1
# A run of digits (spaces, dashes, a leading +) long enough to be a phone number: masked in minimal texts.
_NUMBER = re.compile(r"\+?\d[\d\s-]{5,}\d")


@dataclass(frozen=True)
class Audience:
    """Who reads one message: the channel's ``detail``, whether the recipient is staff (a duty phone, a
    group: not a resident's contact) and whether they can answer with the short code (an SMS)."""

    detail: str = "minimal"
    staff: bool = True
    replies: bool = False

    @property
    def full(self) -> bool:
        return self.detail == "full"


@dataclass(frozen=True)
class Contact:
    name: str
    phone: str
    relation: str | None = None


@dataclass(frozen=True)
class Resident:
    """A care-watch resident as a notification names them (``last_epoch``: last seen, None: never)."""

    person_id: int | None
    unit: str | None
    name: str | None = None
    phone: str | None = None
    last_epoch: float | None = None
    last_gate: str | None = None
    contacts: tuple[Contact, ...] = field(default_factory=tuple)

    def hours_unseen(self, now: float) -> float | None:
        return None if self.last_epoch is None else max(0.0, (now - self.last_epoch) / 3600)


@dataclass(frozen=True)
class DeviceFacts:
    """A device alert: ``gate`` None for the office's own (a gate silent, a channel failing); ``row`` is its
    ``alerts`` row (its detail is said from its code and parameters)."""

    gate: str | None
    device: str
    row: dict
    raised_epoch: float


RELATIONS = {"family": tell("family"), "neighbour": tell("neighbour"), "building_leader": tell("building leader"),
             "grid_worker": tell("grid worker")}


def render(said: Said | str, lang: str = LANG) -> str:
    return say_in(said, lang)


def _when(epoch: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%m-%d %H:%M")


def _hhmm(epoch: float, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch, zone).strftime("%H:%M")


def _gate(gate: str | None) -> Said | str:
    return gate if gate else tell("none")


def _how_to_ack(code: str, audience: Audience) -> Said:
    if audience.replies:
        return tell("Reply {code} to acknowledge.", code=code)
    return tell("To acknowledge: reply {code} by SMS, or at the console.", code=code)


def _who(resident: Resident, audience: Audience, *, phone: bool = True) -> Said:
    """The resident as this audience may read them: the unit alone (minimal), or with the name (and, with
    ``phone``, the resident's phone to staff)."""
    unit = resident.unit or "?"
    if not audience.full or not resident.name:
        return tell("unit {unit}", unit=unit)
    if phone and audience.staff and resident.phone:
        return tell("unit {unit} {name} (tel. {phone})", unit=unit, name=resident.name, phone=resident.phone)
    return tell("unit {unit} {name}", unit=unit, name=resident.name)


def _contacts(resident: Resident, audience: Audience) -> Said | str:
    """Contacts' numbers: staff recipients of a full text only."""
    if not (audience.full and audience.staff and resident.contacts):
        return ""
    items = [tell("{name} ({relation}) {phone}", name=c.name, phone=c.phone,
                  relation=RELATIONS.get(c.relation or "", c.relation or "-")) for c in resident.contacts]
    return tell(" Contacts: {contacts}.", contacts=Listing(items))


def care_watch(resident: Resident, code: str, now: float, zone: ZoneInfo, audience: Audience) -> str:
    hours = resident.hours_unseen(now)
    if hours is None:
        seen = tell("never seen since registration")
    elif audience.full:
        seen = tell("not seen for {hours:.0f} h, last at gate {gate} ({when})", hours=hours,
                    gate=_gate(resident.last_gate), when=_when(resident.last_epoch, zone))
    else:  # what DESIGN 7 lists for minimal: the hours and the gate, not the time of day
        seen = tell("not seen for {hours:.0f} h, last gate {gate}", hours=hours, gate=_gate(resident.last_gate))
    return render(tell("[Care-watch] {who}: {seen}. Please visit and check. {ack}{contacts}",
                       who=_who(resident, audience), seen=seen, ack=_how_to_ack(code, audience),
                       contacts=_contacts(resident, audience)))


def device(facts: DeviceFacts, code: str, zone: ZoneInfo, audience: Audience) -> str:
    """A device alert carries no person: both details say the same."""
    where = tell("gate {gate}", gate=facts.gate) if facts.gate else tell("office")
    detail = said_field(facts.row, "detail", LANG) if facts.row.get("detail") else ""
    return render(tell("[Device] {where} {device}: {detail} (since {when}). {ack}", where=where,
                       device=device_words(facts.device, LANG), detail=detail,
                       when=_when(facts.raised_epoch, zone), ack=_how_to_ack(code, audience)))


def roll_call(residents: list[Resident], unseen_hours: float, now: float, zone: ZoneInfo,
              audience: Audience) -> str:
    day = datetime.fromtimestamp(now, zone).strftime("%m-%d")
    if not residents:
        return render(tell("[Roll call {day}] every care-watch resident was seen within {hours:g} h.", day=day,
                           hours=unseen_hours))
    lines = [render(tell("[Roll call {day}] care-watch residents not seen for {hours:g} h or more: {count}",
                         day=day, hours=unseen_hours, count=len(residents)))]
    for resident in residents:
        hours = resident.hours_unseen(now)
        seen = (tell("{hours:.0f} h, last gate {gate}", hours=hours, gate=_gate(resident.last_gate))
                if hours is not None else tell("never seen since registration"))
        lines.append(render(tell("- {who}: {seen}", who=_who(resident, audience), seen=seen)))
    return "\n".join(lines)


def _subject(resident: Resident | None, facts: DeviceFacts | None, code: str, audience: Audience) -> Said:
    if resident is not None:
        return tell("{who} (code {code})", who=_who(resident, audience, phone=False), code=code)
    where = tell("gate {gate}", gate=facts.gate) if facts.gate else tell("office")
    return tell("{where} {device} (code {code})", where=where, device=device_words(facts.device, LANG), code=code)


def mask(text: str, resident: Resident | None) -> str:
    """A free text (an acknowledgement's note, who sent an SMS) for a minimal audience: phone numbers and
    the resident's name masked."""
    text = _NUMBER.sub(lambda m: "*" * len(m.group(0)), text)
    if resident is not None and resident.name:
        text = text.replace(resident.name, "*" * len(resident.name))
    return text


def _by(by: str, audience: Audience) -> Said | str:
    """Who acknowledged: a console user's name, or the number an SMS came from (its middle hidden but to
    staff reading a full text)."""
    if not by.startswith(SMS_BY):
        return by
    number = by.removeprefix(SMS_BY)
    return tell("SMS from {number}", number=number if audience.full and audience.staff else mask_address(number))


def ack(resident: Resident | None, facts: DeviceFacts | None, code: str, by: str, note: str | None,
        acked_epoch: float, zone: ZoneInfo, audience: Audience) -> str:
    if note and not (audience.full and audience.staff):  # a contact reads no one's number, minimal no name
        note = mask(note, None if audience.full else resident)
    said = tell("[Acknowledged] {subject}: {by} at {when}.", subject=_subject(resident, facts, code, audience),
                by=_by(by, audience), when=_hhmm(acked_epoch, zone))
    if note:
        said = tell("{said} Note: {note}", said=said, note=note)
    return render(said)


def cleared(resident: Resident | None, facts: DeviceFacts | None, code: str, gate: str | None,
            cleared_epoch: float, zone: ZoneInfo, audience: Audience) -> str:
    subject = _subject(resident, facts, code, audience)
    if resident is not None:
        return render(tell("[Cleared] {subject}: seen at gate {gate} at {when}. No visit needed.", subject=subject,
                           gate=_gate(gate), when=_hhmm(cleared_epoch, zone)))
    return render(tell("[Recovered] {subject}: recovered at {when}.", subject=subject,
                       when=_hhmm(cleared_epoch, zone)))


def storm(alerts: int, minutes: int, gates: list[str], audience: Audience) -> str:
    """Many alerts at once: a camera or a clock, not many deaths. ``gates``: those with an open camera or
    clock alert."""
    why = (tell("gates with a camera or clock fault: {gates}", gates=Listing(gates)) if gates
           else tell("{alerts} care-watch alerts within {minutes} min", alerts=alerts, minutes=minutes))
    return render(tell("[Many alerts] {why}. Residents' contacts are not told until this is resolved; please check "
                       "the gates and the residents concerned.", why=why))


def away(resident: Resident, state: str, last_day: str | None, until: str | None, reason: str | None, by: str,
         how: str, zone: ZoneInfo, audience: Audience) -> str:
    """A care-watch resident's pause set (``state`` "set": away until the end of ``last_day``) or ended
    (``how``: an admin at the console, a sighting at a gate ``by`` "gate:<name>", or its date). The reason
    (which may name people) goes to full texts only, its numbers to staff only."""
    who = _who(resident, audience, phone=False)
    if state == "set":
        said = tell("[Away] {who}: away until {day}; no care-watch alert until then (set by {by}).", who=who,
                    day=last_day or "?", by=by)
        if reason and audience.full:
            said = tell("{said} Reason: {reason}", said=said, reason=reason if audience.staff else mask(reason, None))
        return render(said)
    if how == "seen":
        return render(tell("[Back] {who}: seen at gate {gate}; the pause has ended.", who=who,
                           gate=_gate(by.removeprefix("gate:"))))
    if how == "date":
        return render(tell("[Back] {who}: the pause ended ({when}); care-watch counts again from then.", who=who,
                           when=_when(parse_iso(until), zone) if until else "?"))
    return render(tell("[Back] {who}: the pause was ended by {by}.", who=who, by=by))


def payload(*, alert_id: str, kind: str, step, text: str, unit: str | None, person_id: int | None,
            code: str | None, now: float, zone: ZoneInfo) -> dict:
    """DESIGN 7's message JSON (the webhook posts it; the other channels carry its ``text``)."""
    return {"v": PAYLOAD_VERSION, "alert_id": alert_id, "kind": kind, "step": step, "text": text, "unit": unit,
            "person_id": person_id, "code": code, "ts": iso(now, zone)}
