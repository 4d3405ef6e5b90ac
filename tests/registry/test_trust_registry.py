"""One typo cannot erase the site's registry (issue 26, finding 2; DESIGN 6.4 ``registry_id``).

A real mosquitto with the site's ACL, the office and two gates (east, west; no cameras, so no models).
An office started on an empty database while the broker holds the site's signed head refuses to start
(exit 2, naming both ids) and the gates keep their people; ``--new-site`` is refused while that head has
people unless ``--replace`` names it; with the right id the new registry is published and every gate
keeps the old copy aside until ``gate-edge confirm-replace``. A head of another registry that does not
say it replaces the gate's is refused with a registry alert and changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mqtt_helpers import wait_for
from test_site import PASSWORDS, running_site

P = "gate/tianlin12"
PEOPLE = 4


def _edge_root() -> Path:
    """Where the ``edge`` under test lives (the CLI runs the same code as this process)."""
    import edge

    return Path(edge.__file__).resolve().parents[1]


def _run(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge", *args]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    def seed(office):
        for i in range(PEOPLE):
            office.store.people.add(f"住户{i}", f"12-{301 + i}", "13800000000")
        office.link.wake()

    with running_site(tmp_path_factory.mktemp("trust-registry"), "ensemble", seed=seed, cameras=[], barriers=[],
                      synced=lambda g: g.replica.synced and g.store.people.count() == PEOPLE) as state:
        state.registry_id = state.gates["east"].replica.head().get("registry_id")
        state.office.close()  # from here on, offices are started as the CLI starts them
        state.office = None
        yield state


def _office_yaml(site, name: str) -> Path:
    """The site's office config with ``database:`` pointing at a new, empty file (the technician's typo)."""
    data = yaml.safe_load(site.office_yaml.read_text(encoding="utf-8"))
    data["database"] = str(site.folder / f"{name}.db")
    path = site.folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _office_cli(config: Path, *extra: str, wait_s: float = 15.0) -> tuple[int | None, str]:
    """``gate-edge office -c CONFIG …`` in its own process: (exit code, or None when it kept running; stderr)."""
    env = {**os.environ, "PYTHONPATH": str(_edge_root())}
    proc = subprocess.Popen(_run("office", "-c", str(config), *extra), cwd=_edge_root(), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _, err = proc.communicate(timeout=wait_s)
        return proc.returncode, err
    except subprocess.TimeoutExpired:
        proc.terminate()
        _, err = proc.communicate(timeout=10)
        return None, err


def _people(site) -> dict[str, int]:
    return {name: gate.store.people.count() for name, gate in site.gates.items()}


def _alert(gate, device: str) -> dict | None:
    return gate.store.alerts.open_device(device)


def test_an_office_started_on_an_empty_database_refuses_and_the_gates_keep_their_people(site):
    rc, err = _office_cli(_office_yaml(site, "typo"), wait_s=15)
    time.sleep(1.0)  # anything it published has reached the gates by now
    people = _people(site)
    assert rc == 2 and str(site.registry_id) in err and "none" in err, \
        f"an office on an empty database should refuse (exit 2, naming both ids); exit {rc}, gates {people}\n{err}"
    assert people == {"east": PEOPLE, "west": PEOPLE}
    assert all(g.replica.head()["registry_id"] == site.registry_id for g in site.gates.values())


def test_new_site_is_refused_while_the_broker_holds_a_registry_with_people(site):
    rc, err = _office_cli(_office_yaml(site, "new-site"), "--new-site", wait_s=15)
    assert rc == 2 and str(site.registry_id) in err and "--replace" in err, f"exit {rc}\n{err}"
    rc, err = _office_cli(_office_yaml(site, "new-site-wrong"), "--new-site", "--replace", f"not-{site.registry_id}",
                          wait_s=15)
    assert rc == 2 and str(site.registry_id) in err, f"exit {rc}\n{err}"
    assert _people(site) == {"east": PEOPLE, "west": PEOPLE}


def test_a_head_of_another_registry_that_does_not_replace_the_gates_is_refused(site):
    """A stray office (or an old version) publishing a signed head of another registry changes nothing."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.keys import load_signer, sign_record

    real = site.gates["east"].replica.head()
    stray = {k: v for k, v in real.items() if k not in ("kid", "sig")}
    stray.update(registry_id="stray-registry", epoch=real["epoch"] + 1000, version=0, people=0, vehicles=0,
                 digest="0" * 32)
    stray = sign_record(load_signer(site.keys / "registry.key"), stray)
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="trust-registry-stray", protocol=mqtt.MQTTv5)
    client.username_pw_set("office", PASSWORDS["office"])
    client.connect("127.0.0.1", site.broker.port)
    client.loop_start()
    try:
        client.publish(f"{P}/registry/head", json.dumps(stray), qos=1, retain=True).wait_for_publish(5)
        refused = wait_for(lambda: all((_alert(g, "registry") or {}).get("detail", "").find("stray-registry") >= 0
                                       for g in site.gates.values()), 10)
        time.sleep(2.5)  # past the replica's settle time: a wipe would have begun
        heads = {n: (g.replica.head() or {}).get("registry_id") for n, g in site.gates.items()}
        assert refused, f"no registry alert naming the stray head; the gates' heads: {heads}"
        assert heads == {"east": site.registry_id, "west": site.registry_id}
        assert _people(site) == {"east": PEOPLE, "west": PEOPLE}
    finally:  # the site's real head back on the broker
        client.publish(f"{P}/registry/head", json.dumps(real), qos=1, retain=True).wait_for_publish(5)
        client.disconnect()
        client.loop_stop()


def test_replace_with_the_heads_id_publishes_a_new_registry_and_the_gates_keep_the_old_copy_aside(site):
    east, west = site.gates["east"], site.gates["west"]
    env = {**os.environ, "PYTHONPATH": str(_edge_root())}
    proc = subprocess.Popen(_run("office", "-c", str(_office_yaml(site, "replacement")), "--new-site", "--replace",
                                 str(site.registry_id)), cwd=_edge_root(), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        replaced = wait_for(lambda: proc.poll() is not None or all(
            (g.replica.head() or {}).get("replaces") == site.registry_id and g.replica.synced
            for g in site.gates.values()), 20)
        assert replaced and proc.poll() is None, f"exit {proc.poll()}; heads " \
            f"{[g.replica.head() for g in site.gates.values()]}"
        new_id = east.replica.head()["registry_id"]
        assert new_id != site.registry_id and west.replica.head()["registry_id"] == new_id
        assert _people(site) == {"east": 0, "west": 0}  # the new registry is empty...
        for gate in (east, west):  # ...and the old copy is kept aside, with an alert, until an admin confirms
            aside = gate.store.records.aside()
            assert aside == {site.registry_id: PEOPLE}, aside
            assert wait_for(lambda g=gate: _alert(g, "registry-replaced") is not None, 5)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    done = subprocess.run(_run("confirm-replace", "-c", str(site.folder / "east" / "gate.yaml")), cwd=_edge_root(),
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert east.store.records.aside() == {} and west.store.records.aside() == {site.registry_id: PEOPLE}
    assert wait_for(lambda: _alert(east, "registry-replaced") is None, 5)


def test_the_start_rule_upgrades_a_database_of_an_earlier_version_and_refuses_anything_else():
    """edge.site.registry_identity.decide without a broker: the upgrade path of a running site."""
    from edge.site.registry_identity import RegistryMismatch, decide

    def plan(db_id=None, empty=False, db_head=None, head=None, new_site=False, replace=None):
        return decide(db_id=db_id, empty=empty, db_head=db_head, head=head, new_site=new_site, replace=replace,
                      path="office.db")

    legacy_head = {"epoch": 100, "version": 9, "people": 444, "vehicles": 3}
    site_head = {**legacy_head, "registry_id": "abc"}
    # an earlier version's database of this registry (same epoch, or an older backup): upgraded
    assert plan(db_head={"epoch": 100}, head=legacy_head).action == "upgrade"
    assert plan(db_head={"epoch": 90}, head=site_head).registry_id == "abc"  # a pre-upgrade backup: the head's id
    assert plan(db_head={"epoch": 100}, head=None).action == "upgrade"
    assert plan(db_id="abc", head=site_head).action == "keep"
    assert plan(empty=True, head=None).action == "create"  # a new site
    for refused in (dict(empty=True, head=site_head), dict(db_id="xyz", head=site_head),
                    dict(db_head={"epoch": 200}, head=legacy_head), dict(head=site_head),  # never published
                    dict(empty=True, new_site=True, head=site_head),
                    dict(empty=True, new_site=True, head=site_head, replace="xyz"),
                    dict(db_id="xyz", new_site=True, head=site_head, replace="abc")):
        with pytest.raises(RegistryMismatch):
            plan(**refused)
    replacing = plan(empty=True, new_site=True, head=site_head, replace="abc")
    assert replacing.action == "replace" and replacing.replaces == "abc" and replacing.registry_id != "abc"
    assert plan(empty=True, new_site=True, head=legacy_head, replace="legacy-100").replaces == "legacy-100"
    assert plan(empty=True, new_site=True, head={**site_head, "people": 0}).replaces == "abc"  # an empty one
    back = plan(db_id="old", head=site_head, replace="abc")  # a mistaken replacement undone
    assert back.action == "replace" and back.registry_id == "old" and back.replaces == "abc"
