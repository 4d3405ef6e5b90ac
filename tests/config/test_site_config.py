"""The site's config files (config/site/): the office's and a gate's in site mode, as check-config sees them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from edge.cli.main import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def etc(tmp_path):
    """/etc/gate-edge as the README has the technician fill it: keys, broker password and CA."""
    from edge.keys import write_gate_key, write_site_keys

    write_site_keys(tmp_path)
    write_gate_key(tmp_path, "east")
    write_gate_key(tmp_path, "west")
    (tmp_path / "mqtt.password").write_text("secret\n")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    return tmp_path


def _example(name: str, etc: Path, tmp_path: Path, **changes) -> Path:
    text = (REPO / "config" / "site" / name).read_text(encoding="utf-8")
    text = text.replace("/etc/gate-edge/", f"{etc}/").replace("/var/lib/gate-edge/", f"{tmp_path}/")
    data = yaml.safe_load(text)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / f"checked-{name}"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["office.yaml", "east.yaml", "west.yaml"])
def test_the_site_examples_check_clean(name, etc, tmp_path, capsys):
    assert main(["check-config", str(_example(name, etc, tmp_path))]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ok" and out.err == ""


def test_a_site_gate_with_its_own_parking_is_warned_that_the_office_decides(etc, tmp_path, capsys):
    path = _example("east.yaml", etc, tmp_path, parking={"capacity": 10})
    assert main(["check-config", str(path)]) == 0
    err = capsys.readouterr().err
    assert re.search(r":\d+: parking: this gate follows the site .* until the office's signed site settings", err)


@pytest.mark.parametrize("changes, problem", [
    ({"identity_key_file": None}, "registry.source: site needs identity_key_file"),
    ({"gate": "office"}, "gate name 'office' is reserved"),
    ({"registry": {"source": "site"}}, "needs registry.public_keys"),
])
def test_site_gate_mistakes_are_named(changes, problem, etc, tmp_path, capsys):
    assert main(["check-config", str(_example("east.yaml", etc, tmp_path, **changes))]) == 2
    assert problem in capsys.readouterr().err


@pytest.mark.parametrize("changes, problem", [
    ({"site_setings": {}}, "unknown key 'site_setings'; did you mean 'site_settings'?"),
    ({"gates": {"registry": "x.pub"}}, "gates.registry"),
    ({"registry": None}, "registry: required key is missing"),
    ({"cameras": []}, "unknown key 'cameras'"),
])
def test_office_mistakes_are_named(changes, problem, etc, tmp_path, capsys):
    assert main(["check-config", str(_example("office.yaml", etc, tmp_path, **changes))]) == 2
    assert problem in capsys.readouterr().err


def test_the_office_service_refuses_a_gate_config(etc, tmp_path, capsys):
    assert main(["office", "-c", str(_example("east.yaml", etc, tmp_path))]) == 2
    assert "is a gate's config" in capsys.readouterr().err


def test_the_design_office_example_checks_clean(etc, tmp_path, capsys):
    """DESIGN 6.2's example of the office's file, as written there (its keys under /etc/gate-edge are the
    ones `gate-edge keys new` writes, here in a temporary folder)."""
    text = (REPO / "tests" / "data" / "design-6.2-office.yaml").read_text(encoding="utf-8")
    path = tmp_path / "design-6.2-office.yaml"
    path.write_text(text.replace("/etc/gate-edge/", f"{etc}/").replace("/var/lib/gate-edge/", f"{tmp_path}/"),
                    encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ok" and out.err == ""
