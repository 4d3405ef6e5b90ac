"""The console's words: Simplified Chinese by default, English selectable (cookie ``lang``).

``WORDS``: each word of the pages as (zh, en). (What gates write is said from its code: ``catalogs``.)
``error_message(text, lang)``: an error the console answers (the English ``"error"`` of its JSON) as the
page's language says it (its ``"message"``); one no pattern here knows wholly stays in English.
"""

from __future__ import annotations

import re

from edge.office.console.catalogs import LANGS

__all__ = ["LANGS", "WORDS", "error_message", "translator"]

WORDS = {
    "title": ("小区门禁 · 居委会控制台", "Gate console · residents' committee"),
    "alerts": ("警报", "Alerts"),
    "passages": ("通行记录", "Passages"),
    "gates": ("道闸", "Gates"),
    "parking": ("停车", "Parking"),
    "query": ("车辆查询", "Vehicle query"),
    "logout": ("退出", "Log out"),
    "login": ("登录", "Log in"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码不正确", "Wrong user name or password"),
    "too_many": ("尝试次数过多，请稍后再试", "Too many attempts; try again later"),
    "role_guard": ("门岗", "guard"),
    "role_admin": ("管理员", "admin"),
    "care_watch": ("独居关怀：多日未见", "Care-watch: not seen"),
    "device_alerts": ("设备警报", "Device alerts"),
    "no_alerts": ("目前没有未处理的警报", "No open alerts"),
    "unit": ("房号", "Unit"),
    "name": ("姓名", "Name"),
    "phone": ("电话", "Phone"),
    "hours_unseen": ("未见小时数", "Hours unseen"),
    "last_seen": ("最后出现", "Last seen"),
    "last_gate": ("最后经过", "Last gate"),
    "raised": ("发出时间", "Raised"),
    "since": ("开始于", "Since"),
    "note": ("备注", "Note"),
    "note_hint": ("例如：已上门探望，一切安好", "e.g. visited, all well"),
    "ack": ("确认处理", "Acknowledge"),
    "acked": ("已确认", "Acknowledged"),
    "acked_recent": ("最近已确认", "Recently acknowledged"),
    "device": ("设备", "Device"),
    "detail": ("详情", "Detail"),
    "time": ("时间", "Time"),
    "gate": ("道闸", "Gate"),
    "lane": ("方向", "Lane"),
    "kind": ("类型", "Kind"),
    "who": ("对象", "Who"),
    "decision": ("结果", "Decision"),
    "reason": ("原因", "Reason"),
    "date": ("日期", "Date"),
    "all": ("全部", "All"),
    "filter": ("筛选", "Filter"),
    "live": ("实时", "Live"),
    "kind_entry": ("进入", "entry"),
    "kind_exit": ("离开", "exit"),
    "kind_denied": ("拒绝", "denied"),
    "kind_stranger": ("陌生人", "stranger"),
    "kind_session": ("停车", "session"),
    "in": ("进", "in"),
    "out": ("出", "out"),
    "open": ("放行", "open"),
    "hold": ("等待缴费", "hold"),
    "deny": ("拒绝", "deny"),
    "state": ("状态", "State"),
    "cameras": ("摄像头", "Cameras"),
    "barriers": ("道闸杆", "Barriers"),
    "outbox": ("待发消息", "Outbox"),
    "registry": ("名册", "Registry"),
    "synced": ("已同步", "synced"),
    "not_synced": ("未同步", "not synced"),
    "office_version": ("居委会版本", "office version"),
    "clock_offset": ("时钟偏差", "Clock offset"),
    "fps": ("帧/秒", "fps"),
    "frame_age": ("距上一帧", "last frame"),
    "seconds": ("秒", "s"),
    "remote_open": ("远程开闸", "Remote open"),
    "reason_hint": ("开闸原因（必填）", "Reason (required)"),
    "send": ("发送", "Send"),
    "capacity": ("车位总数", "Capacity"),
    "occupied": ("在场车辆", "Occupied"),
    "free": ("空余", "Free"),
    "held_exits": ("等待缴费的出场车辆", "Held exits"),
    "no_held": ("没有等待缴费的车辆", "No car is waiting at an exit"),
    "open_sessions": ("在场车辆", "Open sessions"),
    "plate": ("车牌", "Plate"),
    "class": ("类别", "Class"),
    "entered": ("入场时间", "Entered"),
    "minutes": ("停留分钟", "Minutes"),
    "fee_due": ("应缴", "Fee due"),
    "paid": ("已缴", "Paid"),
    "pay_received": ("已收款，开闸", "Payment received"),
    "yuan": ("元", "yuan"),
    "plate_hint": ("输入车牌，例如 沪A12345", "Plate, e.g. 沪A12345"),
    "search": ("查询", "Search"),
    "registered": ("已登记", "Registered"),
    "not_registered": ("未登记", "Not registered"),
    "owner": ("车主", "Owner"),
    "permit": ("月卡有效期", "Permit valid until"),
    "valid_now": ("当前有效", "valid now"),
    "expired": ("已过期", "expired"),
    "open_session": ("在场记录", "Open session"),
    "none": ("无", "none"),
    "never": ("从未", "never"),
    "result_ok": ("道闸已执行", "The gate did it"),
    "result_refused": ("道闸拒绝", "The gate refused"),
    "stranger": ("陌生人", "stranger"),
    "unknown": ("未知", "unknown"),
    "seen_ago": ("前", "ago"),
    "offline": ("离线", "offline"),
    "online": ("在线", "online"),
    "age": ("上次联系", "Last heard"),
    "broker": ("消息服务器", "Broker"),
    "never heard": ("从未联系", "never heard"),
    "unreadable": ("状态无法读取", "status unreadable"),
    "class_resident": ("业主", "resident"),
    "class_family": ("家属", "family"),
    "class_visitor": ("访客", "visitor"),
    "class_blocked": ("禁止通行", "blocked"),
    "minutes_short": ("分钟", "min"),
    "office": ("居委会", "office"),
    "opens_n": ("已开闸 {n} 次", "{n} opens"),
    # a device's state in a gate's status (drivers.camera, drivers.barriers)
    "dev_ok": ("正常", "ok"),
    "dev_starting": ("正在启动", "starting"),
    "dev_down": ("无画面", "down"),
    "dev_ended": ("视频已播完", "ended"),
    "dev_failing": ("故障", "failing"),
    "dev_unavailable": ("无法使用", "unavailable"),
    # -- the registry and passes (registry_pages, import_pages, pass_pages) --
    "people": ("居民登记", "People"),
    "vehicles": ("车辆登记", "Vehicles"),
    "passes": ("通行证", "Passes"),
    "import": ("批量导入", "Import"),
    "registry_sync": ("各道闸的名册同步", "Registry at each gate"),
    "office_registry": ("居委会名册版本", "Office registry version"),
    "people_count": ("人", "people"),
    "vehicles_count": ("辆车", "vehicles"),
    "copy_current": ("已同步到最新", "up to date"),
    "copy_behind": ("尚未同步到最新", "not yet up to date"),
    "copy_none": ("还没有名册", "no copy yet"),
    "add_person": ("登记新居民", "Register a person"),
    "people_list": ("已登记的居民", "Registered people"),
    "unit_hint": ("楼号-室号，例如 12-301", "building-room, e.g. 12-301"),
    "care_watch_flag": ("独居关怀（本人已同意）", "Care-watch (they agreed)"),
    "care_watch_col": ("独居关怀", "Care-watch"),
    "face_consent_flag": ("本人同意人脸识别", "Agrees to face recognition"),
    "face_photos": ("人脸照片（可不填；正面、光线充足、只有本人）", "Face photos (optional; frontal, well lit, alone)"),
    "at_most": ("最多", "at most"),
    "photos_not_kept": ("照片只用来生成人脸特征，不会保存；道闸只收到人脸特征。",
                        "Photos only serve to compute face templates and are not kept; gates get templates only."),
    "photos_kept": ("照片只保存在居委会（用于更换识别模型后重新生成特征），不会发给道闸。",
                    "Photos are kept at the office only (to re-enrol after a model change), never sent to gates."),
    "register": ("登记", "Register"),
    "remove": ("删除", "Remove"),
    "revoke": ("作废", "Revoke"),
    "confirm_remove_person": ("确定删除此人？人脸数据一并删除，通行证作废，各道闸同步删除：",
                              "Remove this person? Face data is erased, passes revoked, at every gate:"),
    "confirm_remove_vehicle": ("确定删除此车辆？", "Remove this vehicle?"),
    "confirm_revoke": ("确定作废此通行证？", "Revoke this pass?"),
    "face": ("人脸识别", "Face"),
    "templates_n": ("个人脸特征", "templates"),
    "consent_on": ("同意于", "agreed"),
    "no_face_consent": ("未同意（使用通行证）", "not agreed (uses a pass)"),
    "registered_on": ("登记日期", "Registered"),
    "nobody": ("还没有登记任何人", "Nobody is registered yet"),
    "add_vehicle": ("登记车辆", "Register a vehicle"),
    "vehicles_list": ("已登记的车辆", "Registered vehicles"),
    "vehicle_hint": ("业主车和家属车必须选择车主；同一车牌再次登记即为修改，表中留空的项会被清除。",
                     "Resident and family vehicles need their owner; registering a plate again updates it, and "
                     "clears a field left blank."),
    "valid_from": ("有效期起", "Valid from"),
    "valid_until": ("有效期至", "Valid until"),
    "no_owner": ("无车主", "no owner"),
    "no_vehicles": ("还没有登记任何车辆", "No vehicle is registered yet"),
    "import_title": ("批量导入（CSV 表格）", "Import from a CSV file"),
    "csv_file": ("CSV 文件（UTF-8 编码）", "CSV file (UTF-8)"),
    "photo_files": ("照片文件（表格 photo 列写的文件名，可多选）",
                    "Photo files (as named in the photo column; several)"),
    "do_import": ("导入", "Import"),
    "csv_formats": ("表格格式", "CSV formats"),
    "people_csv_help": ("care_watch 填 是/否；photo 填随表格一起上传的照片文件名，可不填。",
                        "care_watch: yes/no; photo: the name of a photo file sent with the CSV (optional)."),
    "vehicles_csv_help": ("class 填 resident、family、visitor 或 blocked；车主用房号和姓名指明；"
                          "valid_until 如 2026-12-31。",
                          "class: resident, family, visitor or blocked; the owner by unit and name; valid_until e.g. "
                          "2026-12-31."),
    "all_or_nothing": ("要么全部导入，要么一行也不导入：任何一行有问题，都不会写入，并列出每一行的问题。",
                       "All rows or none: if any row has a problem nothing is written, and every bad row is listed."),
    "not_done": ("未完成：", "Not done:"),
    "passes_off": ("本居委会没有配置通行证密钥（passes:），不能发放通行证。",
                   "This office has no pass key (passes:) and cannot issue passes."),
    "pass_for_car": ("访客车辆通行证", "Pass for a visitor's car"),
    "pass_for_person": ("人员通行证", "Pass for a registered person"),
    "choose": ("请选择", "choose"),
    "valid_for": ("有效时长", "Valid for"),
    "hours_n": ("小时", "hours"),
    "days_n": ("天", "days"),
    "issue_pass": ("发放通行证", "Issue the pass"),
    "longest_pass": ("您可发放的最长有效期", "The longest pass you may issue"),
    "guard_bound_why": ("门岗只发当天的访客通行证；更长的由管理员发放",
                        "a guard issues a visitor's pass for the day; longer ones are an admin's"),
    "passes_list": ("已发放的通行证", "Passes issued"),
    "pass_no": ("编号", "Pass no."),
    "issued": ("发放时间", "Issued"),
    "issued_by": ("发放人", "Issued by"),
    "pass_valid": ("有效", "valid"),
    "pass_expired": ("已过期", "expired"),
    "pass_revoked": ("已作废", "revoked"),
    "no_passes": ("还没有发放通行证", "No pass has been issued yet"),
    "back_to_passes": ("返回通行证列表", "Back to the passes"),
    "pass_shown_once": ("二维码只显示这一次：请现在打印，或拍照发给访客。",
                        "This QR code is shown only now: print it, or send a photo of it to the visitor."),
    "print": ("打印", "Print"),
    "pass_title": ("通行证", "Gate pass"),
    "pass_how": ("到门口时把二维码对准摄像头。", "At the gate, hold the QR code up to the camera."),
    "reported": ("报告于", "reported"),
    "sync_note": ("各道闸每分钟报告一次名册状态，刚修改后可能要等一会儿才显示已同步。",
                  "Each gate reports its registry once a minute: right after a change it may show behind for a while."),
    "filter_people": ("查找：房号、姓名、电话或车牌", "Find: unit, name, phone or plate"),
    "filter_vehicles": ("查找：车牌、房号或车主", "Find: plate, unit or owner"),
    "filter_passes": ("查找：编号、车牌、房号或姓名", "Find: pass no., plate, unit or name"),
    # -- the reports (report_pages, charts) --
    "reports": ("统计报表", "Reports"),
    "rep_show": ("显示", "Show"),
    "rep_days": ("天数", "Days"),
    "rep_days_n": ("最近 {n} 天", "last {n} days"),
    "rep_bad": ("参数不正确，已显示默认报表：", "A parameter was wrong; the default reports are shown: "),
    "rep_download": ("下载表格（CSV，可用 Excel 打开）", "Download the numbers (CSV, opens in Excel)"),
    "rep_numbers": ("查看数字", "Show the numbers"),
    "rep_passages": ("通行人次和车次", "Passages"),
    "rep_passages_note": ("进入、离开：道闸放行的次数（行人和车辆）；拒绝：未放行；陌生人：未登记的人脸。"
                          "等待缴费的车辆不计入。",
                          "Entries and exits: times a gate let someone or a car through; denied: not let through; "
                          "strangers: unregistered faces. Cars held at a barrier are not counted."),
    "rep_by_hour": ("{gate}：每小时通行（{date}）", "{gate}: passages per hour ({date})"),
    "rep_by_day": ("{gate}：每天通行（{first} 至 {last}）", "{gate}: passages per day ({first} to {last})"),
    "rep_refused_hour": ("拒绝和陌生人：每小时（全部道闸，{date}）",
                         "Denied and strangers per hour (all gates, {date})"),
    "rep_refused_day": ("拒绝和陌生人：每天（全部道闸，{first} 至 {last}）",
                        "Denied and strangers per day (all gates, {first} to {last})"),
    "rep_gate": ("{gate} 道闸", "{gate} gate"),
    "rep_occupancy": ("停车场在场车辆", "Cars in the car park"),
    "rep_occupancy_title": ("每个整点在场的车辆（{date}）", "Cars inside at each full hour ({date})"),
    "rep_occupancy_note": ("在场车辆：已经进入、还没有离开的车辆，与各道闸的计数相同；"
                           "没有拍到出场的车辆，算到同一辆车再次进入为止。还没到的整点不显示。",
                           "Cars inside: cars that had entered and not yet left, counted as the gates count them; "
                           "a car whose exit was never read counts until it enters again. Hours still to come are "
                           "not shown."),
    "rep_capacity": ("车位 {n} 个", "capacity {n}"),
    "rep_peak": ("当天最多 {cars} 辆（{time}）", "Most in the day: {cars} cars ({time})"),
    "rep_now": ("现在 {cars} 辆", "Now: {cars} cars"),
    "rep_care": ("独居关怀警报", "Care-watch alerts"),
    "rep_care_title": ("每天发出的独居关怀警报（{first} 至 {last}）", "Care-watch alerts per day ({first} to {last})"),
    "rep_care_note": ("发出：独居老人超过规定时间未经过任何道闸；解除：之后又被看到。",
                      "Raised: a care-watch resident not seen by any gate for too long; cleared: seen again since."),
    "rep_care_total": ("共发出 {raised} 次，解除 {cleared} 次", "{raised} raised, {cleared} cleared"),
    "rep_fees": ("停车收费", "Parking fees collected"),
    "rep_fees_title": ("每天收到的停车费（{first} 至 {last}）", "Parking fees received per day ({first} to {last})"),
    "rep_fees_note": ("每一笔收费按道闸记录的时间计入当天（部分付款也算）；金额以道闸记录的已付总额为准。",
                      "Each payment counts on the day a gate recorded it (part payments too); amounts are the rise "
                      "of the total paid the gates recorded."),
    "rep_fees_total": ("合计 {yuan} 元，{n} 笔", "Total {yuan} yuan, {n} payments"),
    "rep_total": ("合计", "total"),
    "rep_highest": ("最高", "highest"),
    "rep_no_data": ("无数据", "no data"),
    "rep_hour": ("时刻", "Hour"),
    "rep_day": ("日期", "Day"),
    "rep_count": ("次数", "Count"),
    "rep_cars": ("车辆数", "Cars"),
    "rep_alerts": ("警报数", "Alerts"),
    "rep_yuan": ("金额（元）", "Yuan"),
    "rep_collected": ("收费（元）", "Collected (yuan)"),
    "rep_cars_inside": ("在场车辆", "Cars inside"),
    "col_date": ("日期", "date"),
    "col_hour": ("时刻", "hour"),
    "col_time": ("时间", "time"),
    "col_gate": ("道闸", "gate"),
    "col_entries": ("进入", "entries"),
    "col_exits": ("离开", "exits"),
    "col_denied": ("拒绝", "denied"),
    "col_strangers": ("陌生人", "strangers"),
    "col_cars": ("在场车辆", "cars"),
    "col_raised": ("发出", "raised"),
    "col_cleared": ("解除", "cleared"),
    "col_payments": ("收费笔数", "payments"),
    "col_collected_yuan": ("收费金额（元）", "collected (yuan)"),
}


def translator(lang: str):
    index = 1 if lang == "en" else 0

    def t(key: str, default: str | None = None) -> str:
        """The word ``key`` in ``lang``; ``default`` (else ``key``) when there is none."""
        words = WORDS.get(key)
        return words[index] if words else key if default is None else default

    return t



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
    for prefix in ("class_", "kind_", "role_"):
        if prefix + word in WORDS:
            return WORDS[prefix + word][0]
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
