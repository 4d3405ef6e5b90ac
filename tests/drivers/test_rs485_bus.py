"""Two barriers on one RS-485 line (a car barrier at unit 1, a pedestrian gate at unit 2 on one port):
one serial client, one lock, one back-off; a silent unit does not stop the other, nor the gate.

Real parts: pymodbus's Modbus RTU server playing both controllers on the device end of a real
pseudo-terminal pair, the barriers built as the daemon builds them, the gate with its real database.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

import pytest

TIMEOUT, RETRIES, PULSE_MS = 0.2, 3, 50
# One command of a silent unit: ON and OFF, each (RETRIES + 1) tries of TIMEOUT.
SILENT_OPEN_S = 2 * (RETRIES + 1) * TIMEOUT


@contextlib.contextmanager
def line(tmp_path, units=(1, 2)):
    """A pty pair whose device end is one RS-485 line with a controller at each of ``units``."""
    from drivers.barrier_simulator import BarrierSimulator
    from drivers.ptylink import PtyLink

    with PtyLink(tmp_path / "line") as link, BarrierSimulator(link.device_path, units=units, arm_up_s=2.0) as device:
        yield link, device


def barriers_yaml(port, /, **foot):
    common = {"type": "modbus_rtu", "port": port, "timeout_s": TIMEOUT, "retries": RETRIES, "pulse_ms": PULSE_MS,
              "fail_alert_after": 2}
    return [
        {"id": "car", **common, "unit": 1, "open_coil": {"in": 0, "out": 1}, "lanes": ["in", "out"]},
        {"id": "foot", **common, "unit": 2, "open_coil": 0, "lanes": ["in"], **foot},
    ]


def gate_config(write_config, tmp_path, port, /, **foot):
    from edge.config import load_config

    return load_config(write_config({
        "site": "tianlin12", "gate": "east", "database": str(tmp_path / "registry.db"),
        "cameras": [
            {"id": "car-cam", "source": "rtsp://192.0.2.1/car", "role": "plate", "lane": "in", "barrier": "car"},
            {"id": "foot-cam", "source": "rtsp://192.0.2.1/foot", "role": "face", "lane": "in", "barrier": "foot"},
        ],
        "barriers": barriers_yaml(port, **foot),
    }))


@contextlib.contextmanager
def daemon_barriers(config):
    """The barriers exactly as ``gate-edge run`` builds them from the config (and closes them)."""
    from edge.gate.daemon import Daemon

    daemon = Daemon(config)
    daemon._start_barriers()
    try:
        yield daemon.barriers
    finally:
        for barrier in daemon.barriers.values():
            barrier.close()


def run_threads(*targets):
    """Run each target in its own thread, started together; the exceptions they raised."""
    errors: list[BaseException] = []
    start = threading.Barrier(len(targets))

    def wrap(target):
        start.wait()
        try:
            target()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=wrap, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def test_two_units_on_one_port_open_from_two_threads_through_one_client(tmp_path, write_config):
    with line(tmp_path) as (link, device), \
            daemon_barriers(gate_config(write_config, tmp_path, link.host_path)) as barriers:
        car, foot = barriers["car"], barriers["foot"]
        errors = run_threads(lambda: [car.open(lane) for lane in ("in", "out") * 3],
                             lambda: [foot.open("in") for _ in range(6)])
        assert errors == []
        assert [len(device.controller(1).pulses(c)) for c in (0, 1)] == [3, 3]
        assert len(device.controller(2).pulses(0)) == 6
        assert device.controller(1).state.coils[:2] == [False, False] and device.controller(2).state.coils[0] is False
        # Interleaved: the pedestrian gate opened while the car barrier was busy, and the other way round.
        car_times = [p.ts for p in device.controller(1).pulses()]
        foot_times = [p.ts for p in device.controller(2).pulses()]
        assert min(foot_times) < max(car_times) and min(car_times) < max(foot_times)
        # One client for the line: the port was opened once, by the bus both barriers use.
        assert car.bus is foot.bus and car.bus.opens == 1
        assert car.status().reachable and foot.status().reachable


def test_a_silent_unit_does_not_stop_the_other_unit(tmp_path, write_config):
    from drivers.barriers import BarrierError

    with line(tmp_path) as (link, device), \
            daemon_barriers(gate_config(write_config, tmp_path, link.host_path)) as barriers:
        car, foot = barriers["car"], barriers["foot"]
        device.controller(1).faults.mode = "silent"  # the car barrier's controller stops answering
        asked = device.controller(1).requests  # the daemon's start already wrote its coils OFF
        stop = threading.Event()
        car_errors: list[str] = []

        def keep_opening_the_car():
            while not stop.is_set():
                try:
                    car.open("in")
                except BarrierError as exc:
                    car_errors.append(str(exc))

        car_thread = threading.Thread(target=keep_opening_the_car)
        car_thread.start()
        try:
            deadline = time.monotonic() + 5
            while device.controller(1).requests == asked and time.monotonic() < deadline:
                time.sleep(0.01)
            durations = []
            for _ in range(4):  # the pedestrian gate keeps working, never slowed by a whole silent command
                started = time.monotonic()
                foot.open("in")
                durations.append(time.monotonic() - started)
                status = foot.status()
                assert status.reachable and status.arm == "up"
        finally:
            stop.set()
            car_thread.join(10)
        assert len(device.controller(2).pulses(0)) == 4
        # Each pedestrian request waits at most for one try of the silent unit, not for all its retries.
        assert max(durations) < PULSE_MS / 1000 + 2 * TIMEOUT + 0.35, durations
        assert foot.consecutive_failures == 0 and not foot.failing and foot.health()["state"] == "ok"
        # The silent unit's failures are its own: counted on the car barrier, no port back-off, no reopen.
        assert car_errors and all("no reply from unit 1" in e for e in car_errors), car_errors[:2]
        assert car.failing and car.health()["state"] == "failing"
        assert car.bus.health()["state"] == "ok" and car.bus.opens == 1
        device.controller(1).faults.mode = None
        car.open("in")
        assert car.consecutive_failures == 0 and car.bus.opens == 1


@pytest.mark.parametrize("setting, value", [("baudrate", 19200), ("parity", "E"), ("bytesize", 7),
                                            ("stopbits", 2), ("timeout_s", 0.5)])
def test_conflicting_serial_settings_on_one_port_are_a_config_error_naming_both_barriers(
        tmp_path, write_config, capsys, setting, value):
    from edge.cli.main import main
    from edge.config import ConfigError, load_config

    path = write_config({"site": "tianlin12", "gate": "east", "database": "registry.db",
                         "barriers": barriers_yaml("/dev/ttyUSB0", **{setting: value})})
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = [p for p in info.value.problems if p.key == f"barriers.1.{setting}"]
    assert len(problems) == 1, [str(p) for p in info.value.problems]
    message = problems[0].message
    assert "'foot'" in message and "'car'" in message and "/dev/ttyUSB0" in message and setting in message
    assert problems[0].line == path.read_text().splitlines().index(f"  {setting}: {value}") + 1
    assert main(["check-config", str(path)]) == 2
    assert f"barriers.1.{setting}: barrier 'foot' and barrier 'car'" in capsys.readouterr().err


def test_one_device_under_two_names_is_one_port(tmp_path, write_config):
    from edge.config import ConfigError, load_config

    alias = tmp_path / "rs485-by-id"
    alias.symlink_to("/dev/ttyUSB0")  # /dev/serial/by-id/… names the same adapter as /dev/ttyUSB0
    barriers = barriers_yaml("/dev/ttyUSB0", port=str(alias), baudrate=19200)
    with pytest.raises(ConfigError, match=r"barriers\.1\.baudrate: barrier 'foot' and barrier 'car'"):
        load_config(write_config({"site": "s", "gate": "g", "database": "r.db", "barriers": barriers}))
    # Equal settings on one port, and different settings on different ports, are fine.
    load_config(write_config({"site": "s", "gate": "g", "database": "r.db", "barriers": barriers_yaml("/dev/ttyUSB0")}))
    load_config(write_config({"site": "s", "gate": "g", "database": "r.db",
                              "barriers": barriers_yaml("/dev/ttyUSB0", port="/dev/ttyUSB1", baudrate=19200)}))


def test_a_silent_car_barrier_does_not_stall_a_pedestrian_decision(tmp_path, write_config):
    from edge.alerts import Alerts
    from edge.gate.controller import Gate
    from edge.store import Store

    with line(tmp_path) as (link, device):
        config = gate_config(write_config, tmp_path, link.host_path)
        cameras = {c.id: c for c in config.cameras}
        with Store(config.database) as store, daemon_barriers(config) as barriers:
            resident = store.people.add("王建国", "12-301")
            gate = Gate(config, store, barriers, Alerts(config, store))
            device.controller(1).faults.mode = "silent"
            asked = device.controller(1).requests  # the daemon's start already wrote its coils OFF
            car_done: dict = {}

            def car_opened_by_the_office():
                car_done["event"] = gate.remote_open("in", "car", "req-1")
                car_done["at"] = time.monotonic()

            car = threading.Thread(target=car_opened_by_the_office)
            car_started = time.monotonic()
            car.start()
            deadline = time.monotonic() + 5
            while device.controller(1).requests == asked and time.monotonic() < deadline:
                time.sleep(0.005)
            committed_before_pulse = [e["request_id"] for e in store.events.payloads(kind="entry")]

            started = time.monotonic()
            try:
                walked_in = gate.person("in", resident, camera=cameras["foot-cam"])
                foot_done = time.monotonic()
                elapsed = foot_done - started
                # The pedestrian's whole decision, pulse included, ends well before the car's retries do.
                assert elapsed < SILENT_OPEN_S / 2, f"pedestrian decision took {elapsed:.2f} s"
                car_still_pulsing = "at" not in car_done
                handed_out_meanwhile = store.outbox.unsent()
                announced_meanwhile = store.events.announced_seq()  # what the status names as our newest
            finally:
                car.join(10)

        assert foot_done < car_done["at"] - 0.2, (foot_done - car_started, car_done["at"] - car_started)
        assert walked_in["decision"] == "open" and walked_in["barrier"] == "ok"
        assert len(device.controller(2).pulses(0)) == 1
        assert car_done["event"]["barrier"].startswith("failed: barrier car: no reply from unit 1")
        # The office's event was committed before its pulse began; its result is a follow-up field.
        assert committed_before_pulse == ["req-1"]
        with Store(config.database) as store:
            stored = {e["event_id"]: e for e in store.events.payloads()}
            published = [m["payload"] for m in store.outbox.messages()]
        assert stored[car_done["event"]["event_id"]]["barrier"] == car_done["event"]["barrier"]
        # Messages leave in seq order: the pedestrian's waited behind the car's until the car's result was in.
        assert [p["seq"] for p in published] == [1, 2]
        assert [p["barrier"][:6] for p in published] == ["failed", "ok"]
        assert car_still_pulsing and handed_out_meanwhile == [] and announced_meanwhile == 0


def test_an_event_held_for_a_pulse_is_published_after_a_restart(tmp_path, write_config):
    """The process dies during the pulse, after the commit: the next start publishes it, result unknown."""
    from drivers.barriers import Barrier, BarrierStatus
    from edge.alerts import Alerts
    from edge.gate.controller import Gate
    from edge.store import Store

    class PowerCut(Barrier):
        def open(self, lane):
            raise SystemExit("power cut during the pulse")

        def status(self):
            return BarrierStatus(False)

        def health(self):
            return {"state": "ok"}

        def release_all(self):
            pass

        @property
        def failing(self):
            return False

    config = gate_config(write_config, tmp_path, "/dev/ttyUSB9")
    with Store(config.database) as store:
        gate = Gate(config, store, {"car": PowerCut(config.barrier("car"))}, Alerts(config, store))
        with pytest.raises(SystemExit):
            gate.remote_open("in", "car", "req-1")
        [event] = store.events.payloads()
        assert "barrier" not in event and store.outbox.unsent() == []  # committed, held for the result
    with Store(config.database) as store:
        Gate(config, store, {}, Alerts(config, store))  # the restarted daemon's gate
        [row] = store.outbox.unsent()
        [event] = store.events.payloads()
    assert row["msg_id"] == f"event:{event['event_id']}" and event["request_id"] == "req-1"
    assert event["barrier"].startswith("unknown: the gate stopped during the pulse")


def test_the_port_is_opened_once_even_with_a_symlinked_name(tmp_path, write_config):
    with line(tmp_path) as (link, device):
        alias = tmp_path / "by-id"
        os.symlink(link.host_path, alias)
        config = gate_config(write_config, tmp_path, link.host_path, port=str(alias))
        with daemon_barriers(config) as barriers:
            barriers["car"].open("in")
            barriers["foot"].open("in")
            assert barriers["car"].bus is barriers["foot"].bus and barriers["car"].bus.opens == 1
        assert len(device.controller(1).pulses(0)) == 1 and len(device.controller(2).pulses(0)) == 1
