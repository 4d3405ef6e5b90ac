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
from edge.query import query_person, query_plate
from edge.registry import Registry


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
    with Registry(config.database) as registry, registry.transaction() as db:
        db["people"].insert_all(({"id": i + 1, "name": f"住户{i}", "unit": f"{i // 100 + 1}-{i % 100 + 101}",
                                  "care_watch": int(i % 10 == 0), "created_at": "2026-01-01T00:00:00+08:00",
                                  "updated_at": "2026-01-01T00:00:00+08:00"} for i in range(people)), batch_size=1000)
        db["vehicles"].insert_all(({"plate": p, "class": "resident" if i % 3 else "family", "person_id": i + 1,
                                    "valid_until": "2099-12-31", "created_at": "x", "updated_at": "x"}
                                   for i, p in enumerate(plates)), batch_size=1000)
        db["events"].insert_all(({"event_id": str(uuid.uuid4()), "ts": "x", "ts_epoch": now - i * 60, "gate": "east",
                                  "kind": "entry", "subject_type": "vehicle", "plate": plates[i % vehicles],
                                  "decision": "open", "origin": "local", "payload": "{}"}
                                 for i in range(events)), batch_size=5000)
        db["last_seen"].insert_all(({"subject": f"plate:{p}", "ts_epoch": now - i, "gate": "east", "event_id": "e"}
                                    for i, p in enumerate(plates)), batch_size=1000)
        db["parking_sessions"].insert_all(({"session_id": str(uuid.uuid4()), "plate": p, "vehicle_class": "visitor",
                                            "state": "open" if i % 5 == 0 else "closed", "entry_epoch": now - 3600}
                                           for i, p in enumerate(plates)), batch_size=1000)
    return config, plates


def naive_query(registry, plate):
    vehicles = registry.query("SELECT * FROM vehicles")
    people = registry.query("SELECT * FROM people")
    sessions = registry.query("SELECT * FROM parking_sessions")
    events = registry.query("SELECT plate, ts_epoch, gate FROM events")
    vehicle = next((v for v in vehicles if v["plate"] == plate), None)
    owner = next((p for p in people if vehicle and p["id"] == vehicle["person_id"]), None)
    session = next((s for s in sessions if s["plate"] == plate and s["state"] == "open"), None)
    seen = max((e["ts_epoch"] for e in events if e["plate"] == plate), default=None)
    return vehicle, owner, session, seen


def main(argv=None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        config, plates = build(Path(tmp))
        print(f"registry built in {time.perf_counter() - started:.1f} s: 5,000 people, 2,000 vehicles, "
              "200,000 events")
        rng = random.Random(3)
        with Registry(config.database) as registry:
            ours = []
            for plate in rng.sample(plates, 500):
                t = time.perf_counter()
                query_plate(registry, config, plate)
                ours.append(time.perf_counter() - t)
            people = []
            for person in rng.sample(range(1, 5001), 500):
                t = time.perf_counter()
                query_person(registry, config, person)
                people.append(time.perf_counter() - t)
            naive = []
            for plate in rng.sample(plates, 5):
                t = time.perf_counter()
                naive_query(registry, plate)
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
