"""The console's registry and passes (DESIGN 6.5) against a real office, a real mosquitto and a real gate:
people (with real face photos enrolled at the office, photos not kept), vehicles, the CSV import (all
rows or none), QR passes (issued as a guard, printed, revoked), every refusal (no session, wrong role,
bad CSRF token, bad input → 4xx JSON, nothing written), and what the office changes reaching the gate."""

from __future__ import annotations

import base64
import glob
import os
import secrets
import tempfile
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import PLATES, TWO_PEOPLE, console_client, face
from console_site import console_site, synced
from mqtt_helpers import wait_for

httpx = pytest.importorskip("httpx")

NO_FACE = PLATES / "ccpd_07.jpg"  # a car: no face at all


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with console_site(tmp_path_factory.mktemp("console-registry")) as state:
        yield state


def counts(site) -> tuple:
    """Everything a refused write must leave as it was."""
    store = site.office.store
    return (store.people.count(), store.templates.count(), store.templates.photo_count(), store.vehicles.count(),
            len(store.passes.all()), sum(p["revoked_epoch"] is not None for p in store.passes.all()),
            store.console.audit_count())


def last_audit(site) -> dict:
    return site.office.store.console.audit_rows(1)[0]


def photo(path, name: str | None = None):
    return ("photo", (name or path.name, path.read_bytes(), "image/jpeg"))


def uploads_left() -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), "gate-edge-upload-*"))


def at_gate(site, predicate) -> bool:
    """Wait until the gate's replica has caught up with the office's head and ``predicate`` holds."""
    site.office.link.wake()
    return wait_for(lambda: synced(site) and predicate(site.gate.store), 20)


# -- sessions, roles, CSRF -------------------------------------------------------------------------
ROUTES = [("GET", "/api/people"), ("POST", "/api/people"), ("DELETE", "/api/people/1"), ("GET", "/api/vehicles"),
          ("POST", "/api/vehicles"), ("DELETE", "/api/vehicles/沪A12345"), ("POST", "/api/import"),
          ("GET", "/api/passes"), ("POST", "/api/passes"), ("DELETE", "/api/passes/0123456789ab")]


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_registry_route_needs_a_session(site, method, path):
    before = counts(site)
    answer = httpx.request(method, f"{site.url}{path}", json={"name": "x", "unit": "1-101", "plate": "沪A12345",
                                                               "class": "visitor", "valid_hours": 1})
    assert answer.status_code == 401 and answer.json()["error"]
    assert counts(site) == before


def test_a_guard_reads_the_registry_but_may_not_change_it(site, guard):
    admin = console_client(site, "admin1")
    try:
        person = admin.post("/api/people", json={"name": "门岗测", "unit": "9-901"}).json()["person_id"]
        assert admin.post("/api/vehicles", json={"plate": "沪B90901", "class": "visitor"}).status_code == 201
    finally:
        admin.close()
    before = counts(site)
    assert person in [p["person_id"] for p in guard.get("/api/people").json()]
    assert "沪B90901" in [v["plate"] for v in guard.get("/api/vehicles").json()]
    writes = (("POST", "/api/people", {"json": {"name": "张三", "unit": "1-101"}}, "person_add", None),
              ("DELETE", f"/api/people/{person}", {}, "person_remove", f"person:{person}"),
              ("POST", "/api/vehicles", {"json": {"plate": "沪A12345", "class": "visitor"}}, "vehicle_add", None),
              ("DELETE", "/api/vehicles/沪B90901", {}, "vehicle_remove", "vehicle:沪B90901"),
              ("POST", "/api/import", {"files": {"csv": ("people.csv", b"name,unit\nx,1-101\n", "text/csv")}},
               "import", None))
    for method, path, kwargs, _, _ in (*writes, ("GET", "/import", {}, None, None)):
        answer = guard.request(method, path, **kwargs)
        assert answer.status_code == 403 and "admin" in answer.json()["error"], (method, path, answer.text)
    assert counts(site)[:-1] == before[:-1]  # nothing changed; each refused write was audited (a read is not)
    refused = site.office.store.console.audit_rows(len(writes) + 1)
    assert [(r["username"], r["role"], r["action"], r["target"], r["outcome"]) for r in reversed(refused[:-1])] == [
        ("guard1", "guard", action, target, "refused") for _, _, _, action, target in writes]
    assert refused[-1]["outcome"] == "ok" and counts(site)[-1] == before[-1] + len(writes)
    assert "张三" not in str(refused)  # what a refused write sent is not kept
    page = guard.get("/people").text
    assert "门岗测" in page and 'action="/api/people"' not in page and 'href="/import"' not in page
    assert 'data-delete="/api/people/' not in page
    assert 'action="/api/vehicles"' not in guard.get("/vehicles").text


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_every_write_needs_the_sessions_csrf_token(site, admin, token):
    site.office.store.vehicles.upsert("沪C11111", "visitor")
    before = counts(site)
    if token is None:
        del admin.headers["X-CSRF-Token"]
    else:
        admin.headers["X-CSRF-Token"] = token
    for method, path, kwargs in (
            ("POST", "/api/people", {"json": {"name": "张三", "unit": "1-101"}}),
            ("POST", "/api/people", {"data": {"name": "张三", "unit": "1-101"}, "files": [photo(face("fr_obama"))]}),
            ("POST", "/api/vehicles", {"json": {"plate": "沪A12345", "class": "visitor"}}),
            ("DELETE", "/api/vehicles/沪C11111", {}),
            ("POST", "/api/import", {"files": {"csv": ("people.csv", b"name,unit\nx,1-101\n", "text/csv")}}),
            ("POST", "/api/passes", {"json": {"plate": "沪A12345", "valid_hours": 2}}),
            ("POST", "/passes", {"data": {"plate": "沪A12345", "valid_hours": "2", "csrf_token": token or ""}})):
        answer = admin.request(method, path, **kwargs)
        assert answer.status_code == 403 and "CSRF" in answer.json()["error"], (method, path)
    assert counts(site) == before


# -- people ------------------------------------------------------------------------------------------
def test_a_person_with_a_photo_gets_templates_at_the_office_no_photo_is_kept_and_the_gate_learns_them(site, admin):
    left = set(uploads_left())
    answer = admin.post("/api/people", data={"name": "王秀英", "unit": "12-301", "phone": "139 1234 5678",
                                             "care_watch": "1", "face_consent": "1"},
                        files=[photo(face("fr_obama", 1)), photo(face("fr_obama", 2))])
    assert answer.status_code == 201, answer.text
    person = answer.json()["person_id"]
    assert len(answer.json()["template_ids"]) == 2 and answer.json()["photos_kept"] == 0
    store = site.office.store
    assert store.templates.count(person) == 2 and store.templates.photos(person) == []
    assert set(uploads_left()) == left  # the temporary copies are gone too
    row = next(p for p in admin.get("/api/people").json() if p["person_id"] == person)
    assert row["care_watch"] and row["face_consent"] and row["templates"] == 2
    assert row["care_watch_consent_at"][:10] == row["face_consent_at"][:10] == time.strftime("%Y-%m-%d")
    audit = last_audit(site)
    assert (audit["username"], audit["action"], audit["target"], audit["outcome"]) == (
        "admin1", "person_add", f"person:{person}", "ok")
    assert "王秀英" not in str(audit["detail"]) and "5678" not in str(audit["detail"])
    # The gate receives the person with templates, without name or phone.
    assert at_gate(site, lambda gate: gate.templates.count(person) == 2), site.gate.replica.status()
    copy = site.gate.store.people.find_by_id(person)
    assert copy["unit"] == "12-301" and copy["care_watch"] == 1 and copy["name"] == "" and copy["phone"] is None
    page = admin.get("/people").text
    assert "王秀英" in page and "2 个人脸特征" in page and f'data-delete="/api/people/{person}"' in page


@pytest.mark.parametrize("picture,why", [(NO_FACE, "no face found"), (TWO_PEOPLE, "2 faces found")])
def test_a_photo_without_exactly_one_face_is_refused_and_nothing_is_written(site, admin, picture, why):
    before = counts(site)
    answer = admin.post("/api/people", data={"name": "李四", "unit": "3-101", "face_consent": "on"},
                        files=[photo(face("fr_biden")), photo(picture)])
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert why in error and picture.name in error and tempfile.gettempdir() not in error
    assert "nothing was stored" in error
    assert counts(site)[:-1] == before[:-1]  # only the refusal's audit row
    assert last_audit(site)["outcome"] == "refused"


def test_bad_people_input_is_refused_with_400_and_nothing_written(site, admin):
    before = counts(site)
    for body in ({}, {"name": "张三"}, {"unit": "1-101"}, {"name": " ", "unit": "1-101"},
                 {"name": "张三", "unit": "楼下"}, {"name": "张三", "unit": "1-101", "phone": "call me"},
                 {"name": "张三", "unit": "1-101", "care_watch": "maybe"}, {"name": 5, "unit": "1-101"},
                 {"name": "张" * 51, "unit": "1-101"}, {"name": "张\n三", "unit": "1-101"}):
        answer = admin.post("/api/people", json=body)
        assert answer.status_code == 400 and answer.json()["error"], body
    assert admin.post("/api/people", content=b"{not json", headers={"Content-Type": "application/json"}
                      ).status_code == 400
    assert admin.post("/api/people", content=b"[1]", headers={"Content-Type": "application/json"}).status_code == 400
    no_consent = admin.post("/api/people", data={"name": "张三", "unit": "1-101"}, files=[photo(face("fr_biden"))])
    assert no_consent.status_code == 400 and "face_consent" in no_consent.json()["error"]
    too_many = admin.post("/api/people", data={"name": "张三", "unit": "1-101", "face_consent": "1"},
                          files=[photo(face("fr_biden"), f"{n}.jpg") for n in range(6)])
    assert too_many.status_code == 400 and "at most 5" in too_many.json()["error"]
    assert admin.delete("/api/people/abc").status_code == 400
    assert admin.delete("/api/people/999999").status_code == 404
    assert counts(site) == before


def test_a_person_is_registered_once(site, admin):
    first = admin.post("/api/people", json={"name": "赵六", "unit": "6-606", "care_watch": False})
    assert first.status_code == 201 and first.json()["template_ids"] == []
    before = counts(site)
    again = admin.post("/api/people", json={"name": "赵六", "unit": "6-606"})
    assert again.status_code == 409 and str(first.json()["person_id"]) in again.json()["error"]
    assert counts(site) == before


def test_removing_a_person_erases_them_everywhere_and_revokes_their_passes(site, admin):
    answer = admin.post("/api/people", data={"name": "钱七", "unit": "7-707", "face_consent": "true"},
                        files=[photo(face("df_matt_damon"))])
    person = answer.json()["person_id"]
    assert admin.post("/api/vehicles", json={"plate": "沪D70707", "class": "resident", "person_id": person,
                                             "valid_until": "2099-12-31"}).status_code == 201
    issued = admin.post("/api/passes", json={"person_id": person, "valid_hours": 720})
    assert issued.status_code == 201, issued.text
    pass_id = issued.json()["pass_id"]
    assert at_gate(site, lambda gate: gate.templates.count(person) == 1 and gate.vehicles.get("沪D70707"))
    alert_id = f"inactivity-of-{person}"  # as archived from a gate: unseen for two days
    site.office.store.alerts.add(alert_id, "inactivity", f"person:{person}", time.time(), "2026-11-20T08:00:00+08:00")
    assert alert_id in [a["alert_id"] for a in admin.get("/api/alerts?state=open").json()]

    store = site.office.store
    vector = store.rows("SELECT vector FROM face_templates WHERE person_id = ?", (person,))[0]["vector"]
    wire = base64.b64encode(vector).decode()  # as in the signed registry record and the outbox

    removed = admin.delete(f"/api/people/{person}")
    assert removed.status_code == 200, removed.text
    assert removed.json() == {"person_id": person, "templates_erased": 1, "photos_erased": 0, "contacts_erased": 0,
                              "passes_revoked": [pass_id], "vehicles_without_owner": ["沪D70707"]}
    store = site.office.store
    assert store.people.find_by_id(person) is None and store.templates.count(person) == 0
    assert next(p for p in admin.get("/api/passes").json() if p["pass_id"] == pass_id)["state"] == "revoked"
    assert person not in [p["person_id"] for p in admin.get("/api/people").json()]
    assert "钱七" not in str(store.console.audit_rows(5))
    # Found in review: every record published for them stayed in the office's outbox, templates and unit.
    sent = [m for m in store.outbox.messages() if m["topic"].endswith(f"/registry/person/{person}")]
    assert [m["payload"].get("deleted") for m in sent] == [True], sent
    database = Path(site.office.config.database)
    on_disk = b"".join(p.read_bytes() for p in (database, Path(f"{database}-wal")) if p.exists())
    assert vector not in on_disk and wire.encode() not in on_disk and b"7-707" not in on_disk
    assert store.alerts.get(alert_id)["state"] == "cleared"  # nothing else could ever clear it
    assert alert_id not in [a["alert_id"] for a in admin.get("/api/alerts?state=open").json()]
    assert at_gate(site, lambda gate: gate.people.find_by_id(person) is None and gate.templates.count(person) == 0
                   and gate.passes.revoked(pass_id) and gate.vehicles.get("沪D70707")["person_id"] is None)
    assert admin.delete(f"/api/people/{person}").status_code == 404


# -- vehicles ----------------------------------------------------------------------------------------
def test_vehicles_are_registered_updated_listed_and_removed_and_the_gate_follows(site, admin):
    owner = admin.post("/api/people", json={"name": "孙八", "unit": "8-808"}).json()["person_id"]
    answer = admin.post("/api/vehicles", json={"plate": "沪e·88088", "class": "resident", "person_id": owner,
                                               "valid_from": "2025-01-01", "valid_until": "2099-12-31"})
    assert answer.status_code == 201, answer.text
    assert answer.json()["plate"] == "沪E88088" and answer.json()["created"] is True
    form = admin.post("/api/vehicles", data={"plate": "沪E88088", "class": "family", "person_id": str(owner),
                                             "valid_until": ""})  # the page's form: text fields
    assert form.status_code == 200 and form.json()["created"] is False
    row = next(v for v in admin.get("/api/vehicles").json() if v["plate"] == "沪E88088")
    assert row["class"] == "family" and row["owner"] == {"name": "孙八", "unit": "8-808"}
    assert row["valid_from"] == "2025-01-01" and row["valid_until"] is None and row["valid_now"]
    assert at_gate(site, lambda gate: (gate.vehicles.get("沪E88088") or {}).get("class") == "family")
    page = admin.get("/vehicles").text
    assert "沪E88088" in page and "孙八" in page and 'action="/api/vehicles"' in page
    removed = admin.delete("/api/vehicles/沪E88088")
    assert removed.status_code == 200 and removed.json() == {"plate": "沪E88088", "removed": True}
    assert last_audit(site)["action"] == "vehicle_remove"
    assert at_gate(site, lambda gate: gate.vehicles.get("沪E88088") is None)
    assert admin.delete("/api/vehicles/沪E88088").status_code == 404


def test_a_vehicle_registered_again_keeps_every_field_the_request_does_not_give(site, admin):
    """Posting a family car again as a visitor (only plate and class) keeps its owner and its permit."""
    owner = admin.post("/api/people", json={"name": "李四", "unit": "6-606"}).json()["person_id"]
    first = admin.post("/api/vehicles", json={"plate": "皖AF06789", "class": "family", "person_id": owner,
                                              "valid_from": "2025-01-01", "valid_until": "2099-12-31"})
    assert first.status_code == 201
    answer = admin.post("/api/vehicles", json={"plate": "皖AF06789", "class": "visitor"})
    assert answer.status_code == 200, answer.text
    kept = {"plate": "皖AF06789", "class": "visitor", "person_id": owner, "valid_from": "2025-01-01",
            "valid_until": "2099-12-31", "created": False}
    assert answer.json() == kept
    stored = site.office.store.vehicles.get("皖AF06789")
    assert {k: stored[k] for k in ("class", "person_id", "valid_from", "valid_until")} == {
        k: kept[k] for k in ("class", "person_id", "valid_from", "valid_until")}
    assert last_audit(site)["detail"]["given"] == ["class"]
    assert at_gate(site, lambda gate: (gate.vehicles.get("皖AF06789") or {}).get("person_id") == owner
                   and gate.vehicles.get("皖AF06789")["class"] == "visitor")
    # Only the permit's end given: the class stays; a field given blank (or null) is cleared.
    answer = admin.post("/api/vehicles", json={"plate": "皖AF06789", "valid_until": "2098-06-30", "valid_from": None})
    assert answer.json() == {**kept, "valid_until": "2098-06-30", "valid_from": None}
    answer = admin.post("/api/vehicles", data={"plate": "皖AF06789", "class": "resident", "valid_until": ""})
    assert answer.json() == {**kept, "class": "resident", "valid_until": None, "valid_from": None}


def test_a_resident_or_family_car_is_never_left_without_its_owner(site, admin):
    admin.post("/api/vehicles", json={"plate": "皖AF16789", "class": "visitor"})  # a visitor: no owner
    owner = admin.post("/api/people", json={"name": "王五", "unit": "6-607"}).json()["person_id"]
    admin.post("/api/vehicles", json={"plate": "皖AF26789", "class": "resident", "person_id": owner})
    before = counts(site)
    for body in ({"plate": "皖AF16789", "class": "resident"},  # a class that needs an owner, and none is known
                 {"plate": "皖AF16789", "class": "family", "person_id": ""},
                 {"plate": "皖AF26789", "person_id": None},  # the owner taken from a resident's car
                 {"plate": "皖AF26789", "class": "family", "person_id": ""},
                 {"plate": "皖AF26789", "valid_from": "2099-01-01", "valid_until": "2098-01-01"},
                 {"plate": "皖AF36789"}):  # a new plate needs its class
        answer = admin.post("/api/vehicles", json=body)
        assert answer.status_code == 400 and answer.json()["error"], body
    assert counts(site) == before
    assert site.office.store.vehicles.get("皖AF16789")["class"] == "visitor"
    assert site.office.store.vehicles.get("皖AF26789")["person_id"] == owner
    answer = admin.post("/api/vehicles", json={"plate": "皖AF16789", "class": "family", "person_id": owner})
    assert answer.status_code == 200 and answer.json()["person_id"] == owner
    answer = admin.post("/api/vehicles", json={"plate": "皖AF26789", "class": "family"})  # its owner is kept
    assert answer.status_code == 200 and answer.json()["person_id"] == owner and answer.json()["class"] == "family"


@pytest.mark.parametrize("digit", ["²", "٣", "３", "+1"])
def test_a_person_id_is_ascii_digits_only(site, admin, guard, digit):
    """``str.isdigit()`` is true for "²": it used to reach ``int()`` and answer a plain-text 500."""
    before = counts(site)
    for client, method, path, kwargs in (
            (admin, "POST", "/api/vehicles", {"json": {"plate": "沪A12345", "class": "visitor", "person_id": digit}}),
            (admin, "POST", "/api/vehicles", {"data": {"plate": "沪A12345", "class": "visitor", "person_id": digit}}),
            (guard, "POST", "/api/passes", {"json": {"person_id": digit, "valid_hours": 2}}),
            (admin, "DELETE", f"/api/people/{digit}", {})):
        answer = client.request(method, path, **kwargs)
        assert answer.status_code == 400 and "person" in answer.json()["error"], (path, kwargs, answer.text[:200])
    page = guard.post("/passes", data={"person_id": digit, "valid_hours": "2"})  # the issue form (HTML)
    assert page.status_code == 400 and "person_id: a whole number" in page.text and 'name="valid_hours"' in page.text
    assert counts(site) == before


def test_bad_vehicle_input_is_refused_with_400_and_nothing_written(site, admin):
    before = counts(site)
    for body in ({}, {"plate": "XYZ", "class": "visitor"}, {"plate": "沪A1234O", "class": "visitor"},
                 {"plate": "沪A12345", "class": "vip"}, {"plate": "沪A12345"},
                 {"plate": "沪A12345", "class": "resident"},
                 {"plate": "沪A12345", "class": "visitor", "person_id": 999999},
                 {"plate": "沪A12345", "class": "visitor", "person_id": "me"},
                 {"plate": "沪A12345", "class": "visitor", "valid_until": "next month"},
                 {"plate": "沪A12345", "class": "visitor", "valid_from": "2026-02-01", "valid_until": "2026-01-01"}):
        answer = admin.post("/api/vehicles", json=body)
        assert answer.status_code == 400 and answer.json()["error"], body
    assert admin.delete("/api/vehicles/XYZ").status_code == 400
    assert admin.delete("/api/vehicles/沪A99999").status_code == 404
    assert counts(site) == before


# -- CSV import ----------------------------------------------------------------------------------------
def csv_upload(text: str, name: str = "people.csv", photos=()) -> list:
    return [("csv", (name, text.encode("utf-8"), "text/csv")), *photos]


def test_a_csv_with_one_bad_row_imports_nothing_and_lists_the_row(site, admin):
    before = counts(site)
    text = "name,unit,phone,care_watch,photo\n周一,10-101,,yes,\n周二,楼上,,no,\n周三,10-103,,no,\n"
    answer = admin.post("/api/import", files=csv_upload(text))
    assert answer.status_code == 400
    body = answer.json()
    assert body["problems"] == ["people.csv:3: unit: '楼上' is not a unit; write building-room, e.g. 12-301"]
    assert "nothing imported" in body["error"]
    vehicles = "plate,class,person_unit,person_name,valid_until\n沪F10101,visitor,,,\n沪F1010,visitor,,,\n" \
               "沪F10103,resident,,,\n"
    answer = admin.post("/api/import", files=csv_upload(vehicles, "vehicles.csv"))
    assert answer.status_code == 400 and [p.split(":")[:3] for p in answer.json()["problems"]] == [
        ["vehicles.csv", "3", " plate"], ["vehicles.csv", "4", " person_unit"]]
    no_face = admin.post("/api/import", files=csv_upload("name,unit,photo\n周四,10-104,car.jpg\n",
                                                        photos=[photo(NO_FACE, "car.jpg")]))
    assert no_face.status_code == 400 and "no face found" in no_face.json()["problems"][0]
    assert tempfile.gettempdir() not in str(no_face.json())
    assert counts(site)[:-1] == before[:-1]  # the registry is unchanged: only the refusals were audited
    assert last_audit(site)["outcome"] == "refused"
    for bad in ([("photo", ("a.jpg", b"x", "image/jpeg"))],  # no CSV
                csv_upload(text) + csv_upload(text),  # two
                csv_upload("x", "../people.csv")):  # not a plain name
        assert admin.post("/api/import", files=bad).status_code == 400
    assert admin.post("/api/import", json={"csv": "name,unit"}).status_code == 415


def test_a_good_csv_imports_every_row_with_photos_not_kept(site, admin):
    left = set(uploads_left())
    text = "name,unit,phone,care_watch,photo\n吴一,11-101,13900000001,是,photos/wu.jpg\n吴二,11-102,,否,\n"
    answer = admin.post("/api/import", files=csv_upload(text, photos=[photo(face("df_katy_perry"), "photos/wu.jpg")]))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["kind"] == "people" and len(result["created"]) == 2 and result["templates"] == 1
    wu = result["created"][0]
    store = site.office.store
    assert store.templates.count(wu) == 1 and store.templates.photos(wu) == []
    assert set(uploads_left()) == left
    assert last_audit(site)["action"] == "import" and last_audit(site)["outcome"] == "ok"
    vehicles = "plate,class,person_unit,person_name,valid_until\n沪G11101,resident,11-101,吴一,2099-01-31\n"
    answer = admin.post("/api/import", files=csv_upload(vehicles, "vehicles.csv"))
    assert answer.status_code == 200 and answer.json()["created"] == ["沪G11101"]
    assert at_gate(site, lambda gate: gate.templates.count(wu) == 1 and gate.vehicles.get("沪G11101"))
    again = admin.post("/api/import", files=csv_upload(text, photos=[photo(face("df_katy_perry"), "photos/wu.jpg")]))
    assert again.status_code == 200 and sorted(again.json()["updated"]) == sorted(result["created"])
    page = admin.get("/import").text
    assert 'action="/api/import"' in page and "name,unit,phone,care_watch,photo" in page


# -- passes --------------------------------------------------------------------------------------------
def test_a_guard_issues_a_visitors_pass_that_the_gate_accepts_then_revokes_it(site, guard):
    from edge.registry.passes import check_pass, pass_checker
    from models.images import decode_image
    from models.qr import QrReader

    answer = guard.post("/api/passes", json={"plate": "苏E·99999", "valid_hours": 4})
    assert answer.status_code == 201, answer.text
    issued = answer.json()
    assert issued["subject"] == {"type": "vehicle", "person_id": None, "plate": "苏E99999"}
    png = base64.b64decode(issued["qr_png_base64"])
    assert png.startswith(b"\x89PNG")
    assert [code.text for code in QrReader().read(decode_image(png))] == [issued["token"]]
    gate_key = pass_checker(site.gate.config)
    assert check_pass(issued["token"], gate_key, site.gate.store).valid
    row = next(p for p in guard.get("/api/passes").json() if p["pass_id"] == issued["pass_id"])
    assert row["state"] == "valid" and row["issued_by"] == "guard1" and row["valid_until"] == issued["valid_until"]
    hours = (datetime.fromisoformat(row["valid_until"]) - datetime.fromisoformat(row["issued"])).total_seconds() / 3600
    assert 3.99 < hours <= 4
    assert issued["token"] not in str(site.office.store.passes.get(issued["pass_id"]))  # the office keeps no token

    revoked = guard.delete(f"/api/passes/{issued['pass_id']}")
    assert revoked.status_code == 200 and revoked.json() == {"pass_id": issued["pass_id"], "revoked": True}
    assert last_audit(site)["action"] == "pass_revoke" and last_audit(site)["username"] == "guard1"
    assert at_gate(site, lambda gate: gate.passes.revoked(issued["pass_id"]))
    assert check_pass(issued["token"], gate_key, site.gate.store).reason == "revoked"
    assert guard.delete(f"/api/passes/{issued['pass_id']}").status_code == 409


def test_a_guard_may_not_issue_a_long_pass_nor_revoke_an_admins(site, guard, admin):
    before = counts(site)
    long = guard.post("/api/passes", json={"plate": "苏E99999", "valid_hours": 100})
    assert long.status_code == 403 and "24 hours" in long.json()["error"]
    assert counts(site)[:-1] == before[:-1]
    assert (last_audit(site)["action"], last_audit(site)["outcome"]) == ("pass_issue", "refused")
    issued = admin.post("/api/passes", json={"plate": "苏E99999", "valid_hours": 100})
    assert issued.status_code == 201
    pass_id = issued.json()["pass_id"]
    refused = guard.delete(f"/api/passes/{pass_id}")
    assert refused.status_code == 403 and site.office.store.passes.get(pass_id)["revoked_epoch"] is None
    assert (last_audit(site)["action"], last_audit(site)["target"], last_audit(site)["outcome"]) == (
        "pass_revoke", f"pass:{pass_id}", "refused")  # the same rule as the registry's writes
    page = guard.get("/passes").text
    assert pass_id in page and f'data-delete="/api/passes/{pass_id}"' not in page
    assert admin.delete(f"/api/passes/{pass_id}").status_code == 200


def test_bad_pass_requests_are_refused_and_nothing_is_written(site, guard, admin):
    site.office.store.vehicles.upsert("沪H00000", "blocked")
    before = counts(site)
    for body in ({}, {"valid_hours": 2}, {"plate": "苏E99999"}, {"plate": "苏E99999", "person_id": 1, "valid_hours": 2},
                 {"plate": "苏E99999", "valid_hours": 0}, {"plate": "苏E99999", "valid_hours": -1},
                 {"plate": "苏E99999", "valid_hours": "soon"}, {"plate": "苏E99999", "valid_hours": True},
                 {"plate": "XYZ", "valid_hours": 2}, {"person_id": 999999, "valid_hours": 2},
                 {"plate": "苏E99999", "valid_hours": 10 ** 6}):
        answer = admin.post("/api/passes", json=body)
        assert answer.status_code == 400 and answer.json()["error"], body
    blocked = guard.post("/api/passes", json={"plate": "沪H00000", "valid_hours": 2})
    assert blocked.status_code == 409 and "blocked" in blocked.json()["error"]
    assert admin.delete("/api/passes/nope").status_code == 400
    assert admin.delete("/api/passes/0123456789ab").status_code == 404
    assert counts(site) == before


def test_the_passes_page_issues_a_pass_to_print(site, guard):
    page = guard.get("/passes")
    assert page.status_code == 200 and 'name="valid_hours"' in page.text and "发放通行证" in page.text
    assert '<option value="72"' not in page.text  # a guard's choices stop at 24 hours
    token = guard.headers.pop("X-CSRF-Token")
    try:  # a plain HTML form: the token in its field
        printed = guard.post("/passes", data={"plate": "浙A12345", "valid_hours": "8", "csrf_token": token})
        refused = guard.post("/passes", data={"plate": "浙A12345", "valid_hours": "72", "csrf_token": token})
    finally:
        guard.headers["X-CSRF-Token"] = token
    assert printed.status_code == 200, printed.text
    assert 'src="data:image/png;base64,' in printed.text and "浙A12345" in printed.text and "8 小时" in printed.text
    assert "data-print" in printed.text and "@media print" in guard.get("/static/console.css").text
    assert refused.status_code == 403 and "24 hours" in refused.text and 'name="valid_hours"' in refused.text


def test_an_office_without_a_pass_key_says_so(site):
    import asyncio

    from edge.office.console.app import create_app
    from edge.office.console.guard import COOKIE, SESSION_TTL_S, session_hash
    from edge.office.console.users import UsersFile

    store = site.office.store
    console = SimpleNamespace(office=site.office, config=site.office.config.model_copy(update={"passes": None}),
                              clock=time.time)
    token, csrf = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    admin = UsersFile(site.office.config.console.users_file).credential("admin1")  # the session lasts while it holds
    store.console.add_session(session_hash(token), "admin1", "admin", csrf, time.time(), SESSION_TTL_S, admin)
    before = counts(site)

    async def ask():
        transport = httpx.ASGITransport(app=create_app(console))
        async with httpx.AsyncClient(transport=transport, base_url="http://office", cookies={COOKIE: token}) as client:
            issue = await client.post("/api/passes", json={"plate": "苏E99999", "valid_hours": 2},
                                      headers={"X-CSRF-Token": csrf})
            return issue, await client.get("/passes")

    try:
        issue, page = asyncio.run(ask())
    finally:
        store.console.end_session(session_hash(token))
    assert issue.status_code == 409 and "passes.signing_key_file" in issue.json()["error"]
    assert "没有配置通行证密钥" in page.text and 'name="valid_hours"' not in page.text
    assert counts(site) == before


# -- pages -------------------------------------------------------------------------------------------------
def test_the_pages_show_the_registry_and_each_gates_copy_of_it(site, admin):
    site.gate.link.publish_status()
    assert wait_for(lambda: all(g["registry_current"] for g in admin.get("/api/gates").json()["gates"]
                                if g["gate"] == "east"), 20)
    head = admin.get("/api/gates").json()["office_registry"]
    for path, words in (("/people", "登记新居民"), ("/vehicles", "登记车辆"), ("/passes", "发放通行证"),
                        ("/import", "批量导入")):
        page = admin.get(path)
        assert page.status_code == 200 and words in page.text, path
        assert 'href="/import"' in page.text and f'content="{admin.headers["X-CSRF-Token"]}"' in page.text
    people = admin.get("/people").text
    assert f"{head['epoch']}/{head['version']}" in people
    assert 'data-gate="east"' in people and "已同步到最新" in people and 'data-gate="west"' in people
    admin.cookies.set("lang", "en")
    english = admin.get("/people").text
    admin.cookies.delete("lang")
    fragment = admin.get("/registry/sync")
    assert fragment.status_code == 200
    assert 'id="registry-sync"' in fragment.text and "<html" not in fragment.text
    assert "Register a person" in english and "up to date" in english


def test_a_chunked_upload_past_the_bound_is_refused_before_it_is_all_read_and_nothing_is_kept(site, admin):
    """An upload without a Content-Length (chunked) skips ``check_length``: the console counts it as it
    arrives and answers 413 at ``MAX_BODY_BYTES``, before the rest of the body is sent or spooled."""
    from test_console import send_until_answered

    from edge.office.console.uploads import MAX_BODY_BYTES

    left, before = set(uploads_left()), counts(site)
    boundary = "gate-edge-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"csv\"; filename=\"people.csv\"\r\n"
            f"Content-Type: text/csv\r\n\r\nname,unit\r\n").encode()
    status, answer, sent = send_until_answered(site, admin, "/api/import", f"multipart/form-data; boundary={boundary}",
                                               MAX_BODY_BYTES + 50 * 1024 * 1024, head=head, csrf=True,
                                               piece=1024 * 1024)
    assert status == 413 and "larger than 200 MB" in answer["error"], (status, answer)
    assert MAX_BODY_BYTES < sent < MAX_BODY_BYTES + 40 * 1024 * 1024, sent
    assert set(uploads_left()) == left and counts(site) == before
