"""The restart rule on a real process: ``gate-edge office`` killed with SIGKILL while one message is being sent
(its endpoint does not answer) and others wait queued. After a restart every message reaches the endpoint
exactly once, except the one caught ``sending``, which goes again with the same message id; nothing sent
before the kill goes again."""

from __future__ import annotations

import collections
import signal
from pathlib import Path

import yaml
from loopback_http import RecordingServer
from mqtt_helpers import wait_for
from notify_office import broker_for, office_process, write_office

from edge.store import Store


def _queue(database: Path, alert_ids, now: float) -> list[str]:
    with Store(database) as store, store.transaction():
        return [store.notifications.queue(a, "care_watch", 0, "robot", "robot", None, f"{a}: 12-301 unseen",
                                          {"v": 1, "alert_id": a, "kind": "care_watch", "step": 0}, now)
                for a in alert_ids]


def _ids(server) -> list[str]:
    return [r.headers["x-gate-edge-message-id"] for r in server.requests]


def _states(database: Path) -> dict[str, str]:
    with Store(database) as store:
        return {m["message_id"]: m["state"] for m in store.notifications.recent(100)}


def test_an_office_killed_while_sending_sends_the_caught_message_again_with_its_id_and_no_other_twice(tmp_path):
    import time

    (tmp_path / "hook.secret").write_text("webhook-secret")
    log = tmp_path / "office.log"
    with broker_for(tmp_path) as broker, RecordingServer() as robot:
        config = write_office(tmp_path, broker.port, {"channels": {"robot": {
            "type": "webhook", "url": robot.url("/hook"), "secret_file": str(tmp_path / "hook.secret")}}})
        database = Path(yaml.safe_load(config.read_text())["database"])
        before = _queue(database, [f"early-{i}" for i in range(5)], time.time())  # queued before the office runs
        office = office_process(config, log)
        try:
            assert wait_for(lambda: len(robot.requests) == 5, 60), log.read_text()
            assert wait_for(lambda: set(_states(database).values()) == {"sent"}, 20), _states(database)

            robot.answer(hang=True)  # the endpoint takes the next request and does not answer
            later = _queue(database, [f"late-{i}" for i in range(5)], time.time())
            assert wait_for(lambda: len(robot.requests) == 6, 30), log.read_text()
            caught = _ids(robot)[5]
            assert caught in later and _states(database)[caught] == "sending"
            office.send_signal(signal.SIGKILL)
            office.wait(10)

            office = office_process(config, log)
            assert wait_for(lambda: set(_states(database).values()) == {"sent"}, 60), (_states(database),
                                                                                       log.read_text())
        finally:
            if office.poll() is None:
                office.terminate()
                office.wait(20)
    told = collections.Counter(_ids(robot))
    assert told == {**{m: 1 for m in before + later}, caught: 2}, told
    with Store(database) as store:
        assert store.notifications.get(caught)["attempts"] == 2
        assert all(store.notifications.get(m)["attempts"] == 1 for m in before + later if m != caught)
