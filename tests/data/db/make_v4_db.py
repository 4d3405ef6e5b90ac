# ruff: noqa: I001  (edge.registry is the module of that older commit, gone since)
"""How registry-v4.db was made: run once with gate-edge at commit 37d19e1 (schema version 4, before the
data layer), from that checkout: ``PYTHONPATH=. python make_v4_db.py OUT/registry-v4.db``, then VACUUM.

A small registry with every table in use: people (one erased), templates and a kept photo, vehicles,
passes (one revoked), the gate's own events (entry, stranger, vehicle entries, a held exit), a peer's
event, the outbox (three messages sent, the rest waiting), an open parking session, sightings, a device
and an inactivity alert, a seen command id. tests/store/test_store.py migrates a copy of it.
"""

import json
import sys
from pathlib import Path

import numpy as np
import yaml

from drivers.barriers import make_barrier
from edge.alerts import Alerts
from edge.config import load_config
from edge.gate.controller import Gate
from edge.registry.passes import issue_token, record_pass, revoke_pass
from edge.site.peers import apply_peer_event
from edge.rules.plate_match import PlateMatch
from edge.registry import Registry  # the module of that commit
from edge.site.remote import remember_request
from edge.timeutil import FixedClock

out = Path(sys.argv[1])
work = out.parent
cfg = work / "gate.yaml"
(work / "cam.jpg").touch()
cfg.write_text(yaml.safe_dump({
    "site": "tianlin12", "gate": "east", "database": str(out), "mqtt": {"enabled": False},
    "cameras": [{"id": "face-in", "source": "cam.jpg", "role": "face", "lane": "in", "barrier": "foot"},
                {"id": "plate-in", "source": "cam.jpg", "role": "plate", "lane": "in", "barrier": "car"},
                {"id": "plate-out", "source": "cam.jpg", "role": "plate", "lane": "out", "barrier": "car"}],
    "barriers": [{"id": "car", "type": "simulated", "lanes": ["in", "out"]},
                 {"id": "foot", "type": "simulated", "lanes": ["in"]}]}))
config = load_config(cfg)
T0 = 1795000000.0  # 2026-11-18
clock = FixedClock(T0)
rng = np.random.default_rng(7)
with Registry(out) as reg:
    wang = reg.add_person("王建国", "12-301", "13800000001", care_watch=True, face_consent=True)
    li = reg.add_person("李桂兰", "3-402", "13800000002")
    gone = reg.add_person("赵离开", "7-101")
    reg.add_templates(wang, "ensemble", [rng.standard_normal(8).astype(np.float32)], [b"\xff\xd8fakejpeg"])
    reg.add_templates(li, "ensemble", [rng.standard_normal(8).astype(np.float32)])
    reg.upsert_vehicle("皖AY6B59", "resident", wang, valid_until="2099-12-31")
    reg.upsert_vehicle("皖AF06789", "family", li, valid_until="2099-12-31")
    reg.upsert_vehicle("沪B99999", "blocked")
    _, claim = issue_token(b"k" * 32, person_id=li, valid_hours=24, now=T0)
    record_pass(reg, claim)
    _, claim2 = issue_token(b"k" * 32, plate="沪A12345", valid_hours=24, now=T0)
    record_pass(reg, claim2)
    revoke_pass(reg, claim2.pass_id, now=T0 + 60)
    barriers = {b.id: make_barrier(b) for b in config.barriers}
    alerts = Alerts(config, reg, clock=clock)
    gate = Gate(config, reg, barriers, alerts, clock=clock)
    gate.person("in", wang, credential="face")
    clock.advance(60)
    gate.person("in", None, credential="face")
    clock.advance(60)
    gate.vehicle("in", "皖AY6B59", match=PlateMatch("皖AY6B59", "exact", reg.vehicle("皖AY6B59")))
    clock.advance(60)
    gate.vehicle("in", "沪A11111", match=None)  # a visitor: an open session
    clock.advance(3 * 3600)
    gate.vehicle("out", "沪A11111", match=None)  # held with a fee
    peer = {"event_id": "0b5f6a0e-0000-4000-8000-000000000001", "ts": "2026-11-18T12:00:00.000+08:00",
            "site": "tianlin12", "gate": "west", "lane": "in", "kind": "entry", "credential": "face",
            "subject": {"type": "person", "person_id": li, "plate": None, "class": None}, "decision": "open",
            "reason": "registered resident of 3-402", "fee_cents": 0, "session_id": None}
    apply_peer_event(reg, alerts, "west", json.dumps(peer).encode())
    alerts.device("camera:east-face-in", False, "no frame for 12 s")
    clock.advance(3 * 86400)
    alerts.check_inactivity()
    remember_request(reg, 300)("office-1")
    # the first three messages reached the broker; the rest wait in the outbox
    seqs = [r["seq"] for r in reg.query("SELECT seq FROM outbox ORDER BY seq")][:3]
    reg.conn.executemany("UPDATE outbox SET sent_epoch = ? WHERE seq = ?", [(T0 + 5, s) for s in seqs])
    reg.remove_person(gone)
    reg.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
