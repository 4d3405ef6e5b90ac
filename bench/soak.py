"""Soak: the real daemon for an hour on looping media, with the broker, the barrier and the storage
failing in turn; resources at start and end must be flat and no decided event may be lost.

    gate-edge run (subprocess)  <- looping videos: a resident, a stranger, plates (demo media)
    mosquitto (restarted every --broker-every s, down for 20 s each time)
    Modbus barrier simulator on a pty (silent / bad CRC / exception for 10 s every --fault-every s)
    the database on an ext4 image of its own (bench.storage_faults), every --storage-every s for
        --storage-for s: read-only (chattr +i), then full (a filler file), in turn
    an office listener (persistent session) that counts every event_id

Every decision takes the next seq, so the decided events are seq 1 .. the newest (less the numbers the
gate says it skipped): one that was neither stored nor received would be a hole. The run ends with a
table: decided, stored by the gate, received by the office at least once, duplicates, lost, reused seqs;
and a JSON report (RSS, threads, open files, WAL size at start and end, the faults injected).

    python -m bench.soak [--minutes 60]          (root: the storage faults mount a loop device)
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

from bench import use_test_helpers


def proc_stats(pid: int, wal: Path) -> dict:
    status = Path(f"/proc/{pid}/status").read_text()
    field = {line.split(":")[0]: line.split(":")[1].strip() for line in status.splitlines() if ":" in line}
    return {
        "rss_mb": int(field["VmRSS"].split()[0]) // 1024,
        "threads": int(field["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "wal_kb": wal.stat().st_size // 1024 if wal.exists() else 0,
    }


def configure(work: Path, config_path: Path, database: Path) -> None:
    data = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    for camera in data["cameras"]:
        camera["loop"] = True
    # The videos loop every ~15 s: with the default 20 s plate cool-down a car that "comes back" would
    # count as one endless passage; shorter cool-downs make every loop a new passage at every camera.
    data["recognition"]["plate"]["cooldown_s"] = 5.0
    data["recognition"]["face"]["cooldown_s"] = 5.0
    data["log_level"] = "WARNING"
    data["database"] = str(database)
    data["retention"] = {"min_free_mb": 8}  # the loop disk is 64 MB: the disk alert comes with the filler
    config_path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def table(report: dict) -> str:
    rows = [
        ("events decided (seq 1..newest, less the seqs skipped)", report["events_decided"]),
        ("stored in the gate's database at the end", report["events_stored"]),
        ("sent, then deleted by retention to make room", report["events_deleted_sent"]),
        ("received by the office at least once", report["events_received"]),
        ("received more than once (same event_id)", report["events_duplicated"]),
        ("decided and received (every one)", "yes" if report["every_decided_received"] else "NO"),
        ("LOST (decided, neither received nor stored)", report["events_lost"]),
        ("seq used for two events", report["seqs_reused"]),
        ("still waiting at the end (outbox, memory)", f"{report['outbox_unsent_at_end']}, "
                                                      f"{report['memory_queued_at_end']}"),
        ("storage faults: read-only / full periods", f"{report['faults']['read_only']} / {report['faults']['full']}"),
        ("broker restarts / barrier faults", f"{report['faults']['broker']} / {report['faults']['barrier']}"),
        ("storage alerts raised / cleared", f"{report['storage_alerts']['raised']} / "
                                            f"{report['storage_alerts']['cleared']}"),
        ("barrier pulses (car)", report["barrier_pulses"]),
        ("minutes", report["minutes"]),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'soak':<{width}} | result |", f"|{'-' * (width + 2)}|--------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    from bench.storage_faults import LoopDisk
    from drivers.barrier_simulator import BarrierSimulator
    from drivers.ptylink import PtyLink
    from edge.cli.demo import enrol_residents, make_media, prepare
    from edge.site.localbroker import LocalBroker
    from edge.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60)
    parser.add_argument("--broker-every", type=float, default=240)
    parser.add_argument("--fault-every", type=float, default=90)
    parser.add_argument("--storage-every", type=float, default=150)
    parser.add_argument("--storage-for", type=float, default=30)
    parser.add_argument("--warm-up", type=float, default=60)
    args = parser.parse_args(argv)
    use_test_helpers()  # the tests' site: the same office, gate and broker set-up
    from mqtt_helpers import Listener

    work = Path(tempfile.mkdtemp(prefix="gate-edge-soak-"))
    disk = LoopDisk(work, 64)
    link = PtyLink(work, baudrate=9600)
    device = BarrierSimulator(link.device_path, arm_up_s=1.0).start()
    broker = LocalBroker(work / "broker").start()
    config_path = prepare(work, broker.port, link.host_path)
    database = disk.mount / "registry.db"
    configure(work, config_path, database)
    from edge.config import load_config

    config = load_config(config_path)
    people = enrol_residents(config)
    make_media(work, people["qr"])
    prefix = f"{config.mqtt.topic_prefix}/{config.site}"
    office = Listener(broker.port, f"{prefix}/#", client_id="soak-office")
    daemon = subprocess.Popen([sys.executable, "-m", "edge", "run", "-c", str(config_path)],
                              stdout=(work / "daemon.log").open("wb"), stderr=subprocess.STDOUT)
    wal = Path(str(database) + "-wal")
    stop = threading.Event()
    log: list[str] = []
    faults = {"broker": 0, "barrier": 0, "read_only": 0, "full": 0}

    def note(text: str) -> None:
        log.append(f"{time.strftime('%H:%M:%S')} {text}")

    def chaos():
        now = time.monotonic()
        next_broker, next_fault = now + args.broker_every, now + args.fault_every
        next_storage, storage_kinds = now + args.storage_every / 2, ["read_only", "full"]
        barrier_faults = ["silent", "bad_crc", "exception"]
        while not stop.wait(1):
            if time.monotonic() >= next_broker:
                broker.stop()
                faults["broker"] += 1
                note("broker down")
                stop.wait(20)
                broker.start()
                next_broker = time.monotonic() + args.broker_every
            if time.monotonic() >= next_fault:
                device.faults.mode = barrier_faults[0]
                barrier_faults.append(barrier_faults.pop(0))
                faults["barrier"] += 1
                note(f"barrier fault {device.faults.mode}")
                stop.wait(10)
                device.faults.mode = None
                next_fault = time.monotonic() + args.fault_every
            if time.monotonic() >= next_storage:
                kind = storage_kinds[0]
                storage_kinds.append(storage_kinds.pop(0))
                try:
                    disk.read_only(database) if kind == "read_only" else disk.fill()
                    faults[kind] += 1
                    note(f"storage {kind} ({disk.free_mb():.1f} MB free)")
                    stop.wait(args.storage_for)
                finally:
                    disk.writable()
                    note("storage writable")
                next_storage = time.monotonic() + args.storage_every

    def events() -> list[dict]:
        with office.lock:
            return [p for t, p, _ in office.messages if "/event/" in t and isinstance(p, dict)]

    def last_status() -> dict:
        found = [p for p in office.on(f"/{config.gate}/status") if isinstance(p, dict) and p.get("state") == "online"]
        return found[-1] if found else {}

    chaos_thread = threading.Thread(target=chaos, daemon=True)
    report: dict = {}
    try:
        time.sleep(args.warm_up)  # models loaded, caches filled
        start = proc_stats(daemon.pid, wal)
        chaos_thread.start()
        deadline = time.monotonic() + args.minutes * 60
        samples = [start]
        while time.monotonic() < deadline and daemon.poll() is None:
            time.sleep(min(30, max(1, deadline - time.monotonic())))
            if daemon.poll() is None:
                samples.append(proc_stats(daemon.pid, wal))
        stop.set()
        chaos_thread.join(120)
        device.faults.mode = None
        disk.writable()
        if broker.process is None:
            broker.start()
        drained = time.monotonic() + 180  # the outbox and the memory queue drain, storage says ok
        while time.monotonic() < drained:
            status = last_status()
            storage = status.get("storage") or {}
            if status.get("outbox") == 0 and storage.get("state") == "ok" and not storage.get("queued"):
                break
            time.sleep(2)
        time.sleep(5)
        end = proc_stats(daemon.pid, wal) if daemon.poll() is None else {}
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(60)
        import shutil

        shutil.copy(database, work / "registry-at-end.db")  # kept for a look after the loop disk is gone
        with Store(database) as store:
            stored = {e["seq"]: e["event_id"] for e in store.events.payloads(origin="local")}
            newest = store.events.next_free_seq() - 1
            skipped = store.events.skipped_seqs()
            unsent = store.outbox.depth()
        got = events()
        received: dict[int, set] = {}
        for event in got:
            if event.get("gate") == config.gate and isinstance(event.get("seq"), int):
                received.setdefault(event["seq"], set()).add(event["event_id"])
        newest = max([newest, *received]) if received else newest
        decided = [s for s in range(1, newest + 1) if not any(a <= s <= b for a, b in skipped)]
        lost = [s for s in decided if s not in stored and s not in received]
        ids = [e["event_id"] for e in got]
        alerts = [p for p in office.on("/alert/device") if isinstance(p, dict) and p.get("device") == "storage"]
        report = {
            "minutes": args.minutes, "start": start, "end": end,
            "max": {k: max(s[k] for s in samples) for k in start},
            "events_decided": len(decided), "events_stored": len(stored),
            "events_received": len([s for s in decided if s in received]),
            "events_duplicated": len(ids) - len(set(ids)),
            "every_decided_received": all(s in received for s in decided),
            "events_lost": len(lost), "lost_seqs": lost[:50],
            "events_deleted_sent": len([s for s in decided if s in received and s not in stored]),
            "seqs_reused": len([s for s, found in received.items() if len(found) > 1
                                or (s in stored and stored[s] not in found)]),
            "seq_skipped": skipped, "outbox_unsent_at_end": unsent,
            "memory_queued_at_end": (last_status().get("storage") or {}).get("queued"),
            "storage_alerts": {"raised": sum(a["state"] == "raised" for a in alerts),
                               "cleared": sum(a["state"] == "cleared" for a in alerts)},
            "barrier_pulses": len(device.pulses()), "faults": faults, "chaos": log, "exit_code": code,
            "daemon_log": str(work / "daemon.log"),
        }
        print(json.dumps(report, indent=2, ensure_ascii=False))
        print()
        print(table(report))
    finally:
        stop.set()
        if daemon.poll() is None:
            daemon.kill()
        office.close()
        broker.stop()
        device.close()
        link.close()
        disk.close()
    return 0 if report and report["events_lost"] == 0 and report["seqs_reused"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
