"""An office for the notification tests: mosquitto with the site's ACL and the office with its console on a
free loopback port and the ``notify:`` section given (no gate: the tests queue what a gate's alert would).

``notify_office(folder, notify)`` is a context manager yielding (office, console URL); ``write_office``
writes the same office's config for a ``gate-edge office`` process of its own, which ``office_process`` starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

from conftest import need_mosquitto
from test_site import make_keys, office_config, site_mosquitto


def write_office(folder, broker_port: int, notify: dict, **extra):
    keys = make_keys(folder) if not (folder / "keys").exists() else folder / "keys"
    return office_config(folder, keys, broker_port, "ensemble", notify=notify, **extra)


def office_process(config: Path, log: Path) -> subprocess.Popen:
    """``gate-edge office -c config`` of this checkout in a process of its own, its output appended to ``log``."""
    import edge

    root = Path(edge.__file__).resolve().parents[1]
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "edge", "office", "-c", str(config)], cwd=root,
                                env={**os.environ, "PYTHONPATH": str(root)}, stdout=out, stderr=subprocess.STDOUT)


@contextmanager
def broker_for(folder):

    need_mosquitto()
    broker = site_mosquitto(folder, site=True).start()
    try:
        yield broker
    finally:
        broker.stop()


@contextmanager
def notify_office(folder, notify: dict, **extra):
    """``extra``: more sections of the office's config (the residents' portal's ``portal:``)."""
    from console_site import USERS

    from edge.config import load_config
    from edge.office.console.users import add_user
    from edge.office.service import Office

    users = folder / "console-users"
    for name, (role, password) in USERS.items():
        add_user(users, name, role, password)
    with broker_for(folder) as broker:
        office = Office(load_config(write_office(folder, broker.port, notify, console={
            "listen": "127.0.0.1:0", "users_file": str(users)}, **extra)))
        try:
            office.start()
            yield SimpleNamespace(office=office, url=office.console.url, broker=broker)
        finally:
            office.close()
