"""`make demo`'s story (gate-edge site-demo --exit): the whole site in its own processes, one simulated clock."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from conftest import need_mosquitto

from edge.cli.demo_notify import DUTY_PHONE

CARE_WATCH_UNIT = "12-301"  # 王建国's (edge.cli.demo.register_residents)


def test_the_site_demo_tells_its_whole_story_on_the_console(tmp_path):
    need_mosquitto()
    done = subprocess.run([sys.executable, "-m", "edge", "site-demo", "--exit", "--console-port", "0",
                           "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=400)
    logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in tmp_path.glob("*.log"))
    assert done.returncode == 0, done.stdout + done.stderr + logs
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith('{"summary"'))
    events = json.loads(line)["summary"]["events"]
    # residents at both gates, the stranger, the visitor held and then let out once paid, the care alert
    assert events["east:entry/open"] >= 2 and events["west:entry/open"] >= 3, events
    assert events["east:stranger/deny"] == 1 and events["east:exit/hold"] == 1 and events["east:exit/open"] == 1
    # one care-watch alert for one absence, though both gates raise it (the same id at every gate)
    assert json.loads(line)["summary"]["open_alerts"] == {"inactivity": 1}
    # Nobody at the console: the group robot heard it at once, the duty phone 30 simulated minutes later,
    # each message shown with the unit and the alert's short code (read from the office's own database).
    with sqlite3.connect(tmp_path / "office.db") as db:
        codes = [row[0] for row in db.execute("SELECT code FROM notify_alerts WHERE kind = 'care_watch'")]
    assert len(codes) == 1, codes
    robot = [ln for ln in done.stdout.splitlines() if ln.startswith("site-demo: 💬 group robot")]
    sms = [ln for ln in done.stdout.splitlines() if ln.startswith(f"site-demo: 📱 SMS to {DUTY_PHONE}: ")]
    assert len(robot) == 1 and len(sms) == 1, done.stdout
    for line in robot + sms:
        assert CARE_WATCH_UNIT in line and codes[0] in line, line
    assert "王建国" in sms[0] and "王建国" not in robot[0]  # the robot is outside the site: minimal detail
    assert done.stdout.index(robot[0]) < done.stdout.index(sms[0])
    assert "Log in as  admin / " in done.stdout and "http://127.0.0.1:" in done.stdout
    # A newcomer's way into the residents' portal: the phone number printed, the code shown by the simulated
    # modem (the story itself logs in with it, as the newcomer will)
    assert "/my/" in done.stdout and "with the phone number 13800000001" in done.stdout
    assert "site-demo: 📱 SMS to 13800000001: 【tianlin12住户服务】您的登录验证码" in done.stdout
    assert "logged in to the portal with the code of the SMS and sees household 12-301: 王建国; 皖AY6B59" in done.stdout
    # Every process declared the simulated clock it was given, and none mistook it for a jump.
    for name in ("office", "east", "west"):
        assert "SIMULATED TIME" in (tmp_path / f"{name}.log").read_text()
