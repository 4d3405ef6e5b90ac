"""Logging in to the portal by a code sent by SMS (DESIGN 8): the one owner of the rules.

    ask      a 6-digit code for a mobile number, valid CODE_TTL_S; refused (429) past the limits: one code a
             minute and PER_PHONE_HOUR an hour per number (registered or not), PER_CLIENT_HOUR an hour per
             client address (the address the site's trusted proxy reports), ``portal.codes_per_hour`` for the
             whole site, which raises the ``portal:codes`` device alert when reached (cleared once codes go
             again). A registered number's code is queued on ``portal.sms_channel`` in the same transaction
             (kind ``portal_code``: behind every care-watch message of the channel, ``store.notifications``).
    verify   the number's newest code, MAX_TRIES tries (each counted before it is compared), once: a session
             (``SESSION_TTL_S``) for the person registered with the number.

The same answer whether or not the number is registered: both ask the same queries, make, hash and keep a
code (an unregistered number's row has no person, so no code can ever verify for it), and differ only in
whether the message is queued. Codes and numbers are kept hashed (``edge.store.portal``); the SMS text
holding a code is replaced in the queue once the code is past its use (``forget_texts``).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from edge.config.notify import mask_address
from edge.schemas.phrases import Message, say, tell
from edge.store.portal import code_hash, phone_key, phone_of
from edge.timeutil import iso

_LOG = logging.getLogger(__name__)

CODE_TTL_S = 5 * 60
MAX_TRIES = 5
PHONE_GAP_S = 60  # one code a minute per number
PER_PHONE_HOUR = 5
PER_CLIENT_HOUR = 20
HOUR_S = 3600
SESSION_TTL_S = 30 * 86400
KIND = "portal_code"
DEVICE = "portal:codes"
USED_TEXT = "（住户登录验证码，已过期或已使用）"  # what the queue keeps of a code's SMS once it is of no use


class Refused(Exception):
    """A request the rules refuse: ``status`` (400, 401, 403, 429) and ``said`` (marked for the catalog)."""

    def __init__(self, status: int, said: Message, reason: str):
        super().__init__(said.text)
        self.status = status
        self.said = said
        self.reason = reason  # what the audit keeps: limit, wrong, expired, tries, ...


@dataclass(frozen=True)
class Login:
    """A verified code: the person, the number (masked), and the new session's token and CSRF token."""

    person_id: int
    masked: str
    token: str
    csrf: str


def masked(phone: str) -> str:
    """A number as the audit and the console show it: ``139****5678``."""
    return mask_address(phone)


def new_code() -> str:
    return f"{secrets.randbelow(10 ** 6):06d}"


def sms_text(site: str, code: str) -> str:
    minutes = CODE_TTL_S // 60
    return f"【{site}住户服务】您的登录验证码：{code}，{minutes}分钟内有效。请勿告诉他人；如非本人操作，请忽略。"


class LoginCodes:
    def __init__(self, config, store, *, clock, alerts=None, wake=None):
        """``alerts``: the office's ``Alerts`` (the ``portal:codes`` device alert), None in a test without it;
        ``wake()``: after the commit that queued a code (the delivery worker sends it at once)."""
        self.config = config
        self.portal = config.portal
        self.store = store
        self.clock = clock
        self.alerts = alerts
        self.wake = wake or (lambda: None)

    @staticmethod
    def phone(text) -> str:
        phone = phone_of(text)
        if phone is None:
            raise Refused(400, tell("phone: a mobile number of 11 digits, e.g. 13912345678"), "phone")
        return phone

    # -- ask -------------------------------------------------------------------------------------
    def ask(self, phone_text, client: str) -> str:
        """A code for the number (sent by SMS when it is registered); the number masked. Refused past a limit."""
        phone = self.phone(phone_text)
        key, now, store = phone_key(phone), self.clock(), self.store
        capped = None
        with store.transaction():
            store.portal.forget_before(now - 2 * HOUR_S)
            count = store.portal.counts(key, client, now - HOUR_S)
            if count["last"] is not None and now - count["last"] < PHONE_GAP_S:
                refused = Refused(429, tell("a code was sent to this number less than a minute ago; wait a minute"),
                                  "minute")
            elif count["phone"] >= PER_PHONE_HOUR:
                refused = Refused(429, tell("{count} codes were asked for this number within an hour; try again "
                                            "later", count=PER_PHONE_HOUR), "phone_hour")
            elif count["client"] >= PER_CLIENT_HOUR:
                refused = Refused(429, tell("too many codes were asked from this address within an hour; try again "
                                            "later"), "client_hour")
            elif count["site"] >= self.portal.codes_per_hour:
                refused = Refused(429, tell("the portal is sending no more codes this hour; try again later or ask "
                                            "the committee"), "site_hour")
                capped = count["site"]
            else:
                refused = None
                people = store.portal.people_with_phone(phone)
                person_id = people[0]["id"] if people else None
                code = new_code()
                code_id = store.portal.add_code(key, client, person_id, phone, code, now, CODE_TTL_S)
                store.notifications.forget_texts(KIND, now - CODE_TTL_S, USED_TEXT)
                if person_id is not None:
                    self._queue(code_id, phone, code, now)
        if capped is not None:
            self._cap_reached(capped)
        if refused is not None:
            raise refused
        self._cap_cleared()
        return masked(phone)

    def _queue(self, code_id: int, phone: str, code: str, now: float) -> None:
        channel, store = self.portal.sms_channel, self.store
        alert_id = f"portal:{code_id}:{secrets.token_hex(4)}"  # a code's own, never an alert's
        text = sms_text(self.config.site, code)
        payload = {"v": 1, "alert_id": alert_id, "kind": KIND, "step": "code", "text": text, "unit": None,
                   "person_id": None, "code": None, "ts": iso(now, self.config.zone)}
        message_id = store.notifications.queue(alert_id, KIND, "code", f"{channel}:{phone}", channel, phone, text,
                                               payload, now)
        store.portal.set_message(code_id, message_id)
        store.after_commit(self.wake)

    def _cap_reached(self, count: int) -> None:
        _LOG.warning("portal: %d login codes within an hour, the site's limit (portal.codes_per_hour); refusing more",
                     count)
        if self.alerts is not None:
            self.alerts.device(DEVICE, False, say("portal_codes_cap", count=count, limit=self.portal.codes_per_hour))

    def _cap_cleared(self) -> None:
        if self.alerts is not None and self.alerts.open_device_alert(DEVICE) is not None:
            self.alerts.device(DEVICE, True, say("portal_codes_back"))

    # -- verify ----------------------------------------------------------------------------------
    def verify(self, phone_text, code_text, new_session) -> Login:
        """The session for the number's person when ``code_text`` is its newest code, in time, within its
        tries; Refused otherwise. ``new_session(person_id, key, now)`` makes the session inside the
        transaction that uses the code, and returns (token, csrf)."""
        phone = self.phone(phone_text)
        code = "".join(str(code_text or "").split())
        if not (len(code) == 6 and code.isdigit()):
            raise Refused(400, tell("code: the 6 digits of the SMS"), "code")
        key, now, store = phone_key(phone), self.clock(), self.store
        with store.transaction():
            row = store.portal.latest_code(key)
            refused = login = None
            if row is None or row["used_epoch"] is not None:
                refused = Refused(401, tell("the code is wrong; check the SMS or ask for a new code"), "none")
            elif now >= row["expires_epoch"]:
                refused = Refused(401, tell("the code has expired; ask for a new one"), "expired")
            elif store.portal.tried(row["id"]) > MAX_TRIES:
                refused = Refused(429, tell("too many wrong codes; ask for a new one"), "tries")
            else:
                right = secrets.compare_digest(code_hash(row["salt"], phone, code), row["code_hash"])
                person = row["person_id"]
                registered = person is not None and any(p["id"] == person for p in
                                                        store.portal.people_with_phone(phone))
                if not (right and registered and store.portal.use(row["id"], now)):
                    refused = Refused(401, tell("the code is wrong; check the SMS or ask for a new code"), "wrong")
                else:
                    token, csrf = new_session(person, key, now)
                    login = Login(person, masked(phone), token, csrf)
                    if row["message_id"]:
                        store.notifications.forget_text(row["message_id"], USED_TEXT)
        if refused is not None:
            raise refused
        return login
