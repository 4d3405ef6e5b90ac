"""Notifications (DESIGN 7): how fast a backlog drains after a channel's outage, and how soon a gate's
alert reaches a channel.

    drain    1,000 messages queued while the webhook's endpoint answered 503 (each tried once and queued
             again with its back-off); the endpoint comes back and the back-off has passed: time until
             every message is sent, against a bare loop POSTing the same 1,000 bodies (no queue, no claim,
             no state: the price of never losing or repeating one)
    latency  a gate raises a care-watch alert -> the office archives it and queues step 0 -> the first
             HTTP request reaches the channel's endpoint: p50 and p95 over 20 alerts (target p50 <= 2 s),
             against the same worker left to find the message by polling (no wake after the commit)

Starts its own HTTP endpoint on loopback; the latency part also mosquitto, the office and a gate daemon
(skipped, with the reason, when mosquitto is missing).

    python -m bench.notify_bench [--messages 1000] [--alerts 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import yaml

from bench import use_test_helpers
from edge.alerts import Alerts
from edge.config import load_config
from edge.config.notify import NotifyConfig
from edge.office.notify.channels import build_channels
from edge.office.notify.delivery import Delivery
from edge.store import Store
from edge.timeutil import Clock


class Endpoint:
    """A webhook receiver on loopback (HTTP/1.1, kept alive): answers ``status`` and notes the first arrival
    (perf_counter) of each alert id."""

    def __init__(self):
        self.status = 200
        self.arrivals: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each kept-alive answer waits out the client's delayed ACK

            def do_POST(self):  # noqa: N802 - http.server's name
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with endpoint.lock:
                    endpoint.count += 1
                    try:
                        endpoint.arrivals.setdefault(json.loads(body).get("alert_id"), arrived)
                    except ValueError:
                        pass
                    status = endpoint.status
                data = b'{"errcode": 0}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self._headers_buffer.append(b"\r\n" + data)  # headers and body in one write
                self.flush_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def notify_section(folder: Path, url: str, **extra) -> dict:
    secret = folder / "hook.secret"
    secret.write_text("bench-secret")
    return {"channels": {"robot": {"type": "webhook", "url": url, "secret_file": str(secret)}}, **extra}


def queue(store, n: int, now: float, wake) -> list[str]:
    with store.transaction():
        store.after_commit(wake)
        return [store.notifications.queue(f"bench-{i}", "care_watch", 0, "robot", "robot", None, f"12-{i:03d} 未见",
                                          {"v": 1, "alert_id": f"bench-{i}", "kind": "care_watch", "step": 0}, now)
                for i in range(n)]


def drain(folder: Path, n: int) -> None:
    use_test_helpers()  # the tests' wait_for: it polls a count on the worker's store every 50 ms, not to hold its lock
    from mqtt_helpers import wait_for

    endpoint = Endpoint()
    config_path = folder / "alerts.yaml"
    config_path.write_text(yaml.safe_dump({"site": "bench", "gate": "office-bench",
                                           "database": str(folder / "office.db")}))
    clock = Clock()  # its offset moves it past the back-off, as the hours of an outage would
    notify = NotifyConfig.model_validate(notify_section(folder, endpoint.url))
    try:
        with Store(folder / "office.db") as store:
            delivery = Delivery(notify, store, build_channels(notify, clock=clock),
                                Alerts(load_config(config_path), store, clock=clock), clock=clock).start()
            try:
                endpoint.status = 503
                started = time.perf_counter()
                queue(store, n, clock(), delivery.wake)
                rows = store.notifications
                assert wait_for(lambda: endpoint.count >= n and rows.counts() == {"queued": n}, 600), \
                    "the outage's tries did not end"
                outage_s = time.perf_counter() - started
                endpoint.status = 200
                clock.offset_s += notify.retry.first_s + 1  # every message's back-off has passed
                started = time.perf_counter()
                delivery.wake()
                assert wait_for(lambda: rows.counts().get("sent", 0) == n, 600), rows.counts()
                ours_s = time.perf_counter() - started
            finally:
                delivery.close()
        bodies = [json.dumps({"v": 1, "alert_id": f"bare-{i}", "message_id": f"bare-{i}", "text": "x"}).encode()
                  for i in range(n)]
        with httpx.Client(timeout=10) as client:
            started = time.perf_counter()
            for body in bodies:
                client.post(endpoint.url, content=body, headers={"Content-Type": "application/json"})
            bare_s = time.perf_counter() - started
    finally:
        endpoint.close()
    print(f"| backlog of {n:,} after an outage | seconds | messages/s |")
    print("|---|---|---|")
    print(f"| the outage: each message tried once (HTTP 503), queued again | {outage_s:.2f} | {n / outage_s:,.0f} |")
    print(f"| ours: drained once the endpoint is back (claim, POST, sent; one at a time) | {ours_s:.2f} "
          f"| {n / ours_s:,.0f} |")
    print(f"| bare httpx loop POSTing the same number (nothing stored) | {bare_s:.2f} | {n / bare_s:,.0f} |")
    print(f"\nours / bare: {ours_s / bare_s:.1f}x the time")


def latency(folder: Path, n: int, naive_n: int) -> None:
    """A real gate daemon raises each care-watch alert; the office archives it, queues step 0 and wakes the
    worker; the webhook's endpoint notes the request. Then the same with the worker deaf to wake()."""
    import statistics

    from edge.site.localbroker import mosquitto_binary

    if mosquitto_binary() is None:
        print("\nlatency: skipped, mosquitto is not installed (apt-get install mosquitto)")
        return
    use_test_helpers()  # the tests' site: the office, a gate daemon, mosquitto
    from console_site import console_site, resident
    from mqtt_helpers import wait_for

    endpoint = Endpoint()
    notify = {**notify_section(folder, endpoint.url), "care_watch": [{"after_minutes": 0, "to": ["robot"]}],
              "storm": {"alerts": 1000}}  # many alerts on purpose: no storm notices in the figures
    results = {}
    try:
        with console_site(folder, notify=notify) as site:
            for label, count, deaf in (("ours", n, False), ("naive", naive_n, True)):
                if deaf:  # the same worker finding its messages by polling (every Delivery.POLL_S)
                    site.office.delivery.wake = lambda: None
                times = []
                for i in range(count):
                    person = resident(site, f"居民{label}{i}", f"{'9' if deaf else '8'}-{i:03d}", care_watch=True)
                    last = time.time() - 49 * 3600
                    for store in (site.gate.store, site.office.store):
                        store.sightings.note(f"person:{person}", last, "west", f"e-{person}-old")
                    started = time.perf_counter()
                    raised = {a["person_id"]: a["alert_id"] for a in site.gate.alerts.check_inactivity()}
                    alert_id = raised[person]
                    assert wait_for(lambda a=alert_id: a in endpoint.arrivals, 30, 0.001), alert_id
                    times.append(endpoint.arrivals[alert_id] - started)
                results[label] = sorted(times)
    finally:
        endpoint.close()

    def p95(values):
        return values[min(len(values) - 1, round(0.95 * (len(values) - 1)))]

    print("\n| gate raises a care-watch alert -> first HTTP request at the channel | alerts | p50 s | p95 s | max s |")
    print("|---|---|---|---|---|")
    for label, what in (("ours", "ours: the worker woken after the archive's commit"),
                        ("naive", f"the same worker polling every {Delivery.POLL_S:g} s (no wake)")):
        values = results[label]
        print(f"| {what} | {len(values)} | {statistics.median(values):.3f} | {p95(values):.3f} | {values[-1]:.3f} |")
    print("\ntarget: p50 <= 2 s")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--alerts", type=int, default=20)
    parser.add_argument("--naive-alerts", type=int, default=10, help="alerts for the polling comparison")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # a thousand "failed, retried" lines say nothing here
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "drain").mkdir()
        (folder / "latency").mkdir()
        drain(folder / "drain", args.messages)
        latency(folder / "latency", args.alerts, args.naive_alerts)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
