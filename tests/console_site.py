"""A site for the console's tests: mosquitto with the site's ACL, the office with its console on a free
loopback port, and a real east gate daemon (no cameras; a simulated barrier serving both lanes).

``console_site(folder)`` is a context manager, ``two_gate_site(folder)`` the same with a second gate (west)
and ``at_both_gates(site, predicate)`` waits for both gates; ``held_exit(site, plate)`` makes the gate hold a visitor's
car at its exit with a fee due; ``care_alert(site, name, unit)`` makes the gate raise a care-watch alert.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from types import SimpleNamespace

from conftest import need_mosquitto
from mqtt_helpers import wait_for
from test_site import gate_config, make_keys, office_config, site_mosquitto, stop_parts

# Cameras that are not plugged in (no model loads): the barrier needs a camera serving each lane.
UNPLUGGED = [{"id": "cam-in", "source": "/dev/video97", "role": "face", "lane": "in", "barrier": "car"},
             {"id": "cam-out", "source": "/dev/video98", "role": "face", "lane": "out", "barrier": "car"}]
CAR_BARRIER = {"id": "car", "type": "simulated", "lanes": ["in", "out"]}
USERS = {"guard1": ("guard", "guard-pass-1"), "admin1": ("admin", "admin-pass-1"), "victim": ("guard", "victim-pass-1")}


@contextmanager
def console_site(folder, *, cameras=None, barriers=None, engines=None, recognition=None, notify=None):
    """``cameras``/``barriers``/``recognition``: the gate's (default: unplugged cameras, one simulated
    barrier); ``engines``: loaded models to share (conftest), whose face encoder the site then uses;
    ``notify``: the office's ``notify:`` section (none by default)."""
    from edge.config import load_config
    from edge.gate.daemon import Daemon
    from edge.office.console.users import add_user
    from edge.office.service import Office

    need_mosquitto()
    keys = make_keys(folder)
    users = folder / "console-users"
    for name, (role, password) in USERS.items():
        add_user(users, name, role, password)
    broker = site_mosquitto(folder, site=True).start()
    office = gate = None
    try:
        encoder = engines["faces"].encoder.name if engines else "ensemble"
        office = Office(load_config(office_config(folder, keys, broker.port, encoder,
                                                  console={"listen": "127.0.0.1:0", "users_file": str(users)},
                                                  **({"notify": notify} if notify else {})))).start()
        extra = {"recognition": recognition} if recognition else {}
        config = load_config(gate_config(
            folder / "east", keys, broker.port, "east", cameras=cameras or UNPLUGGED,
            barriers=barriers or [CAR_BARRIER], **extra))
        gate = Daemon(config, engines=engines).start()
        assert wait_for(lambda: gate.replica.synced, 30), gate.replica.status()
        gate.link.publish_status()
        yield SimpleNamespace(folder=folder, keys=keys, broker=broker, office=office, gate=gate,
                              url=office.console.url, users=users)
    finally:
        stop_parts(gate, office, broker=broker)


@contextmanager
def two_gate_site(folder, *, west_cameras=UNPLUGGED, west_barriers=(CAR_BARRIER,)):
    """``console_site`` and a real west gate daemon (``west_cameras``/``west_barriers``: its own), synced;
    ``site.gates`` names both."""
    from edge.config import load_config
    from edge.gate.daemon import Daemon

    with console_site(folder) as state:
        config = load_config(gate_config(folder / "west", state.keys, state.broker.port, "west",
                                         cameras=list(west_cameras), barriers=list(west_barriers)))
        west = Daemon(config).start()
        try:
            assert wait_for(lambda: west.replica.synced, 30), west.replica.status()
            state.gates = {"east": state.gate, "west": west}
            yield state
        finally:
            west.close()


def at_both_gates(site, predicate) -> bool:
    """Both gates hold the office's head and ``predicate(store)`` holds at each."""
    site.office.link.wake()
    head = lambda: site.office.store.records.get("head")  # noqa: E731
    return wait_for(lambda: all(g.replica.synced and g.replica.head() == head() and predicate(g.store)
                                for g in site.gates.values()), 20)


def synced(site) -> bool:
    head = site.office.store.records.get("head")
    return site.gate.replica.synced and site.gate.replica.head() == head


def resident(site, name: str, unit: str, care_watch: bool = False) -> int:
    person = site.office.store.people.add(name, unit, "13912345678", care_watch=care_watch)
    site.office.link.wake()
    assert wait_for(lambda: synced(site) and site.gate.store.people.find_by_id(person), 20)
    return person


def care_alert(site, name: str, unit: str) -> tuple[int, str]:
    """A care-watch resident last seen 49 hours ago: the gate raises the alert, the office archives it."""
    person = resident(site, name, unit, care_watch=True)
    last = time.time() - 49 * 3600  # last seen at the west gate two days ago (the office archived it)
    for store in (site.gate.store, site.office.store):
        store.sightings.note(f"person:{person}", last, "west", f"e-{person}-old")
    raised = {a["person_id"]: a["alert_id"] for a in site.gate.alerts.check_inactivity()}
    alert_id = raised[person]
    assert wait_for(lambda: site.office.store.alerts.get(alert_id) is not None, 10)
    return person, alert_id


def held_exit(site, plate: str, hours: float = 2.0) -> dict:
    """A visitor's car in for ``hours`` at the exit: the gate holds it with the fee due; the office knows."""
    gate, office = site.gate, site.office
    entry = gate.gate.vehicle("in", plate)
    session_id = entry["session_id"]
    assert wait_for(lambda: office.store.sessions.get(session_id) is not None, 10)
    for store in (gate.store, office.store):
        store.sessions.backdate_entry(session_id, hours * 3600)
    exit_event = gate.gate.vehicle("out", plate)
    assert exit_event["decision"] == "hold", exit_event
    assert wait_for(lambda: (office.store.sessions.get(session_id) or {}).get("held_epoch") is not None, 10)
    return {"session_id": session_id, "fee_cents": exit_event["fee_cents"]}
