"""The residents' portal's rows (DESIGN 8): ``portal_codes`` (login codes asked for) and ``portal_sessions``.

A phone number is kept only as ``phone_key`` (a hash: the table of codes holds numbers nobody registered,
and a key is enough to count and compare); a code only salted and hashed (``code_hash``). The rules (how
many codes, how long one lasts, how many tries) are ``edge.office.portal.codes``'; this module only reads
and writes. ``phone_of`` is the one reading of a mobile number typed by a resident or an admin.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_NOT_DIGITS = re.compile(r"[\s\-()]")
_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")  # a mainland mobile number: what an SMS reaches


def phone_of(text) -> str | None:
    """A mainland mobile number as 11 digits (``+86 139-1234-5678`` → ``13912345678``), None when ``text`` is
    not one. Spaces, dashes, brackets and the country code (+86, 0086, 86) are left out."""
    if not isinstance(text, str):
        return None
    digits = _NOT_DIGITS.sub("", text.strip())
    for prefix in ("+86", "0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
            break
    return digits if _MOBILE.match(digits) else None


def phone_key(phone: str) -> str:
    """What the portal's tables keep of a number (``phone_of``'s digits)."""
    return hashlib.sha256(f"gate-edge-portal:{phone}".encode("ascii")).hexdigest()


def code_hash(salt: str, phone: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{phone}:{code}".encode("utf-8", "replace")).hexdigest()


class PortalRows:
    def __init__(self, store):
        self._store = store

    # -- who a number is ---------------------------------------------------------------------
    def people_with_phone(self, phone: str) -> list[dict]:
        """The people registered with this mobile number (``phone_of``'s digits), lowest id first. Every row
        with a phone is read and compared, found or not: the work does not depend on the answer."""
        found = []
        for row in self._store.rows("SELECT id, unit, phone FROM people WHERE phone IS NOT NULL ORDER BY id"):
            if hmac.compare_digest(phone_of(row["phone"]) or "", phone):
                found.append(row)
        return found

    # -- codes ---------------------------------------------------------------------------------
    def counts(self, key: str, client: str, since: float) -> dict:
        """Codes asked for since ``since``: for this number (``phone``), from this client (``client``), the
        whole site (``site``), and when this number last asked (``last``, or None)."""
        row = self._store.row(
            "SELECT (SELECT count(*) FROM portal_codes WHERE phone_key = ? AND created_epoch >= ?) AS phone, "
            "(SELECT count(*) FROM portal_codes WHERE client = ? AND created_epoch >= ?) AS client, "
            "(SELECT count(*) FROM portal_codes WHERE created_epoch >= ?) AS site, "
            "(SELECT max(created_epoch) FROM portal_codes WHERE phone_key = ?) AS last",
            (key, since, client, since, since, key))
        return dict(row)

    def add_code(self, key: str, client: str, person_id: int | None, phone: str, code: str, now: float,
                 ttl_s: float) -> int:
        """Keep a code (salted and hashed) for the number; its row id."""
        salt = secrets.token_hex(16)
        cursor = self._store.execute(
            "INSERT INTO portal_codes(phone_key, client, person_id, salt, code_hash, created_epoch, expires_epoch) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [key, client, person_id, salt, code_hash(salt, phone, code), now, now + ttl_s])
        return cursor.lastrowid

    def set_message(self, code_id: int, message_id: str | None) -> None:
        self._store.execute("UPDATE portal_codes SET message_id = ? WHERE id = ?", [message_id, code_id])

    def latest_code(self, key: str) -> dict | None:
        """The number's newest code (used, expired or not): only the newest counts, so asking again ends the
        one before."""
        return self._store.row("SELECT * FROM portal_codes WHERE phone_key = ? ORDER BY created_epoch DESC, id DESC "
                               "LIMIT 1", (key,))

    def tried(self, code_id: int) -> int:
        """One more try of the code, counted before it is compared; the tries so far."""
        return self._store.rows("UPDATE portal_codes SET tries = tries + 1 WHERE id = ? RETURNING tries",
                                (code_id,))[0]["tries"]

    def use(self, code_id: int, now: float) -> bool:
        """The code was right: used now (once only); False when it was used meanwhile."""
        return self._store.execute("UPDATE portal_codes SET used_epoch = ? WHERE id = ? AND used_epoch IS NULL",
                                   [now, code_id]).rowcount == 1

    def forget_before(self, cutoff_epoch: float) -> int:
        """Codes asked for before ``cutoff_epoch`` (older than every limit's window)."""
        return self._store.execute("DELETE FROM portal_codes WHERE created_epoch < ?", [cutoff_epoch]).rowcount

    # -- sessions -------------------------------------------------------------------------------
    def add_session(self, token_hash: str, person_id: int, key: str, csrf: str, now: float, ttl_s: float) -> None:
        self._store.execute("DELETE FROM portal_sessions WHERE expires_epoch < ?", [now])
        self._store.execute(
            "INSERT INTO portal_sessions(token_hash, person_id, phone_key, csrf, created_epoch, expires_epoch) "
            "VALUES (?, ?, ?, ?, ?, ?)", [token_hash, person_id, key, csrf, now, now + ttl_s])

    def session(self, token_hash: str, now: float) -> dict | None:
        """The session with the person it belongs to (their unit and phone now), while it lasts."""
        return self._store.row(
            "SELECT s.*, p.unit, p.name, p.phone FROM portal_sessions s JOIN people p ON p.id = s.person_id "
            "WHERE s.token_hash = ? AND s.expires_epoch >= ?", (token_hash, now))

    def end_session(self, token_hash: str) -> None:
        self._store.execute("DELETE FROM portal_sessions WHERE token_hash = ?", [token_hash])

    def session_count(self) -> int:
        return self._store.scalar("SELECT count(*) FROM portal_sessions")
