"""The console's errors in the page's language: every JSON error keeps ``error`` in English (what scripts and tests
compare) and adds ``message``, the same in the console's language (cookie ``lang``: zh unless en). Each error is
written as a message marked for the catalog (``edge.schemas.phrases.tell``), and said from the zh catalog
(``edge/office/console/locale/zh/LC_MESSAGES/messages.po``); a message the catalog cannot say whole stays in
English."""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest
from conftest import console_client
from console_site import console_site

CONSOLE = Path(__file__).resolve().parents[2] / "edge" / "office" / "console"
# The calls that write an error's English for the catalog: (its template's index, its context's index or None).
MARKS = {"tell": (0, None), "ptell": (1, 0)}


def _name(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def literal_messages() -> list[tuple[str, str | None, str]]:
    """(where, context, template) of every error message written in edge/office/console/*.py: the English
    template of each ``tell(...)`` / ``ptell(context, ...)``."""
    found = []
    for path in sorted(CONSOLE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _name(node) in MARKS:
                index, context_index = MARKS[_name(node)]
                parts = [a.value if isinstance(a, ast.Constant) else None for a in node.args]
                assert len(parts) > index and isinstance(parts[index], str), f"{path.name}:{node.lineno}: not a literal"
                found.append((f"{path.name}:{node.lineno}", parts[context_index] if context_index is not None else None,
                              parts[index]))
    return found


def _names(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_the_source_has_the_messages_the_test_looks_for():
    found = {template for _, _, template in literal_messages()}
    assert len(found) >= 70
    assert "note: say what was done (e.g. visited, all well)" in found
    assert "log in first (POST /login)" in found  # the guard's
    assert "{field}: required" in found  # fields.text's


@pytest.mark.parametrize("where,context,template", literal_messages(),
                         ids=lambda v: v if isinstance(v, str) and ".py:" in v else "")
def test_every_error_the_console_writes_has_a_chinese_translation(where, context, template):
    from edge.office.console.catalogs import translated

    zh = translated("zh")(template, context)
    assert zh, f"{where}: no Chinese for {template!r} (translate it in edge/office/console/locale/zh/LC_MESSAGES/" \
               "messages.po; `make messages` adds it there)"
    assert translated("en")(template, context) == template
    assert _names(zh) <= _names(template), f"{where}: the Chinese names a part the English does not give"


def test_the_body_size_guard_s_answers_have_chinese_too():
    from edge.office.console.catalogs import say_in
    from edge.office.console.guard import MAX_FORM_BYTES, BodyTooLarge
    from edge.office.console.uploads import MAX_BODY_BYTES

    assert say_in(BodyTooLarge(MAX_FORM_BYTES).detail, "zh") == "发送的内容太大，最多只能 1 MB"
    assert say_in(BodyTooLarge(MAX_BODY_BYTES).detail, "zh") == (
        "发送的内容太大，最多只能 200 MB；请少选几张照片，分几次上传")
    assert say_in(BodyTooLarge(1000).detail, "zh") == "发送的内容太大，最多只能 1000 字节"


def _messages():
    """(the message as the console writes it, its English, its Chinese)."""
    from edge.office.console.words import api_word, field, listing
    from edge.schemas.phrases import Listing, tell
    from edge.store import VEHICLE_CLASSES
    from models.faces import PhotoRefused

    return [
        (tell("note: say what was done (e.g. visited, all well)"),
         "note: say what was done (e.g. visited, all well)", "请写下处理情况（例如：已上门，一切正常）"),
        (tell("the {role} role may not do this (needs {roles})", role=api_word("guard"),
              roles=listing(["admin"], "or")),
         "the guard role may not do this (needs admin)", "您是门岗，不能做这件事（需要管理员）"),
        (tell("{field}: required", field=field("name")), "name: required", "请填写姓名"),
        (tell("{field}: one of {items}", field=field("class"), items=listing(VEHICLE_CLASSES)),
         "class: one of resident, family, visitor, blocked", "类别只能是：业主、家属、访客、禁止通行"),
        (tell("{field}: {name} is larger than {mb} MB", field=field("photo"), name="wang.jpg", mb=10),
         "photo: wang.jpg is larger than 10 MB", "照片 wang.jpg 太大，最多 10 MB"),
        (tell("{field}: {value!r} is not a Chinese plate: {why}", field=field("plate"), value="ABC",
              why=tell("it is empty")),
         "plate: 'ABC' is not a Chinese plate: it is empty", "车牌 'ABC' 不对：没有填写"),
        (tell("person_id: a {items} vehicle needs its owner; {plate} has no owner registered",
              items=api_word("resident"), plate="沪A12345"),
         "person_id: a resident vehicle needs its owner; 沪A12345 has no owner registered",
         "业主车辆必须选择车主；沪A12345 还没有登记车主"),
        (tell("photo: {why}; nothing was stored", why=Listing([PhotoRefused("a.jpg", 2).said], "then")),
         "photo: a.jpg: 2 faces found; enrolment needs a photo of one person alone; nothing was stored",
         "照片有问题：a.jpg：照片上有 2 张人脸；照片上只能有本人一个人。什么都没有保存"),
    ]


@pytest.mark.parametrize("index", range(8))
def test_the_variable_part_of_a_message_is_kept(index):
    from edge.office.console.catalogs import say_in

    message, english, zh = _messages()[index]
    assert str(message) == english
    assert say_in(message, "zh") == zh
    assert say_in(message, "en") == english


def _unknown():
    from edge.office.console.words import field
    from edge.schemas.phrases import Listing, tell

    unknown = tell("a reason no catalog knows")
    return [
        tell("something no catalog knows"),
        tell("{field}: something no catalog knows", field=field("name")),  # a field's, but not what follows it
        tell("{field}: {value!r} is not a Chinese plate: {why}", field=field("plate"), value="ABC", why=unknown),
        tell("photo: {why}; nothing was stored", why=Listing([tell("{file}: no face found; use a frontal, well-lit "
                                                                   "photo where the face is at least 80 px wide",
                                                                   file="a.jpg"), unknown], "then")),
    ]


@pytest.mark.parametrize("index", range(4))
def test_a_message_not_wholly_known_stays_in_english(index):
    from edge.office.console.catalogs import say_in

    message = _unknown()[index]
    assert say_in(message, "zh") == str(message)


def test_a_missing_or_stale_compiled_catalog_is_compiled_from_the_po(tmp_path, monkeypatch, caplog):
    """The .mo is made at install (make, scripts/install-venv.sh); without it the .po is read, and said."""
    import shutil

    from edge.office.console import catalogs

    po = catalogs.LOCALES / "zh" / "LC_MESSAGES" / "messages.po"
    (tmp_path / "zh" / "LC_MESSAGES").mkdir(parents=True)
    shutil.copy(po, tmp_path / "zh" / "LC_MESSAGES" / "messages.po")
    monkeypatch.setattr(catalogs, "LOCALES", tmp_path)
    catalogs.catalog.cache_clear()
    try:
        assert catalogs.catalog("zh").gettext("log in first (POST /login)") == "请先登录"
        assert "compiling messages.po in memory" in caplog.text
    finally:
        catalogs.catalog.cache_clear()


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
