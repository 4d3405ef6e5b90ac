"""Commands are bound to their gate, and ``gate-edge cmd`` (the technician's and the office's tool)
against running daemons and a real mosquitto."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from mqtt_helpers import Listener, gate_config, wait_for

from edge.gate.daemon import Daemon
from edge.site.localbroker import free_port
from edge.site.remote import new_command

REPO = Path(__file__).resolve().parents[2]
KEY = b"office-and-gates-share-this-key!"
SHANGHAI = ZoneInfo("Asia/Shanghai")
UNPLUGGED = [{"id": "cam-in", "source": "/dev/video97", "role": "plate", "lane": "in", "read_qr": False},
             {"id": "cam-out", "source": "/dev/video98", "role": "plate", "lane": "out", "read_qr": False}]


def start_gate(tmp_path, broker, gate, barrier):
    key = tmp_path / "command.key"
    key.write_bytes(KEY + b"\n")  # a trailing newline, as an editor leaves it: both sides strip it
    config = gate_config(tmp_path / gate, broker.port, gate=gate, command_key_file=str(key), cameras=UNPLUGGED,
                         barriers=[{"id": barrier, "type": "simulated", "lanes": ["in", "out"]}])
    daemon = Daemon(config).start()
    assert daemon.link.connected.wait(10) and daemon.link.subscribed.wait(10)
    return daemon


@pytest.fixture
def east(tmp_path, broker):
    daemon = start_gate(tmp_path, broker, "east", "foot")
    yield daemon
    daemon.close()


def results(office, gate):
    return {r["request_id"]: r for r in office.on(f"/{gate}/cmd/result")}


def test_a_command_for_one_gate_is_refused_by_another(tmp_path, broker, east):
    west = start_gate(tmp_path, broker, "west", "car")
    office = Listener(broker.port, "gate/tianlin12/#")
    try:
        body = new_command("open", site="tianlin12", gate="east", key=KEY, zone=SHANGHAI, lane="in")
        rid = body["request_id"]
        # Replayed unchanged on the west gate's topic: refused there, and west's barrier does not move.
        office.publish("gate/tianlin12/west/cmd/open", body)
        assert wait_for(lambda: rid in results(office, "west"), 10)
        refused = results(office, "west")[rid]
        assert refused["ok"] is False
        assert refused["error"] == "bad signature (signed for another site, gate or command, or with another key)"
        # The same bytes on east's own topic: east opens.
        office.publish("gate/tianlin12/east/cmd/open", body)
        assert wait_for(lambda: rid in results(office, "east"), 10)
        assert results(office, "east")[rid]["ok"] is True and results(office, "east")[rid]["error"] is None
        assert len(east.barriers["foot"].commands) == 1
        assert west.barriers["car"].commands == []
    finally:
        office.close()
        west.close()


def gate_edge_cmd(config_path, *args, timeout=5.0):
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "edge", "cmd", "-c", str(config_path), *args],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout + 20)
    return done, time.monotonic() - started


def test_gate_edge_cmd_opens_reports_a_refusal_and_says_when_nobody_answers(tmp_path, east):
    config_path = tmp_path / "east" / "gate.yaml"  # the gate's own config: the technician's case

    done, _ = gate_edge_cmd(config_path, "--gate", "east", "open", "--lane", "out", "--barrier", "foot")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["error"] is None and result["request_id"].startswith("cmd-")
    assert wait_for(lambda: len(east.barriers["foot"].commands) == 1, 5)

    done, _ = gate_edge_cmd(config_path, "--gate", "east", "pay", "--session", "no-such-session",
                            "--amount-cents", "500")
    assert done.returncode == 1, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is False and result["error"]
    assert len(east.barriers["foot"].commands) == 1

    done, elapsed = gate_edge_cmd(config_path, "--gate", "north", "reload", "--timeout", "1")
    assert done.returncode == 2 and done.stdout == ""
    assert "no answer from gate 'north'" in done.stderr and "gate/tianlin12/north/cmd/result" in done.stderr
    assert elapsed < 10

    done, _ = gate_edge_cmd(config_path, "--gate", "east", "pay", "--session", "s-1")
    assert done.returncode == 2 and "pay needs --session SESSION_ID and --amount-cents N" in done.stderr

    # issue 31: a session read wrongly at entry, corrected by plate
    entry = east.gate.vehicle("in", "沪A1234B")
    done, _ = gate_edge_cmd(config_path, "--gate", "east", "correct", "--session", entry["session_id"],
                            "--plate", "沪A12348")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ok"] is True and json.loads(done.stdout)["due_cents"] == 0
    assert east.store.sessions.get(entry["session_id"])["plate"] == "沪A12348"
    done, _ = gate_edge_cmd(config_path, "--gate", "east", "correct", "--session", entry["session_id"])
    assert done.returncode == 2 and "correct needs --session SESSION_ID and --plate PLATE" in done.stderr


def test_gate_edge_cmd_without_a_broker_or_a_key_exits_2(tmp_path):
    (tmp_path / "command.key").write_bytes(KEY)
    gate_config(tmp_path / "closed", free_port(), command_key_file=str(tmp_path / "command.key"))  # nobody there
    done, elapsed = gate_edge_cmd(tmp_path / "closed" / "gate.yaml", "--gate", "east", "open", "--timeout", "2")
    assert done.returncode == 2 and done.stdout == ""
    assert "cannot reach the broker at 127.0.0.1:" in done.stderr and elapsed < 10

    gate_config(tmp_path / "nokey", free_port())
    done, _ = gate_edge_cmd(tmp_path / "nokey" / "gate.yaml", "--gate", "east", "open")
    assert done.returncode == 2 and "mqtt.command_key_file" in done.stderr and "is not set" in done.stderr
