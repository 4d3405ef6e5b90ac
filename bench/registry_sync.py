"""The site registry at scale: the office publishes 5,000 people (two templates each) and 2,000
vehicles; how long until a fresh gate is ``synced`` with its matcher loaded, the gate's peak RSS, and
how long from the office's commit of one ``person add`` to that person being at the gate (p50 over 20).

The gate is the real ``gate-edge run`` (site mode, no cameras) in its own process against a private
mosquitto; the office is in this process. In the same run, applying the same records one transaction
each (the naive way: one fsync per record) against ours (batches of up to 500 per transaction).

    python -m bench.registry_sync [--people 5000] [--vehicles 2000] [--changes 20]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import use_test_helpers

DIM = 512


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _unit(rng) -> np.ndarray:
    vector = rng.standard_normal(DIM).astype(np.float32)
    return vector / np.linalg.norm(vector)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--vehicles", type=int, default=2000)
    parser.add_argument("--changes", type=int, default=20)
    args = parser.parse_args(argv)

    use_test_helpers()  # the tests' site: the same office, gate and broker set-up
    from test_site import gate_config, make_keys, office_config, site_mosquitto

    from edge.config import load_config
    from edge.office.service import Office
    from edge.rules.matcher import FaceMatcher
    from edge.site.localbroker import mosquitto_binary
    from edge.store import SCHEMA_VERSION, Store

    if mosquitto_binary() is None:
        print("mosquitto is not installed (apt-get install mosquitto): nothing measured")
        return 1
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keys = make_keys(folder)
        broker = site_mosquitto(folder, extra=["max_queued_messages 20000", "max_inflight_messages 100"]).start()
        office = gate = None
        try:
            office = Office(load_config(office_config(folder, keys, broker.port, "ensemble"))).start()
            store = office.store
            started = time.perf_counter()
            with store.transaction():
                for i in range(args.people):
                    person = store.people.add(f"住户{i}", f"{i // 100 + 1}-{i % 100 + 101}", care_watch=i % 10 == 0)
                    store.templates.add(person, "ensemble", [_unit(rng), _unit(rng)])
                for i in range(args.vehicles):
                    store.vehicles.upsert(f"沪A{i:05d}", "resident" if i % 3 else "family", 1 + i % args.people,
                                          valid_until="2099-12-31")
            committed = time.perf_counter() - started
            office.link.wake()
            while store.outbox.depth():
                time.sleep(0.2)
            published = time.perf_counter() - started
            head = store.records.get("head")
            print(f"office: {args.people:,} people x 2 templates and {args.vehicles:,} vehicles committed in "
                  f"{committed:.1f} s, all published (retained) after {published:.1f} s")

            path = gate_config(folder / "east", keys, broker.port, "east", cameras=[], barriers=[])
            log = open(folder / "gate.log", "w")  # noqa: SIM115 - closed below
            started = time.perf_counter()
            gate = subprocess.Popen([sys.executable, "-m", "edge", "run", "-c", str(path)], stdout=log, stderr=log)
            gate_db = load_config(path).database
            synced_s = None
            while time.perf_counter() - started < 300 and gate.poll() is None:
                time.sleep(0.25)
                if not gate_db.exists():
                    continue
                with Store(gate_db, upgrade=False) as copy:
                    if copy.version < SCHEMA_VERSION:
                        continue  # the gate is still creating its database
                    mine = copy.records.summary(head["epoch"])
                    if all(mine[k] == head[k] for k in ("people", "vehicles", "version", "digest")):
                        synced_s = time.perf_counter() - started
                        matcher = FaceMatcher(0.9, 0.04)
                        load = time.perf_counter()
                        matcher.refresh(copy, "ensemble")
                        matcher_s = time.perf_counter() - load
                        break
            if synced_s is None:
                print("the gate did not sync within 300 s; see", folder / "gate.log")
                return 1
            print(f"gate: synced after {synced_s:.1f} s (from process start), matcher of {matcher.size:,} templates "
                  f"loaded in {matcher_s * 1000:.0f} ms; peak RSS {_peak_rss_mb(gate.pid):.0f} MB")

            latencies = []
            for i in range(args.changes):
                with Store(gate_db, upgrade=False) as copy:
                    t0 = time.perf_counter()
                    with store.transaction():
                        person = store.people.add(f"新住户{i}", "99-101")
                        store.templates.add(person, "ensemble", [_unit(rng), _unit(rng)])
                    office.link.wake()
                    while copy.people.find_by_id(person) is None or copy.templates.count(person) < 2:
                        time.sleep(0.005)
                    latencies.append(time.perf_counter() - t0)
            p50 = statistics.median(latencies) * 1000
            print(f"one person add at the office -> at the gate: p50 {p50:.0f} ms, max {max(latencies) * 1000:.0f} ms"
                  f" over {len(latencies)}")
            naive_vs_ours(store, keys, folder, args.people)
        finally:
            if gate is not None:
                gate.terminate()
                gate.wait(30)
            if office is not None:
                office.close()
            broker.stop()
    return 0


def naive_vs_ours(office_store, keys: Path, folder: Path, people: int) -> None:
    """The same records applied to a fresh replica: one transaction each (naive) vs batches (ours)."""
    from edge.alerts import Alerts
    from edge.config import load_config
    from edge.contract import Topics
    from edge.keys import load_verifier
    from edge.rules.site_rules import SiteRules
    from edge.site.replica import Replica
    from edge.store import Store

    records = [(f"gate/tianlin12/registry/{kind}/{key}", json.dumps(record).encode())
               for kind, key, record in office_store.records.page((0, 0), 10**9)]
    random.Random(3).shuffle(records)  # retained messages arrive in topic order, not in version order
    sample = records[: min(len(records), 2000)]
    timings = {}
    for name, batch in (("naive, one transaction per record", 1), ("ours, batches of 500", 500)):
        config = load_config(folder / "east" / "gate.yaml")
        with Store(folder / f"apply-{batch}.db") as store:
            verifier = load_verifier([keys / "registry.pub"])
            replica = Replica(config, store, verifier, Alerts(config, store), SiteRules(config),
                              topics=Topics.of(config))
            started = time.perf_counter()
            for i in range(0, len(sample), batch):
                replica.apply_many(sample[i:i + batch])
            timings[name] = time.perf_counter() - started
    naive, ours = timings.values()
    print(f"\n| applying {len(sample):,} signed records at a gate | s | records/s |\n|---|---|---|")
    for name, seconds in timings.items():
        print(f"| {name} | {seconds:.2f} | {len(sample) / seconds:,.0f} |")
    print(f"\nnaive / ours: {naive / ours:.1f}x")


if __name__ == "__main__":
    raise SystemExit(main())
