"""The office's portal: section as check-config sees it: the shipped example, and mistakes named by key."""

from __future__ import annotations

import re

import pytest
import yaml
from test_notify_config import channels, files, office_text  # noqa: F401 (files: the fixture)
from test_site_config import etc  # noqa: F401 (the fixture: /etc/gate-edge with the site's keys)

from edge.cli.main import main


def _uncommented(text: str, start: str) -> str:
    lines = text.splitlines()
    first = lines.index(start)
    end = first
    while end < len(lines) and lines[end].startswith("# "):
        end += 1
    lines[first:end] = [line[2:] for line in lines[first:end]]
    return "\n".join(lines) + "\n"


def test_the_offices_example_portal_block_checks_clean_once_uncommented(files, tmp_path, capsys):  # noqa: F811
    text = _uncommented(office_text(files, tmp_path, uncomment_notify=True), "# portal:")
    data = yaml.safe_load(text)
    assert data["portal"] == {"enabled": True, "sms_channel": "modem", "login": True, "household": True,
                              "invites": True, "away": True, "invites_per_unit_per_day": 5, "codes_per_hour": 100}
    (files / "console-users").write_text("")
    data["console"]["users_file"] = str(files / "console-users")
    path = tmp_path / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.strip() == "ok"


@pytest.mark.parametrize("portal, users, key, problem", [
    ({"enabled": True, "sms_channel": "duty-group"}, True, "portal.sms_channel",
     "channel 'duty-group' is a wecom channel; login codes go by sms (one of: modem)"),
    ({"enabled": True, "sms_channel": "modme"}, True, "portal.sms_channel",
     "no channel 'modme' in notify.channels (one of: modem)"),
    ({"enabled": True}, True, "portal.sms_channel", "required while portal.login is on"),
    ({"enabled": True, "sms_channel": "modem"}, False, "portal.enabled", "set console.users_file"),
    ({"enabled": True, "sms_channel": "modem", "invites_per_day": 3}, True, "portal.invites_per_day",
     "unknown key"),
    ({"enabled": True, "sms_channel": "modem", "codes_per_hour": 0}, True, "portal.codes_per_hour",
     "greater than or equal to 1"),
])
def test_portal_mistakes_are_named_by_key(files, tmp_path, capsys, portal, users, key, problem):  # noqa: F811
    data = yaml.safe_load(office_text(files, tmp_path, uncomment_notify=False))
    data["notify"] = {"channels": channels(files, modem={"type": "sms", "port": "/dev/ttyUSB2"})}
    data["portal"] = portal
    if users:
        (files / "console-users").write_text("")
        data["console"]["users_file"] = str(files / "console-users")
    path = tmp_path / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf":\d+: {re.escape(key)}: .*{re.escape(problem)}", err), err


def test_a_portal_turned_off_needs_nothing(files, tmp_path, capsys):  # noqa: F811
    data = yaml.safe_load(office_text(files, tmp_path, uncomment_notify=False))
    data["portal"] = {"enabled": False, "sms_channel": None}
    path = tmp_path / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    assert main(["check-config", str(path)]) == 0, capsys.readouterr().err
