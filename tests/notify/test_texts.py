"""What a notification says (edge.office.notify.text): in Chinese from the console's catalog, every sentence
translated whole; a minimal text never carries a name or a phone number; a full one names the resident, and
gives contacts' numbers to staff only."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

NOTIFY = Path(__file__).resolve().parents[2] / "edge" / "office" / "notify"
ZONE = ZoneInfo("Asia/Shanghai")
NOW = 1796263200.0  # 2026-12-03 10:00 in Shanghai


def templates() -> list[tuple[str, str]]:
    """(where, template) of every ``tell(...)`` in edge/office/notify/*.py."""
    found = []
    for path in sorted(NOTIFY.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "tell":
                first = node.args[0]
                assert isinstance(first, ast.Constant), f"{path.name}:{node.lineno}: not a literal"
                found.append((f"{path.name}:{node.lineno}", first.value))
    return found


def test_the_texts_are_found():
    assert len(templates()) >= 30


@pytest.mark.parametrize("where,template", templates(), ids=lambda v: v if ".py:" in str(v) else "")
def test_every_sentence_a_notification_says_has_its_chinese(where, template):
    from edge.office.console.catalogs import translated

    zh = translated("zh")(template, None)
    assert zh, f"{where}: no Chinese for {template!r} in messages.po"
    names = {name for name in re.findall(r"\{(\w+)", template)}
    assert set(re.findall(r"\{(\w+)", zh)) <= names, where


def _resident(**extra):
    from edge.office.notify.text import Contact, Resident

    return Resident(7, "12-301", "张秀英", "13912345678", NOW - 50 * 3600, "west",
                    (Contact("李明", "13600000001", "family"), Contact("王芳", "13600000002", "neighbour")), **extra)


def test_a_care_watch_text_for_each_audience():
    from edge.office.notify.text import Audience, care_watch

    resident = _resident()
    minimal = care_watch(resident, "K7P2QX", NOW, ZONE, Audience("minimal"))
    assert minimal == "【独居关怀】12-301 住户：已 50 小时未见，最后经过道闸 west。请上门查看。" \
                      "处理后请短信回复 K7P2QX，或在门禁控制台确认。"
    staff = care_watch(resident, "K7P2QX", NOW, ZONE, Audience("full", staff=True, replies=True))
    assert staff == ("【独居关怀】12-301 张秀英（电话 13912345678）：已 50 小时未见，最后经过道闸 west"
                     "（12-01 08:00）。请上门查看。处理后请回复 K7P2QX 确认。"
                     "联系人：李明（家属）13600000001、王芳（邻居）13600000002。")
    contact = care_watch(resident, "K7P2QX", NOW, ZONE, Audience("full", staff=False, replies=True))
    assert "张秀英" in contact and not re.search(r"\d{7,}", contact)  # the name, no one's number
    never = care_watch(_resident().__class__(8, "3-102", "王桂兰"), "ABCDEF", NOW, ZONE, Audience("minimal"))
    assert "登记以来从未见到" in never


def test_minimal_texts_never_carry_a_name_or_a_phone_number():
    from edge.office.notify import text

    resident, minimal = _resident(), text.Audience("minimal")
    said = [text.care_watch(resident, "K7P2QX", NOW, ZONE, minimal),
            text.roll_call([resident], 24, NOW, ZONE, minimal),
            text.ack(resident, None, "K7P2QX", "sms:13800000000", "张秀英在女儿家，电话 139-1234-5678", NOW, ZONE,
                     minimal),
            text.cleared(resident, None, "K7P2QX", "east", NOW, ZONE, minimal)]
    for one in said:
        assert "张秀英" not in one and "李明" not in one and not re.search(r"\d{7,}", one.replace("-", "")), one
    assert "12-301" in said[0] and "K7P2QX" in said[0]
    assert "短信 138****0000" in said[2] and "***在女儿家" in said[2]


def test_the_message_json_is_design_7s():
    from edge.office.notify.text import payload

    made = payload(alert_id="a1", kind="care_watch", step=1, text="…", unit="12-301", person_id=7, code="K7P2QX",
                   now=NOW, zone=ZONE)
    assert made == {"v": 1, "alert_id": "a1", "kind": "care_watch", "step": 1, "text": "…", "unit": "12-301",
                    "person_id": 7, "code": "K7P2QX", "ts": "2026-12-03T10:00:00.000+08:00"}
