"""The thread-leak guard of tests/conftest.py: any thread left running fails the test that left it."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

# The project's conftest, with a short grace for a thread to end (3 s in the suite).
CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8") + "\nLEAK_GRACE_S = 0.5\n"

LEAKS = '''
import threading

import pytest

forever = threading.Event()


@pytest.fixture(scope="module", autouse=True)
def _end_the_leaks_with_the_module():
    yield
    forever.set()  # so the process can exit; each leak was reported at its own test's teardown


def test_a_daemon_thread_left_running():
    threading.Thread(target=forever.wait, name="paho-mqtt-client-gate", daemon=True).start()


def test_a_plain_thread_left_running():
    threading.Thread(target=forever.wait, name="worker").start()


def test_a_thread_stopped_on_close_is_fine():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, daemon=True)
    thread.start()
    stop.set()  # closed at the end of the test; the guard gives it time to end


@pytest.fixture(scope="module")
def server():
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="module-server", daemon=True)
    thread.start()
    yield thread
    stop.set()


def test_a_module_fixture_keeps_its_thread(server):
    assert server.is_alive()


def test_and_the_next_test_shares_it(server):
    assert server.is_alive()
'''

FIXTURE_NEVER_STOPS = '''
import threading

import pytest


@pytest.fixture(scope="module")
def scheduler():
    thread = threading.Thread(target=threading.Event().wait, name="APScheduler", daemon=True)
    thread.start()
    yield thread  # never stopped


def test_one(scheduler):
    pass


def test_two(scheduler):
    pass
'''

POOL_OF_A_FIXTURE = '''
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

KEPT = []


@pytest.fixture(scope="module")
def scheduler():
    """Like APScheduler: a thread of its own, whose pool starts workers only when a job first runs."""
    pool = ThreadPoolExecutor(max_workers=2)
    jobs = []
    stop = threading.Event()

    def loop():
        while not stop.wait(0.01):
            while jobs:
                pool.submit(jobs.pop())

    thread = threading.Thread(target=loop, name="scheduler", daemon=True)
    thread.start()
    yield jobs
    stop.set()
    thread.join()
    KEPT.append(pool)  # never shut down (and kept from the garbage collector): its workers outlive the fixture


def test_a_job_starts_a_worker_during_a_test(scheduler):
    done = threading.Event()
    scheduler.append(done.set)
    assert done.wait(5)


def test_the_worker_belongs_to_the_fixture_while_it_lives(scheduler):
    assert any(t.name.startswith("ThreadPoolExecutor") for t in threading.enumerate())
'''


def test_any_leftover_thread_fails_its_test_daemon_or_not(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_leaks=LEAKS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=5, errors=2)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_a_daemon_thread_left_running*",
        "*threads left running*paho-mqtt-client-gate daemon running *wait*",
    ])
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_a_plain_thread_left_running*"])


def test_a_wider_fixture_thread_must_end_when_the_fixture_is_torn_down(pytester):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_fixture=FIXTURE_NEVER_STOPS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)  # test_one passes: its module fixture still holds the thread
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_two*",
                                 "*APScheduler daemon running *(started by fixture 'scheduler')*"])


def test_a_worker_started_by_a_fixture_thread_is_the_fixture_s(pytester):
    """Threads started by a wider fixture's threads (a pool's workers, started when a job first runs during
    some test) are that fixture's: not a leak while it lives, a leak once it is torn down."""
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_pool=POOL_OF_A_FIXTURE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_the_worker_belongs_to_the_fixture_while_it_lives*",
                                 "*ThreadPoolExecutor-0_0 daemon running _worker (started by fixture 'scheduler')*"])
