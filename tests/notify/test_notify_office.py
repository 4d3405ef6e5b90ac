"""A running office tells people (DESIGN 7), end to end: gate west publishes a signed care-watch alert on the
broker; the office archives it and its step 0 leaves at once by the street's webhook (a real loopback HTTP
server: minimal detail, no name) and by SMS to the duty phone (``gate-edge simulate-modem --pty`` on a real
pty: full detail); the duty phone answers with the alert's short code; the alert is acknowledged, everyone
told hears who acknowledged it, and the console shows who was told, by which channel, delivered or not, and
the acknowledgement. The admin's channels page lists each channel's last delivery; a guard may not see it."""

from __future__ import annotations

import pytest
from conftest import console_client
from loopback_http import RecordingServer
from mqtt_helpers import wait_for
from notify_office import notify_office
from notify_site import publish_care_alert
from test_sms_channel import SimulatedModem

DUTY_PHONE = "13800000000"
NAME, UNIT = "张秀英", "12-301"


@pytest.fixture
def modem():
    simulated = SimulatedModem()
    yield simulated
    simulated.stop()


def test_an_alert_reaches_the_phone_and_the_street_and_an_sms_reply_acknowledges_it(tmp_path, modem):
    (tmp_path / "hook.secret").write_text("s3cret\n")
    with RecordingServer() as street:
        notify = {"channels": {"street": {"type": "webhook", "url": street.url("/alerts"),
                                          "secret_file": str(tmp_path / "hook.secret")},
                               "modem": {"type": "sms", "port": modem.port}},
                  "care_watch": [{"after_minutes": 0, "to": ["street", f"modem:{DUTY_PHONE}"]},
                                 {"after_minutes": 30, "to": ["modem:13700000000"]}]}
        with notify_office(tmp_path, notify) as site:
            office = site.office
            person = office.store.people.add(NAME, UNIT, "13912345678", care_watch=True)
            alert_id = publish_care_alert(tmp_path, site.broker.port, office.config.zone, person, UNIT)
            sms = modem.sent()  # step 0 on the duty phone: full detail
            code = office.store.notifications.get_alert(alert_id)["code"]
            assert sms["to"] == DUTY_PHONE and NAME in sms["text"] and f"回复 {code} 确认" in sms["text"]
            assert wait_for(lambda: len(street.requests) == 1, 20)
            posted = street.requests[0].json()  # the street's platform: minimal, the message JSON
            assert posted["alert_id"] == alert_id and posted["kind"] == "care_watch" and posted["code"] == code
            assert NAME not in posted["text"] and UNIT in posted["text"]

            modem.type(f"sms 13900000009 {code} 好的")  # a number never told: read first, and ignored
            modem.type(f"sms +86{DUTY_PHONE} {code} 已上门，一切安好")
            assert wait_for(lambda: office.store.notifications.get_alert(alert_id)["state"] == "acked", 20)
            told = modem.sent()  # the duty phone hears who acknowledged, with the note
            assert told["to"] == DUTY_PHONE and told["text"].startswith("【已确认】")
            assert "已上门，一切安好" in told["text"]
            assert wait_for(lambda: len(street.requests) == 2, 20)
            assert street.requests[1].json()["kind"] == "ack"
            assert office.store.console.alert(alert_id)["acked_by"] == f"sms:+86{DUTY_PHONE}"  # not 13900000009

            guard = console_client(site, "guard1")
            admin = console_client(site, "admin1")
            try:
                assert wait_for(lambda: all(m["state"] == "sent" for m in _alert(guard, alert_id)["told"]), 20)
                shown = _alert(guard, alert_id)
                assert shown["code"] == code and shown["ack"]["via"] == "sms"
                assert [(m["kind"], m["channel"], m["recipient"]) for m in shown["told"]] == [
                    ("care_watch", "street", "street"), ("care_watch", "modem", "modem:138****0000"),
                    ("ack", "street", "street"), ("ack", "modem", "modem:138****0000")]
                page = guard.get("/alerts").text
                assert "modem:138****0000" in page and "已上门，一切安好" in page and "短信确认" in page
                assert page.count(DUTY_PHONE) == 1 and f"sms:+86{DUTY_PHONE}" in page  # who acknowledged, to staff

                assert guard.get("/notify").status_code == 403
                assert guard.get("/api/notify/channels").status_code == 403
                channels = {c["name"]: c for c in admin.get("/api/notify/channels").json()}
                assert channels["modem"]["last_state"] == "sent" and channels["modem"]["where"] == modem.port
                assert channels["street"]["where"] == "127.0.0.1" and channels["street"]["detail"] == "minimal"
                page = admin.get("/notify").text
                assert "短信猫" in page and "发送测试消息" in page and 'data-channel="street"' in page
            finally:
                guard.close()
                admin.close()


def _alert(client, alert_id: str) -> dict:
    return next(a for a in client.get("/api/alerts?state=all").json() if a["alert_id"] == alert_id)
