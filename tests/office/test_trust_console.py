"""Issue 26, the console's share: logins counted before their password is checked (7), sessions that end
when their user's role or password changes or the user is removed (8), the client behind a trusted reverse
proxy (10), and a gate's malformed retained status shown as unreadable, never a 500 (11).

One site for the module (mosquitto with the site's ACL, the office and its console, an east gate); a second
console of the same office (``proxied``) trusts 127.0.0.1 as its reverse proxy, to which a client bound to
127.0.0.2 is an untrusted peer.
"""

from __future__ import annotations

import json
import threading

import pytest
from console_site import console_site
from mqtt_helpers import wait_for

httpx = pytest.importorskip("httpx")
JSON = {"Accept": "application/json"}
PROXY = "127.0.0.1"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with console_site(tmp_path_factory.mktemp("trust-console")) as state:
        yield state


@pytest.fixture(scope="module")
def proxied(site):
    """The office's console once more, as behind the README's reverse proxy on this machine."""
    from types import SimpleNamespace

    from edge.office.console import Console

    console = Console(site.office)
    section = console.config.console.model_copy(update={"listen": "127.0.0.1:0", "trusted_proxies": [PROXY]})
    console.config = console.config.model_copy(update={"console": section})
    console.start()
    try:
        yield SimpleNamespace(console=console, url=console.url, users=site.users, office=site.office)
    finally:
        console.close()


@pytest.fixture(autouse=True)
def fresh_limiter(site):
    site.office.console.limiter._failures.clear()
    yield
    site.office.console.limiter._failures.clear()


@pytest.fixture
def proxy(proxied):
    proxied.console.limiter._failures.clear()
    yield proxied
    proxied.console.limiter._failures.clear()


def login(site, name: str, password: str, **headers) -> httpx.Client:
    client = httpx.Client(base_url=site.url, timeout=30)
    answer = client.post("/login", data={"username": name, "password": password}, headers={**JSON, **headers})
    assert answer.status_code == 200, answer.text
    client.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
    return client


# -- 7: logins are counted before the password is checked ------------------------------------------------
def test_concurrent_wrong_passwords_are_counted_before_they_are_checked(site):
    from console_site import USERS

    per_address = site.office.console.limiter.per_address
    start = threading.Barrier(40)
    answers: list[int] = []

    def attempt(name: str, password: str) -> None:
        with httpx.Client(base_url=site.url, timeout=60) as client:
            start.wait(10)
            answers.append(client.post("/login", data={"username": name, "password": password},
                                       headers=JSON).status_code)

    threads = [threading.Thread(target=attempt, args=(f"guess{i}", "wrong-password")) for i in range(39)]
    threads.insert(20, threading.Thread(target=attempt, args=("guard1", USERS["guard1"][1])))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 40
    checked = [code for code in answers if code != 429]
    # Each attempt counts before its (slow) password check: no more are checked than the address may fail.
    assert len(checked) <= per_address, sorted(answers)
    assert answers.count(401) <= per_address
    # A right password among them takes back its own count only, never the others': the wrong ones checked
    # still count, so at most one more guess (in the right one's place) is checked before the address is
    # blocked again.
    assert answers.count(401) >= per_address - 1, sorted(answers)

    def guess() -> int:
        return httpx.post(f"{site.url}/login", data={"username": "guess-after", "password": "wrong-password"},
                          headers=JSON).status_code

    assert [guess() for _ in range(per_address - answers.count(401) + 1)][-1] == 429


# -- 8: sessions end when the user's role or password changes, or the user goes ---------------------------
def test_a_demoted_admins_old_session_can_no_longer_create_a_vehicle(site):
    from edge.office.console.users import add_user

    add_user(site.users, "boss", "admin", "boss-pass-1")
    client = login(site, "boss", "boss-pass-1")
    try:
        assert client.get("/api/vehicles").status_code == 200
        add_user(site.users, "boss", "guard", "boss-pass-1")  # demoted (console-user add --role guard)
        answer = client.post("/api/vehicles", json={"plate": "沪D26001", "class": "visitor"})
        assert answer.status_code == 401, answer.text
        assert site.office.store.vehicles.get("沪D26001") is None
        assert client.get("/api/events").status_code == 401  # the session is gone, not only its role
        guard = login(site, "boss", "boss-pass-1")  # logged in again: with the new role
        assert guard.post("/api/vehicles", json={"plate": "沪D26001", "class": "visitor"}).status_code == 403
        guard.close()
    finally:
        client.close()


def test_a_password_change_ends_the_old_session(site):
    from edge.office.console.users import add_user

    add_user(site.users, "clerk", "guard", "clerk-pass-1")
    client = login(site, "clerk", "clerk-pass-1")
    other = login(site, "guard1", "guard-pass-1")
    try:
        assert client.get("/api/events").status_code == 200
        add_user(site.users, "clerk", "guard", "clerk-pass-2")
        assert client.get("/api/events").status_code == 401
        assert other.get("/api/events").status_code == 200  # another user's session is untouched
        login(site, "clerk", "clerk-pass-2").close()
    finally:
        client.close()
        other.close()


def test_a_removed_users_session_ends(site, capsys):
    from edge.cli.main import main
    from edge.office.console.users import add_user

    add_user(site.users, "leaver", "admin", "leaver-pass-1")
    client = login(site, "leaver", "leaver-pass-1")
    try:
        assert client.get("/api/events").status_code == 200
        config = str(site.folder / "office.yaml")
        assert main(["console-user", "remove", "-c", config, "leaver"]) == 0
        assert json.loads(capsys.readouterr().out)["result"] == "removed"
        assert client.get("/api/events").status_code == 401
        assert httpx.post(f"{site.url}/login", data={"username": "leaver", "password": "leaver-pass-1"},
                          headers=JSON).status_code == 401
        assert main(["console-user", "remove", "-c", config, "leaver"]) == 1
        assert "no console user 'leaver'" in capsys.readouterr().err
    finally:
        client.close()


# -- 10: X-Forwarded-* only from a trusted proxy; Secure behind TLS ---------------------------------------
def test_behind_a_trusted_proxy_each_client_is_limited_on_its_own_address(proxy):
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for i in range(proxy.console.limiter.per_address):  # an empty password counts without a hash check
        assert httpx.post(f"{proxy.url}/login", data={"username": f"x{i}", "password": ""},
                          headers={**JSON, **attacker}).status_code == 400
    blocked = httpx.post(f"{proxy.url}/login", data={"username": "guard1", "password": "guard-pass-1"},
                         headers={**JSON, **attacker})
    assert blocked.status_code == 429
    # The guard behind the same proxy, from another address, still logs in.
    login(proxy, "guard1", "guard-pass-1", **{"X-Forwarded-For": "198.51.100.20"}).close()
    # A client cannot pick its address by sending the header itself: the proxy's hop (the right end) counts.
    spoofed = httpx.post(f"{proxy.url}/login", data={"username": "guard1", "password": "guard-pass-1"},
                         headers={**JSON, "X-Forwarded-For": "198.51.100.20, 203.0.113.7"})
    assert spoofed.status_code == 429


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(proxy):
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=proxy.url, transport=transport, timeout=30) as stranger:
        for i in range(proxy.console.limiter.per_address):
            answer = stranger.post("/login", data={"username": f"y{i}", "password": ""},
                                   headers={**JSON, "X-Forwarded-For": f"192.0.2.{i + 1}"})
            assert answer.status_code == 400
        assert stranger.post("/login", data={"username": "guard1", "password": "guard-pass-1"},
                             headers={**JSON, "X-Forwarded-For": "192.0.2.200"}).status_code == 429
    proxy.console.limiter._failures.clear()
    with httpx.Client(base_url=proxy.url, transport=httpx.HTTPTransport(local_address="127.0.0.2"),
                      timeout=30) as stranger:
        answer = stranger.post("/login", data={"username": "guard1", "password": "guard-pass-1"},
                               headers={**JSON, "X-Forwarded-Proto": "https"})
        assert answer.status_code == 200 and "secure" not in answer.headers["set-cookie"].lower()


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(proxy):
    answer = httpx.post(f"{proxy.url}/login", data={"username": "guard1", "password": "guard-pass-1"},
                        headers={**JSON, "X-Forwarded-For": "198.51.100.21", "X-Forwarded-Proto": "https"})
    assert answer.status_code == 200
    assert "secure" in [part.strip().lower() for part in answer.headers["set-cookie"].split(";")]
    plain = httpx.post(f"{proxy.url}/login", data={"username": "guard1", "password": "guard-pass-1"},
                       headers={**JSON, "X-Forwarded-For": "198.51.100.21", "X-Forwarded-Proto": "http"})
    assert "secure" not in [part.strip().lower() for part in plain.headers["set-cookie"].split(";")]


def test_trusted_proxies_is_validated_naming_the_key(tmp_path):
    from test_site import make_keys, office_config

    from edge.config import ConfigError, load_config

    keys = make_keys(tmp_path)
    good = office_config(tmp_path, keys, 1883, "ensemble", console={"trusted_proxies": ["127.0.0.1", "10.0.0.0/8",
                                                                                        "::1"]})
    assert load_config(good).console.trusted_proxies == ["127.0.0.1", "10.0.0.0/8", "::1"]
    assert load_config(office_config(tmp_path, keys, 1883, "ensemble")).console.trusted_proxies == []
    bad = office_config(tmp_path, keys, 1883, "ensemble", console={"trusted_proxies": ["10.0.0.0/8", "proxy.lan"]})
    with pytest.raises(ConfigError) as caught:
        load_config(bad)
    text = str(caught.value)
    assert "console.trusted_proxies" in text and "'proxy.lan' is not an IP address or network" in text


# -- 11: a gate's status is read by the contract before anything uses it --------------------------------
def test_a_malformed_retained_status_shows_the_gate_as_unreadable(site):
    from console_site import USERS
    from paho.mqtt import publish
    from paho.mqtt.client import MQTTv5
    from test_site import PASSWORDS, P

    from edge.office.console.catalogs import gettext_for
    from edge.office.console.words import word

    status = {"v": 1, "state": "online", "version": "9.9", "ts": "2026-11-26T12:00:00.000+08:00", "cameras": {},
              "barriers": {}, "outbox": 0, "registry": "pwned"}
    publish.single(f"{P}/west/status", json.dumps(status), qos=1, retain=True, hostname="127.0.0.1",
                   port=site.broker.port, auth={"username": "west", "password": PASSWORDS["west"]}, protocol=MQTTv5)
    gates = site.office.store.gates
    assert wait_for(lambda: "west" in gates.all(), 10), gates.all()  # the office has taken it in
    admin = login(site, "admin1", USERS["admin1"][1])
    try:
        for path in ("/api/gates", "/gates", "/people", "/vehicles", "/registry/sync"):
            answer = admin.get(path)
            assert answer.status_code == 200, (path, answer.text[:300])
        assert gates.all()["west"]["state"] == "unreadable"
        west = {g["gate"]: g for g in admin.get("/api/gates").json()["gates"]}["west"]
        assert west["state"] == "unreadable" and west["registry"] is None
        assert west["status_problem"] == "registry must be an object, got str"
        assert word(gettext_for("zh"), "gate_state", "unreadable") in admin.get("/gates").text
        east = {g["gate"]: g for g in admin.get("/api/gates").json()["gates"]}["east"]
        assert east["state"] == "online" and east["registry"]["synced"] is True  # the other gate as it was
    finally:
        admin.close()
        publish.single(f"{P}/west/status", b"", qos=1, retain=True, hostname="127.0.0.1", port=site.broker.port,
                       auth={"username": "west", "password": PASSWORDS["west"]}, protocol=MQTTv5)


@pytest.mark.parametrize("status,problem", [
    ({"state": "online", "registry": "pwned"}, "registry must be an object, got str"),
    ({"state": "online", "registry": {"epoch": "3"}}, "registry.epoch must be a whole number, got str"),
    ({"state": "online", "registry": {"synced": 1}}, "registry.synced must be true or false, got int"),
    ({"state": "online", "cameras": ["cam-in"]}, "cameras must be an object, got list"),
    ({"state": "online", "barriers": {"car": "up"}}, "barriers.car must be an object, got str"),
    ({"state": {"x": 1}}, "state must be a string, got dict"),
    ({"version": "1"}, "state is missing"),
    ({"state": "online", "seq": -1}, "seq must be 0 or more, got -1"),
    ({"state": "online", "seq_skipped": [[5, 2]]}, "seq_skipped must be a list of [first, last] ranges"),
    ({"state": "online", "alert_seq": "7"}, "alert_seq must be a whole number, got str"),
    ({"state": "online", "alert_seq_skipped": "all"}, "alert_seq_skipped must be a list of [first, last] ranges"),
    ({"v": 2, "state": "online"}, "contract version 2"),
    ("pwned", "a status must be a JSON object"),
])
def test_the_contract_refuses_a_status_that_breaks_a_part_a_receiver_reads(status, problem):
    from edge.contract import Refused, parse_status

    with pytest.raises(Refused) as refused:
        parse_status(json.dumps(status).encode())
    assert str(refused.value).startswith(problem)


def test_the_contract_reads_a_gates_status_with_every_part():
    from edge.contract import parse_status, status_payload

    status = status_payload("online", "2026-11-26T12:00:00.000+08:00", {"cam-in": {"state": "ok", "fps": 10}},
                            {"car": {"state": "ok"}}, 0, seq=42, seq_skipped=[[3, 4]], alert_seq=2,
                            alert_seq_skipped=[[1, 1]], clock_offset_s=-0.25,
                            store={"source": "site", "epoch": 1, "version": 7, "people": 3, "vehicles": 1,
                                      "synced": True}, storage={"state": "ok"}, future_part={"any": "thing"})
    assert parse_status(json.dumps(status).encode()) == status
    assert parse_status(b'{"v":1,"state":"offline","version":"1","ts":null}')["state"] == "offline"


# -- Low: uploads in a private folder of the office's, databases 0600, registered_at on the office's clock --
def test_an_imports_photos_wait_in_a_private_folder_of_the_office_and_go_when_it_fails(site, monkeypatch):
    import os
    import stat
    import time
    from pathlib import Path
    from types import SimpleNamespace

    from console_site import USERS

    import edge.registry.importer
    from edge.office.console.app import create_app

    state = Path(site.office.config.database).resolve().parent
    seen = {}

    def failing_import(store, path, **kwargs):  # the import fails once the files are there
        folder = Path(path).parent
        seen.update(folder=folder, files=sorted(p.name for p in folder.iterdir()),
                    modes=[stat.S_IMODE(os.stat(f).st_mode) for f in (folder, folder.parent)])
        raise edge.registry.importer.ImportRejected(["people.csv:2: unit: bad"])

    monkeypatch.setattr(edge.registry.importer, "import_csv", failing_import)
    admin = login(site, "admin1", USERS["admin1"][1])
    try:
        answer = admin.post("/api/import", files=[("csv", ("people.csv", b"name,unit,photo\nx,1-101,w.jpg\n")),
                                                  ("photo", ("w.jpg", b"\xff\xd8 a resident's face"))])
        assert answer.status_code == 400, answer.text
    finally:
        admin.close()
    assert seen["folder"].parent == state / "uploads", seen  # the office's state directory, not /tmp
    assert seen["files"] == ["people.csv", "w.jpg"] and seen["modes"] == [0o700, 0o700]
    assert not seen["folder"].exists() and list((state / "uploads").iterdir()) == []
    # What a killed office left there is removed when its console starts.
    left = state / "uploads" / "upload-killed"
    left.mkdir()
    (left / "w.jpg").write_bytes(b"a resident's face")
    create_app(SimpleNamespace(office=site.office, config=site.office.config, clock=time.time))
    assert not left.exists()


def test_a_new_database_and_its_wal_and_shm_are_readable_by_their_owner_only(tmp_path):
    import os
    import stat

    from edge.store import Store

    old = os.umask(0o022)
    try:
        with Store(tmp_path / "office.db") as store:
            store.people.add("王五", "1-101", "13900000000")
            modes = {p.name: stat.S_IMODE(os.stat(p).st_mode) for p in tmp_path.iterdir()}
    finally:
        os.umask(old)
    assert modes == {"office.db": 0o600, "office.db-wal": 0o600, "office.db-shm": 0o600}


def test_a_person_added_through_the_console_is_registered_on_the_offices_clock(site, monkeypatch):
    import time

    from console_site import USERS

    from edge.timeutil import parse_iso

    ahead = 3 * 86400  # the demo's simulated clock, three days ahead
    monkeypatch.setattr(site.office.store, "clock", lambda: time.time() + ahead, raising=False)
    admin = login(site, "admin1", USERS["admin1"][1])
    try:
        answer = admin.post("/api/people", json={"name": "钱七", "unit": "7-701"})
        assert answer.status_code == 201, answer.text
        person = site.office.store.people.find_by_id(answer.json()["person_id"])
    finally:
        admin.close()
    assert abs(parse_iso(person["created_at"]) - (time.time() + ahead)) < 60, person["created_at"]


def test_the_offices_store_takes_its_clock_from_the_config(tmp_path):
    import time

    from test_site import make_keys, office_config

    from edge.config import load_config
    from edge.office.service import open_office_store
    from edge.timeutil import parse_iso

    offset = tmp_path / "clock-offset"
    offset.write_text(str(2 * 86400))
    keys = make_keys(tmp_path)
    config = load_config(office_config(tmp_path, keys, 1883, "ensemble",
                                       clock={"mode": "simulated", "offset_file": str(offset)}))
    store, _ = open_office_store(config)
    try:
        person = store.people.find_by_id(store.people.add("孙八", "8-801"))
    finally:
        store.close()
    assert abs(parse_iso(person["created_at"]) - (time.time() + 2 * 86400)) < 60
