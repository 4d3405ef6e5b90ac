"""Who the site demo's care-watch alert reaches (DESIGN 7, issue 28 item 6): the duty phone and the group.

Owns the demo's two stand-ins and the ``notify:`` section that points the office at them:

    DutyPhone    ``gate-edge simulate-modem --pty`` as its own process (the same AT commands a real modem
                 answers); its pty becomes the ``sms`` channel's ``port``, and each SMS it prints (a JSON
                 line ``{"to", "text"}``) is shown in the demo's output as ``📱 SMS to …`` (the residents'
                 portal's login codes too: ``code_for`` reads one as its resident would)
    GroupRobot   a loopback HTTP server answering as a 企业微信 group robot does (``{"errcode": 0}``); its
                 URL goes in the ``wecom`` channel's ``url_file``, and each message it receives is shown
                 as ``💬 group robot: …``

Both are real ends of the office's real channels (nothing in the office knows it is a demo). The steps:
step 0 to the group robot at once, the duty phone after ``PHONE_AFTER_MINUTES`` if nobody acknowledged
(the demo moves the simulated clock past it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DUTY_PHONE = "13800000000"
PHONE_AFTER_MINUTES = 30
FIRST_LINE_S = 20  # an upper bound on the simulator's first line (its port), so a broken start fails


def _show(text: str) -> None:
    print(f"site-demo: {text}", flush=True)


class _Seen:
    """Texts received by a stand-in, shown as they come and waited for by the demo."""

    def __init__(self):
        self.texts: list[str] = []
        self._lock = threading.Lock()

    def add(self, line: str, text: str) -> None:
        with self._lock:
            self.texts.append(text)
        _show(line)

    def count(self) -> int:
        with self._lock:
            return len(self.texts)


class DutyPhone:
    """``gate-edge simulate-modem --pty`` in its own process; ``port`` is the path the office connects to."""

    def __init__(self, work: Path):
        self.log = (work / "modem.log").open("ab")
        self.process = subprocess.Popen([sys.executable, "-m", "edge", "simulate-modem", "--pty"],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                        cwd=work, text=True, encoding="utf-8")
        self.seen = _Seen()
        self.sent: list[dict] = []  # every SMS, {"to", "text"}, in the order sent
        self._sent_changed = threading.Condition()
        self.port = self._first_line()
        self._reader = threading.Thread(target=self._read, name="demo-modem", daemon=True)
        self._reader.start()

    def _first_line(self) -> str:
        got: list[str] = []
        reader = threading.Thread(target=lambda: got.append(self.process.stdout.readline()), daemon=True)
        reader.start()
        reader.join(FIRST_LINE_S)
        line = got[0] if got else ""
        if "connect the sms channel's port to:" not in line:
            self.stop()
            raise RuntimeError(f"simulate-modem did not say its port (it said {line.strip()!r}); see modem.log")
        return line.rsplit(" ", 1)[1].strip()

    def _read(self) -> None:
        for line in self.process.stdout:
            try:
                sms = json.loads(line)
            except ValueError:
                continue
            self.seen.add(f"📱 SMS to {sms['to']}: {sms['text']}", sms["text"])
            with self._sent_changed:
                self.sent.append(sms)
                self._sent_changed.notify_all()

    def sent_count(self) -> int:
        with self._sent_changed:
            return len(self.sent)

    def code_for(self, number: str, seen: int, timeout: float) -> str:
        """The 6-digit code of the first SMS to ``number`` after the first ``seen`` sent (``sent_count``
        before asking), as its owner reads it off the phone."""
        import re

        def found():
            return next((m["text"] for m in self.sent[seen:] if m["to"] == number), None)

        with self._sent_changed:
            if not self._sent_changed.wait_for(found, timeout):
                raise TimeoutError(f"no SMS to {number} within {timeout:.0f} s (see modem.log and office.log)")
            return re.search(r"[0-9]{6}", found()).group(0)

    def stop(self) -> None:
        """``quit`` on its standard input (it closes its pty), else a SIGTERM."""
        try:
            self.process.stdin.write("quit\n")
            self.process.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            self.process.wait(10)
        self.log.close()


class GroupRobot:
    """A 企业微信 group robot's stand-in on loopback: takes the robot's JSON, answers ``{"errcode": 0}``."""

    def __init__(self):
        seen = self.seen = _Seen()

        class Robot(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    content = json.loads(body)["text"]["content"]
                    answer = {"errcode": 0, "errmsg": "ok"}
                except (ValueError, KeyError, TypeError):
                    content, answer = None, {"errcode": 40008, "errmsg": "invalid message type"}
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                if content is not None:
                    seen.add(f"💬 group robot (企业微信 stand-in): {content}", content)

            def log_message(self, *args):  # the demo shows the messages, not each request
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/cgi-bin/webhook/send?key=demo"
        self._thread = threading.Thread(target=self.server.serve_forever, name="demo-robot", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def notify_section(work: Path, robot: GroupRobot, phone: DutyPhone) -> dict:
    """The office's ``notify:``: the group robot (its URL in a file, as a real robot's key would be) at
    once, the duty phone ``PHONE_AFTER_MINUTES`` later."""
    url_file = work / "duty-group.url"
    url_file.write_text(robot.url + "\n", encoding="utf-8")
    url_file.chmod(0o600)
    return {"channels": {"duty-group": {"type": "wecom", "url_file": str(url_file)},
                         "modem": {"type": "sms", "port": phone.port}},
            "care_watch": [{"after_minutes": 0, "to": ["duty-group"]},
                           {"after_minutes": PHONE_AFTER_MINUTES, "to": [f"modem:{DUTY_PHONE}"]}]}
