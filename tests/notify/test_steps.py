"""Who is told what, when (edge.office.notify.steps, ack): the steps of a care-watch alert at 0, 30 and 120
minutes, each queued once; acknowledging or clearing stops them and tells those told; device messages wait
for the end of quiet hours, care-watch ones never; a storm holds the steps to contacts; the roll call; an SMS
acknowledges only from a number the alert was sent to. Alerts come in as the gates sign them (the office's
real archive); the clock is declared and moved by the tests, never waited for."""

from __future__ import annotations

import pytest
from notify_site import DUTY_PHONE, LEADER_PHONE, NotifySite, site_time

NAME, UNIT, PHONE = "张秀英", "12-301", "13912345678"
START = site_time("2026-12-03 10:00")


@pytest.fixture
def site(tmp_path):
    made = NotifySite(tmp_path, START)
    yield made
    made.close()


def _care(site, hours_unseen: float = 49.0, name: str = NAME, unit: str = UNIT) -> tuple[int, str]:
    person = site.resident(name, unit, PHONE)
    last = site.clock() - hours_unseen * 3600
    site.seen(person, last)
    return person, site.care_alert(person, unit, last)


def test_steps_at_0_30_and_120_minutes_are_queued_once_each(site):
    person, alert_id = _care(site)
    # Step 0 is queued by the archive's own transaction, with the alert's short code.
    assert site.queued(alert_id) == [(alert_id, "0", "duty-group")]
    code = site.store.notifications.get_alert(alert_id)["code"]
    assert len(code) == 6 and site.store.notifications.by_code(code)["alert_id"] == alert_id
    site.minutes(29)
    site.notices.tick()
    assert len(site.queued(alert_id)) == 1
    site.minutes(1)
    site.notices.tick()
    site.notices.tick()  # a second tick at the same time: nothing more
    assert site.queued(alert_id)[1:] == [(alert_id, "1", f"modem:{DUTY_PHONE}")]
    site.minutes(89)
    site.notices.tick()
    assert len(site.queued(alert_id)) == 2
    site.minutes(1)
    site.notices.tick()
    site.minutes(600)
    site.notices.tick()
    assert site.queued(alert_id)[2:] == [(alert_id, "2", f"modem:{LEADER_PHONE}")]  # no contacts recorded
    assert site.store.notifications.get_alert(alert_id)["steps_done"] == 3
    # The message JSON of DESIGN 7, its text saying what to do.
    first = site.messages(alert_id)[0]
    assert set(first["payload"]) == {"v", "alert_id", "kind", "step", "text", "unit", "person_id", "code", "ts"}
    assert first["payload"]["kind"] == "care_watch" and first["payload"]["code"] == code
    assert first["payload"]["unit"] == UNIT and first["payload"]["person_id"] == person
    assert first["text"] == first["payload"]["text"] and code in first["text"] and "请上门查看" in first["text"]
    # The same alert raised by the other gate too (every gate computes the same id) queues nothing more.
    site.care_alert(person, UNIT, site.store.sightings.get(f"person:{person}")["ts_epoch"], gate="east",
                    expect="duplicate")
    assert len(site.queued(alert_id)) == 3


def test_steps_overdue_after_a_stop_are_queued_once_in_order(site):
    """The office was down for three hours: every step due goes at the next tick, once each."""
    _, alert_id = _care(site)
    site.minutes(180)
    site.notices.tick()
    site.notices.tick()
    assert [step for _, step, _ in site.queued(alert_id)] == ["0", "1", "2"]


def test_acknowledging_stops_the_steps_and_tells_those_told(site):
    _, alert_id = _care(site)
    site.minutes(30)
    site.notices.tick()
    with site.store.transaction():
        assert site.acks.acknowledge(alert_id, "guard1", "已上门探望，一切安好", "console")
    acks = [m for m in site.messages(alert_id) if m["step"] == "ack"]
    assert sorted(m["recipient"] for m in acks) == ["duty-group", f"modem:{DUTY_PHONE}"]
    assert all("guard1" in m["text"] and "已上门探望，一切安好" in m["text"] for m in acks)
    assert acks[0]["payload"]["kind"] == "ack"
    site.minutes(600)
    site.notices.tick()
    assert [step for _, step, _ in site.queued(alert_id)] == ["0", "1", "ack", "ack"]
    # The console's record says who and the note; acknowledging again tells nobody twice.
    assert site.store.console.alert(alert_id)["acked_by"] == "guard1"
    with site.store.transaction():
        assert site.acks.acknowledge(alert_id, "admin1", "电话联系", "console")
    assert len(site.queued(alert_id)) == 4
    with site.store.transaction():
        assert not site.acks.acknowledge("no-such-alert", "guard1", "x", "console")


def test_a_cleared_alert_stops_the_steps_and_tells_those_told(site):
    person, alert_id = _care(site)
    site.minutes(45)
    site.notices.tick()
    site.cleared(alert_id, person, UNIT, gate="east")
    cleared = [m for m in site.messages(alert_id) if m["step"] == "cleared"]
    assert sorted(m["recipient"] for m in cleared) == ["duty-group", f"modem:{DUTY_PHONE}"]
    assert all("east" in m["text"] and "10:45" in m["text"] for m in cleared)
    assert site.store.notifications.get_alert(alert_id)["state"] == "cleared"
    site.minutes(600)
    site.notices.tick()
    assert [step for _, step, _ in site.queued(alert_id)] == ["0", "1", "cleared", "cleared"]


def test_an_alert_cleared_before_anyone_was_told_tells_nobody(site):
    site.clock.advance(site_time("2026-12-03 10:00") - site.clock())
    alert_id = site.alerts.device("gate:east", False, "gate east silent for 200 s")  # the office's own
    assert site.queued(alert_id) == []  # a device step waits its 10 minutes
    site.minutes(5)
    site.alerts.device("gate:east", True, "gate east is back")
    site.minutes(30)
    site.notices.tick()
    assert site.queued(alert_id) == []


def test_quiet_hours_delay_device_messages_but_never_care_watch_ones(site):
    site.clock.advance(site_time("2026-12-03 21:55") - site.clock())
    camera = site.gate_device("east", "camera:cam-in", "raised", "no frames for 30 s")
    site.minutes(10)  # 22:05: the step is due, but it is night
    site.notices.tick()
    assert site.queued(camera) == []
    # A care-watch alert raised at night is told at once.
    site.minutes(55)
    _, care = _care(site)
    assert site.queued(care) == [(care, "0", "duty-group")]
    site.clock.advance(site_time("2026-12-04 06:59") - site.clock())
    site.notices.tick()
    assert site.queued(camera) == []
    site.minutes(1)  # 07:00: the window ends
    site.notices.tick()
    assert sorted(r for _, _, r in site.queued(camera)) == ["duty-group", f"modem:{DUTY_PHONE}"]
    text = site.messages(camera)[0]["text"]
    assert "east" in text and "摄像头" in text
    # A notice of a device alert queued at night is due when the window ends.
    site.clock.advance(site_time("2026-12-04 23:00") - site.clock())
    site.gate_device("east", "camera:cam-in", "cleared", "recovered")
    recovered = [m for m in site.messages(camera) if m["step"] == "cleared"]
    assert len(recovered) == 2 and {m["next_try_epoch"] for m in recovered} == {site_time("2026-12-05 07:00")}


def test_a_device_alert_about_a_channel_is_not_sent_on_that_channel(site):
    alert_id = site.alerts.device("notify:duty-group", False, "3 failures")
    site.minutes(10)
    site.notices.tick()
    assert site.queued(alert_id) == [(alert_id, "0", f"modem:{DUTY_PHONE}")]


def test_the_roll_call_lists_the_care_watch_residents_unseen_long_enough_once_a_day(site):
    site.clock.advance(site_time("2026-12-04 08:00") - site.clock())
    now = site.clock()
    long_gone = site.resident("王桂兰", "3-102", PHONE)
    site.seen(long_gone, now - 30 * 3600, gate="east")
    recent = site.resident("李建国", "5-501")
    site.seen(recent, now - 2 * 3600)
    not_watched = site.resident("赵强", "7-701", care_watch=False)
    site.seen(not_watched, now - 100 * 3600)
    never = site.resident("孙淑珍", "9-902")
    site.store.execute("UPDATE people SET created_at = ? WHERE id = ?", ["2026-12-01T08:00:00+08:00", never])
    site.minutes(29)  # 08:29
    assert site.notices.tick() == 0
    site.minutes(1)  # 08:30
    assert site.notices.tick() == 2
    assert site.notices.tick() == 0
    day = "roll_call:2026-12-04"
    by = {m["recipient"]: m for m in site.messages(day)}
    assert set(by) == {"duty-group", "staff-group"}
    full, minimal = by["staff-group"]["text"], by["duty-group"]["text"]
    assert "王桂兰" in full and "孙淑珍" in full and "李建国" not in full and "赵强" not in full
    assert full.index("孙淑珍") < full.index("王桂兰")  # the longest unseen first
    assert "3-102" in minimal and "9-902" in minimal and "5-501" not in minimal and "王桂兰" not in minimal
    assert by["duty-group"]["payload"]["kind"] == "roll_call"
    site.minutes(24 * 60)
    assert site.notices.tick() == 2  # the next day's


def test_an_sms_acknowledges_only_from_a_number_the_alert_was_sent_to(site):
    _, alert_id = _care(site)
    code = site.store.notifications.get_alert(alert_id)["code"]
    site.minutes(30)
    site.notices.tick()
    # Queued for the duty phone but not sent yet: its reply cannot carry a code it never read.
    assert site.acks.sms_reply("modem", DUTY_PHONE, code) is None
    site.deliver_all()
    assert site.acks.sms_reply("modem", "13900000009", code) is None  # never told
    assert site.acks.sms_reply("modem", DUTY_PHONE, "收到") is None  # no code
    assert site.store.notifications.get_alert(alert_id)["state"] == "open"
    assert site.acks.sms_reply("modem", f"+86 {DUTY_PHONE[:3]} {DUTY_PHONE[3:]}", f"{code.lower()} 已上门，安好") \
        == alert_id
    row = site.store.console.alert(alert_id)
    assert row["acked_by"] == f"sms:+86 {DUTY_PHONE[:3]} {DUTY_PHONE[3:]}" and row["ack_note"] == "已上门，安好"
    assert site.store.notifications.get_alert(alert_id)["ack_via"] == "sms"
    assert sorted(m["recipient"] for m in site.messages(alert_id) if m["step"] == "ack") == [
        "duty-group", f"modem:{DUTY_PHONE}"]
    audit = site.store.console.audit_rows(1)[0]
    assert (audit["action"], audit["target"], audit["detail"]["via"]) == ("ack", f"alert:{alert_id}", "sms")
    assert site.acks.sms_reply("modem", DUTY_PHONE, code) is None  # already acknowledged


def test_minimal_detail_never_carries_a_name_or_a_phone_number(site):
    _, alert_id = _care(site)
    site.minutes(30)
    site.notices.tick()
    site.deliver_all()
    site.acks.sms_reply("modem", DUTY_PHONE, f"{site.store.notifications.get_alert(alert_id)['code']} "
                        f"{NAME}在女儿家，电话 13912345678")
    group = [m for m in site.messages(alert_id) if m["channel"] == "duty-group"]
    assert [m["step"] for m in group] == ["0", "ack"]
    for message in group:
        for said in (message["text"], str(message["payload"])):
            assert NAME not in said and PHONE not in said and DUTY_PHONE not in said, said
    assert UNIT in group[0]["text"] and "49" in group[0]["text"] and "west" in group[0]["text"]
    phone = next(m for m in site.messages(alert_id) if m["channel"] == "modem" and m["step"] == "1")
    assert NAME in phone["text"] and PHONE in phone["text"]  # the duty phone: full, staff


def test_a_camera_down_holds_the_steps_to_contacts_and_tells_the_duty_recipients_once(site):
    site.gate_device("east", "camera:cam-in", "raised", "no frames for 30 s")
    _, first = _care(site)
    _, second = _care(site, name="王桂兰", unit="3-102")
    site.minutes(120)
    site.notices.tick()
    site.notices.tick()
    storms = [m for m in site.messages() if m["kind"] == "storm"]
    # Told once, to every care-watch recipient but contacts; the steps' other recipients are told as usual.
    assert sorted(m["recipient"] for m in storms) == ["duty-group", f"modem:{LEADER_PHONE}", f"modem:{DUTY_PHONE}"]
    assert "east" in storms[0]["text"]
    assert (first, "2", f"modem:{LEADER_PHONE}") in site.queued(first)
    assert (second, "2", f"modem:{LEADER_PHONE}") in site.queued(second)
    assert site.notices.storm(site.clock()) == (0, ["east"])  # the alerts are 2 h old: the camera alone
    site.minutes(10)
    site.gate_device("east", "camera:cam-in", "cleared", "recovered")
    site.notices.tick()
    assert site.store.notifications.open_alerts("storm") == []  # over: the next storm is told again


def test_many_care_watch_alerts_at_once_are_a_storm(site):
    for n in range(5):
        _care(site, name=f"居民{n}", unit=f"1-{n}01")
    assert site.notices.storm(site.clock()) is None  # five is not more than storm.alerts
    _care(site, name="居民5", unit="1-501")
    assert site.notices.storm(site.clock()) == (6, [])
    site.minutes(61)
    assert site.notices.storm(site.clock()) is None


def _contacts(site, person: int, *consenting: str, refused: str | None = None) -> None:
    from datetime import date

    contacts = [{"name": f"家属{n}", "phone": phone, "relation": "family", "consent_at": "2026-11-01"}
                for n, phone in enumerate(consenting)]
    if refused:
        contacts.append({"name": "邻居", "phone": refused, "relation": "neighbour", "consent_at": None})
    site.store.contacts.replace(person, contacts, date(2026, 12, 3))


def test_contacts_are_told_at_their_step_and_read_the_name_but_no_ones_number(site):
    person, alert_id = _care(site)
    _contacts(site, person, "13600000001", "13600000002", refused="13600000003")
    site.minutes(120)
    site.notices.tick()
    step2 = {m["recipient"]: m for m in site.messages(alert_id) if m["step"] == "2"}
    assert set(step2) == {f"modem:{LEADER_PHONE}", "modem:13600000001", "modem:13600000002"}  # not who refused
    contact = step2["modem:13600000001"]["text"]
    assert NAME in contact and PHONE not in contact and "13600000002" not in contact
    assert "13600000001" in step2[f"modem:{LEADER_PHONE}"]["text"]  # staff read the contacts' numbers


def test_a_storm_holds_the_contacts_until_it_is_over_then_tells_them_once(site):
    site.gate_device("east", "camera:cam-in", "raised", "no frames for 30 s")
    person, alert_id = _care(site)
    _contacts(site, person, "13600000001")
    site.minutes(120)
    site.notices.tick()
    assert [r for _, step, r in site.queued(alert_id) if step == "2"] == [f"modem:{LEADER_PHONE}"]  # held
    site.minutes(30)
    site.gate_device("east", "camera:cam-in", "cleared", "recovered")
    site.notices.tick()
    site.notices.tick()
    assert [r for _, step, r in site.queued(alert_id) if step == "2"] == [f"modem:{LEADER_PHONE}",
                                                                           "modem:13600000001"]
    assert len([m for m in site.messages() if m["kind"] == "storm"]) == 3  # told once, to each duty recipient


def test_a_pause_set_and_ended_is_told_to_the_duty_recipients_and_the_contacts(site):
    from edge.office.away import Absences

    person = site.resident(NAME, UNIT, PHONE)
    _contacts(site, person, "13600000001")
    absences = Absences(site.config, site.store, clock=site.clock, notices=site.notices)
    absences.set(person, "2026-12-10", "住女儿家 13900000009", "admin1")
    told = {m["recipient"]: m for m in site.messages() if m["kind"] == "away"}
    assert set(told) == {"duty-group", f"modem:{DUTY_PHONE}", f"modem:{LEADER_PHONE}", "modem:13600000001"}
    assert "12-10" in told["duty-group"]["text"] and NAME not in told["duty-group"]["text"]
    assert "住女儿家" not in told["duty-group"]["text"]  # the reason only in full texts
    assert "住女儿家 13900000009" in told[f"modem:{DUTY_PHONE}"]["text"]
    assert "住女儿家 ***********" in told["modem:13600000001"]["text"]  # a contact reads no one's number
    site.minutes(60)
    absences.end(person, "admin1")
    ended = [m for m in site.messages() if m["kind"] == "away" and m["step"] == "ended"]
    assert len(ended) == 4 and all("admin1" in m["text"] for m in ended)
