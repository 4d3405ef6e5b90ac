"""A real HTTP server on loopback for the delivery worker's tests (to move to the http channels' helper,
loopback_http.py, once it lands): it records every POST
(path, headers, JSON body, and the injected clocks' readings when it arrived) and answers each from a
script (a status, or a status and a body), 200 once the script is used up.

``Recorder`` is a context manager; its ``requests`` are in arrival order. ``hold`` makes it keep each
request waiting until ``release()`` (a channel that does not answer).
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from edge.office.notify.channels import Channel, DeliveryFailed, Outgoing


class Recorder:
    def __init__(self, answers=(), *, default=200, stamp=None):
        """``answers``: statuses (or (status, body dict)) for the first requests, in order; ``stamp``: a
        function called on each arrival whose value is kept with the request (an injected clock's reading)."""
        self.answers = deque(answers)
        self.default = default
        self.stamp = stamp or (lambda: None)
        self.requests: list[SimpleNamespace] = []
        self.lock = threading.Lock()
        self.arrived = threading.Condition(self.lock)
        self.gate = threading.Event()
        self.gate.set()
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with recorder.lock:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        body = None
                    recorder.requests.append(SimpleNamespace(path=self.path, headers=dict(self.headers), raw=raw,
                                                             body=body, stamp=recorder.stamp()))
                    answer = recorder.answers.popleft() if recorder.answers else recorder.default
                    recorder.arrived.notify_all()
                recorder.gate.wait(30)
                status, reply = answer if isinstance(answer, tuple) else (answer, {"errcode": 0, "errmsg": "ok"})
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, name="loopback-http", daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    def hold(self) -> None:
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def wait_requests(self, n: int, timeout_s: float = 20.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.requests) >= n, timeout_s)

    def message_ids(self) -> list[str]:
        """Each request's message id: the message JSON's ``message_id``."""
        with self.lock:
            return [(r.body or {}).get("message_id") for r in self.requests]


class PostChannel(Channel):
    """The message JSON POSTed to a webhook section's ``url`` (unsigned): a real HTTP channel for the
    worker's tests until the webhook channel lands. 2xx delivered; 429 retried after ``Retry-After``;
    another 4xx refused for good; 5xx, a timeout or a refused connection retried."""

    type = "post"

    def send(self, message: Outgoing) -> None:
        request = urllib.request.Request(self.config.url, data=json.dumps(message.payload).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                answer.read()
        except urllib.error.HTTPError as exc:
            if exc.code == 429:
                raise DeliveryFailed("HTTP 429", retry_after_s=float(exc.headers.get("Retry-After") or 60)) from None
            raise DeliveryFailed(f"HTTP {exc.code}", retry=exc.code >= 500) from None
        except OSError as exc:
            raise DeliveryFailed(f"{type(exc).__name__}") from None
