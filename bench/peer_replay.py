"""Peer events at scale: how fast a gate applies a peer's backlog (signed, checked, stored once and applied,
in batches of up to 200 per transaction, against the naive one transaction per event), and how long it
takes to notice and fill a gap of 1,000 events over a real mosquitto (req/replay answered by the peer).

    python -m bench.peer_replay [--events 10000] [--gap 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench import use_test_helpers


def apply_rate(folder: Path, keys: Path, n: int) -> None:
    from edge.alerts import Alerts
    from edge.config import load_config
    from edge.site.peers import PeerReceiver
    from edge.store import Store

    use_test_helpers()  # the tests' site: the same office, gate and broker set-up
    from test_peers import _backlog
    from test_site import gate_config

    east_db = _backlog(folder, keys, n, time.time() - 3 * 3600)
    with Store(east_db) as east:
        payloads = [m["payload"] for m in east.outbox.messages()]
    raws = [json.dumps(p, ensure_ascii=False).encode() for p in payloads]
    config = load_config(gate_config(folder / "west", keys, 1, "west", cameras=[], barriers=[]))
    from edge.keys import load_verifier

    verifier = load_verifier([keys / "east.pub"])
    rates = {}
    for name, batch in (("naive: one transaction per event", 1), ("ours: batches of 200", 200)):
        with Store(folder / f"west-{batch}.db") as store:
            receiver = PeerReceiver(store, Alerts(config, store), site_mode=True, rules=None, zone=config.zone,
                                    gate_keys=lambda: {"east": verifier})
            started = time.perf_counter()
            for i in range(0, len(raws), batch):
                with store.transaction():
                    for raw in raws[i:i + batch]:
                        receiver.receive("east", raw)
            rates[name] = n / (time.perf_counter() - started)
            assert store.peers.get("east")["contiguous"] == n
    print(f"| applying {n:,} signed peer events | events/s |\n|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} |")
    naive, ours = rates.values()
    print(f"\nours / naive: {ours / naive:.1f}x\n")


def gap_fill(folder: Path, keys: Path, gap: int) -> None:
    use_test_helpers()  # the tests' site: the same office, gate and broker set-up
    from mqtt_helpers import wait_for
    from test_peers import _gate, _office
    from test_site import site_mosquitto, stop_parts

    from edge.site.gaps import GAP_WAIT_S

    broker = site_mosquitto(folder / "gap").start()
    office = west = east = None
    try:
        office = _office(folder / "gap", keys, broker.port)
        west = _gate(folder / "gap", keys, broker.port, "west")
        east = _gate(folder / "gap", keys, broker.port, "east")
        wait_for(lambda: west.replica.synced and east.replica.synced, 30)
        east.gate.person("in", None)
        wait_for(lambda: west.store.events.seqs("east") == [1], 10)
        topic = west.link.topics.peer_events
        west.link._client.unsubscribe(topic)  # west hears nothing of east for a while
        time.sleep(0.5)
        for _ in range(gap):
            east.gate.person("in", None)
        wait_for(lambda: east.store.outbox.depth() == 0, 60)
        west.link._client.subscribe(topic, qos=1)
        time.sleep(0.5)
        started = time.perf_counter()
        east.gate.person("in", None)  # the next event reveals the gap
        ok = wait_for(lambda: len(west.store.events.seqs("east")) == gap + 2, 120, step=0.01)
        took = time.perf_counter() - started
        print(f"a gap of {gap:,} events: {'filled' if ok else 'NOT filled'} {took:.1f} s after the event that "
              f"revealed it (detection waits {GAP_WAIT_S:.0f} s for events in flight)")
    finally:
        stop_parts(east, west, office, broker=broker)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--gap", type=int, default=1000)
    args = parser.parse_args(argv)
    from edge.site.localbroker import mosquitto_binary

    use_test_helpers()  # the tests' site: the same office, gate and broker set-up
    from test_site import make_keys

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        keys = make_keys(folder)
        apply_rate(folder, keys, args.events)
        if mosquitto_binary() is None:
            print("mosquitto is not installed (apt-get install mosquitto): the gap was not measured")
            return 0
        gap_fill(folder, keys, args.gap)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
