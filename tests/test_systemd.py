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


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it (systemd.syntax(7)): ``{section: {key: [values]}}``. Comments (# ;) are
    skipped, a trailing backslash continues a line, a key given again adds a value (DeviceAllow=, Environment=)
    and an empty assignment (``CapabilityBoundingSet=``) resets the list; keys outside a section are errors."""
    unit: dict[str, dict[str, list[str]]] = {}
    section = None
    lines = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "").strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = unit.setdefault(line[1:-1], {})
            continue
        assert section is not None, f"{line!r} is outside any [Section]"
        key, sep, value = line.partition("=")
        assert sep, f"{line!r} is not KEY=VALUE"
        values = section.setdefault(key.strip(), [])
        if value.strip():
            values.append(value.strip())
        else:
            values.clear()
    return unit


def _one(unit: dict, section: str, key: str) -> str:
    """A single-valued setting: the last assignment wins, as in systemd."""
    values = unit.get(section, {}).get(key, [])
    assert values, f"[{section}] {key}= is not set"
    return values[-1]


def _yes(unit: dict, section: str, key: str) -> bool:
    return _one(unit, section, key).lower() in ("1", "yes", "true", "on")


def _seconds(value: str) -> float:
    units = {"": 1, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "ms": 0.001}
    total = 0.0
    for number, unit in re.findall(r"([0-9.]+)\s*([a-z]*)", value):
        total += float(number) * units[unit]
    return total


def check_unit(text: str, command: str, config: str) -> None:
    """What the README promises of a service unit, read from the parsed unit (not from its text)."""
    import shlex

    unit = parse_unit(text)
    assert set(unit) == {"Unit", "Service", "Install"}, sorted(unit)
    assert _one(unit, "Service", "Type") == "notify"
    assert _one(unit, "Service", "NotifyAccess") == "main"
    assert _seconds(_one(unit, "Service", "WatchdogSec")) > 0
    assert _one(unit, "Service", "Restart") == "always"
    assert "2" in " ".join(unit["Service"].get("RestartPreventExitStatus", [])).split()  # a bad config stays down
    start = shlex.split(_one(unit, "Service", "ExecStart"))
    assert start[0].endswith("/gate-edge") and start[1:] == [command, "-c", config], start
    assert [shlex.split(v)[1:] for v in unit["Service"].get("ExecStartPre", [])] == [["check-config", config]]
    assert _yes(unit, "Service", "DynamicUser")
    assert _one(unit, "Service", "StateDirectory") == "gate-edge"
    assert _one(unit, "Service", "DevicePolicy") == "closed"
    assert _one(unit, "Service", "ProtectSystem") == "strict"
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "RestrictSUIDSGID", "LockPersonality"):
        assert _yes(unit, "Service", key), key
    assert unit["Service"].get("CapabilityBoundingSet") == [], "no capabilities at all"
    assert _one(unit, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.parametrize("unit, command, config", [(UNIT, "run", "/etc/gate-edge/gate.yaml"),
                                                    (OFFICE_UNIT, "office", "/etc/gate-edge/office.yaml")],
                         ids=["gate", "office"])
def test_unit_is_notify_with_a_watchdog_and_its_own_user(unit, command, config):
    check_unit(unit.read_text(), command, config)


@pytest.mark.parametrize("change", [
    ("Type=notify", "# Type=notify (commented out)\nType=simple"),  # the text still contains "Type=notify"
    ("DynamicUser=yes", "DynamicUser=yes\nDynamicUser=no"),  # a later assignment wins
    ("WatchdogSec=60", "WatchdogSec=0"),  # "WatchdogSec=" is there, the watchdog is off
    ("Restart=always", "Restart=on-failure\n# Restart=always"),
    ("ProtectSystem=strict", "ProtectSystem=strict\nProtectSystem=full"),
    ("CapabilityBoundingSet=", "CapabilityBoundingSet=\nCapabilityBoundingSet=CAP_NET_ADMIN"),
    ("WantedBy=multi-user.target", "; WantedBy=multi-user.target"),
], ids=["commented-out", "overridden", "watchdog-off", "restart", "protect-system", "capability", "wanted-by"])
def test_the_unit_check_reads_the_unit_not_its_text(change):
    old, new = change
    text = UNIT.read_text()
    assert old in text
    with pytest.raises(AssertionError):
        check_unit(text.replace(old, new, 1), "run", "/etc/gate-edge/gate.yaml")


def test_the_gate_unit_gives_glibc_the_daemons_number_of_heaps():
    """MALLOC_ARENA_MAX in the unit is the daemon's own ARENA_MAX (edge/gate/memory.py), so the threads
    started while the libraries load get no other setting than those started after the daemon's mallopt."""
    from edge.gate.memory import ARENA_MAX

    environment = dict(pair.split("=", 1) for value in parse_unit(UNIT.read_text())["Service"]["Environment"]
                       for pair in value.split())
    assert environment["MALLOC_ARENA_MAX"] == str(ARENA_MAX)


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
