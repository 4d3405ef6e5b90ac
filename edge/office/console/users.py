"""Console users (``console.users_file``): one line per user, ``name:role:scrypt$n$r$p$salt$hash``.

Passwords are hashed with the standard library's scrypt (memory-hard: n=2**14, r=8 → 16 MiB per
hash), each with its own random salt; the file is written atomically with mode 0600. Nothing here
prints or logs a password or a hash.

A session holds its user's ``credential`` (a fingerprint of the role and the password's hash) as it was at
login; the console compares it with the file on every request (``UsersFile``, re-read when the file
changes), so a user whose role or password changed, or who was removed, is logged out at once, whoever
edited the file (``gate-edge console-user add|remove``, or by hand).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

ROLES = ("guard", "admin")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD = 8
_N, _R, _P = 2**14, 8, 1


class UsersFileError(Exception):
    pass


def hash_password(password: str, *, n: int = _N, r: int = _R, p: int = _P) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=128 * r * n * 2, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        n, r, p = int(n), int(r), int(p)
        expected = base64.b64decode(digest)
        got = hashlib.scrypt(password.encode("utf-8"), salt=base64.b64decode(salt), n=n, r=r, p=p,
                             maxmem=128 * r * n * 2, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


# A hash to verify against when the user does not exist: the answer takes as long either way.
_DUMMY = None


def dummy_hash() -> str:
    global _DUMMY
    if _DUMMY is None:
        _DUMMY = hash_password(secrets.token_hex(8))
    return _DUMMY


def load_users(path: Path) -> dict[str, dict]:
    """{name: {"role", "hash"}}; a missing file is no users."""
    users = {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return users
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or parts[1] not in ROLES or not NAME.match(parts[0]):
            raise UsersFileError(f"{path}:{number}: not a console user line (name:role:hash)")
        users[parts[0]] = {"role": parts[1], "hash": parts[2]}
    return users


def credential(user: dict) -> str:
    """A fingerprint of a user's role and password hash: it changes when either does (a new password gets
    a new salt, so setting even the same password again changes it)."""
    return hashlib.sha256(f"{user['role']}:{user['hash']}".encode()).hexdigest()[:32]


class UsersFile:
    """The users file as of its last change: re-read only when its inode, size or mtime differ (it is
    replaced atomically by ``save_users``), so checking every request costs one ``stat``."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self._seen: tuple | None = None
        self._users: dict[str, dict] = {}

    def users(self) -> dict[str, dict]:
        """{name: {"role", "hash"}}; no file (or an unreadable one): no users, so no session holds."""
        if self.path is None:
            return {}
        try:
            st = os.stat(self.path)
            seen = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            return {}
        if seen != self._seen:
            try:
                self._users = load_users(self.path)
            except (UsersFileError, OSError, UnicodeDecodeError):
                self._users = {}
            self._seen = seen
        return self._users

    def credential(self, name: str) -> str | None:
        user = self.users().get(name)
        return credential(user) if user else None


def save_users(path: Path, users: dict[str, dict]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["# gate-edge console users: name:role:scrypt hash (written by `gate-edge console-user add`)"]
    lines += [f"{name}:{u['role']}:{u['hash']}" for name, u in sorted(users.items())]
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def add_user(path: Path, name: str, role: str, password: str) -> str:
    """Add the user, or replace an existing user's role and password: "added" or "updated"."""
    if not NAME.match(name):
        raise UsersFileError(f"user name {name!r}: letters, digits, '.', '_', '@', '-' (up to 64), no spaces")
    if role not in ROLES:
        raise UsersFileError(f"role {role!r}: guard or admin")
    if len(password) < MIN_PASSWORD:
        raise UsersFileError(f"the password needs at least {MIN_PASSWORD} characters")
    users = load_users(path)
    action = "updated" if name in users else "added"
    users[name] = {"role": role, "hash": hash_password(password)}
    save_users(path, users)
    return action


def remove_user(path: Path, name: str) -> bool:
    """Remove the user (their sessions end with it): False when there was no such user."""
    users = load_users(path)
    if name not in users:
        return False
    del users[name]
    save_users(path, users)
    return True


def authenticate(path: Path, name: str, password: str) -> dict | None:
    """The user ({"name", "role", "credential"}) when the password is right; None otherwise (same work
    either way)."""
    users = load_users(path)
    user = users.get(name)
    ok = verify_password(password, user["hash"] if user else dummy_hash())
    return {"name": name, "role": user["role"], "credential": credential(user)} if ok and user else None
