"""``gate-edge site-demo`` (``make demo``): the whole site on one machine, shown on the committee's console.

A working folder gets the site's keys, a private ``mosquitto`` with the site's ACL, the office's
registry (two residents enrolled from photos, one who declined face recognition with a QR pass, their
cars), console users with fresh passwords, and two gates (east, west) whose cameras play videos made
from the bundled photos. The office and the two gates run as their own processes (``gate-edge office``,
``gate-edge run``), exactly as on a real site; every one declares ``clock.mode: simulated`` and reads
one offset file, so that when the demo lets 45 minutes or two days pass, the whole site moves at once
(a declared mode, not a clock jump).

The demo then plays the guard through the console's own HTTP API: it waits for the visitor's car to be
held at the exit and takes the fee, lets two days pass, and waits for the care-watch alert. Nobody at the
console acknowledges it: the office tells the committee's group robot at once and, 30 minutes later, the
duty phone (``edge.cli.demo_notify``: a ``simulate-modem`` process and a loopback robot, each message
printed). It opens nothing by itself: it prints the console's address and a login and keeps the site running until
Ctrl-C (``--exit`` stops after the story, for tests and CI).

The same simulated modem sends the residents' portal's login codes (``portal: {sms_channel: modem}``): the
demo prints a resident's phone number and the portal's address (``/my/``), and the story logs in once as that
resident with the code of the SMS, as a newcomer then does.
"""

from __future__ import annotations

import http.cookiejar
import json
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

from edge.cli.demo import FACE_SIZE, FPS, MEDIA, REPO, ROAD_SIZE, write_clip
from edge.cli.demo_notify import PHONE_AFTER_MINUTES, DutyPhone, GroupRobot, notify_section

SITE = "tianlin12"
GATES = ("east", "west")
VISITOR = "皖A1A346"
STAY_S = 45 * 60  # the visitor stays 45 minutes: past the free half hour, one hour is due
AWAY_S = 49 * 3600  # two days later nobody has seen the care-watch resident


def _say(text: str) -> None:
    print(f"site-demo: {text}", flush=True)


def _write_yaml(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _secret(path: Path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return text


def _console_port(wanted: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", wanted))  # 0: any free port
            return sock.getsockname()[1]
        except OSError:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]


class Layout:
    """The site's files in the working folder: keys, broker users, the office's and the gates' configs."""

    def __init__(self, work: Path, broker_port: int, console_port: int):
        self.work = work
        self.keys = work / "keys"
        self.clock_file = work / "clock-offset"
        self.clock_file.write_text("0", encoding="utf-8")
        self.broker_port = broker_port
        self.console_url = f"http://127.0.0.1:{console_port}"
        self.console_port = console_port
        # The service's logins and the helpers' (config/site/acl): each login is one client id at the broker.
        helpers = ("office-cmd", *(f"{gate}-waiting" for gate in GATES))
        self.mqtt_passwords = {name: secrets.token_urlsafe(12) for name in ("office", *GATES, *helpers)}
        self.logins = {"admin": secrets.token_urlsafe(9), "guard": secrets.token_urlsafe(9)}

    def write(self, notify: dict | None = None) -> None:
        """``notify``: the office's ``notify:`` section (``edge.cli.demo_notify``), or None: nobody is told (and
        no residents' portal: its login codes go by the section's sms channel)."""
        from edge.keys import write_gate_key, write_site_keys
        from edge.office.console.users import add_user

        write_site_keys(self.keys)
        for gate in GATES:
            write_gate_key(self.keys, gate)
        users = self.work / "console-users"
        for name, password in self.logins.items():
            add_user(users, name, name, password)
        clock = {"mode": "simulated", "offset_file": str(self.clock_file)}
        _secret(self.work / "office.password", self.mqtt_passwords["office"])
        _secret(self.work / "office-cmd.password", self.mqtt_passwords["office-cmd"])
        _write_yaml(self.office_config, {
            "role": "office", "site": SITE, "database": str(self.work / "office.db"), "log_level": "WARNING",
            "mqtt": {"host": "127.0.0.1", "port": self.broker_port, "username": "office",
                     "password_file": "office.password",
                     "cmd_login": {"username": "office-cmd", "password_file": "office-cmd.password"}},
            "registry": {"signing_key_file": str(self.keys / "registry.key")},
            "commands": {"signing_key_file": str(self.keys / "command.key")},
            "passes": {"signing_key_file": str(self.keys / "pass.key")},
            "gates": {gate: str(self.keys / f"{gate}.pub") for gate in GATES},
            "site_settings": {
                "parking": {"capacity": 306, "visitor_free_minutes": 30, "rate_per_hour_cents": 500},
                # every 3 s rather than hourly: the alert shows soon after the fast-forward
                "inactivity": {"threshold_hours": 48, "check_every_minutes": 0.05}},
            "console": {"listen": f"127.0.0.1:{self.console_port}", "users_file": str(users)},
            "clock": clock,
            # the residents' portal sends its login codes by the notify section's sms channel (demo_notify)
            **({"notify": notify, "portal": {"enabled": True, "sms_channel": "modem"}} if notify else {}),
        })
        for gate in GATES:
            folder = self.work / gate
            folder.mkdir(parents=True, exist_ok=True)
            _secret(folder / "mqtt.password", self.mqtt_passwords[gate])
            _secret(folder / "waiting.password", self.mqtt_passwords[f"{gate}-waiting"])
            cameras = []
            for role, lane, barrier in (("face", "in", "foot"), ("plate", "in", "car"), ("plate", "out", "car")):
                source = folder / f"{role}-{lane}.avi"
                source.touch()  # played once the gate holds the registry (``play``): until then, no camera
                cameras.append({"id": f"{gate}-{role}-{lane}", "source": source.name, "role": role, "lane": lane,
                                "barrier": f"{gate}-{barrier}", "fps": FPS, "reconnect_max_s": 1,
                                "down_alert_s": 3600})
            _write_yaml(self.gate_config(gate), {
                "site": SITE, "gate": gate, "database": "registry.db", "log_level": "WARNING",
                "mqtt": {"host": "127.0.0.1", "port": self.broker_port, "username": gate,
                         "password_file": "mqtt.password", "command_public_keys": [str(self.keys / "command.pub")],
                         "waiting_login": {"username": f"{gate}-waiting", "password_file": "waiting.password"}},
                "registry": {"source": "site", "public_keys": [str(self.keys / "registry.pub")]},
                "passes": {"public_keys": [str(self.keys / "pass.pub")]},
                "identity_key_file": str(self.keys / f"{gate}.key"),
                "cameras": cameras,
                "barriers": [{"id": f"{gate}-car", "type": "simulated", "lanes": ["in", "out"]},
                             {"id": f"{gate}-foot", "type": "simulated", "lanes": ["in"]}],
                "recognition": {"face": {"min_hits": 2, "window_s": 3.0, "cooldown_s": 10.0, "scale": 1.0},
                                "plate": {"min_hits": 2, "min_confidence": 0.8, "province": "皖"}},
                "clock": clock,
            })

    @property
    def office_config(self) -> Path:
        return self.work / "office.yaml"

    def gate_config(self, gate: str) -> Path:
        return self.work / gate / "gate.yaml"


def enrol(layout: Layout) -> tuple[Path, tuple[str, str, str]]:
    """The office's registry (``edge.cli.demo.register_residents``, a pass valid a week); the pass's QR image
    and the resident a newcomer logs in to the portal as (name, unit, phone: 王建国, who lives alone)."""
    from edge.cli.demo import register_residents
    from edge.config import load_config
    from edge.office.service import open_office_store
    from edge.registry.enrol import Enroller
    from edge.registry.passes import pass_issuer
    from models.qr import write_qr_png

    config = load_config(layout.office_config)
    store, _ = open_office_store(config)
    with store:
        people, token = register_residents(store, Enroller(config.recognition.face), pass_issuer(config), 24 * 7)
        wang = store.people.get(people["王建国"])
    qr = layout.work / "pass-chen.png"
    write_qr_png(token, qr)
    return qr, (wang["name"], wang["unit"], wang["phone"])


def play(layout: Layout, qr_png: Path) -> None:
    """Write each gate's camera videos (atomically): the cameras, retrying their empty files, start."""
    face, road = FACE_SIZE, ROAD_SIZE
    videos = {
        ("east", "face-in"): (face, [(None, 1), (MEDIA / "resident-wang-at-gate.jpg", 2.4), (None, 1.2),
                                     (MEDIA / "stranger-at-gate.jpg", 2.4), (None, 1)]),
        ("east", "plate-in"): (road, [(None, 1), (MEDIA / "plate-resident.jpg", 3), (None, 1)]),
        # the visitor, who came in at the west gate, leaves at the east gate a while later
        ("east", "plate-out"): (road, [(None, 16), (MEDIA / "plate-visitor.jpg", 3), (None, 1)]),
        ("west", "face-in"): (face, [(None, 1), (MEDIA / "resident-li-at-gate.jpg", 2.4), (None, 1.2),
                                     (qr_png, 2.4), (None, 1)]),
        ("west", "plate-in"): (road, [(None, 1), (MEDIA / "plate-visitor.jpg", 3), (None, 1.6),
                                      (MEDIA / "plate-family-green.jpg", 3), (None, 1)]),
        ("west", "plate-out"): (road, [(None, 1)]),
    }
    for (gate, name), (size, parts) in videos.items():
        write_clip(layout.work / gate / f"{name}.avi", size, parts)


class ConsoleClient:
    """The guard at the console, through its HTTP API (the same routes the pages use)."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.csrf = ""

    def _call(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        request = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with self.opener.open(request, timeout=15) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            raise RuntimeError(f"the console answered {method} {path} with {exc.code}: {detail}") from None

    def login(self, username: str, password: str) -> None:
        from urllib.parse import urlencode

        answer = self._call("POST", "/login", urlencode({"username": username, "password": password}).encode(),
                            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        self.csrf = answer["csrf_token"]

    def get(self, path: str):
        return self._call("GET", path)

    def post(self, path: str, data: dict):
        return self._call("POST", path, json.dumps(data).encode(),
                          {"Content-Type": "application/json", "X-CSRF-Token": self.csrf})


def log_in_as_resident(url: str, modem: DutyPhone, number: str) -> dict:
    """What a newcomer does on the portal: ask for a code, type the code of the SMS, see the household."""
    resident = ConsoleClient(url)
    seen = modem.sent_count()
    resident.post("/my/login", {"phone": number})
    code = modem.code_for(number, seen, 90)
    resident.csrf = resident.post("/my/verify", {"phone": number, "code": code})["csrf_token"]
    return resident.get("/my/api/household")


def _wait(what: str, test, timeout: float, procs: dict) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the {name} process stopped (exit {proc.returncode}); see its log")
        try:
            value = test()
        except (OSError, urllib.error.URLError, ValueError, KeyError):
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}")


def _start(layout: Layout, name: str, args: list[str]) -> subprocess.Popen:
    log = (layout.work / f"{name}.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "edge", *args], stdout=log, stderr=subprocess.STDOUT,
                            cwd=layout.work)


def run_site_demo(workdir: str | None = None, console_port: int = 8080, exit_after: bool = False) -> int:
    from edge.site.localbroker import LocalBroker, mosquitto_binary
    from edge.timeutil import advance_simulated

    if mosquitto_binary() is None:
        print("site-demo: mosquitto is not installed (apt-get install mosquitto; make demo does it as root)",
              file=sys.stderr)
        return 2
    started = time.monotonic()
    work = Path(workdir or tempfile.mkdtemp(prefix="gate-edge-site-"))
    work.mkdir(parents=True, exist_ok=True)
    if any(work.iterdir()):
        print(f"site-demo: {work} is not empty (a site of an earlier run?); give an empty or new folder",
              file=sys.stderr)
        return 2
    broker = procs = robot = phone = None
    # SIGTERM (systemd, a terminal closing) stops the demo as Ctrl-C does: the finally below stops
    # every process it started, at any moment of the story.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
        acl = (REPO / "config/site/acl").read_text(encoding="utf-8")
        broker_port = _free_port()
        layout = Layout(work, broker_port, _console_port(console_port))
        broker = LocalBroker(work / "broker", broker_port, users=layout.mqtt_passwords, acl=acl, site=True).start()
        robot, phone = GroupRobot(), DutyPhone(work)  # who the care-watch alert reaches (demo_notify)
        layout.write(notify_section(work, robot, phone))
        _say(f"enrolling the residents at the office ({work})")
        qr, resident = enrol(layout)
        procs = {"office": _start(layout, "office", ["office", "-c", str(layout.office_config)])}
        for gate in GATES:
            procs[gate] = _start(layout, gate, ["run", "-c", str(layout.gate_config(gate))])
        guard = ConsoleClient(layout.console_url)
        _wait("the console", lambda: guard.login("guard", layout.logins["guard"]) or True, 60, procs)

        def gates_current():
            gates = {g["gate"]: g for g in guard.get("/api/gates")["gates"]}
            return all(gates.get(name, {}).get("registry_current") for name in GATES)

        _wait("both gates to hold the office's registry", gates_current, 180, procs)
        _say(f"the site is up after {time.monotonic() - started:.0f} s; the gates' cameras start")
        play(layout, qr)

        def visitor(kind: str):
            return next((e for e in guard.get(f"/api/events?kind={kind}&limit=50")
                         if (e.get("subject") or {}).get("plate") == VISITOR), None)

        _wait("the visitor's car at the west gate", lambda: visitor("entry"), 60, procs)
        advance_simulated(layout.clock_file, STAY_S)
        _say("the visitor came in at the west gate; 45 minutes pass (simulated time, the whole site)")

        def held():
            return next((s for s in guard.get("/api/parking")["held"] if s["plate"] == VISITOR), None)

        session = _wait("the visitor held at the east gate's exit", held, 90, procs)
        paid = guard.post(f"/api/parking/{session['session_id']}/pay", {"amount_cents": session["fee_due_cents"]})
        _say(f"the guard took {session['fee_due_cents'] / 100:.2f} yuan at the console: {paid.get('ok')}")
        _wait("the visitor's exit", lambda: any(e["decision"] == "open" for e in [visitor("exit") or {"decision": ""}]),
              60, procs)
        time.sleep(8)  # the other residents' passages finish playing
        advance_simulated(layout.clock_file, AWAY_S)
        _say("two days pass (simulated time): 王建国, who lives alone, has not passed any gate since")
        guard.login("guard", layout.logins["guard"])  # a console session lasts 12 hours, of the site's time

        def care_alert():
            return any(a["kind"] == "inactivity" for a in guard.get("/api/alerts?state=open"))

        _wait("the care-watch alert", care_alert, 90, procs)
        _wait("the care-watch alert at the group robot", lambda: robot.seen.count(), 60, procs)
        advance_simulated(layout.clock_file, PHONE_AFTER_MINUTES * 60)
        _say(f"{PHONE_AFTER_MINUTES} minutes pass (simulated time) and nobody has acknowledged: "
             "the next step texts the duty phone")
        # the office's steps job runs every TICK_S (30 s) of real time: the SMS leaves within that
        _wait("the SMS to the duty phone", lambda: phone.seen.count(), 90, procs)
        name, unit, number = resident
        household = log_in_as_resident(layout.console_url, phone, number)
        _say(f"the resident {name} logged in to the portal with the code of the SMS and sees household "
             f"{household['unit']}: {', '.join(p['name'] for p in household['people'])}; "
             f"{', '.join(v['plate'] for v in household['vehicles'])}")
        summary = _summary(guard, time.monotonic() - started)
        print(json.dumps({"summary": summary}, ensure_ascii=False), flush=True)
        print(f"\n  The committee's console: {layout.console_url}\n"
              f"  Log in as  admin / {layout.logins['admin']}   (or guard / {layout.logins['guard']})\n"
              f"  The residents' portal (open it on a phone, or a narrow window): {layout.console_url}/my/\n"
              f"  Log in as the resident {name} ({unit}) with the phone number {number}: the code arrives\n"
              f"  as an SMS of the simulated modem, printed here (📱 SMS to {number}: …)\n"
              f"  Working folder: {work}\n", flush=True)
        if exit_after:
            return 0
        _say("the site keeps running; Ctrl-C stops it")
        while all(proc.poll() is None for proc in procs.values()):
            time.sleep(1)
        dead = next(name for name, proc in procs.items() if proc.poll() is not None)
        print(f"site-demo: the {dead} process stopped (exit {procs[dead].returncode}); see {work}/{dead}.log",
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        _say("interrupted; stopping the site")
        return 130
    except (RuntimeError, TimeoutError) as exc:
        print(f"site-demo: {exc} (logs in {work})", file=sys.stderr)
        return 1
    finally:
        for proc in (procs or {}).values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (procs or {}).values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        for stand_in in (phone, robot):  # after the office: it never sends to a stand-in that is gone
            if stand_in is not None:
                stand_in.stop()
        if broker is not None:
            broker.stop()
        if workdir is None and exit_after:
            shutil.rmtree(work, ignore_errors=True)


def _free_port() -> int:
    from edge.site.localbroker import free_port

    return free_port()


def _summary(guard: ConsoleClient, elapsed: float) -> dict:
    counts: dict[str, int] = {}
    for event in guard.get("/api/events?limit=200"):
        key = f"{event['gate']}:{event['kind']}/{event['decision']}"
        counts[key] = counts.get(key, 0) + 1
    alerts: dict[str, int] = {}
    for alert in guard.get("/api/alerts?state=open"):
        alerts[alert["kind"]] = alerts.get(alert["kind"], 0) + 1
    return {"events": dict(sorted(counts.items())), "open_alerts": dict(sorted(alerts.items())),
            "seconds": round(elapsed, 1)}
