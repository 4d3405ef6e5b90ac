"""The office's notify: section as check-config sees it: the shipped example, and mistakes named by key.

A robot's URL holds its key: check-config must name the key that is wrong without repeating the URL, even
when a technician typed the URL itself where the path of the file holding it belongs.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_site_config import etc  # noqa: F401 (the fixture: /etc/gate-edge with the site's keys)

from edge.cli.main import main

REPO = Path(__file__).resolve().parents[2]
ROBOT_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"


def office_text(folder: Path, tmp_path: Path, *, uncomment_notify: bool) -> str:
    """config/site/office.yaml with its paths under etc and tmp_path, its commented notify: block uncommented."""
    lines = (REPO / "config" / "site" / "office.yaml").read_text(encoding="utf-8").splitlines()
    if uncomment_notify:
        start = lines.index("# notify:")
        end = start
        while end < len(lines) and lines[end].startswith("# "):
            end += 1
        lines[start:end] = [line[2:] for line in lines[start:end]]
    text = "\n".join(lines) + "\n"
    return text.replace("/etc/gate-edge/", f"{folder}/").replace("/var/lib/gate-edge/", f"{tmp_path}/")


def write_office(tmp_path: Path, folder: Path, notify: dict) -> Path:
    data = yaml.safe_load(office_text(folder, tmp_path, uncomment_notify=False))
    data["notify"] = notify
    path = tmp_path / "office.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def files(etc):  # noqa: F811
    (etc / "wecom.url").write_text(f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}\n")
    (etc / "street.secret").write_text("a long random key\n")
    (etc / "smtp.password").write_text("mail password\n")
    (etc / "ding.url").write_text("https://oapi.dingtalk.com/robot/send?access_token=abcdef0123456789\n")
    (etc / "ding.secret").write_text("SEC0123456789abcdef\n")
    return etc


def test_the_offices_example_notify_block_checks_clean_once_uncommented(files, tmp_path, capsys):
    text = office_text(files, tmp_path, uncomment_notify=True)
    assert yaml.safe_load(text)["notify"]["channels"]["duty-group"]["type"] == "wecom"  # the block was found
    path = tmp_path / "office.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == "ok" and out.err == ""


def channels(files: Path, **more) -> dict:
    return {"duty-group": {"type": "wecom", "url_file": str(files / "wecom.url")},
            "ding": {"type": "dingtalk", "url_file": str(files / "ding.url"),
                     "secret_file": str(files / "ding.secret")},
            "mail": {"type": "smtp", "host": "127.0.0.1", "port": 2525, "tls": "none", "from": "office@example.com"},
            **more}


@pytest.mark.parametrize("notify, key, problem", [
    ({"channels": {"duty-group": {"type": "wechat", "url_file": "x"}}},
     "notify.channels.duty-group.type", "unknown type 'wechat'; use one of: wecom, dingtalk, webhook"),
    ({"care_watch": [{"after_minutes": 0, "to": ["duty-grp"]}]},
     "notify.care_watch.0.to.0", "no channel 'duty-grp' in notify.channels"),
    ({"device": [{"after_minutes": 10, "to": ["mail"]}]},
     "notify.device.0.to.0", "a smtp channel needs an address"),
    ({"care_watch": [{"after_minutes": 0, "to": ["duty-group:13800000000"]}]},
     "notify.care_watch.0.to.0", "a wecom channel is a group"),
    ({"roll_call": {"at": "08:30", "to": ["mail:not-an-address"]}},
     "notify.roll_call.to.0", "is not an e-mail address"),
    ({"channels": {"duty-group": {"type": "wecom", "url_file": "FILE", "mention_mobiles": ["duty"]}}},
     "notify.channels.duty-group.mention_mobiles", "'duty' is not a mobile number"),
    ({"channels": {"hook": {"type": "webhook", "url": "ftp://street.example/hook", "secret_file": "SECRET"}}},
     "notify.channels.hook.url", "an http:// or https:// URL"),
    ({"channels": {"ding": {"type": "dingtalk", "url_file": "FILE", "secret_file": "EMPTY"}}},
     "notify.channels.ding.secret_file", "the file named here is empty"),
    ({"channels": {"mail": {"type": "smtp", "host": "mail.example.com", "tls": "none", "from": "o@example.com"}}},
     "notify.channels.mail", "tls: none is only allowed for a server on loopback"),
    ({"channels": {"mail": {"type": "smtp", "host": "127.0.0.1", "tls": "none", "from": "office"}}},
     "notify.channels.mail.from", "'office' is not an e-mail address"),
])
def test_notify_mistakes_are_named_by_key(files, tmp_path, capsys, notify, key, problem):
    (files / "empty").write_text("\n")
    subst = {"FILE": str(files / "wecom.url"), "SECRET": str(files / "street.secret"), "EMPTY": str(files / "empty")}
    for section in notify.get("channels", {}).values():
        for field, value in section.items():
            section[field] = subst.get(value, value) if isinstance(value, str) else value
    notify = {**notify, "channels": channels(files, **notify.get("channels", {}))}
    assert main(["check-config", str(write_office(tmp_path, files, notify))]) == 2
    err = capsys.readouterr().err
    assert re.search(rf":\d+: {re.escape(key)}: .*{re.escape(problem)}", err), err


def test_a_url_typed_where_its_file_belongs_is_refused_without_repeating_it(files, tmp_path, capsys):
    typed = f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}"
    notify = {"channels": channels(files, **{"duty-group": {"type": "wecom", "url_file": typed}})}
    assert main(["check-config", str(write_office(tmp_path, files, notify))]) == 2
    err = capsys.readouterr().err
    assert "notify.channels.duty-group.url_file: the file named here does not exist" in err
    assert ROBOT_KEY not in err


def test_a_url_file_that_holds_no_url_is_refused_without_showing_what_it_holds(files, tmp_path, capsys):
    (files / "wecom.url").write_text(f"key={ROBOT_KEY}\n")  # the key alone, without the URL
    notify = {"channels": channels(files)}
    assert main(["check-config", str(write_office(tmp_path, files, notify))]) == 2
    err = capsys.readouterr().err
    assert "notify.channels.duty-group.url_file: the file named here must hold the robot's webhook URL" in err
    assert ROBOT_KEY not in err
