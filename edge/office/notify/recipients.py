"""Who is told and what each may read (DESIGN 7), for ``edge.office.notify.steps.Notices`` and its parts.

``Recipients`` owns, on the office's config and store:

- who the duty recipients are (every care-watch recipient but a person's contacts) and who is staff (a
  recipient the site's config names: a duty phone, a group; not a resident's contact);
- the ``Audience`` of a recipient: its channel's ``detail``, staff or not, whether it can answer by SMS;
- what an alert is about, as a message names it: the resident (unit, name, last seen, consenting
  contacts) or the device (its gate);
- queuing one message to one recipient with the message JSON (``store.notifications.queue``: one per
  (alert_id, step, recipient), queuing twice is harmless).
"""

from __future__ import annotations

from edge.config.notify import parse_recipient
from edge.office.notify import text
from edge.office.notify.text import Audience, Contact, DeviceFacts, Resident
from edge.timeutil import parse_iso

STEP_KINDS = ("care_watch", "device")  # messages of an alert's own steps (not its ack or cleared notices)


class Recipients:
    def __init__(self, config, store):
        self.config = config
        self.store = store
        self.zone = config.zone

    @property
    def notify(self):
        return self.config.notify

    # -- who -----------------------------------------------------------------------------------------
    def steps(self, kind: str) -> list:
        return self.notify.care_watch if kind == "care_watch" else self.notify.device

    def duty(self) -> list[str]:
        """The duty recipients: every care-watch recipient but a person's contacts, in the order named."""
        named = [r for step in self.notify.care_watch for r in step.to if parse_recipient(r)[1] != "contacts"]
        return list(dict.fromkeys(named))

    def told(self, alert_id: str) -> list[str]:
        return self.store.notifications.recipients_told(alert_id, kinds=STEP_KINDS)

    def staff(self, recipient: str) -> bool:
        """Staff: a recipient the site's config names (a duty phone, a group), not a resident's contact."""
        notify = self.notify
        named = [r for step in (*notify.care_watch, *notify.device) for r in step.to]
        named += notify.roll_call.to if notify.roll_call is not None else []
        return recipient in named

    def audience(self, channel: str, *, staff: bool) -> Audience:
        section = self.notify.channels.get(channel)
        if section is None:
            return Audience("minimal", staff=staff)
        return Audience(section.effective_detail, staff=staff, replies=section.type == "sms")

    def target(self, recipient: str) -> tuple[str, str | None, Audience]:
        channel, address = parse_recipient(recipient)
        return channel, address, self.audience(channel, staff=self.staff(recipient))

    def contacts(self, channel: str, resident: Resident) -> list[tuple[str, str, str, Audience]]:
        """(recipient, channel, phone, audience) of each of ``resident``'s consenting contacts by ``channel``."""
        return [(f"{channel}:{c.phone}", channel, c.phone, self.audience(channel, staff=False))
                for c in resident.contacts]

    # -- what the alert is about -----------------------------------------------------------------------
    def subject(self, row: dict) -> tuple[Resident | None, DeviceFacts | None]:
        """What the alert is about: the resident (care-watch) or the device."""
        alert = self.store.alerts.get(row["alert_id"]) or {}
        if row["kind"] == "care_watch":
            return self.resident(row["person_id"], alert), None
        gate, device = self.gate_and_device(alert.get("subject") or "?")
        return None, DeviceFacts(gate, device, alert, alert.get("raised_epoch") or row["raised_epoch"])

    def resident(self, person_id: int | None, alert: dict | None = None) -> Resident:
        """A person as a notification names them: last seen from the office's sightings (the alert's own
        ``last_seen`` when the office has none), and their consenting contacts."""
        store = self.store
        person = store.people.find_by_id(person_id) if person_id is not None else None
        seen = store.sightings.get(f"person:{person_id}") if person_id is not None else None
        last_epoch = seen["ts_epoch"] if seen else _epoch((alert or {}).get("detail"))
        contacts = () if person_id is None else tuple(
            Contact(c["name"], c["phone"], c["relation"]) for c in store.contacts.for_person(person_id))
        return Resident(person_id, person["unit"] if person else None, person["name"] if person else None,
                        person["phone"] if person else None, last_epoch, seen["gate"] if seen else None, contacts)

    def gate_and_device(self, subject: str) -> tuple[str | None, str]:
        """A gate's device alert is "<gate>:<device>"; the office's own (a gate silent) is "<device>"."""
        gate, _, device = subject.partition(":")
        if device and (gate in self.config.gates or gate in self.store.gates.all()):
            return gate, device
        return None, subject

    # -- one message -------------------------------------------------------------------------------
    def queue(self, row: dict, kind: str, step, recipient: str, channel: str, address: str | None, said: str,
              now: float, *, due: float | None = None) -> int:
        """Queue ``said`` to ``recipient`` with the message JSON; 1 when queued, 0 when it already was."""
        resident = row.get("person_id")
        unit = None
        if resident is not None:
            person = self.store.people.find_by_id(resident)
            unit = person["unit"] if person else None
        payload = text.payload(alert_id=row["alert_id"], kind=kind, step=step, text=said, unit=unit,
                               person_id=resident, code=row["code"], now=now, zone=self.zone)
        queued = self.store.notifications.queue(row["alert_id"], kind, step, recipient, channel, address, said,
                                                payload, now, due_epoch=due)
        return 1 if queued else 0


def _epoch(value) -> float | None:
    try:
        return parse_iso(str(value))
    except (TypeError, ValueError):
        return None
