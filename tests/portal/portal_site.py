"""The office's parts the residents' portal uses, without a broker, on a declared simulated clock
(``FixedClock``: tests move it, never sleep): the office's config loaded from a real YAML file (``portal:``
and ``notify:`` with an sms channel, as DESIGN 8 shows them), its database, the notices, the office's own
alerts, the absences; and the one listener's app (``edge.office.portal.app.site_app``: the console and the
portal) driven in-process by Starlette's test client, as a phone at ``CLIENT`` would.

``PortalSite.resident(client, phone)`` logs in with the code the office queued for the phone's SMS;
``codes_queued(phone)`` is what the modem would be asked to send. ``household_site`` is one with residents.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

from notify_site import site_time, write_office_config

from edge.timeutil import FixedClock

PHONE, NEIGHBOUR_PHONE = "13912345678", "13611112222"
CLIENT = ("192.0.2.10", 50000)  # a phone on the compound's Wi-Fi (TEST-NET-1)
PORTAL = {"enabled": True, "sms_channel": "modem", "codes_per_hour": 100}
NOTIFY = {"channels": {"modem": {"type": "sms", "port": "/dev/ttyUSB2"}},
          "care_watch": [{"after_minutes": 0, "to": ["modem:13800000000"]}]}


async def _run_blocking(fn, *args):
    return fn(*args)


class PortalSite:
    def __init__(self, folder, start: float, portal: dict | None = None, console: dict | None = None):
        from console_site import USERS

        from edge.alerts import Alerts
        from edge.config import load_config
        from edge.office.away import Absences
        from edge.office.console.users import add_user
        from edge.office.notify.steps import Notices
        from edge.store import Store

        users = folder / "console-users"
        for name, (role, password) in USERS.items():
            add_user(users, name, role, password)
        self.config = load_config(write_office_config(
            folder, NOTIFY, portal={**PORTAL, **(portal or {})},
            console={"listen": "127.0.0.1:0", "users_file": str(users), **(console or {})},
            passes={"signing_key_file": str(folder / "keys" / "pass.key")}))  # visitors' passes (invitations)
        self.clock = FixedClock(start)
        self.store = Store(self.config.database)
        self.store.clock = self.clock
        self.notices = Notices(self.config, self.store, clock=self.clock)
        self.alerts = Alerts(self.config, self.store, clock=self.clock, notices=self.notices)
        self.absences = Absences(self.config, self.store, clock=self.clock, notices=self.notices)
        self.office = SimpleNamespace(store=self.store, alerts=self.alerts, absences=self.absences, delivery=None,
                                      link=None, config=self.config, notices=self.notices)
        self.console = SimpleNamespace(office=self.office, config=self.config, clock=self.clock,
                                       run_blocking=_run_blocking)
        self._clients = []

    def close(self) -> None:
        for client in self._clients:
            client.__exit__(None, None, None)
        self.store.close()

    def client(self, address: tuple[str, int] = CLIENT):
        """A phone (or a script) talking to the office's one listener: the console and the portal."""
        from starlette.testclient import TestClient

        from edge.office.portal.app import site_app

        client = TestClient(site_app(self.console), client=address, follow_redirects=False)
        client.__enter__()
        self._clients.append(client)
        return client

    def minutes(self, n: float) -> None:
        self.clock.advance(n * 60)

    # -- what the modem would send -------------------------------------------------------------
    def codes_queued(self, phone: str) -> list[dict]:
        """The login codes queued for ``phone``'s SMS (oldest first), as the modem's channel would take them."""
        return [m for m in reversed(self.store.notifications.recent(1000))
                if m["kind"] == "portal_code" and m["address"] == phone]

    def code_sent(self, phone: str) -> str:
        texts = self.codes_queued(phone)
        assert texts, f"no code queued for {phone}"
        return re.search(r"[0-9]{6}", texts[-1]["text"]).group(0)

    def resident(self, client, phone: str) -> str:
        """Log ``client`` in as the person registered with ``phone``; the session's CSRF token (also set as
        the client's X-CSRF-Token header)."""
        asked = client.post("/my/login", json={"phone": phone})
        assert asked.status_code == 200, asked.text
        verified = client.post("/my/verify", json={"phone": phone, "code": self.code_sent(phone)})
        assert verified.status_code == 200, verified.text
        client.headers["X-CSRF-Token"] = verified.json()["csrf_token"]
        return verified.json()["csrf_token"]


def household_site(folder, **portal) -> PortalSite:
    """A ``PortalSite`` at 2026-12-03 10:00 (``portal``: its ``portal:`` settings) with the Wangs of 12-301
    (``site.wang``, care-watch, at PHONE; his son ``site.son``) and their neighbour ``site.li`` of 3-402
    (care-watch, at NEIGHBOUR_PHONE) whose car 沪B55555 is registered."""
    site = PortalSite(folder, site_time("2026-12-03 10:00"), portal=portal or None)
    store = site.store
    site.wang = store.people.add("王建国", "12-301", PHONE, care_watch=True)
    site.son = store.people.add("王小军", "12-301", "13700001111")
    site.li = store.people.add("李桂兰", "3-402", NEIGHBOUR_PHONE, care_watch=True)
    store.vehicles.upsert("沪B55555", "resident", site.li, valid_until="2027-01-31")
    return site
