"""The console's registry pages in a real browser (Debian's chromium driven by Playwright, never a
download) against a real office, mosquitto and gate: register a person with a face photo, see a photo
without a face refused, register a car, see every bad row of a CSV listed, issue a visitor's pass and
print it, revoke it, and erase the person — each write through the page's own script and CSRF token."""

from __future__ import annotations

import pytest
from conftest import PLATES, face, log_in
from console_site import console_site
from mqtt_helpers import wait_for


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with console_site(tmp_path_factory.mktemp("console-registry-browser")) as state:
        yield state


def test_the_committee_keeps_the_registry_and_passes_in_a_browser(site, zh_page, tmp_path):
    from playwright.sync_api import expect

    page = zh_page
    store = site.office.store
    log_in(page, site, "admin1", "/people")
    form = page.locator("form.register")
    # A photo with no face: refused, named, nothing written.
    page.fill("input[name=name]", "李四")
    page.fill("input[name=unit]", "3-101")
    page.check("input[name=face_consent]")
    page.set_input_files("input[name=photo]", str(PLATES / "ccpd_07.jpg"))
    form.locator("button[type=submit]").click()
    expect(form.locator("output.answer")).to_contain_text("ccpd_07.jpg：照片上找不到人脸")  # in Chinese
    assert store.people.count() == 0
    # A resident with her photo, care-watch and consent.
    page.fill("input[name=name]", "王秀英")
    page.fill("input[name=unit]", "12-301")
    page.fill("input[name=phone]", "13912345678")
    page.check("input[name=care_watch]")
    page.set_input_files("input[name=photo]", str(face("fr_obama", 1)))
    form.locator("button[type=submit]").click()
    expect(page.locator("#people")).to_contain_text("王秀英", timeout=15000)  # the page reloads
    expect(page.locator("#people")).to_contain_text("1 个人脸特征")
    person = store.people.find("12-301", "王秀英")[0]["id"]
    assert store.templates.count(person) == 1 and store.templates.photo_count() == 0
    assert wait_for(lambda: site.gate.store.templates.count(person) == 1, 20)
    site.gate.link.publish_status()  # (it would otherwise say so within the minute): the page refreshes it
    expect(page.locator('#registry-sync li[data-gate="east"]')).to_contain_text("已同步到最新", timeout=20000)

    # Her car.
    page.goto(f"{site.url}/vehicles")
    page.fill("input[name=plate]", "沪A12345")
    page.select_option("select[name=class]", "resident")
    page.select_option("select[name=person_id]", str(person))
    page.fill("input[name=valid_until]", "2099-12-31")
    page.locator("form.register button[type=submit]").click()
    expect(page.locator("#vehicles")).to_contain_text("12-301 王秀英", timeout=15000)

    # A CSV with two bad rows: both listed, nothing imported.
    sheet = tmp_path / "people.csv"
    sheet.write_text("name,unit,phone,care_watch,photo\n周一,10-101,,是,\n周二,楼上,,否,\n周三,10-103,,也许,\n",
                     encoding="utf-8")
    page.goto(f"{site.url}/import")
    page.set_input_files("input[name=csv]", str(sheet))
    page.locator("form.register button[type=submit]").click()
    problems = page.locator("ul.problems li")
    expect(problems).to_have_count(2)
    expect(problems.nth(0)).to_contain_text("people.csv:3: unit")
    expect(problems.nth(1)).to_contain_text("people.csv:4: care_watch")
    assert store.people.count() == 1

    # A visitor's pass, printed, then revoked.
    page.goto(f"{site.url}/passes")
    page.locator("form.register").first.locator("input[name=plate]").fill("苏E99999")
    page.locator("form.register").first.locator("button[type=submit]").click()
    expect(page.locator(".pass-print")).to_contain_text("苏E99999")
    assert page.locator(".pass-print img.qr").evaluate("img => img.naturalWidth") > 100
    pass_id = page.locator(".pass-print").get_attribute("data-pass-id")
    page.goto(f"{site.url}/passes")
    page.locator(f'tr[data-pass-id="{pass_id}"] button[data-delete]').click()
    expect(page.locator(f'tr[data-pass-id="{pass_id}"]')).to_contain_text("已作废", timeout=15000)
    assert store.passes.get(pass_id)["revoked_epoch"] is not None

    # Erasing her: gone at the office and, after sync, at the gate.
    page.goto(f"{site.url}/people")
    page.locator(f'tr[data-person-id="{person}"] button[data-delete]').click()
    expect(page.locator(f'tr[data-person-id="{person}"]')).to_have_count(0, timeout=15000)
    assert store.people.find_by_id(person) is None
    site.office.link.wake()
    assert wait_for(lambda: site.gate.store.people.find_by_id(person) is None, 20)


def test_a_guard_sees_the_registry_without_its_admin_forms(site, zh_page):
    page = zh_page
    log_in(page, site, "guard1", "/people")
    assert page.locator('nav a[href="/import"]').count() == 0
    assert page.locator("form.register").count() == 0 and page.locator("button[data-delete]").count() == 0
    page.goto(f"{site.url}/passes")
    options = page.locator('form.register select[name="valid_hours"]').first.locator("option").all_inner_texts()
    assert options[-1] == "24 小时"
