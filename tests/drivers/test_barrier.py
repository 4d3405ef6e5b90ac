"""The Modbus RTU barrier driver against a real Modbus server across a real pseudo-terminal pair.

The tests marked ``hardware`` run on the ``rs485`` line: in CI, the simulator (controllers at units 1
and 2 on one pty); on a technician's bench, a real RS-485 adapter and its controllers when
GATE_EDGE_TEST_SERIAL_PORT names the port (e.g. /dev/ttyUSB0), with GATE_EDGE_TEST_UNITS the unit ids
wired to it (default 1; "1,2" for a car barrier and a pedestrian gate on one line) and
GATE_EDGE_TEST_LANE the lane to pulse (default in). They open the real barriers.
"""

from __future__ import annotations

import json
import os
import time

import pytest

from drivers.barriers import BarrierError, make_barrier
from drivers.barriers.modbus_rtu import Barrier, Config

TIMEOUT, RETRIES = 0.2, 1


def driver(port, **kw) -> Barrier:
    settings = {"id": "car", "type": "modbus_rtu", "port": port, "pulse_ms": 50, "timeout_s": TIMEOUT,
                "retries": RETRIES, "open_coil": {"in": 0, "out": 1}, "fail_alert_after": 2, **kw}
    return Barrier(Config(**settings))


def test_open_is_one_pulse_seen_by_the_device(pty_barrier):
    link, device = pty_barrier
    with driver(link.host_path) as barrier:
        barrier.open("in")
        barrier.open("out")
        assert [p.coil for p in device.pulses()] == [0, 1]
        assert device.state.coils[:2] == [False, False]  # released after the pulse
        status = barrier.status()
    assert status.reachable and status.arm == "up"


def test_a_lost_reply_and_its_retry_still_make_exactly_one_pulse(pty_barrier):
    link, device = pty_barrier
    device.faults.drop_replies = 1  # the device switches the coil ON but its reply is lost
    with driver(link.host_path) as barrier:
        barrier.open("in")
    assert len(device.pulses(0)) == 1
    assert device.requests >= 3  # ON, ON again (the retry), OFF


def test_status_reads_the_loop_detectors(pty_barrier):
    link, device = pty_barrier
    device.set_loop("out", True)
    with driver(link.host_path) as barrier:
        status = barrier.status()
    assert status.to_dict() == {"reachable": True, "arm": "down", "loops": {"in": False, "out": True}, "detail": ""}


@pytest.mark.parametrize(
    "fault, message",
    [
        ("silent", "no reply from unit 1"),
        ("bad_crc", "invalid reply (bad CRC or garbage"),
        ("garbage", "invalid reply (bad CRC or garbage"),
        ("exception", "controller refused write coil 0 ON with Modbus exception 4: device failure"),
    ],
)
def test_each_wire_fault_gives_one_clear_error_in_bounded_time(pty_barrier, fault, message):
    link, device = pty_barrier
    device.faults.mode = fault
    with driver(link.host_path) as barrier:
        started = time.monotonic()
        with pytest.raises(BarrierError, match=message.replace("(", r"\(")):
            barrier.open("in")
        elapsed = time.monotonic() - started
        # Two transactions at most (ON, then OFF even though ON failed), each timeout x (retries + 1).
        assert elapsed < 2 * TIMEOUT * (RETRIES + 1) + 0.5
        assert barrier.arm == "unknown"
        assert barrier.status().reachable is False
        assert barrier.consecutive_failures == 2
        # The device may have acted on a request whose reply was lost, but never keeps the contact closed.
        assert len(device.pulses()) <= 1 and device.state.coils[0] is False
        device.faults.mode = None
        assert barrier.status().reachable and barrier.consecutive_failures == 0


def test_latency_beyond_the_timeout_is_silence(pty_barrier):
    link, device = pty_barrier
    device.faults.latency_s = TIMEOUT * (RETRIES + 1) + 0.3  # later than every retry
    with driver(link.host_path) as barrier:
        status = barrier.status()
    assert not status.reachable and "no reply" in status.detail


def test_alert_raised_after_n_failures_and_cleared_on_recovery(pty_barrier, config, store):
    from edge.alerts import Alerts
    from edge.gate.jobs import Jobs

    link, device = pty_barrier
    with driver(link.host_path) as barrier:
        jobs = Jobs(config, store, Alerts(config, store), barriers={"car": barrier})
        device.faults.mode = "silent"
        jobs.device_health()
        assert store.alerts.all() == []  # one failure: not yet
        jobs.device_health()
        raised = store.alerts.all(subject="barrier:car")
        assert [a["state"] for a in raised] == ["raised"] and "no reply" in raised[0]["detail"]
        device.faults.mode = None
        jobs.device_health()
        assert barrier.arm == "down"
    states = [a["state"] for a in store.alerts.all(subject="barrier:car")]
    assert states == ["cleared"]
    payloads = [m["payload"] for m in store.outbox.messages()]
    assert [(p["device"], p["state"]) for p in payloads] == [("barrier:car", "raised"), ("barrier:car", "cleared")]


def test_an_unplugged_adapter_is_reopened_with_backoff(pty_barrier):
    link, device = pty_barrier
    with driver(link.host_path) as barrier:
        barrier.open("in")
        link.unplug()
        with pytest.raises(BarrierError, match="lost|cannot open|failed"):
            barrier.open("in")
        with pytest.raises(BarrierError, match="cannot open|unavailable"):
            barrier.open("in")  # still unplugged
        link.replug()
        deadline = time.monotonic() + 10
        while True:
            try:
                barrier.open("in")
                break
            except BarrierError:
                assert time.monotonic() < deadline, "never reconnected"
                time.sleep(0.2)
    assert len(device.pulses(0)) == 2


def test_release_all_leaves_every_coil_off_after_a_restart(pty_barrier):
    link, device = pty_barrier
    device.state.coils[0] = True  # a pulse cut short by a crash left the contact closed
    with driver(link.host_path) as barrier:
        barrier.release_all()
    assert device.state.coils[:2] == [False, False]
    assert device.pulses() == []  # releasing never opens


def test_unknown_lane_is_refused(pty_barrier):
    link, _ = pty_barrier
    with driver(link.host_path, lanes=["in"]) as barrier, pytest.raises(BarrierError, match="does not serve"):
        barrier.open("out")


def test_simulated_driver_records_commands():
    from drivers.barriers.simulated import Config as SimConfig

    barrier = make_barrier(SimConfig(id="foot", type="simulated", lanes=["in"], arm_up_s=10))
    barrier.open("in")
    assert len(barrier.commands) == 1 and barrier.status().arm == "up"


def test_cli_wiring_test_against_the_simulator(pty_barrier, write_config, tmp_path, capsys):
    from edge.cli.main import main

    link, device = pty_barrier
    path = write_config({
        "site": "s", "gate": "g", "database": str(tmp_path / "r.db"),
        "cameras": [{"id": "c", "source": "rtsp://192.0.2.1/s", "role": "plate", "lane": "in"}],
        "barriers": [{"id": "car", "type": "modbus_rtu", "port": link.host_path, "lanes": ["in"], "pulse_ms": 50}],
    })
    assert main(["barrier", "open", "-c", str(path), "car"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
    assert main(["barrier", "status", "-c", str(path), "car"]) == 0
    assert json.loads(capsys.readouterr().out)["arm"] == "up"
    device.faults.mode = "silent"
    assert main(["barrier", "open", "-c", str(path), "car"]) == 1
    assert "no reply" in capsys.readouterr().err
    assert device.state.coils[0] is False


@pytest.fixture
def rs485(tmp_path):
    """(port, unit ids, simulator or None): a real adapter when GATE_EDGE_TEST_SERIAL_PORT is set, else
    the simulator with two controllers on one pty (as gpiozero runs its tests on real or mock pins)."""
    port = os.environ.get("GATE_EDGE_TEST_SERIAL_PORT")
    if port:
        yield port, [int(u) for u in os.environ.get("GATE_EDGE_TEST_UNITS", "1").split(",")], None
        return
    from drivers.barrier_simulator import BarrierSimulator
    from drivers.ptylink import PtyLink

    with PtyLink(tmp_path) as link, BarrierSimulator(link.device_path, units=(1, 2), arm_up_s=2.0) as device:
        yield link.host_path, [1, 2], device


def line_barriers(port, units):
    """One barrier per unit on the line, built as the daemon builds them (one bus for the port)."""
    from drivers.barriers import make_barriers

    real = bool(os.environ.get("GATE_EDGE_TEST_SERIAL_PORT"))
    return make_barriers([Config(id=f"unit{unit}", type="modbus_rtu", port=port, unit=unit,
                                 timeout_s=0.5 if real else TIMEOUT, retries=2 if real else RETRIES,
                                 pulse_ms=500 if real else 50) for unit in units])


LANE = os.environ.get("GATE_EDGE_TEST_LANE", "in")


@pytest.mark.hardware
def test_every_unit_on_the_line_opens_and_reports(rs485):
    port, units, device = rs485
    barriers = line_barriers(port, units)
    try:
        for barrier in barriers.values():
            barrier.open(LANE)
            assert barrier.status().reachable, barrier.last_error
        assert next(iter(barriers.values())).bus.opens == 1
    finally:
        for barrier in barriers.values():
            barrier.close()
    if device is not None:
        coil = Config(id="x", type="modbus_rtu", port=port).coil_for(LANE)
        assert [len(device.controller(u).pulses(coil)) for u in units] == [1] * len(units)


@pytest.mark.hardware
def test_units_on_one_line_open_at_once_through_one_port(rs485):
    import threading

    port, units, device = rs485
    if len(units) < 2:
        pytest.skip("set GATE_EDGE_TEST_UNITS to two or more unit ids wired to this adapter (e.g. 1,2)")
    barriers = line_barriers(port, units)
    errors = []

    def open_twice(barrier):
        try:
            barrier.open(LANE)
            barrier.open(LANE)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_twice, args=(b,)) for b in barriers.values()]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        buses = {id(b.bus) for b in barriers.values()}
        assert len(buses) == 1 and next(iter(barriers.values())).bus.opens == 1
    finally:
        for barrier in barriers.values():
            barrier.close()
