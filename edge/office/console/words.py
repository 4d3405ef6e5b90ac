"""Words the pages choose by a value: an event's kind, a lane, a decision, a vehicle class, a device's or a
gate's state, a role, a pass's state. Each table maps the value (as the API says it) to its English word,
marked for the catalogs (``catalogs``); ``word(table, value)`` says it in the page's language, and a value
no table knows as it is (a state from a newer gate).
"""

from __future__ import annotations

from edge.schemas.phrases import N_

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
}


def word(gettext, table: str, value) -> str:
    """``value`` of ``table`` in words, through ``gettext``; as it is when the table does not know it."""
    english = TABLES[table].get(value)
    return gettext(english) if english is not None else "" if value is None else str(value)
