"""The console and a gate that sees, in a real browser (Debian's chromium driven by Playwright): an
admin enrols a resident with her photo and the gate's camera recognises her; a guard issues a visitor's
QR pass, the gate's car camera reads it and the barrier opens; the guard revokes it and the same code is
refused; the reports page counts today's passages (its numbers and its chart). Pages are saved to docs/console/*.png."""

from __future__ import annotations

import base64
import time

import pytest
from conftest import face, log_in, shot, show
from console_site import console_site
from mqtt_helpers import wait_for

from edge.gate.credentials.qr import QR_COOLDOWN_S


@pytest.fixture(scope="module")
def site(tmp_path_factory, engines):
    folder = tmp_path_factory.mktemp("console-site-browser")
    (folder / "east").mkdir()
    cams = {name: folder / "east" / f"{name}.jpg" for name in ("face-in", "plate-in")}
    for path in cams.values():
        show(path)
    cameras = [{"id": "face-in", "source": str(cams["face-in"]), "role": "face", "lane": "in", "barrier": "foot",
                "fps": 5},
               {"id": "plate-in", "source": str(cams["plate-in"]), "role": "plate", "lane": "in", "barrier": "car",
                "fps": 5}]
    barriers = [{"id": "foot", "type": "simulated", "lanes": ["in"]},
                {"id": "car", "type": "simulated", "lanes": ["in"]}]
    recognition = {"face": {"scale": 1.0, "cooldown_s": 2.0}, "plate": {"cooldown_s": 2.0}}
    with console_site(folder, cameras=cameras, barriers=barriers, engines=engines, recognition=recognition) as state:
        state.cams = cams
        yield state


def archived(site, kind: str, test=lambda event: True) -> list[dict]:
    return [e for e in site.office.store.console.events(kind=kind, limit=100) if test(e)]


def test_enrol_at_the_console_then_the_gate_sees_a_pass_open_and_a_revoked_pass_refused(site, zh_page):
    from playwright.sync_api import expect

    page = zh_page
    foot, car = site.gate.barriers["foot"], site.gate.barriers["car"]
    # The admin enrols a resident with her photo: templates at the office, and the gate knows her.
    log_in(page, site, "admin1", "/people")
    form = page.locator("form.register")
    page.fill("input[name=name]", "刘淑珍")
    page.fill("input[name=unit]", "7-502")
    page.check("input[name=face_consent]")
    page.set_input_files("input[name=photo]", str(face("fr_obama", 1)))
    form.locator("button[type=submit]").click()
    expect(page.locator("#people")).to_contain_text("刘淑珍", timeout=30000)
    person = site.office.store.people.find("7-502", "刘淑珍")[0]["id"]
    assert wait_for(lambda: site.gate.store.templates.count(person) >= 1, 30)
    shot(page, "people")

    # She walks up to the east gate: the camera recognises her, the gate opens, the console shows it.
    show(site.cams["face-in"], face("fr_obama", 2))
    assert wait_for(lambda: archived(site, "entry", lambda e: e["subject"].get("person_id") == person), 30)
    assert len(foot.commands) == 1
    show(site.cams["face-in"])
    page.goto(f"{site.url}/passages")
    expect(page.locator("body")).to_contain_text("刘淑珍")

    # A guard issues a visitor's pass for a car; the page shows the QR code to print or send.
    page.context.clear_cookies()
    log_in(page, site, "guard1", "/passes")
    issue = page.locator("form.register").first
    issue.locator("input[name=plate]").fill("苏E12345")
    issue.locator("button[type=submit]").click()
    expect(page.locator(".pass-print")).to_contain_text("苏E12345")
    shot(page, "pass-print")
    pass_id = page.locator(".pass-print").get_attribute("data-pass-id")
    src = page.locator(".pass-print img.qr").get_attribute("src")
    qr_png = base64.b64decode(src.split(",", 1)[1])

    # The visitor holds the phone up to the car lane's camera: the barrier opens.
    show(site.cams["plate-in"], data=qr_png)
    assert wait_for(lambda: archived(site, "entry", lambda e: e.get("credential") == "qr"), 30), \
        archived(site, "denied")
    assert wait_for(lambda: len(car.commands) == 1, 10)
    show(site.cams["plate-in"])

    # The guard revokes it; the revocation reaches the gate and the same code is refused.
    page.goto(f"{site.url}/passes")
    page.locator(f'tr[data-pass-id="{pass_id}"] button[data-delete]').click()
    expect(page.locator(f'tr[data-pass-id="{pass_id}"]')).to_contain_text("已作废", timeout=15000)
    shot(page, "passes")
    site.office.link.wake()
    assert wait_for(lambda: site.gate.store.passes.revoked(pass_id), 20)
    time.sleep(QR_COOLDOWN_S + 1)  # the code has left the camera's view for longer than its cooldown
    show(site.cams["plate-in"], data=qr_png)
    assert wait_for(lambda: archived(site, "denied", lambda e: e.get("credential") == "qr"), 30)
    denied = archived(site, "denied", lambda e: e.get("credential") == "qr")[0]
    assert "revoked" in str(denied.get("reason")), denied
    assert len(car.commands) == 1
    show(site.cams["plate-in"])

    # The reports page counts today's passages: the resident and the visitor came in, one was refused.
    page.goto(f"{site.url}/reports")
    today = page.request.get(f"{site.url}/api/reports/passages-by-hour").json()
    assert today["totals"]["east"]["entries"] == 2 and today["totals"]["east"]["denied"] == 1, today["totals"]
    chart = page.locator("#passages-by-hour figure.chart svg").first
    expect(chart).to_be_visible()
    page.locator("#passages-by-hour details summary").click()
    expect(page.locator("#passages-by-hour table.rows")).to_contain_text("east")
    shot(page, "reports")
