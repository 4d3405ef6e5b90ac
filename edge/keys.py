"""Keys and signatures (DESIGN 6.1): Ed25519 pairs for a site with an office, shared secrets for a
single gate, and the one canonical JSON that every signature is made over.

Site pairs (``gate-edge keys new --dir DIR``) are PEM text files: ``registry.key/.pub`` (registry
records, site settings), ``command.key/.pub`` (commands), ``pass.key/.pub`` (QR passes). A gate's own
pair (``--gate NAME``) is ``NAME.key/.pub``. The office holds the private keys (``.key``); a gate holds
only public keys (``.pub``), so a stolen gate box can sign nothing for the office or another gate.

Every signature names its key with a ``kid``: the first 16 hex characters of the sha256 of the raw
32-byte public key. A ``Verifier`` accepts every public key it was given, so a key is rotated by adding
the new public key everywhere, then signing with the new private key, then removing the old public key.

A single gate without an office keeps shared secrets (HMAC): ``--local`` writes ``pass.key`` and
``command.key`` as 64 hex characters and a newline; that text *is* the key. ``read_secret`` reads any
key file byte-exact (a text file's one final newline aside), so a key of random bytes that happens to
end in a whitespace byte is no longer cut short.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from edge.contract import check_gate_name

SITE_PAIRS = ("registry", "command", "pass")
LOCAL_SECRETS = ("pass", "command")
MIN_SECRET_BYTES = 16
_HEX_SECRET = re.compile(rb"^[0-9a-fA-F]{64}\n?$")


class KeyFileError(ValueError):
    """A key file that cannot be used: the message names the file and the fix, never the key."""


# -- canonical JSON and key ids ------------------------------------------------------------------------
def canonical_json(obj) -> bytes:
    """The bytes every signature is made over: compact, sorted keys, UTF-8, non-ASCII as it is."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")


def _raw_public(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def kid_of(public_key: Ed25519PublicKey) -> str:
    """The key id: the first 16 hex characters of sha256(raw 32-byte public key)."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


# -- signing and verifying -----------------------------------------------------------------------------
class Signer:
    """An Ed25519 private key (the office's, or a gate's own) with its key id."""

    def __init__(self, private_key: Ed25519PrivateKey, path: Path | None = None):
        self._key = private_key
        self.public_key = private_key.public_key()
        self.kid = kid_of(self.public_key)
        self.path = path

    def sign(self, message: bytes) -> str:
        return self._key.sign(message).hex()

    def __repr__(self) -> str:  # never the key itself
        return f"Signer(kid={self.kid!r}, path={str(self.path)!r})"


class Verifier:
    """The public keys a receiver accepts, by kid (several while a key is being rotated)."""

    def __init__(self, public_keys: Iterable[Ed25519PublicKey] = (), paths: Iterable[Path] = ()):
        self._keys = {kid_of(key): key for key in public_keys}
        self.paths = list(paths)

    @property
    def kids(self) -> set[str]:
        return set(self._keys)

    def verify(self, kid, message: bytes, sig_hex) -> bool:
        """True when ``sig_hex`` is a signature of ``message`` by the key ``kid``; False for anything else."""
        key = self._keys.get(kid) if isinstance(kid, str) else None
        if key is None or not isinstance(sig_hex, str) or len(sig_hex) != 128:
            return False
        try:
            key.verify(bytes.fromhex(sig_hex), message)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def __repr__(self) -> str:
        return f"Verifier(kids={sorted(self._keys)!r})"


def _read(path, what: str) -> bytes:
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise KeyFileError(f"{path}: no such {what} file; create it with `gate-edge keys new` or fix the "
                           "path") from None
    except IsADirectoryError:
        raise KeyFileError(f"{path}: is a folder, not a {what} file; name the file itself") from None
    except OSError as exc:
        raise KeyFileError(f"{path}: cannot read the {what} file ({exc.strerror}); check its owner and mode") from None


def load_signer(path) -> Signer:
    """An Ed25519 private key from a PEM (PKCS8) file, as ``gate-edge keys new`` writes it."""
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path}: not an Ed25519 private key in PEM (PKCS8); write one with "
                           "`gate-edge keys new --dir DIR` and point the config at its .key file")
    return Signer(key, Path(path))


def load_public_key(path) -> Ed25519PublicKey:
    data = _read(path, "public key")
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PublicKey):
        hint = " (this is a private key: give the .pub file)" if b"PRIVATE KEY" in data else ""
        raise KeyFileError(f"{path}: not an Ed25519 public key in PEM{hint}; use the .pub file "
                           "`gate-edge keys new` wrote")
    return key


def verifier_from_pem(texts) -> Verifier:
    """A Verifier of public keys given as PEM text (the gates' keys in the office's signed site settings);
    a text that is not an Ed25519 public key is skipped."""
    keys = []
    for text in texts:
        try:
            key = serialization.load_pem_public_key(str(text).encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError):
            continue
        if isinstance(key, Ed25519PublicKey):
            keys.append(key)
    return Verifier(keys)


def load_verifier(paths) -> Verifier:
    """A Verifier of every PEM public key in ``paths`` (one path or several: several = rotation)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    return Verifier([load_public_key(p) for p in paths], paths)


def sign_record(signer: Signer, record: dict) -> dict:
    """``{**record, "kid", "sig"}``: signed over the canonical JSON of the record with ``kid``, without ``sig``."""
    unsigned = {k: v for k, v in record.items() if k != "sig"}
    unsigned["kid"] = signer.kid
    return {**unsigned, "sig": signer.sign(canonical_json(unsigned))}


def verify_record(verifier: Verifier, record: dict) -> str | None:
    """None when the record's signature verifies with one of the verifier's keys, else the reason."""
    if not isinstance(record, dict) or "sig" not in record or "kid" not in record:
        return "no signature"
    kid = record["kid"]
    if not isinstance(kid, str) or kid not in verifier.kids:
        return f"signed with unknown key {str(kid)[:32]}"
    unsigned = {k: v for k, v in record.items() if k != "sig"}
    try:
        message = canonical_json(unsigned)
    except (TypeError, ValueError):
        return "signature does not verify"
    if not verifier.verify(kid, message, record["sig"]):
        return "signature does not verify"
    return None


# -- shared secrets (a single gate without an office) ----------------------------------------------------
def _is_text(data: bytes) -> bool:
    """UTF-8 with nothing but printable characters and line breaks/tabs (what an editor writes)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c.isprintable() or c in "\t\r\n" for c in text)


def read_secret(path) -> bytes:
    """A shared-secret key file, byte-exact except one final newline of a text file; >= 16 bytes."""
    data = _read(path, "key")
    if data.endswith(b"\n") and _is_text(data[:-1]):
        data = data[:-1]
    if len(data) < MIN_SECRET_BYTES:
        raise KeyFileError(f"{path}: a shared key must be at least {MIN_SECRET_BYTES} bytes, this one has "
                           f"{len(data)}; write a new one with `gate-edge keys new --local --dir DIR`")
    return data


def is_old_secret(path) -> bool:
    """True for a readable key file not in the current form (64 hex characters, optional newline)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return False
    return not _HEX_SECRET.match(data)


# -- writing keys ------------------------------------------------------------------------------------------
def _refuse_existing(paths: list[Path]) -> None:
    existing = [str(p) for p in paths if p.exists() or p.is_symlink()]
    if existing:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); refusing to overwrite a key "
                              "(move it away first, or choose another --dir)")


def _write(path: Path, data: bytes, private: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    fd = os.open(path, flags, 0o600 if private else 0o644)
    try:
        os.write(fd, data)
        os.fchmod(fd, 0o600 if private else 0o644)
    finally:
        os.close(fd)


def _write_pairs(folder, names: Iterable[str]) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = list(names)
    targets = [folder / f"{n}.{ext}" for n in names for ext in ("key", "pub")]
    _refuse_existing(targets)
    written = []
    for name in names:
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        for path, data, secret in ((folder / f"{name}.key", private, True), (folder / f"{name}.pub", public, False)):
            _write(path, data, secret)
            written.append(path)
    return written


def write_site_keys(folder) -> list[Path]:
    """registry, command and pass Ed25519 pairs (``.key`` chmod 600, ``.pub``); never overwrites."""
    return _write_pairs(folder, SITE_PAIRS)


def write_gate_key(folder, name: str) -> list[Path]:
    """A gate's own pair ``NAME.key`` / ``NAME.pub``; never overwrites."""
    check_gate_name(name)
    return _write_pairs(folder, [name])


def write_local_secrets(folder) -> list[Path]:
    """A single gate's shared secrets: ``pass.key`` and ``command.key``, 64 hex characters + newline."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    targets = [folder / f"{n}.key" for n in LOCAL_SECRETS]
    _refuse_existing(targets)
    for path in targets:
        _write(path, (secrets.token_hex(32) + "\n").encode("ascii"), True)
    return targets


def describe(path: Path) -> dict:
    """What ``keys new`` prints about one file it wrote (never the key material)."""
    path = Path(path)
    entry = {"file": str(path)}
    try:
        if path.suffix == ".pub":
            entry["kid"] = kid_of(load_public_key(path))
        elif path.read_bytes().startswith(b"-----BEGIN"):
            entry["kid"] = load_signer(path).kid
    except KeyFileError:
        pass
    return entry
