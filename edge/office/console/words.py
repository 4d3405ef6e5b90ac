"""Words the pages choose by a value: an event's kind, a lane, a decision, a vehicle class, a device's or a
gate's state, a role, a pass's state, a contact's relation. Each table maps the value (as the API says it)
to its English word, marked for the catalogs (``catalogs``); ``word(table, value)`` says it in the page's
language, and a value no table knows as it is (a state from a newer gate). In an error, ``field(name)`` is
a field as the page names it (``name`` -> 姓名) and ``listing(values)`` lists words of the API
(``resident, family``).
"""

from __future__ import annotations

from edge.schemas.phrases import N_, NP_, Listing, Message

TABLES = {
    "lane": {"in": N_("in"), "out": N_("out")},
    "decision": {"open": N_("open"), "hold": N_("hold"), "deny": N_("deny")},
    "kind": {"entry": N_("entry"), "exit": N_("exit"), "denied": N_("denied"), "stranger": N_("stranger"),
             "session": N_("session")},
    "class": {"resident": N_("resident"), "family": N_("family"), "visitor": N_("visitor"), "blocked": N_("blocked")},
    # a camera's or a barrier's state in a gate's status (drivers.camera, drivers.barriers)
    "device_state": {"ok": N_("ok"), "starting": N_("starting"), "down": N_("down"), "ended": N_("ended"),
                     "failing": N_("failing"), "unavailable": N_("unavailable")},
    # a gate as the office hears it (gate_pages)
    "gate_state": {"online": N_("online"), "offline": N_("offline"), "unknown": N_("unknown"),
                   "never heard": N_("never heard"), "unreadable": N_("status unreadable")},
    "role": {"guard": N_("guard"), "admin": N_("admin")},
    "pass_state": {"valid": N_("valid"), "expired": N_("expired"), "revoked": N_("revoked")},
    # a resident's invitation (edge.registry.invites)
    "invite_state": {"waiting": N_("not begun"), "active": N_("in force"), "over": N_("over"),
                     "cancelled": N_("cancelled")},
    # a notification that is not an alert's step (edge.office.notify.steps), and a message's state
    "notice": {"ack": N_("acknowledged notice"), "cleared": N_("cleared notice"), "storm": N_("many alerts"),
               "roll_call": N_("roll call"), "test": N_("test message")},
    "channel_type": {"wecom": N_("WeChat Work group robot"), "dingtalk": N_("DingTalk group robot"),
                     "webhook": N_("webhook"), "sms": N_("SMS modem"), "smtp": N_("e-mail")},
    "channel_detail": {"minimal": N_("minimal: no names or phone numbers"), "full": N_("full: names (staff)")},
    "notice_state": {"queued": N_("waiting to be sent"), "sent": N_("delivered"), "failed": N_("not delivered")},
    # a contact's relation to the resident (edge.store.contacts.RELATIONS)
    "relation": {"family": N_("family"), "neighbour": N_("neighbour"), "building_leader": N_("building leader"),
                 "grid_worker": N_("grid worker")},
}


def word(gettext, table: str, value) -> str:
    """``value`` of ``table`` in words, through ``gettext``; as it is when the table does not know it."""
    english = TABLES[table].get(value)
    return gettext(english) if english is not None else "" if value is None else str(value)


# A field of a write or a query, as an error names it (its English is its name in the API).
FIELDS = {
    "name": NP_("field", "name"), "unit": NP_("field", "unit"), "phone": NP_("field", "phone"),
    "plate": NP_("field", "plate"), "note": NP_("field", "note"), "reason": NP_("field", "reason"),
    "lane": NP_("field", "lane"), "barrier": NP_("field", "barrier"), "class": NP_("field", "class"),
    "vehicle_class": NP_("field", "vehicle_class"), "person_id": NP_("field", "person_id"),
    "person id": NP_("field", "person id"), "person": NP_("field", "person"),
    "valid_from": NP_("field", "valid_from"), "valid_until": NP_("field", "valid_until"),
    "valid_hours": NP_("field", "valid_hours"), "care_watch": NP_("field", "care_watch"),
    "face_consent": NP_("field", "face_consent"), "photo": NP_("field", "photo"), "csv": NP_("field", "csv"),
    "amount_cents": NP_("field", "amount_cents"), "limit": NP_("field", "limit"), "since": NP_("field", "since"),
    "date": NP_("field", "date"), "days": NP_("field", "days"), "gate": NP_("field", "gate"),
    "kind": NP_("field", "kind"), "state": NP_("field", "state"), "lang": NP_("field", "lang"),
    "pass id": NP_("field", "pass id"), "username": NP_("field", "username"), "password": NP_("field", "password"),
    "contacts": NP_("field", "contacts"), "relation": NP_("field", "relation"),
    "consent_at": NP_("field", "consent_at"), "until": NP_("field", "until"),
    "session_id": NP_("field", "session_id"),
}


def field(name: str) -> Message | str:
    """The field ``name`` as an error says it (in Chinese as the page names it); an unknown one as it is."""
    if name not in FIELDS:
        return name
    context, english = FIELDS[name]
    return Message(english, {}, context)


def api_word(value: str) -> Message | str:
    """A word of the API in an error (a vehicle class, an event kind, a role) as the pages say it."""
    for table in ("class", "kind", "role"):
        if value in TABLES[table]:
            return Message(TABLES[table][value], {})
    return value


def listing(values, how: str = "and") -> Listing:
    """Words of the API listed in an error (``resident, family, visitor, blocked``; ``guard or admin``)."""
    return Listing([api_word(v) for v in values], how)
