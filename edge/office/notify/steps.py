"""Who is told what, when (DESIGN 7): the steps of each alert, the cleared and storm notices, the roll call.

``Notices`` is the one owner of these rules; everything it decides is queued with
``store.notifications.queue`` (one message per (alert_id, step, recipient): queuing twice is harmless)
inside a transaction, and the delivery worker is woken after the commit (``wake``)::

    alert_raised    (the archive's transaction, or the office's own device alert's) the alert gets its
                    row and short code in notify_alerts; the steps already due are queued (step 0)
    tick            (a job, every TICK_S) later steps whose ``after_minutes`` since the alert was raised
                    have passed, for alerts neither acknowledged nor cleared; contacts held by a storm
                    are told once it is over; the roll call once a day
    alert_cleared   (the archive's transaction) no more steps; everyone told hears it cleared
    acknowledged    (``edge.office.notify.ack``) no more steps; everyone told hears who acknowledged

Rules, each on the injected ``clock`` (tests declare a simulated one and never sleep):

- care-watch steps go until the alert is acknowledged or cleared, quiet hours or not;
- a device step goes only while its alert is still raised when the step is due, and not during
  ``quiet_hours.device`` (it goes when the window ends); device notices (acknowledged, recovered)
  queued in the window are due at its end; an alert about a channel (``notify:<channel>``) is never
  sent on that channel;
- a storm (more than ``storm.alerts`` care-watch alerts raised within ``storm.minutes``, or a gate with an
  open camera or clock alert) holds the steps to ``CHANNEL:contacts``; the duty recipients (every other
  care-watch recipient) are told once per storm;
- ``CHANNEL:contacts`` is the person's consenting contacts (``store.contacts.for_person``);
- a pause (away) set or ended is told to the duty recipients and the person's contacts (``away_changed``);
- the roll call lists, once a day at ``roll_call.at`` (site time; late after a stop, never twice), the
  care-watch residents unseen for ``unseen_hours`` or more.

A step's message says what is true when it is queued (hours unseen then); its text is cut to each
recipient's channel ``detail`` by ``edge.office.notify.text``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from edge.alerts import unseen_since
from edge.config.notify import parse_recipient
from edge.office.notify import text
from edge.office.notify.text import Audience, Contact, DeviceFacts, Resident
from edge.timeutil import parse_iso

_LOG = logging.getLogger(__name__)
TICK_S = 30.0
KINDS = {"inactivity": "care_watch", "device": "device"}  # the archive's alert kind -> the notification's
STEP_KINDS = ("care_watch", "device")  # messages of an alert's own steps (not its ack or cleared notices)


class Notices:
    def __init__(self, config, store, *, clock, wake=None):
        """``config``: the office's (``notify``, ``zone``, ``gates``); ``wake()``: the delivery worker has
        something to send (called after the commit)."""
        self.config = config
        self.store = store
        self.clock = clock
        self.zone = config.zone
        self.wake = wake or (lambda: None)

    @property
    def notify(self):
        return self.config.notify

    # -- the archive's hooks (inside its transaction) --------------------------------------------
    def alert_raised(self, alert_id: str, kind: str, subject: str, raised_epoch: float) -> None:
        """An alert row was just added (``kind``: the archive's, inactivity or device)."""
        kind = KINDS.get(kind)
        if kind is None:
            return
        person_id = _person_id(subject) if kind == "care_watch" else None
        row = self.store.notifications.open_alert(alert_id, kind, None, person_id, raised_epoch)
        if self._advance(row, self.clock()):
            self.store.after_commit(self.wake)

    def alert_cleared(self, alert_id: str, cleared_epoch: float, gate: str | None = None) -> None:
        """The alert cleared (the resident passed ``gate`` at ``cleared_epoch``; a device recovered): no
        more steps, and everyone told hears it."""
        store, now = self.store, self.clock()
        row = store.notifications.get_alert(alert_id)
        if row is None or not store.notifications.clear(alert_id, now):
            return
        subject = self._subject(row)
        told = self._told(alert_id)
        for recipient in told:
            channel, address, audience = self._target(recipient)
            said = text.cleared(*subject, row["code"], gate, cleared_epoch, self.zone, audience)
            self._queue(row, "cleared", "cleared", recipient, channel, address, said, now,
                        due=self._device_due(row, now))
        if told:
            store.after_commit(self.wake)

    def acknowledged(self, alert_id: str, by: str, note: str | None, via: str, now: float) -> bool:
        """Inside the acknowledging transaction (``edge.office.notify.ack``): no more steps, and everyone
        told hears who acknowledged and their note. False when the alert was not open for notices."""
        store = self.store
        row = store.notifications.get_alert(alert_id)
        if row is None or row["kind"] not in STEP_KINDS or not store.notifications.ack(alert_id, by, note, via, now):
            return False
        subject = self._subject(row)
        told = self._told(alert_id)
        for recipient in told:
            channel, address, audience = self._target(recipient)
            said = text.ack(*subject, row["code"], by, note, now, self.zone, audience)
            self._queue(row, "ack", "ack", recipient, channel, address, said, now, due=self._device_due(row, now))
        if told:
            store.after_commit(self.wake)
        return True

    # -- the tick (a job) ------------------------------------------------------------------------
    def tick(self, now: float | None = None) -> int:
        """Later steps, contacts a storm held, the end of a storm, the roll call; the messages queued."""
        store = self.store
        now = self.clock() if now is None else now
        storms = store.notifications.open_alerts("storm")
        storm_over = bool(storms) and self.storm(now) is None
        queued = 0
        for kind in STEP_KINDS:
            for row in store.notifications.open_alerts(kind):
                with store.transaction():
                    row = store.notifications.get_alert(row["alert_id"])
                    if row is None or row["state"] != "open":
                        continue
                    if not self._still_raised(row):
                        store.notifications.clear(row["alert_id"], now)  # cleared by a way without notices
                        continue
                    if storm_over:
                        queued += self._release_held(row, now)
                    queued += self._advance(row, now)
        if storm_over:  # last: a stop before this line releases them again (queuing twice is harmless)
            with store.transaction():
                for row in storms:
                    store.notifications.clear(row["alert_id"], now)
            _LOG.info("notify: the storm is over; the steps to contacts it held go now")
        queued += self.roll_call(now)
        if queued:
            self.wake()
        return queued

    def _advance(self, row: dict, now: float) -> int:
        """Queue each step of ``row`` whose time has come, in order; the messages queued."""
        steps = self._steps(row["kind"])
        done = reached = row["steps_done"]
        queued = 0
        while reached < len(steps) and now >= row["raised_epoch"] + steps[reached].after_minutes * 60:
            if row["kind"] == "device" and self.quiet_until(now) is not None:
                break  # device messages wait for the morning; the step is queued when the window ends
            queued += self._queue_step(row, reached, steps[reached], now)
            reached += 1
        if reached != done:
            self.store.notifications.set_steps_done(row["alert_id"], reached)
        return queued

    def _release_held(self, row: dict, now: float) -> int:
        """At the end of a storm: the contacts of the steps reached (held meanwhile) are told now; the
        other recipients of those steps were told then (queuing them again is harmless)."""
        queued = 0
        for index, step in enumerate(self._steps(row["kind"])[:row["steps_done"]]):
            if any(parse_recipient(r)[1] == "contacts" for r in step.to):
                queued += self._queue_step(row, index, step, now)
        return queued

    def _queue_step(self, row: dict, index: int, step, now: float) -> int:
        subject = self._subject(row)
        queued, held = 0, False
        for recipient in step.to:
            channel, address = parse_recipient(recipient)
            if row["kind"] == "device" and subject[1].device == f"notify:{channel}":
                continue  # a failing channel is told of on the others
            if address == "contacts":
                storm = self.storm(now)
                if storm is not None:
                    held = True
                    self._storm_notice(storm, now)
                    continue
                targets = [(f"{channel}:{c.phone}", channel, c.phone, self._audience(channel, staff=False))
                           for c in subject[0].contacts]
            else:
                targets = [(recipient, channel, address, self._audience(channel, staff=True))]
            resident, device = subject
            for name, channel_name, to, audience in targets:
                said = (text.care_watch(resident, row["code"], now, self.zone, audience) if resident is not None
                        else text.device(device, row["code"], self.zone, audience))
                queued += self._queue(row, row["kind"], index, name, channel_name, to, said, now)
        if held:
            _LOG.warning("notify: alert %s step %d: contacts held (many alerts at once)", row["alert_id"], index)
        return queued

    # -- storms ------------------------------------------------------------------------------
    def storm(self, now: float) -> tuple[int, list[str]] | None:
        """(care-watch alerts raised within the window, gates with an open camera or clock alert) when it
        storms, else None."""
        rule, store = self.notify.storm, self.store
        count = store.alerts.count_raised_since("inactivity", now - rule.minutes * 60)
        gates = set()
        for alert in store.alerts.all(state="raised"):
            if alert["kind"] == "device":
                gate, device = self._gate_and_device(alert["subject"])
                if gate is not None and (device.split(":")[0] == "camera" or device == "clock"):
                    gates.add(gate)
        return (count, sorted(gates)) if count > rule.alerts or gates else None

    def _storm_notice(self, storm: tuple[int, list[str]], now: float) -> None:
        """The duty recipients are told once per storm (an open ``storm`` row until it ends)."""
        store = self.store
        if store.notifications.open_alerts("storm"):
            return
        row = store.notifications.open_alert(f"storm:{now:.0f}", "storm", None, None, now)
        for recipient in self._duty():
            channel, address, audience = self._target(recipient)
            said = text.storm(storm[0], self.notify.storm.minutes, storm[1], audience)
            self._queue(row, "storm", "storm", recipient, channel, address, said, now)
        self.store.after_commit(self.wake)

    # -- away (edge.office.away) ----------------------------------------------------------------
    def away_changed(self, change) -> int:
        """Inside the transaction that sets or ends a care-watch resident's pause (``edge.office.away.
        AwayChange``): the duty recipients and the person's consenting contacts (by each channel the
        care-watch steps reach contacts by) are told. The messages queued."""
        resident = self._resident(change.person_id)
        row = {"alert_id": f"away:{change.person_id}:{change.at:.0f}", "kind": "away", "code": None,
               "person_id": change.person_id}
        targets = [(r, *self._target(r)) for r in self._duty()]
        for channel in dict.fromkeys(parse_recipient(r)[0] for step in self.notify.care_watch for r in step.to
                                     if parse_recipient(r)[1] == "contacts"):
            targets += [(f"{channel}:{c.phone}", channel, c.phone, self._audience(channel, staff=False))
                        for c in resident.contacts]
        queued = 0
        for recipient, channel, address, audience in targets:
            said = text.away(resident, change.state, change.last_day, change.until, change.reason, change.by,
                             change.how, self.zone, audience)
            queued += self._queue(row, "away", change.state, recipient, channel, address, said, change.at)
        if queued:
            self.store.after_commit(self.wake)
        return queued

    # -- the roll call -----------------------------------------------------------------------
    def roll_call(self, now: float | None = None) -> int:
        """Once a day at ``roll_call.at`` (site time): the care-watch residents unseen for ``unseen_hours``
        or more, to ``roll_call.to``. Late (after a stop) rather than never; never twice a day."""
        rule, store = self.notify.roll_call, self.store
        now = self.clock() if now is None else now
        if rule is None:
            return 0
        local = datetime.fromtimestamp(now, self.zone)
        hour, minute = (int(part) for part in rule.at.split(":"))
        if (local.hour, local.minute) < (hour, minute):
            return 0
        alert_id = f"roll_call:{local.date().isoformat()}"
        if store.notifications.for_alert(alert_id):
            return 0
        residents = self.unseen(now, rule.unseen_hours)
        row = {"alert_id": alert_id, "kind": "roll_call", "code": None, "person_id": None}
        queued = 0
        with store.transaction():
            for recipient in rule.to:
                channel, address, audience = self._target(recipient)
                said = text.roll_call(residents, rule.unseen_hours, now, self.zone, audience)
                queued += self._queue(row, "roll_call", "roll_call", recipient, channel, address, said, now)
        _LOG.info("notify: roll call %s: %d residents unseen for %g h or more", alert_id, len(residents),
                  rule.unseen_hours)
        if queued:
            self.wake()
        return queued

    def unseen(self, now: float, hours: float) -> list[Resident]:
        """Care-watch residents unseen for ``hours`` or more (never seen: since registration; away: not
        listed, and counted from the end of the pause), the longest unseen first; the one rule of "unseen"
        is the gates' (``edge.alerts.unseen_since``)."""
        found = []
        for person in self.store.people.care_watch():
            since = unseen_since(person, now)
            if since is not None and now - since >= hours * 3600:  # None: away (edge.rules.away)
                found.append((since, self._resident(person["id"])))
        return [resident for _, resident in sorted(found, key=lambda pair: pair[0])]

    # -- quiet hours -------------------------------------------------------------------------
    def quiet_until(self, now: float) -> float | None:
        """The end of ``quiet_hours.device`` when ``now`` is inside the window, else None."""
        window = self.notify.quiet_hours.device
        if window is None:
            return None
        local = datetime.fromtimestamp(now, self.zone)
        start, end = ((int(part) for part in t.split(":")) for t in window.split("-"))
        start, end = local.replace(hour=next(start), minute=next(start), second=0, microsecond=0), \
            local.replace(hour=next(end), minute=next(end), second=0, microsecond=0)
        if start < end:
            return end.timestamp() if start <= local < end else None
        if local >= start:
            return (end + timedelta(days=1)).timestamp()
        return end.timestamp() if local < end else None

    def _device_due(self, row: dict, now: float) -> float | None:
        return self.quiet_until(now) if row["kind"] == "device" else None

    # -- who, and what they may read ---------------------------------------------------------
    def _steps(self, kind: str) -> list:
        return self.notify.care_watch if kind == "care_watch" else self.notify.device

    def _duty(self) -> list[str]:
        """The duty recipients: every care-watch recipient but a person's contacts, in the order named."""
        named = [r for step in self.notify.care_watch for r in step.to if parse_recipient(r)[1] != "contacts"]
        return list(dict.fromkeys(named))

    def _told(self, alert_id: str) -> list[str]:
        return self.store.notifications.recipients_told(alert_id, kinds=STEP_KINDS)

    def _staff(self, recipient: str) -> bool:
        """Staff: a recipient the site's config names (a duty phone, a group), not a resident's contact."""
        notify = self.notify
        named = [r for step in (*notify.care_watch, *notify.device) for r in step.to]
        named += notify.roll_call.to if notify.roll_call is not None else []
        return recipient in named

    def _audience(self, channel: str, *, staff: bool) -> Audience:
        section = self.notify.channels.get(channel)
        if section is None:
            return Audience("minimal", staff=staff)
        return Audience(section.effective_detail, staff=staff, replies=section.type == "sms")

    def _target(self, recipient: str) -> tuple[str, str | None, Audience]:
        channel, address = parse_recipient(recipient)
        return channel, address, self._audience(channel, staff=self._staff(recipient))

    def _subject(self, row: dict) -> tuple[Resident | None, DeviceFacts | None]:
        """What the alert is about: the resident (care-watch) or the device."""
        alert = self.store.alerts.get(row["alert_id"]) or {}
        if row["kind"] == "care_watch":
            return self._resident(row["person_id"], alert), None
        gate, device = self._gate_and_device(alert.get("subject") or "?")
        return None, DeviceFacts(gate, device, alert, alert.get("raised_epoch") or row["raised_epoch"])

    def _resident(self, person_id: int | None, alert: dict | None = None) -> Resident:
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

    def _gate_and_device(self, subject: str) -> tuple[str | None, str]:
        """A gate's device alert is "<gate>:<device>"; the office's own (a gate silent) is "<device>"."""
        gate, _, device = subject.partition(":")
        if device and (gate in self.config.gates or gate in self.store.gates.all()):
            return gate, device
        return None, subject

    def _still_raised(self, row: dict) -> bool:
        alert = self.store.alerts.get(row["alert_id"])
        return alert is not None and alert["state"] == "raised"

    def _queue(self, row: dict, kind: str, step, recipient: str, channel: str, address: str | None, said: str,
               now: float, *, due: float | None = None) -> int:
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


def _person_id(subject: str) -> int | None:
    rest = subject.removeprefix("person:")
    return int(rest) if rest.isdigit() else None


def _epoch(value) -> float | None:
    try:
        return parse_iso(str(value))
    except (TypeError, ValueError):
        return None
