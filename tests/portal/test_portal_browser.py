"""The residents' portal in a real browser on a phone's screen (360x740, Chinese): Debian's chromium driven by
Playwright (never ``playwright install``), against a real office (mosquitto, ``gate-edge office``'s parts,
its console's listener) whose sms channel is ``gate-edge simulate-modem --pty`` on a real pty. A resident
asks for a code, reads it from the SMS the simulated modem prints, logs in, sees the household (the car in
the car park and its fee), pauses care-watch for a week and sees it, invites a car for the afternoon and sees
it in force (and registered for its window), and makes a visitor's QR pass to save or share. Each page is
saved to docs/portal/*.png (the README's screenshots)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from notify_office import notify_office
from test_sms_channel import SimulatedModem

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "portal"
PHONE = "13912345678"


@pytest.fixture
def modem():
    simulated = SimulatedModem()
    yield simulated
    simulated.stop()


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_a_resident_logs_in_on_a_phone_with_the_sms_code_and_sees_the_household(tmp_path, modem, browser):
    from playwright.sync_api import expect

    notify = {"channels": {"modem": {"type": "sms", "port": modem.port}}}
    with notify_office(tmp_path, notify, portal={"enabled": True, "sms_channel": "modem"}) as site:
        store = site.office.store
        wang = store.people.add("王建国", "12-301", PHONE, care_watch=True)
        son = store.people.add("王小军", "12-301", "13700001111")
        store.people.add("李桂兰", "3-402", "13611112222", care_watch=True)
        store.vehicles.upsert("沪A12345", "resident", wang, valid_until="2027-06-30")
        store.vehicles.upsert("苏E88888", "family", son)
        now = site.office.clock()
        with store.transaction():  # the son's car came in by the east gate three hours ago
            store.sessions.open("s-son", "苏E88888", "family", now - 3 * 3600, "east", "e-son")

        context = browser.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                      has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai")
        page = context.new_page()
        page.on("dialog", lambda dialog: dialog.accept())
        try:
            page.goto(f"{site.url}/my/")
            expect(page).to_have_url(f"{site.url}/my/login")
            expect(page.locator("h1")).to_have_text("登录")
            shot(page, "login")
            page.fill("#phone", "139 1234 5678")
            page.click("#ask-button")
            expect(page.locator("#sent")).to_contain_text("139****5678", timeout=10_000)
            sms = modem.sent()  # what the resident's phone shows
            assert sms["to"] == PHONE and "验证码" in sms["text"]
            code = re.search(r"[0-9]{6}", sms["text"]).group(0)
            shot(page, "code")
            page.fill("#code", code)
            page.click("#verify button[type=submit]")
            expect(page).to_have_url(f"{site.url}/my/", timeout=10_000)
            expect(page.locator("#unit")).to_have_text("12-301")
            expect(page.locator(f'article[data-person-id="{wang}"]')).to_contain_text("关爱对象")
            car = page.locator('article[data-plate="苏E88888"]')
            expect(car).to_contain_text("从 east 门进入停车场")
            expect(car).to_contain_text("现在离场需缴费")
            expect(page.locator("main")).not_to_contain_text("李桂兰")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"the page is {width} px wide: it must fit a phone's screen"
            shot(page, "household")

            person = page.locator(f'article[data-person-id="{wang}"]')
            person.locator("summary").click()
            last_day = (datetime.fromtimestamp(site.office.clock(), site.office.config.zone).date()
                        + timedelta(days=7)).isoformat()
            person.locator("input[name=until]").fill(last_day)
            person.locator("input[name=reason]").fill("去女儿家住一周")
            shot(page, "away-form")
            person.locator("form[data-away] button[type=submit]").click()
            expect(person.locator(".away")).to_contain_text(f"外出至 {last_day}", timeout=10_000)
            shot(page, "away")
            assert store.people.get(wang)["away_by"] == "portal:139****5678"

            # The children come by car this afternoon: invite it; it is listed in force and in the household.
            page.click('header nav a[href="/my/invites"]')
            expect(page).to_have_url(f"{site.url}/my/invites")
            car = page.locator("#invite-car")
            car.locator("input[name=plate]").fill("苏E 12345")
            car.locator("input[value=family]").check()
            car.locator("select[name=hours]").select_option("4")
            shot(page, "invite-form")
            car.locator("button[type=submit]").click()
            invited = page.locator("article.invite", has_text="苏E12345")
            expect(invited).to_contain_text("有效中", timeout=10_000)
            expect(invited).to_contain_text("家属：两小时免费")
            expect(invited).to_contain_text("邀请人：王建国")
            vehicle = store.vehicles.get("苏E12345")
            assert (vehicle["class"], vehicle["person_id"]) == ("family", wang) and vehicle["valid_until_at"]
            # A carer comes on foot: the pass to save or share.
            page.locator("details:has(#invite-visitor) summary").click()
            page.fill("#invite-visitor input[name=name]", "护工小陈")
            page.click("#invite-visitor button[type=submit]")
            expect(page.locator("#pass")).to_be_visible(timeout=10_000)
            expect(page.locator("#pass-words")).to_contain_text("12-301 的访客二维码通行证")
            assert page.locator("#pass-img").evaluate("img => img.complete && img.naturalWidth > 200")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 360, f"the page is {width} px wide: it must fit a phone's screen"
            shot(page, "invite-pass")
            page.click('header nav a[href="/my/"]')
            expect(page.locator('article[data-plate="苏E12345"]')).to_contain_text("家属")
        finally:
            context.close()
