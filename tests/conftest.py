"""Shared fixtures: test data paths, config files, a registry, the face enroller, and a thread-leak guard."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import yaml

DATA = Path(__file__).parent / "data"
FACES = DATA / "faces"
TWO_PEOPLE = FACES / "two_people.jpg"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def face(identity: str, n: int = 1) -> Path:
    return FACES / identity / f"{n}.jpg"


@pytest.fixture(autouse=True)
def no_leaked_threads():
    """Fail a test that leaves a thread of its own running (every loop must stop on close())."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 3
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive() and not t.daemon]
        leaked += [t for t in threading.enumerate() if t not in before and t.is_alive()
                   and t.name.startswith("gate-edge")]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"threads left running: {[t.name for t in leaked]}"


@pytest.fixture
def write_config(tmp_path):
    """Write a config (dict or YAML text) into tmp_path and return its path."""

    def write(content, name: str = "gate.yaml") -> Path:
        path = tmp_path / name
        text = content if isinstance(content, str) else yaml.safe_dump(content, allow_unicode=True, sort_keys=False)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def minimal_config(write_config, tmp_path):
    return write_config({"site": "tianlin12", "gate": "east", "database": str(tmp_path / "registry.db")})


@pytest.fixture
def config(minimal_config):
    from edge.config import load_config

    return load_config(minimal_config)


@pytest.fixture
def registry(tmp_path):
    from edge.registry import Registry

    with Registry(tmp_path / "registry.db") as reg:
        yield reg


@pytest.fixture(scope="session")
def enroller():
    from edge.enrol import Enroller

    return Enroller()
