"""The console's errors in the page's language: every JSON error keeps ``error`` in English (what scripts and
tests compare) and adds ``message``, the same in the console's language (cookie ``lang``: zh unless en),
translated by ``edge.office.console.i18n.error_message``; an error it does not wholly know stays in English."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import pytest
from conftest import console_client
from console_site import console_site

CONSOLE = Path(__file__).resolve().parents[1] / "edge" / "office" / "console"
CJK = re.compile(r"[\u4e00-\u9fff]")
# The calls whose argument (at this index) is an error's English text.
MESSAGE_ARG = {"HTTPException": 1, "GateAnswer": 1, "_error": 1, "error": 2, "refuse": 2, "BadParameter": 0}
# What a variable part of a message may be, to try each message with: a name, a number, a file, a plate,
# a list, nothing, and errors of other modules a message carries (a photo's, a plate's).
SAMPLES = ("", "7", "name", "photo", "east", "wang.jpg", "沪A12345", "a, b", "a.jpg: no face found",
           "'沪AO1234' is not a Chinese plate: it is empty")


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _template(node) -> list | None:
    """A literal message as [text, slot, text, ...] (a slot: the conversion of an f-string's ``{…}``), or
    None when the message is not written in the source (``str(exc)``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [part.value if isinstance(part, ast.Constant) else part.conversion for part in node.values]
    return None


def literal_messages() -> list[tuple[str, list]]:
    """(where, template) of every error text written in edge/office/console/*.py: the message of each
    ``HTTPException(status, message)`` (and of the helpers that answer one) and each ``{"error": …}``."""
    found = []
    for path in sorted(CONSOLE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            candidates = []
            if isinstance(node, ast.Call) and _name(node) in MESSAGE_ARG and len(node.args) > MESSAGE_ARG[_name(node)]:
                candidates.append(node.args[MESSAGE_ARG[_name(node)]])
            if isinstance(node, ast.Dict):
                candidates += [v for k, v in zip(node.keys, node.values)
                               if isinstance(k, ast.Constant) and k.value == "error"]
            for candidate in candidates:
                template = _template(candidate)
                if template is not None:
                    found.append((f"{path.name}:{candidate.lineno}", template))
    return found


def texts(template: list):
    """The message with each slot filled by every combination of ``SAMPLES`` (as the slot converts it)."""
    slots = [part for part in template if not isinstance(part, str)]
    for values in itertools.product(SAMPLES, repeat=len(slots)):
        filled, given = [], iter(values)
        for part in template:
            if isinstance(part, str):
                filled.append(part)
            else:
                value = next(given)
                filled.append(repr(value) if part == ord("r") else value)
        yield "".join(filled)


def test_the_source_has_the_messages_the_test_looks_for():
    found = {"".join(p for p in template if isinstance(p, str)) for _, template in literal_messages()}
    assert len(found) >= 70
    assert "note: say what was done (e.g. visited, all well)" in found
    assert "log in first (POST /login)" in found  # the guard's
    assert ": required" in found  # fields.text's f"{field}: required"


@pytest.mark.parametrize("where,template", literal_messages(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_error_the_console_writes_has_a_chinese_translation(where, template):
    from edge.office.console.i18n import error_message

    tried = []
    for text in texts(template):
        zh = error_message(text, "zh")
        assert error_message(text, "en") == text
        # Wholly translated: Chinese, and no English sentence of the message left in it (a sample may
        # fill a part where the pattern wants another kind of value: the next sample is tried).
        if CJK.search(zh) and not any(len(part.strip()) >= 12 and part in zh for part in template
                                      if isinstance(part, str)):
            return
        tried.append(text)
    pytest.fail(f"{where}: no Chinese for {tried[:3]} (add it to edge/office/console/i18n.py _ERRORS)")


def test_the_body_size_guard_s_answers_have_chinese_too():
    from edge.office.console.guard import MAX_FORM_BYTES, BodyTooLarge
    from edge.office.console.i18n import error_message
    from edge.office.console.uploads import MAX_BODY_BYTES

    assert error_message(BodyTooLarge(MAX_FORM_BYTES).detail, "zh") == "发送的内容太大，最多只能 1 MB"
    assert error_message(BodyTooLarge(MAX_BODY_BYTES).detail, "zh") == (
        "发送的内容太大，最多只能 200 MB；请少选几张照片，分几次上传")
    assert error_message(BodyTooLarge(1000).detail, "zh") == "发送的内容太大，最多只能 1000 字节"


@pytest.mark.parametrize("text,zh", [
    ("note: say what was done (e.g. visited, all well)", "请写下处理情况（例如：已上门，一切正常）"),
    ("the guard role may not do this (needs admin)", "您是门岗，不能做这件事（需要管理员）"),
    ("name: required", "请填写姓名"),
    ("class: one of resident, family, visitor, blocked", "类别只能是：业主、家属、访客、禁止通行"),
    ("photo: wang.jpg is larger than 10 MB", "照片 wang.jpg 太大，最多 10 MB"),
    ("plate: 'ABC' is not a Chinese plate: it is empty", "车牌 'ABC' 不对：没有填写"),
    ("person_id: a resident vehicle needs its owner; 沪A12345 has no owner registered",
     "业主车辆必须选择车主；沪A12345 还没有登记车主"),
    ("photo: a.jpg: 2 faces found; enrolment needs a photo of one person alone; nothing was stored",
     "照片有问题：a.jpg：照片上有 2 张人脸；照片上只能有本人一个人。什么都没有保存"),
])
def test_the_variable_part_of_a_message_is_kept(text, zh):
    from edge.office.console.i18n import error_message

    assert error_message(text, "zh") == zh
    assert error_message(text, "en") == text


@pytest.mark.parametrize("text", [
    "something no pattern knows",
    "name: something no pattern knows",  # a field's pattern, but not what follows it
    "plate: 'ABC' is not a Chinese plate: a reason no pattern knows",
    "photo: a.jpg: no face found; a reason no pattern knows; nothing was stored",
])
def test_a_message_not_wholly_known_stays_in_english(text):
    from edge.office.console.i18n import error_message

    assert error_message(text, "zh") == text


# -- through the real console --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with console_site(tmp_path_factory.mktemp("console-messages")) as state:
        yield state


def _english(client) -> None:
    """Switch ``client``'s console to English as a page does (the language link: cookie ``lang``)."""
    assert client.get("/lang?to=en&next=/alerts").status_code == 303
    assert client.cookies.get("lang") == "en"


def test_a_failing_call_answers_in_english_and_in_the_session_s_language(site, guard):
    answer = guard.post("/api/alerts/x/ack", json={"note": " "})
    assert answer.status_code == 400
    assert answer.json() == {"error": "note: say what was done (e.g. visited, all well)",
                             "message": "请写下处理情况（例如：已上门，一切正常）"}
    answer = guard.get("/api/events", params={"gate": "../x"})  # a message with a variable part
    assert answer.status_code == 400
    assert answer.json() == {"error": "gate: '../x' is not a gate name", "message": "道闸名称 '../x' 不对"}
    refused = guard.post("/api/people", data={"name": "张三", "unit": "1-101"})  # a guard's role
    assert refused.status_code == 403
    assert refused.json()["message"] == "您是门岗，不能做这件事（需要管理员）"
    assert "guard role" in refused.json()["error"]

    _english(guard)
    answer = guard.post("/api/alerts/x/ack", json={"note": " "})
    assert answer.status_code == 400
    assert answer.json() == {"error": "note: say what was done (e.g. visited, all well)",
                             "message": "note: say what was done (e.g. visited, all well)"}
    guard.cookies.delete("lang")


def test_the_reports_refusals_have_their_message_too(site, guard):
    """Found in review: the report routes answered bare {"error"} (the CSV one included)."""
    for path in ("/api/reports/nothing", "/api/reports/passages-by-hour.csv?date=9999-12-31"):
        answer = guard.get(path)
        assert answer.status_code in (400, 404) and answer.json()["message"] and answer.json()["error"], path
        assert answer.json()["message"] != answer.json()["error"], answer.json()  # in Chinese


def test_the_guards_answers_speak_the_session_s_language(site, guard):
    import httpx

    no_token = guard.post("/api/alerts/x/ack", json={"note": "x"}, headers={"X-CSRF-Token": ""})
    assert no_token.status_code == 403 and "CSRF" in no_token.json()["error"]
    assert no_token.json()["message"] == "页面已过期，请刷新页面后再试一次"
    too_large = guard.post("/api/alerts/x/ack", content=b"x" * (1024 * 1024 + 1),
                           headers={"Content-Type": "application/json"})
    assert too_large.status_code == 413 and too_large.json()["message"] == "发送的内容太大，最多只能 1 MB"
    nobody = httpx.get(f"{site.url}/api/alerts")
    assert nobody.status_code == 401
    assert nobody.json() == {"error": "log in first (POST /login)", "message": "请先登录"}
    english = httpx.get(f"{site.url}/api/alerts", cookies={"lang": "en"})
    assert english.json() == {"error": "log in first (POST /login)", "message": "log in first (POST /login)"}
    wrong = httpx.post(f"{site.url}/login", data={"username": "guard1", "password": "nope-nope"},
                       headers={"Accept": "application/json"})
    assert wrong.status_code == 401 and wrong.json()["message"] == "用户名或密码不正确"


def test_a_gate_s_refusal_keeps_its_result_and_says_which_gate_in_the_page_s_language(site, guard):
    refused = guard.post("/api/gates/east/open", json={"lane": "in", "barrier": "nope", "reason": "test"})
    assert refused.status_code == 409, refused.text
    body = refused.json()
    assert body["gate"] == "east" and body["result"]["ok"] is False
    assert body["error"] == f"gate east refused: {body['result']['error']}"
    assert body["message"].startswith("道闸 east 没有执行：")


BAD_CSV = "name,unit\n周二,楼上\n".encode()


def test_an_admin_s_import_refusal_has_its_message_too(site):
    admin = console_client(site, "admin1")
    try:
        answer = admin.post("/api/import", files=[("csv", ("people.csv", BAD_CSV, "text/csv"))])
        assert answer.status_code == 400, answer.text
        body = answer.json()
        assert body["error"].startswith("people.csv: nothing imported") and body["problems"]
        assert body["message"].startswith("people.csv：一行也没有导入")
        _english(admin)
        again = admin.post("/api/import", files=[("csv", ("people.csv", BAD_CSV, "text/csv"))])
        assert again.json()["message"] == again.json()["error"]
    finally:
        admin.close()
