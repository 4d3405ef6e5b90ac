"""Steps across a restart on a real process: ``gate-edge office`` on the demo's declared simulated clock, killed
with SIGKILL after step 0; the clock moved past steps 1 and 2 (30 and 120 minutes); started again. Every step
reaches the street's endpoint exactly once and in order, none twice: what a step queued and how far the steps
went are written in one transaction."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import yaml
from loopback_http import RecordingServer
from mqtt_helpers import wait_for
from notify_office import broker_for, office_process, write_office
from notify_site import publish_care_alert
from test_site import SITE

from edge.store import Store

UNIT = "12-301"


def _kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(30)


def _running(log: Path, times: int) -> bool:
    return log.exists() and log.read_text(errors="replace").count(f"office {SITE} running") >= times


def test_an_office_killed_between_steps_sends_each_later_step_once_and_no_earlier_one_again(tmp_path):
    (tmp_path / "hook.secret").write_text("webhook-secret")
    offset = tmp_path / "clock.offset"
    offset.write_text("0")
    log = tmp_path / "office.log"
    with broker_for(tmp_path) as broker, RecordingServer() as street:
        config = write_office(tmp_path, broker.port, {
            "channels": {"street": {"type": "webhook", "url": street.url("/hook"),
                                    "secret_file": str(tmp_path / "hook.secret")}},
            "care_watch": [{"after_minutes": 0, "to": ["street"]}, {"after_minutes": 30, "to": ["street"]},
                           {"after_minutes": 120, "to": ["street"]}]},
            clock={"mode": "simulated", "offset_file": str(offset)})
        settings = yaml.safe_load(config.read_text())
        database = Path(settings["database"])
        with Store(database) as store:
            person = store.people.add("张秀英", UNIT, care_watch=True)
        office = office_process(config, log)
        try:
            assert wait_for(lambda: _running(log, 1), 60), log.read_text()
            zone = __import__("zoneinfo").ZoneInfo(settings.get("timezone", "Asia/Shanghai"))
            alert_id = publish_care_alert(tmp_path, broker.port, zone, person, UNIT)
            assert wait_for(lambda: len(street.requests) == 1, 30), log.read_text()
            _kill(office)  # between step 0 and step 1
            offset.write_text(str(121 * 60))  # both later steps are due when it is back
            office = office_process(config, log)
            assert wait_for(lambda: _running(log, 2) and len(street.requests) == 3, 60), log.read_text()
            office.send_signal(signal.SIGTERM)
            office.wait(60)
        finally:
            if office.poll() is None:
                _kill(office)
        posted = [r.json() for r in street.requests]
        assert [(p["alert_id"], p["step"]) for p in posted] == [(alert_id, 0), (alert_id, 1), (alert_id, 2)]
        assert len({r.headers["x-gate-edge-message-id"] for r in street.requests}) == 3
        with Store(database) as store:
            messages = store.notifications.for_alert(alert_id)
            assert [(m["step"], m["state"], m["attempts"]) for m in messages] == [
                ("0", "sent", 1), ("1", "sent", 1), ("2", "sent", 1)]
            assert store.notifications.get_alert(alert_id)["steps_done"] == 3
