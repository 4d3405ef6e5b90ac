"""Benchmarks and calibration: measured on ../shared/data, printed with a ratio against the naive way.

Not part of the test suite (no timed assertions). Run ``python -m bench`` for the list.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data() -> Path | None:
    """../shared/data (or $GATE_EDGE_SHARED_DATA), or None with a plain message when it is absent."""
    path = Path(os.environ.get("GATE_EDGE_SHARED_DATA", REPO.parent / "shared" / "data"))
    if not path.is_dir():
        print(
            f"bench: the development photo set {path} is absent on this machine (it is not redistributed "
            "with gate-edge); set GATE_EDGE_SHARED_DATA to a copy to run this measurement.",
            file=sys.stderr,
        )
        return None
    return path


def use_test_helpers() -> None:
    """Put the tests' helpers (the site's office, gates and broker set-up) on the import path, the same folders
    pytest uses (pyproject's ``pythonpath``: one owner), so a benchmark measures what the tests run."""
    import tomllib

    with open(REPO / "pyproject.toml", "rb") as file:
        folders = tomllib.load(file)["tool"]["pytest"]["ini_options"]["pythonpath"]
    sys.path[:0] = [str(REPO / folder) for folder in folders if str(REPO / folder) not in sys.path]


def status_mb(field: str) -> int:
    """A memory figure of this process from /proc/self/status (VmRSS, VmHWM ...), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) // 1024
    return -1
