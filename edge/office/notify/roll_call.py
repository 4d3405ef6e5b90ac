"""The daily roll call (DESIGN 7): once a day at ``notify.roll_call.at`` (site time; late after a stop,
never twice), the care-watch residents unseen for ``unseen_hours`` or more, to ``roll_call.to``.

``RollCall`` is run by ``edge.office.notify.steps.Notices.tick``; a day's roll call is the alert id
``roll_call:<date>``, so the messages already queued for it say it went.
"""

from __future__ import annotations

import logging
from datetime import datetime

from edge.alerts import unseen_since
from edge.office.notify import text
from edge.office.notify.text import Resident

_LOG = logging.getLogger(__name__)


class RollCall:
    def __init__(self, config, store, recipients, *, clock, wake):
        """``recipients``: ``edge.office.notify.recipients.Recipients``; ``wake()``: the delivery worker
        has something to send."""
        self.config = config
        self.store = store
        self.recipients = recipients
        self.clock = clock
        self.wake = wake

    def run(self, now: float | None = None) -> int:
        """Today's roll call when its time has come and it has not gone yet; the messages queued."""
        rule, store = self.config.notify.roll_call, self.store
        now = self.clock() if now is None else now
        if rule is None:
            return 0
        local = datetime.fromtimestamp(now, self.config.zone)
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
                channel, address, audience = self.recipients.target(recipient)
                said = text.roll_call(residents, rule.unseen_hours, now, self.config.zone, audience)
                queued += self.recipients.queue(row, "roll_call", "roll_call", recipient, channel, address, said,
                                                now)
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
                found.append((since, self.recipients.resident(person["id"])))
        return [resident for _, resident in sorted(found, key=lambda pair: pair[0])]
