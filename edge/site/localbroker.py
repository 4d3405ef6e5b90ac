"""A private Mosquitto broker on a free loopback port: for the demo and for the tests.

It writes its own config (listener, optional password file, ACL and TLS), starts ``mosquitto`` as a
child process and waits until the port accepts connections. ``stop()`` / ``start()`` again keep the
same port, so clients see a broker outage and a recovery. ``site=True`` adds the site's own settings,
read from ``config/site/mosquitto.conf`` (their one owner): each login its own client id, the message size
limit and the queue (``SITE_SETTINGS``), so the demo and the tests run the broker a site runs.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

SITE_CONF = Path(__file__).resolve().parents[2] / "config" / "site" / "mosquitto.conf"
SITE_SETTINGS = ("use_username_as_clientid", "message_size_limit", "max_queued_messages")


def site_settings() -> list[str]:
    """The lines of the site's mosquitto.conf that set ``SITE_SETTINGS`` (all of them, or an error)."""
    lines = [line.strip() for line in SITE_CONF.read_text(encoding="utf-8").splitlines()]
    found = [line for line in lines if line.split(" ", 1)[0] in SITE_SETTINGS]
    missing = set(SITE_SETTINGS) - {line.split(" ", 1)[0] for line in found}
    if missing:
        raise ValueError(f"{SITE_CONF} does not set {', '.join(sorted(missing))}")
    return found


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if Path(p).is_file()), None
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PortTaken(RuntimeError):
    """Another process bound the port between our choosing it and mosquitto's bind."""


class LocalBroker:
    def __init__(self, workdir: str | Path | None = None, port: int | None = None, *, users: dict | None = None,
                 acl: str | None = None, tls: dict | None = None, persistence: bool = True,
                 extra: list[str] | None = None, site: bool = False):
        """``extra``: further mosquitto.conf lines (e.g. ``max_queued_messages 50``, after the site's
        settings, so it wins); ``site``: the site's settings (``site_settings``)."""
        self.binary = mosquitto_binary()
        if self.binary is None:
            raise FileNotFoundError("mosquitto is not installed (Debian: apt-get install mosquitto)")
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="gate-edge-broker-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        # A port we chose may be taken by another process between free_port() and mosquitto's bind (tests
        # run in parallel): the first start then tries another one. A port given, or one clients already
        # know (a restart), is never changed.
        self._may_move = port is None
        self.users = users or {}
        self.acl = acl
        self.tls = tls
        self.persistence = persistence
        self.extra = (site_settings() if site else []) + list(extra or [])
        self.process: subprocess.Popen | None = None
        self.log = self.dir / "mosquitto.log"

    def _write_config(self) -> Path:
        lines = [f"listener {self.port} 127.0.0.1", f"log_dest file {self.log}", "log_type all"]
        if os.geteuid() == 0:
            # Started as root, mosquitto would switch to the "mosquitto" user, who cannot read our
            # private files (password, ACL, keys) in this folder. It only ever listens on loopback.
            lines.append("user root")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.dir}/", "autosave_interval 1"]
        if self.users:
            passwd = self.dir / "passwd"
            passwd.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
            passwd.chmod(0o600)
            subprocess.run([self._passwd_tool(), "-U", str(passwd)], check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            acl = self.dir / "acl"
            acl.write_text(self.acl)
            acl.chmod(0o600)
            lines.append(f"acl_file {acl}")
        if self.tls:
            lines += [f"cafile {self.tls['ca']}", f"certfile {self.tls['cert']}", f"keyfile {self.tls['key']}"]
            if self.tls.get("require_certificate"):
                lines.append("require_certificate true")
        lines += self.extra
        conf = self.dir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def _passwd_tool(self) -> str:
        tool = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        if not Path(tool).exists():
            raise FileNotFoundError("mosquitto_passwd is not installed (Debian package mosquitto)")
        return tool

    def start(self, timeout: float = 10.0) -> LocalBroker:
        for _ in range(3):
            try:
                started = self._start(timeout)
            except PortTaken:
                self.port = free_port()
                continue
            self._may_move = False  # clients know this port now: a restart keeps it
            return started
        raise RuntimeError(f"mosquitto found no free port to listen on (last tried {self.port})")

    def _start(self, timeout: float) -> LocalBroker:
        conf = self._write_config()
        # Its stderr goes to a file, never a pipe: a pipe nobody reads would freeze the broker once full.
        errors = self.dir / "mosquitto.stderr"
        log_from = self.log.stat().st_size if self.log.exists() else 0  # the log is appended to by each start
        with errors.open("wb") as err_file:
            self.process = subprocess.Popen([self.binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                                            stderr=err_file)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = errors.read_text(errors="replace").strip()
                log = self.log.read_text(errors="replace")[-500:] if self.log.exists() else ""
                self.process = None
                if self._may_move and "Address already in use" in err + log:
                    raise PortTaken(self.port)
                raise RuntimeError("mosquitto exited: " + " / ".join(part for part in (err, log.strip()) if part))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    if self._says_running(log_from):  # not somebody else listening on the port
                        return self
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on port {self.port}")

    def _says_running(self, log_from: int) -> bool:
        """Mosquitto logs "running" once its listeners are bound (this start's part of the log)."""
        if not self.log.exists():
            return False
        with self.log.open("rb") as log:
            log.seek(log_from)
            return b" running" in log.read()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
