"""Shared fixtures and helpers: test data paths, config files, a registry, the face enroller, a thread-leak
guard, cameras that are image files (``show``), and the console's (a logged-in client, a browser)."""

from __future__ import annotations

import functools
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import yaml

# Every ordered lock (edge.locks) checks the one lock order in the tests: taking locks out of order fails
# at once, not only when another thread happens to deadlock. Set before any edge module makes a lock.
os.environ.setdefault("GATE_EDGE_LOCK_ORDER", "check")

DATA = Path(__file__).parent / "data"
FACES = DATA / "faces"
TWO_PEOPLE = FACES / "two_people.jpg"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def face(identity: str, n: int = 1) -> Path:
    return FACES / identity / f"{n}.jpg"


# -- the thread-leak guard -------------------------------------------------------------------------------
# Every test must end with no thread running that was not running before it started: paho's network loop,
# APScheduler's, pymodbus's, a camera's, an HTTP server's: daemon or not, whatever its name (as pymodbus's
# own suite checks). Threads a module- or session-scoped fixture starts in its setup belong to that fixture
# while it lives, with every thread they start in turn (APScheduler's pool starts its workers when a job
# first runs, during some later test), and must be gone once it is torn down (checked at the teardown of
# the test after which it is finalized). The check runs after every fixture of the test is torn down.

_THREADS_BEFORE = pytest.StashKey[set]()
_fixture_threads: dict = {}  # a live module/session FixtureDef → the threads its setup started
_released: list[tuple[str, set]] = []  # (fixture, its threads) finalized since the last check
LEAK_GRACE_S = 3.0  # a closed component's thread may take this long to notice and end


_thread_start = threading.Thread.start


def _start_noting_the_starter(self):
    self.started_by = threading.current_thread()  # whose thread this is: see _owned
    return _thread_start(self)


threading.Thread.start = _start_noting_the_starter


def _lineage(thread: threading.Thread):
    while thread is not None:
        yield thread
        thread = getattr(thread, "started_by", None)


def _owned(threads: set) -> set:
    """The live threads that are ``threads`` or were started by one of them, directly or not."""
    return {t for t in threading.enumerate() if any(a in threads for a in _lineage(t))}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef, request):
    if fixturedef.scope == "function":  # torn down with the test: its threads are the test's
        return (yield)
    before = set(threading.enumerate())
    try:
        return (yield)
    finally:
        started = {t for t in threading.enumerate() if t not in before}
        if started:
            _fixture_threads.setdefault(fixturedef, set()).update(started)


def pytest_fixture_post_finalizer(fixturedef, request):
    threads = _fixture_threads.pop(fixturedef, None)
    if threads:
        _released.append((fixturedef.argname, threads | _owned(threads)))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    item.stash[_THREADS_BEFORE] = set(threading.enumerate())
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield
    before = item.stash.get(_THREADS_BEFORE, set())
    leaked = _wait_for_leaks(before)
    released = dict(_released)
    _released.clear()
    if leaked:
        pytest.fail("threads left running (every component must stop its threads on close()): "
                    + "; ".join(_describe_thread(t, released) for t in leaked), pytrace=False)
    return result


def leaked_threads(before: set) -> list[threading.Thread]:
    """Threads alive now that were not before (and no live wider-scoped fixture owns), plus those of a
    fixture finalized since the last check."""
    owned = _owned(set().union(*_fixture_threads.values()))
    released = set().union(*(threads for _, threads in _released))
    return [t for t in threading.enumerate()
            if t is not threading.current_thread() and t.is_alive() and t not in owned
            and (t not in before or t in released)]


def _wait_for_leaks(before: set) -> list[threading.Thread]:
    deadline = time.monotonic() + LEAK_GRACE_S
    while True:
        leaked = leaked_threads(before)
        if not leaked or time.monotonic() > deadline:
            return leaked
        time.sleep(0.05)


def _describe_thread(thread: threading.Thread, released: dict) -> str:
    target = getattr(thread, "_target", None)
    where = f" running {getattr(target, '__qualname__', target)!s}" if target is not None else ""
    owner = next((f" (started by fixture {name!r})" for name, threads in released.items() if thread in threads), "")
    return f"{thread.name}{' daemon' if thread.daemon else ''}{where}{owner}"


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
def store(tmp_path):
    from edge.store import Store

    with Store(tmp_path / "registry.db") as opened:
        yield opened


@pytest.fixture
def site_keys(tmp_path):
    """The office's keys folder: the three site pairs and east's own pair."""
    from edge.keys import write_gate_key, write_site_keys

    folder = tmp_path / "keys"
    write_site_keys(folder)
    write_gate_key(folder, "east")
    return folder


@pytest.fixture(scope="session")
def enroller():
    from edge.registry.enrol import Enroller

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
def recognizers(engines, store, config):
    from edge.gate.recognition import Recognizers

    return Recognizers(config, store, **engines)


def _need(program: str, finder) -> str:
    path = finder()
    if path is None:
        pytest.skip(f"{program} is not installed (make test installs it when run as root)")
    return path


def _each_stopped(start):
    """The body of a ``make_*`` fixture: yields ``make(**kwargs)``, which starts one more with
    ``start(count, **kwargs)`` (``count``: how many it started before) and returns it; at the test's end
    each one started is stopped (its ``stop()``)."""
    started = []

    def make(**kwargs):
        started.append(start(len(started), **kwargs))
        return started[-1]

    yield make
    for thing in started:
        thing.stop()


def need_mosquitto() -> str:
    """mosquitto's path; the test is skipped, saying why, where it is not installed."""
    from edge.site.localbroker import mosquitto_binary

    return _need("mosquitto", mosquitto_binary)


@pytest.fixture
def make_broker(tmp_path):
    """Start private mosquitto brokers: make_broker(users=..., acl=..., tls=...)."""
    from edge.site.localbroker import LocalBroker

    need_mosquitto()
    yield from _each_stopped(lambda count, **kwargs: LocalBroker(tmp_path / f"broker{count}", **kwargs).start())


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

    yield from _each_stopped(lambda count, **kwargs: RtspServer(rtsp_clip, **kwargs).start())


@pytest.fixture
def rtsp_server(make_rtsp_server):
    return make_rtsp_server()


# -- cameras that are image files: the test swaps the picture in front of them -------------------------


@functools.cache
def blank_frame() -> bytes:
    """A grey 640x480 JPEG: nothing in front of the camera."""
    import numpy as np

    from models.images import encode_jpeg

    return encode_jpeg(np.full((480, 640, 3), 60, np.uint8))


def show(path: Path, source: Path | None = None, data: bytes | None = None) -> None:
    """Put a picture in front of a camera whose source is the file ``path``: a copy of ``source``, the bytes
    ``data`` (a QR code), or nothing (``blank_frame``); replaced atomically, as a camera uploading a snapshot."""
    tmp = path.with_name(path.name + ".tmp")
    if source is not None:
        shutil.copy(source, tmp)
    else:
        tmp.write_bytes(data if data is not None else blank_frame())
    os.replace(tmp, path)


# -- the committee console (tests/console_site.py): a logged-in HTTP client, a real browser ------------


def console_client(site, name: str = "guard1"):
    """An httpx client logged in to ``site``'s console as ``name`` (console_site.USERS), sending its
    session's CSRF token with every request (``client.headers["X-CSRF-Token"]``)."""
    httpx = pytest.importorskip("httpx")
    from console_site import USERS

    client = httpx.Client(base_url=site.url, timeout=60)
    role, password = USERS[name]
    answer = client.post("/login", data={"username": name, "password": password},
                         headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["role"] == role
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


@pytest.fixture
def guard(site):
    """The guard ``guard1`` logged in to the module's ``site`` console."""
    client = console_client(site, "guard1")
    yield client
    client.close()


@pytest.fixture
def admin(site):
    """The committee's admin ``admin1`` logged in to the module's ``site`` console."""
    client = console_client(site, "admin1")
    yield client
    client.close()


CHROMIUM = Path(os.environ.get("GATE_EDGE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
SHOTS = Path(__file__).resolve().parents[1] / "docs" / "console"


@pytest.fixture
def browser():  # per test: Playwright's loop and its executor threads end with the test
    """Debian's chromium driven by Playwright (never ``playwright install``); skipped, with the reason,
    when either is missing."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (make test installs Debian's chromium when run as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (pip, the test extras) is missing")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def zh_page(browser):
    """A page as a committee member sees the console: 1280x900, Chinese, Shanghai time, and every
    confirmation ("remove this person?", "revoke this pass?") answered yes."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def shot(page, name: str) -> None:
    """Save the page as docs/console/<name>.png (the README's screenshots)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page, site, name: str, target: str) -> None:
    """Open ``target``, be sent to the login page, log in as ``name`` and land on ``target``."""
    from console_site import USERS
    from playwright.sync_api import expect

    page.goto(f"{site.url}{target}")
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", USERS[name][1])
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.url}{target}")
