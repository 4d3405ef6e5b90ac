"""`gate-edge query` on a large registry: 5,000 people, 2,000 vehicles, 200,000 past events.

    ours   indexed lookups (vehicle by primary key, open session by partial index, last seen by key)
    naive  what the old self-service kiosk did: read the tables and search them in Python

    python -m bench.query_bench
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import yaml

from edge.config import load_config
from edge.plates import LETTERS, PROVINCES
from edge.registry.query import query_person, query_plate
from edge.store import Store


def build(folder: Path, people=5000, vehicles=2000, events=200_000):
    path = folder / "gate.yaml"
    path.write_text(yaml.safe_dump({"site": "bench", "gate": "east", "database": str(folder / "registry.db")}))
    config = load_config(path)
    rng = random.Random(7)
    plates = set()
    while len(plates) < vehicles:
        plates.add(rng.choice(PROVINCES) + rng.choice(LETTERS) + "".join(rng.choice("0123456789") for _ in range(5)))
    plates = sorted(plates)
    now = time.time()
    # Through the data layer, as the gate fills it (one transaction: a few seconds for 200,000 events).
    with Store(config.database) as store, store.transaction():
        for i in range(people):
            store.people.add(f"住户{i}", f"{i // 100 + 1}-{i % 100 + 101}", care_watch=i % 10 == 0)
        for i, p in enumerate(plates):
            store.vehicles.upsert(p, "resident" if i % 3 else "family", i + 1, valid_until="2099-12-31")
        for i in range(events):
            event_id = str(uuid.uuid4())
            store.events.add_local({"event_id": event_id, "seq": i + 1, "ts": "x", "gate": "east", "kind": "entry",
                                       "subject": {"type": "vehicle", "plate": plates[i % vehicles]},
                                       "decision": "open"}, now - i * 60)
        for i, p in enumerate(plates):
            store.sightings.note(f"plate:{p}", now - i, "east", "e")
            session_id = str(uuid.uuid4())
            store.sessions.open(session_id, p, "visitor", now - 3600, "east", "e")
            if i % 5:
                store.sessions.close(session_id, now - 60, "east", "e", fee_cents=0)
    return config, plates


def naive_query(store, plate):
    """Load every table and scan it in Python (what a first version of `query` would do)."""
    vehicles = store.vehicles.all()
    people = store.people.all()
    sessions = store.sessions.open_sessions()
    events = store.events.payloads()
    vehicle = next((v for v in vehicles if v["plate"] == plate), None)
    owner = next((p for p in people if vehicle and p["id"] == vehicle["person_id"]), None)
    session = next((s for s in sessions if s["plate"] == plate), None)
    seen = max((e["ts"] for e in events if e["subject"].get("plate") == plate), default=None)
    return vehicle, owner, session, seen


def main(argv=None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        config, plates = build(Path(tmp))
        print(f"registry built in {time.perf_counter() - started:.1f} s: 5,000 people, 2,000 vehicles, "
              "200,000 events")
        rng = random.Random(3)
        with Store(config.database) as store:
            ours = []
            for plate in rng.sample(plates, 500):
                t = time.perf_counter()
                query_plate(store, config, plate)
                ours.append(time.perf_counter() - t)
            people = []
            for person in rng.sample(range(1, 5001), 500):
                t = time.perf_counter()
                query_person(store, config, person)
                people.append(time.perf_counter() - t)
            naive = []
            for plate in rng.sample(plates, 5):
                t = time.perf_counter()
                naive_query(store, plate)
                naive.append(time.perf_counter() - t)
    o50, o95 = np.percentile(ours, [50, 95]) * 1000
    p50, p95 = np.percentile(people, [50, 95]) * 1000
    n50 = np.percentile(naive, 50) * 1000
    print("| query | p50 ms | p95 ms |\n|---|---|---|")
    print(f"| ours --plate | {o50:.2f} | {o95:.2f} |\n| ours --person | {p50:.2f} | {p95:.2f} |")
    print(f"| naive scan --plate | {n50:.0f} | |\n\nnaive / ours (p50): {n50 / o50:.0f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
