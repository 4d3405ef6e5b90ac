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

``Notices`` owns the steps and the notices of each alert; its parts: ``recipients.Recipients`` (who is
told, what they may read, what an alert is about, queuing one message), ``holds`` (storms, quiet hours)
and ``roll_call.RollCall``.
"""

from __future__ import annotations

import logging

from edge.config.notify import parse_recipient
from edge.office.notify import text
from edge.office.notify.holds import Storms, quiet_until
from edge.office.notify.recipients import STEP_KINDS, Recipients
from edge.office.notify.roll_call import RollCall
from edge.office.notify.text import Resident

_LOG = logging.getLogger(__name__)
TICK_S = 30.0
KINDS = {"inactivity": "care_watch", "device": "device"}  # the archive's alert kind -> the notification's
__all__ = ["KINDS", "STEP_KINDS", "TICK_S", "Notices"]


class Notices:
    def __init__(self, config, store, *, clock, wake=None):
        """``config``: the office's (``notify``, ``zone``, ``gates``); ``wake()``: the delivery worker has
        something to send (called after the commit)."""
        self.config = config
        self.store = store
        self.clock = clock
        self.zone = config.zone
        self.wake = wake or (lambda: None)
        self.recipients = Recipients(config, store)
        self.storms = Storms(config, store, self.recipients, wake=self._wake)
        self.roll_calls = RollCall(config, store, self.recipients, clock=clock, wake=self._wake)

    @property
    def notify(self):
        return self.config.notify

    def _wake(self) -> None:  # the parts wake whatever ``wake`` is now
        self.wake()

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
        subject = self.recipients.subject(row)
        self._tell_those_told(alert_id, row, "cleared", now, lambda audience: text.cleared(
            *subject, row["code"], gate, cleared_epoch, self.zone, audience))

    def acknowledged(self, alert_id: str, by: str, note: str | None, via: str, now: float) -> bool:
        """Inside the acknowledging transaction (``edge.office.notify.ack``): no more steps, and everyone
        told hears who acknowledged and their note. False when the alert was not open for notices."""
        store = self.store
        row = store.notifications.get_alert(alert_id)
        if row is None or row["kind"] not in STEP_KINDS or not store.notifications.ack(alert_id, by, note, via, now):
            return False
        subject = self.recipients.subject(row)
        self._tell_those_told(alert_id, row, "ack", now, lambda audience: text.ack(
            *subject, row["code"], by, note, now, self.zone, audience))
        return True

    def _tell_those_told(self, alert_id: str, row: dict, kind: str, now: float, said_to) -> None:
        """A ``kind`` message (``said_to(audience)``) to everyone the alert's steps told, a device alert's held
        by the quiet hours; the worker woken after the commit."""
        recipients = self.recipients
        told = recipients.told(alert_id)
        for recipient in told:
            channel, address, audience = recipients.target(recipient)
            recipients.queue(row, kind, kind, recipient, channel, address, said_to(audience), now,
                             due=self._device_due(row, now))
        if told:
            self.store.after_commit(self.wake)

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
        steps = self.recipients.steps(row["kind"])
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
        for index, step in enumerate(self.recipients.steps(row["kind"])[:row["steps_done"]]):
            if any(parse_recipient(r)[1] == "contacts" for r in step.to):
                queued += self._queue_step(row, index, step, now)
        return queued

    def _queue_step(self, row: dict, index: int, step, now: float) -> int:
        recipients = self.recipients
        resident, device = recipients.subject(row)
        queued, held = 0, False
        for recipient in step.to:
            channel, address = parse_recipient(recipient)
            if row["kind"] == "device" and device.device == f"notify:{channel}":
                continue  # a failing channel is told of on the others
            if address == "contacts":
                storm = self.storm(now)
                if storm is not None:
                    held = True
                    self.storms.tell(storm, now)
                    continue
                targets = recipients.contacts(channel, resident)
            else:
                targets = [(recipient, channel, address, recipients.audience(channel, staff=True))]
            for name, channel_name, to, audience in targets:
                said = (text.care_watch(resident, row["code"], now, self.zone, audience) if resident is not None
                        else text.device(device, row["code"], self.zone, audience))
                queued += recipients.queue(row, row["kind"], index, name, channel_name, to, said, now)
        if held:
            _LOG.warning("notify: alert %s step %d: contacts held (many alerts at once)", row["alert_id"], index)
        return queued

    def _still_raised(self, row: dict) -> bool:
        alert = self.store.alerts.get(row["alert_id"])
        return alert is not None and alert["state"] == "raised"

    # -- away (edge.office.away) ----------------------------------------------------------------
    def away_changed(self, change) -> int:
        """Inside the transaction that sets or ends a care-watch resident's pause (``edge.office.away.
        AwayChange``): the duty recipients and the person's consenting contacts (by each channel the
        care-watch steps reach contacts by) are told. The messages queued."""
        recipients = self.recipients
        resident = recipients.resident(change.person_id)
        row = {"alert_id": f"away:{change.person_id}:{change.at:.0f}", "kind": "away", "code": None,
               "person_id": change.person_id}
        targets = [(r, *recipients.target(r)) for r in recipients.duty()]
        for channel in dict.fromkeys(parse_recipient(r)[0] for step in self.notify.care_watch for r in step.to
                                     if parse_recipient(r)[1] == "contacts"):
            targets += recipients.contacts(channel, resident)
        queued = 0
        for recipient, channel, address, audience in targets:
            said = text.away(resident, change.state, change.last_day, change.until, change.reason, change.by,
                             change.how, self.zone, audience)
            queued += recipients.queue(row, "away", change.state, recipient, channel, address, said, change.at)
        if queued:
            self.store.after_commit(self.wake)
        return queued

    # -- the parts' answers, as the tests and the office ask them ----------------------------------
    def storm(self, now: float) -> tuple[int, list[str]] | None:
        """(care-watch alerts raised within the window, gates with an open camera or clock alert) when it
        storms, else None (``holds.Storms``)."""
        return self.storms.current(now)

    def roll_call(self, now: float | None = None) -> int:
        """Today's roll call, when due (``roll_call.RollCall``); the messages queued."""
        return self.roll_calls.run(now)

    def unseen(self, now: float, hours: float) -> list[Resident]:
        return self.roll_calls.unseen(now, hours)

    def quiet_until(self, now: float) -> float | None:
        """The end of ``quiet_hours.device`` when ``now`` is inside the window, else None."""
        return quiet_until(self.notify.quiet_hours.device, now, self.zone)

    def _device_due(self, row: dict, now: float) -> float | None:
        return self.quiet_until(now) if row["kind"] == "device" else None


def _person_id(subject: str) -> int | None:
    rest = subject.removeprefix("person:")
    return int(rest) if rest.isdigit() else None
