"""Acknowledging an alert (DESIGN 7): from the console, its API, or an SMS reply carrying the short code.

``Acknowledgements.acknowledge`` is the one way an alert is acknowledged, inside the caller's transaction:
the console's record (``store.console.ack_alert``: who, when, the note, shown on the alerts page) and the
notices' (``Notices.acknowledged``: no more steps; everyone told hears who acknowledged and their note).
The console's ``POST /api/alerts/<alert_id>/ack`` calls it (and audits, as every console write);
``sms_reply`` is the modem's incoming SMS: the code must be one of an alert this number was sent
(a message of that alert to it sent, or caught sending), else the reply is ignored (logged, masked).
"""

from __future__ import annotations

import logging
import re

from edge.office.notify.text import SMS_BY
from edge.store.notifications import CODE_ALPHABET, CODE_LENGTH

_LOG = logging.getLogger(__name__)
_CODE = re.compile(rf"(?<![A-Za-z0-9])[{CODE_ALPHABET}{CODE_ALPHABET.lower()}]{{{CODE_LENGTH}}}(?![A-Za-z0-9])")
NOTE_LIMIT = 500  # characters of a note kept (the console's limit)


def same_number(a: str | None, b: str | None) -> bool:
    """Two ways of writing one phone number (spaces, dashes, +86 / 0086 before a mainland number)."""
    def plain(number: str) -> str:
        digits = re.sub(r"[^0-9]", "", number)
        for prefix in ("0086", "86"):
            if digits.startswith(prefix) and len(digits) - len(prefix) == 11:
                return digits[len(prefix):]
        return digits

    return bool(a and b) and plain(a) == plain(b) and len(plain(a)) >= 5


def masked(number: str) -> str:
    """A number as the log says it: its last four digits."""
    digits = re.sub(r"[^0-9]", "", number)
    return f"…{digits[-4:]}" if len(digits) > 4 else "…"


class Acknowledgements:
    def __init__(self, config, store, notices, *, clock, announce=None):
        """``notices``: ``edge.office.notify.steps.Notices``; ``announce(kind, payload)``: after the commit of
        an acknowledgement not made at the console (an SMS), the console's live updates hear it (an
        ``alert`` whose state is ``acked``: the alerts page reloads)."""
        self.config = config
        self.store = store
        self.notices = notices
        self.clock = clock
        self.announce = announce or (lambda kind, payload: None)

    def acknowledge(self, alert_id: str, by: str, note: str | None, via: str, now: float | None = None) -> bool:
        """Inside the caller's transaction: the alert acknowledged by ``by`` (a console user, ``sms:NUMBER``)
        ``via`` console or sms; False when there is no such alert. Acknowledging again keeps the newest
        note (the console's rule); the notices are told once."""
        now = self.clock() if now is None else now
        note = (note or "").strip()[:NOTE_LIMIT]
        if not self.store.console.ack_alert(alert_id, now, by, note):
            return False
        self.notices.acknowledged(alert_id, by, note or None, via, now)
        return True

    def sms_reply(self, channel: str, sender: str, text: str) -> str | None:
        """An SMS received by ``channel`` (an sms channel) from ``sender``: acknowledges the alert whose code
        it carries when this number was sent that alert; the rest of the text is the note. The alert id
        acknowledged, or None (no code, an unknown one, a number not told, already acknowledged)."""
        store, now = self.store, self.clock()
        for match in _CODE.finditer(text or ""):
            alert = store.notifications.by_code(match.group(0))
            if alert is None:
                continue
            if not self._was_told(alert["alert_id"], channel, sender):
                _LOG.warning("notify: an SMS from %s names the code of alert %s, which was not sent to it: ignored",
                             masked(sender), alert["alert_id"])
                return None
            if alert["state"] != "open":
                _LOG.info("notify: alert %s was already %s; the SMS from %s changes nothing", alert["alert_id"],
                          alert["state"], masked(sender))
                return None
            note = (text[:match.start()] + " " + text[match.end():]).strip()
            by = f"{SMS_BY}{sender}"
            with store.transaction():
                if not self.acknowledge(alert["alert_id"], by, note, "sms", now):
                    return None
                store.console.audit(now, by, None, "ack", f"alert:{alert['alert_id']}",
                                    {"note": note, "via": "sms", "channel": channel}, "ok")
            _LOG.info("notify: alert %s acknowledged by SMS from %s", alert["alert_id"], masked(sender))
            self.announce("alert", {"alert_id": alert["alert_id"], "state": "acked", "by": by, "note": note})
            return alert["alert_id"]
        _LOG.info("notify: an SMS from %s carries no code of an alert: ignored", masked(sender))
        return None

    def _was_told(self, alert_id: str, channel: str, sender: str) -> bool:
        return any(message["channel"] == channel and message["state"] in ("sent", "sending")
                   and same_number(message["address"], sender)
                   for message in self.store.notifications.for_alert(alert_id))
