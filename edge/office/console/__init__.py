"""The committee's web console (DESIGN 6.5): the office's HTTP API and its pages, in the office's process.

``Console(office).start()`` binds ``console.listen`` (loopback by default; TLS through a reverse proxy)
and serves the Starlette app (``edge.office.console.app``, with the residents' portal under ``/my/``:
``edge.office.portal.app.site_app``) with uvicorn on one thread of its own; blocking work
(signed commands that wait for a gate's answer) runs on a small pool it owns. ``close()`` asks uvicorn
to exit (live streams end within a second), joins the thread and shuts the pool down.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

_LOG = logging.getLogger(__name__)
POOL = 4  # signed commands waiting for gates at once (each waits up to 10 s)


def parse_listen(listen: str) -> tuple[str, int]:
    from edge.office.console.fields import digits

    host, sep, port = listen.rpartition(":")
    number = digits(port)
    if not sep or number is None or number > 65535:
        raise ValueError(f"console.listen {listen!r}: address:port, e.g. 127.0.0.1:8080")
    return host.strip("[]") or "127.0.0.1", number


class Broadcaster:
    """The archive's announcements (``Office.subscribe``) to every live stream (one asyncio queue each)."""

    def __init__(self):
        self._queues: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue]] = []
        self._lock = threading.Lock()

    def __call__(self, kind: str, payload: dict) -> None:  # the MQTT inbox thread
        with self._lock:
            queues = list(self._queues)
        for loop, queue in queues:
            loop.call_soon_threadsafe(_put, queue, (kind, payload))

    def listen(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=1000)
        with self._lock:
            self._queues.append((asyncio.get_running_loop(), queue))
        return queue

    def forget(self, queue: asyncio.Queue) -> None:
        with self._lock:
            self._queues = [(lp, q) for lp, q in self._queues if q is not queue]


def _put(queue: asyncio.Queue, item) -> None:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:  # a stalled browser: it reloads what it missed
        pass


class Console:
    def __init__(self, office, *, clock=time.time):
        self.office = office
        self.config = office.config
        self.clock = clock
        self.closing = threading.Event()
        self.broadcaster = Broadcaster()
        self.pool = ThreadPoolExecutor(max_workers=POOL, thread_name_prefix="gate-edge-console-work")
        self.server = None
        self.thread = None
        self.port = None
        self._unsubscribe = None

    @property
    def url(self) -> str:
        host = self._host
        return f"http://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start(self) -> Console:
        import uvicorn

        from edge.office.portal.app import site_app

        host, port = parse_listen(self.config.console.listen)
        self._host = host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(f"console.listen {self.config.console.listen}: {exc.strerror or exc}") from None
        sock.listen(64)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        app = site_app(self)  # the console's app, and the residents' portal under /my/
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, http="h11",
                                ws="none", loop="asyncio", timeout_graceful_shutdown=2, proxy_headers=False)
        self.server = uvicorn.Server(config)
        self._unsubscribe = self.office.listeners.subscribe(self.broadcaster)
        # Every worker now, not on first use: the pool's threads live exactly as long as the console.
        ready = threading.Barrier(POOL + 1)
        for _ in range(POOL):
            self.pool.submit(ready.wait, 5)
        ready.wait(5)
        started = threading.Event()

        def serve() -> None:
            try:
                asyncio.run(self._serve(sock, started))
            except Exception:
                _LOG.exception("console: the web server stopped")
            finally:
                sock.close()
                started.set()

        self.thread = threading.Thread(target=serve, name="gate-edge-console", daemon=True)
        self.thread.start()
        started.wait(10)
        _LOG.info("console listening on %s", self.url)
        return self

    async def _serve(self, sock, started: threading.Event) -> None:
        async def mark_started():
            while not self.server.started and not self.server.should_exit:
                await asyncio.sleep(0.01)
            started.set()

        watcher = asyncio.ensure_future(mark_started())
        await self.server.serve(sockets=[sock])
        watcher.cancel()

    def run_blocking(self, fn, *args):
        """Await ``fn(*args)`` on the console's pool (a signed command waiting for the gate's answer)."""
        return asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    def close(self) -> None:
        self.closing.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self.server is not None:
            self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(10)
        self.pool.shutdown(wait=True, cancel_futures=True)
