"""The systemd unit verifies clean and is locked down (systemd-analyze, offline)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "gate-edge.service"
OFFICE_UNIT = UNIT.with_name("gate-edge-office.service")


@pytest.fixture
def analyze():
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (make test installs Debian's systemd as root)")
    return tool


@pytest.fixture(params=[UNIT, OFFICE_UNIT], ids=["gate", "office"])
def installed_unit(tmp_path, request):
    """The unit as installed: its ExecStart pointing at this checkout's gate-edge."""
    gate_edge = Path(sys.executable).with_name("gate-edge")
    text = request.param.read_text().replace("/opt/gate-edge/.venv/bin/gate-edge", str(gate_edge))
    path = tmp_path / request.param.name
    path.write_text(text)
    return path


def test_unit_verifies_without_a_word_on_stderr(analyze, installed_unit):
    result = subprocess.run([analyze, "verify", str(installed_unit)], capture_output=True, text=True, timeout=60)
    assert result.stderr == ""
    assert result.returncode == 0


def test_unit_exposure_is_at_most_2(analyze, installed_unit):
    result = subprocess.run([analyze, "security", "--offline=yes", str(installed_unit)], capture_output=True,
                            text=True, timeout=60)
    name = re.escape(installed_unit.name)
    match = re.search(rf"Overall exposure level for {name}: ([0-9.]+)", result.stdout)
    assert match, result.stdout[-500:] + result.stderr
    assert float(match.group(1)) <= 2.0


def test_unit_is_notify_with_a_watchdog_and_its_own_user():
    text = UNIT.read_text()
    for line in ("Type=notify", "WatchdogSec=", "Restart=always", "DynamicUser=yes", "StateDirectory=gate-edge",
                 "DevicePolicy=closed", "ProtectSystem=strict"):
        assert line in text


def test_daemon_speaks_the_notify_protocol(tmp_path):
    import os
    import signal
    import socket
    import time

    import yaml

    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.settimeout(30)
    config = tmp_path / "gate.yaml"
    config.write_text(yaml.safe_dump({"site": "s", "gate": "g", "database": "r.db", "mqtt": {"enabled": False}}))
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "1000000"}
    process = subprocess.Popen([sys.executable, "-m", "edge", "run", "-c", str(config)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    messages = []
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("WATCHDOG=1" in m for m in messages):
            messages.append(listener.recv(4096).decode())
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
        listener.settimeout(2)
        try:
            while True:
                messages.append(listener.recv(4096).decode())
        except TimeoutError:
            pass
    finally:
        if process.poll() is None:
            process.kill()
        listener.close()
    text = "\n".join(messages)
    assert "READY=1" in text and "WATCHDOG=1" in text and "STOPPING=1" in text
    assert text.index("READY=1") < text.index("WATCHDOG=1") < text.index("STOPPING=1")
