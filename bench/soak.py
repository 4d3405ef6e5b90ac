"""Soak: the real daemon for an hour on looping media, the broker restarted every few minutes and
barrier faults injected; resources at start and end must be flat and no event may be lost.

    gate-edge run (subprocess)  <- looping videos: a resident, a stranger, plates (demo media)
    mosquitto (restarted every --broker-every s, down for 20 s each time)
    Modbus barrier simulator on a pty (silent / bad CRC / exception for 10 s every --fault-every s)
    an office listener (persistent session) that counts every event_id

Reports RSS, threads, open files and WAL size at start (after warm-up) and end, events decided,
events received by the office, and the difference (lost).

    python -m bench.soak [--minutes 60]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench import REPO


def proc_stats(pid: int, wal: Path) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    field = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if ":" in line}
    return {
        "rss_mb": int(field["VmRSS"].split()[0]) // 1024,
        "threads": int(field["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "wal_kb": wal.stat().st_size // 1024 if wal.exists() else 0,
    }


def main(argv=None) -> int:
    from drivers.barrier_simulator import BarrierSimulator
    from drivers.ptylink import PtyLink
    from edge.demo import enrol_residents, make_media, prepare
    from edge.localbroker import LocalBroker
    from edge.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--broker-every", type=float, default=240)
    parser.add_argument("--fault-every", type=float, default=90)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO / "tests"))
    from mqtt_helpers import Listener

    work = Path(tempfile.mkdtemp(prefix="gate-edge-soak-"))
    link = PtyLink(work, baudrate=9600)
    device = BarrierSimulator(link.device_path, arm_up_s=1.0).start()
    broker = LocalBroker(work / "broker").start()
    config_path = prepare(work, broker.port, link.host_path)
    from edge.config import load_config

    config = load_config(config_path)
    people = enrol_residents(config)
    make_media(work, people["qr"])
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for camera in data["cameras"]:
        camera["loop"] = True
    # The videos loop every ~15 s: with the default 20 s plate cool-down a car that "comes back" would
    # count as one endless passage; shorter cool-downs make every loop a new passage at every camera.
    data["recognition"]["plate"]["cooldown_s"] = 5.0
    data["recognition"]["face"]["cooldown_s"] = 5.0
    data["log_level"] = "WARNING"
    config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    office = Listener(broker.port, "gate/tianlin12/+/event/#", client_id="soak-office")
    daemon = subprocess.Popen([sys.executable, "-m", "edge", "run", "-c", str(config_path)],
                              stdout=(work / "daemon.log").open("wb"), stderr=subprocess.STDOUT)
    wal = Path(str(config.database) + "-wal")
    stop = threading.Event()
    log: list[str] = []

    def chaos():
        next_broker = time.monotonic() + args.broker_every
        next_fault = time.monotonic() + args.fault_every
        faults = ["silent", "bad_crc", "exception"]
        while not stop.wait(1):
            if time.monotonic() >= next_broker:
                broker.stop()
                log.append(f"{time.strftime('%H:%M:%S')} broker down")
                stop.wait(20)
                broker.start()
                next_broker = time.monotonic() + args.broker_every
            if time.monotonic() >= next_fault:
                device.faults.mode = faults[0]
                faults.append(faults.pop(0))
                log.append(f"{time.strftime('%H:%M:%S')} barrier fault {device.faults.mode}")
                stop.wait(10)
                device.faults.mode = None
                next_fault = time.monotonic() + args.fault_every

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    try:
        time.sleep(60)  # warm-up: models loaded, caches filled
        start = proc_stats(daemon.pid, wal)
        chaos_thread.start()
        deadline = time.monotonic() + args.minutes * 60
        samples = [start]
        while time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(30)
            samples.append(proc_stats(daemon.pid, wal))
        stop.set()
        chaos_thread.join(60)
        device.faults.mode = None
        if broker.process is None:
            broker.start()
        time.sleep(30)  # let the outbox drain
        end = proc_stats(daemon.pid, wal)
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(30)
        with Store(config.database) as registry:
            decided = registry.events.ids("local")
            unsent = registry.outbox.depth()
        received = {p["event_id"] for p in office.on("")}
        report = {
            "minutes": args.minutes, "start": start, "end": end,
            "max": {k: max(s[k] for s in samples) for k in start},
            "events_decided": len(decided), "events_received_by_office": len(received & decided),
            "events_lost": len(decided - received), "outbox_unsent_at_end": unsent,
            "barrier_pulses": len(device.pulses()), "chaos": log, "exit_code": code,
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
    finally:
        stop.set()
        if daemon.poll() is None:
            daemon.kill()
        office.close()
        broker.stop()
        device.close()
        link.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
