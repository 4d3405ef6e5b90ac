"""A real HTTP server on loopback for the notify tests: it records every request and answers as told.

    with RecordingServer() as server:
        server.answer(500)                         # the next request is answered HTTP 500,
        server.answer(200, {"errcode": 0})         # the one after it this;
        server.answer(hang=True)                   # this one only when the server closes (a client times out)
        url = server.url("/cgi-bin/webhook/send?key=k")
        ... server.requests[0].body / .headers / .path / .query (the raw query string) ...

With no answer queued a request gets ``server.default`` (200, ``{"errcode": 0}``: a robot that took it).
``server.check`` (request → an answer or None) runs first on every request: a stand-in for the service's
own checks (DingTalk's signature, a receiver's HMAC), answering as that service would when one fails.
Each request is handled on its own thread (http.server's ThreadingHTTPServer); all are joined on exit.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: object = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    headers: dict = field(default_factory=dict)
    hang: bool = False

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, ensure_ascii=False).encode("utf-8")


@dataclass
class Recorded:
    method: str
    path: str
    query: str  # raw, as sent (still percent-encoded)
    headers: dict  # lower-case names
    body: bytes

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class RecordingServer:
    def __init__(self):
        self.requests: list[Recorded] = []
        self.default = Answer()
        self.check = None
        self._answers: deque[Answer] = deque()
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def answer(self, status: int = 200, body: object = None, headers: dict | None = None, *, hang: bool = False):
        self._answers.append(Answer(status, {"errcode": 0, "errmsg": "ok"} if body is None else body,
                                    headers or {}, hang))

    def url(self, path_and_query: str = "/") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path_and_query}"

    def _next(self, request: Recorded) -> Answer:
        with self._lock:
            self.requests.append(request)
            refused = self.check(request) if self.check else None
            if refused is not None:
                return refused
            return self._answers.popleft() if self._answers else self.default

    def __enter__(self) -> RecordingServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                path, _, query = self.path.partition("?")
                recorded = Recorded(self.command, path, query, {k.lower(): v for k, v in self.headers.items()},
                                    self.rfile.read(length))
                answer = owner._next(recorded)
                if answer.hang:
                    owner._release.wait(60)  # the client has long given up: it timed out
                payload = answer.payload()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:  # the client timed out and closed its end
                    pass

            def log_message(self, *args):  # quiet: pytest shows failures
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="recording-http-server")
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._release.set()
        self._server.shutdown()
        self._server.server_close()  # joins the request threads (ThreadingMixIn.block_on_close)
        self._thread.join()
