"""The console's errors in Chinese, said after the fact from their English (what is left of the old way: the
pages' words and what gates write go through the gettext catalogs, ``catalogs``).
``error_message(text, lang)``: an error the console answers (the English ``"error"`` of its JSON) as the
page's language says it (its ``"message"``); one no pattern here knows wholly stays in English.
"""

from __future__ import annotations

import re

from edge.office.console.catalogs import LANGS

__all__ = ["LANGS", "error_message"]
_N = r"[0-9]+(?:\.[0-9]+)?"

# -- what the console answers when it refuses (edge.office.console: the ``HTTPException`` messages, the guards'
# answers, and the errors of edge.plates, edge.timeutil, models.faces/images and edge.site.command_client
# that they carry). Each pattern matches a whole message; its named parts are kept (a number, a file
# name, what was typed), except: ``field`` is said as the page names the field; ``items``/``role``/``roles``
# (words of the API: classes, kinds, roles) as the pages say them; ``why`` is translated too, and when it
# cannot be the whole message is not; ``detail`` (a system's or a gate's own words, for a technician) is
# translated when it can be and else kept as written.
_FIELDS = {
    "name": "姓名", "unit": "房号", "phone": "电话", "plate": "车牌", "note": "备注", "reason": "开闸原因",
    "lane": "方向", "barrier": "道闸杆", "class": "类别", "vehicle_class": "类别", "person_id": "人员编号",
    "person id": "人员编号", "person": "人员编号", "valid_from": "有效期起", "valid_until": "有效期至",
    "valid_hours": "有效时长", "care_watch": "独居关怀", "face_consent": "同意人脸识别", "photo": "照片",
    "csv": "CSV 文件", "amount_cents": "金额", "limit": "条数", "since": "开始时间", "date": "日期",
    "days": "天数", "gate": "道闸", "kind": "类型", "state": "状态", "lang": "语言", "pass id": "通行证编号",
    "username": "用户名", "password": "密码",
}
_FIELD = r"[a-z_ ]+"  # a field's name as a message starts with it
_ERRORS = [(re.compile(pattern), zh) for pattern, zh in (
    # the guards (app.Guard, need_role) and the login
    (r"log in first \(POST /login\)", "请先登录"),
    (r"bad or missing CSRF token \(X-CSRF-Token header or csrf_token field\)", "页面已过期，请刷新页面后再试一次"),
    (r"the (?P<role>\S+) role may not do this \(needs (?P<roles>.+)\)", "您是{role}，不能做这件事（需要{roles}）"),
    (rf"the request body is larger than (?P<n>{_N}) MB, the most this console accepts",
     "发送的内容太大，最多只能 {n} MB"),
    (rf"the request body is larger than (?P<n>{_N}) bytes, the most this console accepts",
     "发送的内容太大，最多只能 {n} 字节"),
    (rf"the upload is larger than (?P<n>{_N}) MB", "上传的文件太大，最多只能 {n} MB"),
    (r"send fewer photos at a time", "请少选几张照片，分几次上传"),
    (r"too many failed logins; wait a few minutes", "登录失败次数太多，请过几分钟再试"),
    (r"username and password are both needed", "请填写用户名和密码"),
    (r"wrong user name or password", "用户名或密码不正确"),
    (r"the body is not JSON", "提交的内容格式不正确"),
    (r"the body must be a JSON object", "提交的内容格式不正确"),
    # passages, alerts, parking, remote opening, the vehicle query (app)
    (r"since: (?P<value>.+) is not an ISO time", "开始时间 {value} 写得不对"),
    (r"date: (?P<value>.+) is not YYYY-MM-DD", "日期 {value} 写得不对，请按 2026-11-30 这样写"),
    (r"gate: (?P<value>.+) is not a gate name", "道闸名称 {value} 不对"),
    (r"limit: a whole number from 1 to 1000", "条数请填 1 到 1000 之间的整数"),
    (r"state: open or all", "状态只能是 open（未处理）或 all（全部）"),
    (r"note: say what was done \(e\.g\. visited, all well\)", "请写下处理情况（例如：已上门，一切正常）"),
    (rf"note: at most (?P<n>{_N}) characters", "备注最多 {n} 个字"),
    (r"no alert (?P<id>.+)", "找不到这条警报（{id}）"),
    (r"the office cannot sign commands: (?P<detail>.+)", "居委会现在不能发出开闸指令，请联系技术人员。详情：{detail}"),
    (r"gate (?P<gate>\S+) refused: (?P<detail>.+)", "道闸 {gate} 没有执行：{detail}"),
    (r"amount_cents: a whole number of cents, 0 or more", "金额请填 0 或以上的整数（单位：分）"),
    (r"no open parking session (?P<id>.+)", "找不到这条在场停车记录（{id}）"),
    (r"session (?P<id>\S+): no gate knows where the car is", "不知道这辆车在哪个道闸（停车记录 {id}）"),
    (r"no gate (?P<gate>.+) at this site \(gates: (?P<gates>.*)\)", "本小区没有道闸 {gate}（现有道闸：{gates}）"),
    (r"lane: in or out", "方向请选“进”或“出”"),
    (r"barrier: a barrier id", "道闸杆编号不对"),
    (rf"reason: why the gate is opened \(up to (?P<n>{_N}) characters\)", "请写下开闸原因（最多 {n} 个字）"),
    (r"give one of plate=P or person=ID", "请只填车牌或人员编号中的一项"),
    (r"person: (?P<value>.+) is not a person id", "人员编号 {value} 不对"),
    (rf"no person with id (?P<id>{_N}); see `gate-edge person list`", "找不到编号为 {id} 的人员"),
    # the registry: people, vehicles (registry_pages) and the fields of a write (fields)
    (r"person id: (?P<value>.+) is not a person id", "人员编号 {value} 不对"),
    (r"unit: (?P<value>.+) is not a unit; write building-room, e.g\. 12-301",
     "房号 {value} 写得不对，请按“楼号-室号”写，例如 12-301"),
    (r"phone: (?P<value>.+) is not a phone number \(digits, \+ and - only\)", "电话 {value} 不对，只能用数字、+ 和 -"),
    (rf"photo: at most (?P<n>{_N}) photos of one person", "每人最多 {n} 张照片"),
    (r"face_consent: face photos need the person's consent to face recognition \(tick it, or register without "
     r"photos: a QR pass is the alternative\)",
     "上传人脸照片需要本人同意人脸识别。请勾选“本人同意人脸识别”，或者不上传照片（可以改用通行证）"),
    (r"photo: (?P<why>.+); nothing was stored", "照片有问题：{why}。什么都没有保存"),
    (rf"(?P<name>.+) in (?P<unit>\S+) is already registered \(person (?P<id>{_N})\)",
     "{unit} 的 {name} 已经登记过了（人员编号 {id}）"),
    (rf"(?:person_id: )?no person (?P<id>{_N})", "找不到编号为 {id} 的人员"),
    (r"person_id: a (?P<items>\S+) vehicle needs its owner", "{items}车辆必须选择车主"),
    (r"(?P<plate>\S+) has no owner registered", "{plate} 还没有登记车主"),
    (r"valid_until: before valid_from \((?P<day>.+)\)", "有效期至不能早于有效期起（{day}）"),
    (r"no vehicle (?P<plate>.+)", "找不到车辆 {plate}"),
    (rf"(?P<field>{_FIELD}): true or false", "{field}只能选“是”或“否”"),
    (rf"(?P<field>{_FIELD}): required", "请填写{field}"),
    (rf"(?P<field>{_FIELD}): required, e\.g\. (?P<example>.+)", "请填写{field}，例如 {example}"),
    (rf"(?P<field>{_FIELD}): text", "{field}请填文字"),
    (rf"(?P<field>{_FIELD}): one line of at most (?P<n>{_N}) characters", "{field}只能写一行，最多 {n} 个字"),
    (rf"(?P<field>{_FIELD}): a whole number \(digits 0-9\)", "{field}请填整数（只用数字 0-9）"),
    (rf"(?P<field>{_FIELD}): a whole number", "{field}请填整数"),
    (rf"(?P<field>{_FIELD}): a number", "{field}请填数字"),
    (rf"(?P<field>{_FIELD}): a number above 0", "{field}请填大于 0 的数字"),
    (rf"(?P<field>{_FIELD}): one of (?P<items>.+)", "{field}只能是：{items}"),
    # a plate (edge.plates) and a day (edge.timeutil, reports) as typed
    (rf"(?P<field>{_FIELD}): (?P<value>'.*'|\".*\") is not a Chinese plate: (?P<why>.+)",
     "{field} {value} 不对：{why}"),
    (r"(?P<value>'.*'|\".*\") is not a Chinese plate: (?P<why>.+)", "{value} 不是有效的车牌：{why}"),
    (r"it is empty", "没有填写"),
    (r"it must start with a province abbreviation such as 沪 or 京, not (?P<value>.+)",
     "第一个字应是省份简称，例如 沪 或 京，不能是 {value}"),
    (r"the second character must be a letter \(no I or O\), not (?P<value>.*)",
     "第二个字应是字母（不用 I 和 O），不能是 {value}"),
    (r"plates never use the letters I and O; did you mean 1 or 0\?", "车牌不用字母 I 和 O，是不是数字 1 或 0？"),
    (rf"it has (?P<n>{_N}) characters; plates have 7 \(blue/yellow\) or 8 \(green new-energy\)",
     "共有 {n} 个字；车牌应是 7 个字（蓝牌、黄牌）或 8 个字（绿色新能源车牌）"),
    (r"an 8-character new-energy plate has D/F \(or A-K\) before 5 characters, or after 5 digits",
     "8 个字的新能源车牌：D 或 F（或 A 到 K）在 5 个字之前，或在 5 个数字之后"),
    (r"(?P<value>.+) is not used on plates \(digits, letters without I/O, endings (?P<endings>\S+)\)",
     "车牌上不用 {value}（只用数字、I 和 O 以外的字母，以及结尾的 {endings}）"),
    (r"special endings \((?P<endings>\S+)\) go last, after 4 characters",
     "特殊结尾（{endings}）应放在最后，前面有 4 个字"),
    (rf"(?P<field>{_FIELD}): (?P<value>'.*'|\".*\") is not a date; write YYYY-MM-DD, e\.g\. (?P<example>\S+)",
     "{field} {value} 不是有效的日期，请按 {example} 这样写"),
    (r"(?P<value>'.*'|\".*\") is not a date; write YYYY-MM-DD, e\.g\. (?P<example>\S+)",
     "{value} 不是有效的日期，请按 {example} 这样写"),
    # files sent (uploads, import_pages) and the photos' faces (models.faces, models.images)
    (r"(?P<field>photo|csv): (?P<value>.+) is not a plain file name \(letters, digits, \. _ - only\)",
     "{field}的文件名 {value} 不合适，只能用文字、数字和 . _ - 这几个符号"),
    (r"(?P<field>photo|csv): send a file \(multipart/form-data\), not text", "{field}请选择文件上传，不要填文字"),
    (rf"(?P<field>photo|csv): (?P<name>.+) is larger than (?P<n>{_N}) MB", "{field} {name} 太大，最多 {n} MB"),
    (r"(?P<field>photo|csv): (?P<name>.+) is empty", "{field} {name} 是空的"),
    (r"(?P<field>photo|csv): (?P<name>.+) was sent twice", "{field} {name} 上传了两次"),
    (r"send multipart/form-data: the CSV as csv, its photos as photo", "请在页面上选好 CSV 文件和照片，再上传"),
    (r"csv: send one CSV file \(people\.csv or vehicles\.csv\)", "请只选一个 CSV 文件（people.csv 或 vehicles.csv）"),
    (rf"photo: at most (?P<n>{_N}) photos in one import", "一次导入最多 {n} 张照片"),
    (rf"(?P<name>[^:;]+): nothing imported, (?P<n>{_N}) problem\(s\)",
     "{name}：一行也没有导入，共有 {n} 个问题，见下面的列表"),
    (r"(?P<file>[^:;]+): no face found", "{file}：照片上找不到人脸"),
    (r"use a frontal, well-lit photo where the face is at least 80 px wide",
     "请用正面、光线充足、人脸宽度至少 80 像素的照片"),
    (rf"(?P<file>[^:;]+): (?P<n>{_N}) faces found", "{file}：照片上有 {n} 张人脸"),
    (r"enrolment needs a photo of one person alone", "照片上只能有本人一个人"),
    (rf"(?P<file>[^:;]+): (?P<size>{_N}x{_N}) pixels \((?P<mp>{_N}) MP\) is more than the (?P<n>{_N}) MP this reads",
     "{file}：照片太大（{size} 像素），最多 {n} 百万像素"),
    (r"resize it \(a face needs about 300 px\)", "请把照片缩小（人脸有 300 像素宽就够了）"),
    (r"(?P<file>[^:;]+): not an image OpenCV can read \(JPEG, PNG, BMP…\)",
     "{file}：不是能打开的图片（请用 JPEG、PNG 或 BMP）"),
    # passes (pass_pages)
    (r"this office cannot issue passes: (?P<detail>.+)", "本居委会现在不能发放通行证，请联系技术人员。详情：{detail}"),
    (r"give one of person_id or plate", "请只选人员或车牌中的一项"),
    (r"valid_hours: how long the pass is valid, in hours", "请填写有效时长（小时）"),
    (rf"valid_hours: at most (?P<n>{_N}) \(passes\.max_valid_hours\)", "有效时长最多 {n} 小时"),
    (r"(?P<plate>\S+) is blocked: no pass opens the barrier for it", "{plate} 是禁止通行的车辆，不能发通行证"),
    (rf"a guard may issue passes of up to (?P<n>{_N}) hours; a longer pass is issued by an admin",
     "门岗最多只能发放 {n} 小时的通行证；更长的请找管理员发放"),
    (r"pass id: (?P<value>.+) is not a pass id \(12 hexadecimal digits\)",
     "通行证编号 {value} 不对（应是 12 位，由数字 0-9 和字母 a-f 组成）"),
    (r"no pass (?P<id>.+)", "找不到通行证 {id}"),
    (r"pass (?P<id>\S+) is already revoked", "通行证 {id} 已经作废了"),
    (r"a guard may revoke only the passes they issued; ask an admin", "门岗只能作废自己发放的通行证，请找管理员"),
    # reports (report_pages, reports)
    (r"no report (?P<name>.+); reports: (?P<names>.+)", "没有报表 {name}（现有报表：{names}）"),
    (r"date: (?P<day>\S+) is after today \((?P<today>\S+)\)", "日期 {day} 还没到（今天是 {today}）"),
    (r"date: (?P<day>\S+) is before (?P<earliest>\S+)", "日期 {day} 太早了，不能早于 {earliest}"),
    (r"days: (?P<name>\S+) covers one day; give date=YYYY-MM-DD", "报表 {name} 只统计一天，请只填日期"),
    (rf"days: (?P<value>.+) is not a whole number from 1 to (?P<n>{_N})",
     "天数 {value} 不对，请填 1 到 {n} 之间的整数"),
    # a gate that does not answer (edge.site.command_client)
    (r"cannot reach the broker at (?P<where>\S+): (?P<detail>.+)",
     "连不上消息服务器 {where}，请联系技术人员。详情：{detail}"),
    (rf"the broker at (?P<where>\S+) did not answer the connection within (?P<s>{_N}) s",
     "消息服务器 {where} 在 {s} 秒内没有回应，请稍后再试"),
    (r"the broker at (?P<where>\S+) refused the connection: (?P<detail>.+) \(check mqtt\.username, password_file "
     r"and tls\)",
     "消息服务器 {where} 拒绝连接，请联系技术人员（检查 mqtt.username、password_file 和 tls）。详情：{detail}"),
    (r"no answer from the broker at (?P<where>\S+) to subscribing to (?P<topic>\S+)",
     "消息服务器 {where} 没有回应（订阅 {topic}），请稍后再试"),
    (r"the broker refused our subscription to (?P<topic>\S+): (?P<detail>.+)",
     "消息服务器拒绝了订阅 {topic}，请联系技术人员。详情：{detail}"),
    (rf"the broker at (?P<where>\S+) did not acknowledge the command within (?P<s>{_N}) s",
     "消息服务器 {where} 在 {s} 秒内没有确认收到指令，请稍后再试"),
    (r"the broker refused to take the command on (?P<topic>\S+): (?P<detail>.+) \(check the broker's ACL\)",
     "消息服务器不接受发往 {topic} 的指令，请联系技术人员（检查消息服务器的权限 ACL）。详情：{detail}"),
    (rf"no answer from gate (?P<gate>.+) on (?P<topic>\S+) within (?P<s>{_N}) s \(request_id (?P<id>\S+)\); is the "
     r"gate running and connected to (?P<where>\S+)\?",
     "道闸 {gate} 在 {s} 秒内没有回应（请求编号 {id}）。请确认道闸已开机，并已连上消息服务器 {where}"),
    # last: a field and what is wrong with it, said by another module (a plate, a day)
    (rf"(?P<field>{_FIELD}): (?P<why>.+)", "{field}：{why}"),
)]


def _word(word: str) -> str:
    """A word of the API (a vehicle class, an event kind, a role) as the pages say it."""
    from edge.office.console.catalogs import gettext_for
    from edge.office.console.words import TABLES

    for table in ("class", "kind", "role"):
        if word in TABLES[table]:
            return gettext_for("zh")(TABLES[table][word])
    return word


def _error_zh(text: str) -> str | None:
    """The console's error ``text`` in Chinese, or None when some part of it is not known here."""
    for pattern, zh in _ERRORS:
        match = pattern.fullmatch(text)
        if not match:
            continue
        parts = {}
        for name, value in match.groupdict().items():
            value = value or ""
            if name == "field":
                value = _FIELDS.get(value, value)
            elif name in ("items", "role", "roles"):
                value = "或".join("、".join(_word(w) for w in part.split(", ")) for part in value.split(" or "))
            elif name == "why":
                value = _error_zh(value)
            elif name == "detail":
                value = _error_zh(value) or value  # a system's own words stay as they are
            if value is None:
                break
            parts[name] = value
        else:
            return zh.format(**parts)
    if "; " in text:
        parts = [_error_zh(part) for part in text.split("; ")]
        return "；".join(parts) if all(p is not None for p in parts) else None
    return None


def error_message(text: str | None, lang: str) -> str:
    """An error the console answers (its English ``"error"``) in ``lang``: as written when ``lang`` is
    English or the error is not wholly one this console knows (never half translated)."""
    if not text or lang == "en":
        return text or ""
    return _error_zh(text) or text
