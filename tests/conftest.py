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
    from edge.store import Store

    with Store(tmp_path / "registry.db") as reg:
        yield reg


@pytest.fixture(scope="session")
def enroller():
    from edge.enrol import Enroller

    return Enroller()


PLATES = DATA / "plates"


def plate_labels() -> dict[str, str]:
    lines = (PLATES / "labels.csv").read_text(encoding="utf-8").splitlines()[1:]
    return dict(line.split(",") for line in lines)


@pytest.fixture(scope="session")
def engines():
    """The recognition models, loaded once for the whole session (they take seconds to load)."""
    from models.faces import FaceEngine
    from models.plates import PlateReader
    from models.qr import QrReader

    return {"faces": FaceEngine(scale=1.0), "plates": PlateReader(), "qr": QrReader()}


@pytest.fixture
def recognizers(engines, registry, config):
    from edge.recognition import Recognizers

    return Recognizers(config, registry, **engines)


def _need(program: str, finder) -> str:
    path = finder()
    if path is None:
        pytest.skip(f"{program} is not installed (make test installs it when run as root)")
    return path


@pytest.fixture
def make_broker(tmp_path):
    """Start private mosquitto brokers: make_broker(users=..., acl=..., tls=...)."""
    from edge.localbroker import LocalBroker, mosquitto_binary

    _need("mosquitto", mosquitto_binary)
    started = []

    def make(**kwargs):
        broker = LocalBroker(tmp_path / f"broker{len(started)}", **kwargs).start()
        started.append(broker)
        return broker

    yield make
    for broker in started:
        broker.stop()


@pytest.fixture
def broker(make_broker):
    return make_broker()


@pytest.fixture
def pty_barrier(tmp_path):
    """A Modbus RTU barrier controller simulated on the device end of a real pty pair."""
    from drivers.barrier_simulator import BarrierSimulator
    from drivers.ptylink import PtyLink

    link = PtyLink(tmp_path)
    simulator = BarrierSimulator(link.device_path, arm_up_s=1.0).start()
    yield link, simulator
    simulator.close()
    link.close()


@pytest.fixture(scope="session")
def rtsp_clip(tmp_path_factory):
    """A 60 s Motion-JPEG clip (10 fps, 320x240) made from the test photographs, for the RTSP server."""
    from rtsp_server import make_clip, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    return make_clip(tmp_path_factory.mktemp("rtsp") / "gate.avi")


@pytest.fixture
def make_rtsp_server(rtsp_clip):
    """Start real RTSP servers (GStreamer's, see tests/rtsp_server.py) playing ``rtsp_clip``:
    ``make_rtsp_server(user="name:password", path="/x")``; each can stop(), start() again on its port,
    pause() (SIGSTOP) and resume() (SIGCONT). Skipped, with the reason, when GStreamer is missing."""
    from rtsp_server import RtspServer

    started = []

    def make(**kwargs):
        server = RtspServer(rtsp_clip, **kwargs).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def rtsp_server(make_rtsp_server):
    return make_rtsp_server()
