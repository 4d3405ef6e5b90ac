"""Enrolment, CSV import and query from the command line, as a technician would run them."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import TWO_PEOPLE, face

from edge.cli.main import main
from models.faces import DEFAULT_ENCODER


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_person_add_with_photo_stores_a_template_and_never_the_photo(minimal_config, capsys, store):
    code, out, err = run(capsys, "person", "add", "-c", minimal_config, "--name", "王建国", "--unit", "12-301",
                         "--care-watch", "--photo", face("fr_obama", 1), "--photo", face("fr_obama", 2))
    assert code == 0, err
    created = json.loads(out)
    assert len(created["template_ids"]) == 2
    assert store.templates.template_set(DEFAULT_ENCODER).person_ids.tolist() == [created["person_id"]] * 2
    assert store.templates.photo_count() == 0
    person = store.people.get(created["person_id"])
    assert person["care_watch"] == 1 and person["face_consent_at"]


@pytest.mark.parametrize(
    "photo, message",
    [
        (TWO_PEOPLE, "two_people.jpg: 2 faces found; enrolment needs a photo of one person alone"),
        ("tests/data/SOURCES.md", "SOURCES.md: not an image OpenCV can read"),
        ("tests/data/nope.jpg", "nope.jpg: no such file"),
    ],
)
def test_refused_photo_names_the_file_and_stores_nothing(minimal_config, capsys, store, photo, message):
    code, out, err = run(capsys, "person", "add", "-c", minimal_config, "--name", "A", "--unit", "1-101",
                         "--photo", face("fr_biden", 1), "--photo", photo)
    assert code == 1
    assert message in err and "nothing was stored" in err
    assert len(err.strip().splitlines()) == 1
    assert store.people.all() == []


def test_photo_without_a_face_is_refused_on_enroll(minimal_config, capsys, store, tmp_path):
    person = store.people.add("A", "1-101")
    blank = tmp_path / "wall.jpg"
    import numpy as np

    from models.images import encode_jpeg

    blank.write_bytes(encode_jpeg(np.full((200, 200, 3), 128, np.uint8)))
    code, _, err = run(capsys, "person", "enroll", "-c", minimal_config, person, "--photo", blank)
    assert code == 1 and "wall.jpg: no face found" in err
    assert store.templates.template_set(DEFAULT_ENCODER).matrix.shape[0] == 0


def test_enroll_unknown_person_is_exit_1(minimal_config, capsys):
    code, _, err = run(capsys, "person", "enroll", "-c", minimal_config, 99, "--photo", face("fr_biden", 1))
    assert code == 1 and "no person with id 99" in err


def test_person_remove_erases_templates(minimal_config, capsys, store):
    _, out, _ = run(capsys, "person", "add", "-c", minimal_config, "--name", "A", "--unit", "1-101",
                    "--photo", face("fr_biden", 1))
    person = json.loads(out)["person_id"]
    code, out, _ = run(capsys, "person", "remove", "-c", minimal_config, person)
    assert code == 0 and json.loads(out)["templates_erased"] == 1
    assert store.templates.template_set(DEFAULT_ENCODER).matrix.shape[0] == 0


def test_vehicle_add_query_and_remove(minimal_config, capsys, store):
    person = store.people.add("王建国", "12-301")
    code, out, err = run(capsys, "vehicle", "add", "-c", minimal_config, "--plate", "沪a·12345",
                         "--class", "resident", "--person", person, "--valid-until", "2099-12-31")
    assert code == 0, err
    assert json.loads(out) == {"plate": "沪A12345", "class": "resident", "created": True}
    code, out, _ = run(capsys, "query", "-c", minimal_config, "--plate", "沪A12345")
    answer = json.loads(out)
    assert answer["registered"] and answer["permit"]["valid_now"] and answer["owner"]["unit"] == "12-301"
    assert answer["fee_due_cents"] == 0 and answer["open_session"] is None
    code, out, _ = run(capsys, "vehicle", "remove", "-c", minimal_config, "--plate", "沪A12345")
    assert code == 0
    code, out, _ = run(capsys, "query", "-c", minimal_config, "--plate", "沪A12345")
    assert json.loads(out)["registered"] is False


@pytest.mark.parametrize(
    "argv, message",
    [
        (["vehicle", "add", "-c", "{c}", "--plate", "沪A1234O", "--class", "visitor"], "did you mean 1 or 0?"),
        (["vehicle", "add", "-c", "{c}", "--plate", "沪A12345", "--class", "resident"],
         "needs its owner: add --person ID"),
        (["vehicle", "add", "-c", "{c}", "--plate", "沪A12345", "--class", "visitor", "--valid-until", "31/12/2026"],
         "'31/12/2026' is not a date; write YYYY-MM-DD"),
        (["vehicle", "remove", "-c", "{c}", "--plate", "沪A99999"], "no vehicle with plate 沪A99999"),
        (["query", "-c", "{c}", "--person", "5"], "no person with id 5"),
        (["query", "-c", "{c}", "--plate", "hello"], "'hello' is not a Chinese plate"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(minimal_config, capsys, argv, message):
    code, _, err = run(capsys, *(str(minimal_config) if a == "{c}" else a for a in argv))
    assert code == 1
    assert message in err and len(err.strip().splitlines()) == 1


def test_bad_config_is_exit_2(write_config, capsys):
    bad = write_config("site: x\ngate: y\nsurprise: 1\n", "bad.yaml")
    code, _, err = run(capsys, "person", "list", "-c", bad)
    assert code == 2 and "surprise: unknown key" in err


def _people_csv(tmp_path, rows: list[str]) -> str:
    photos = tmp_path / "photos"
    photos.mkdir(exist_ok=True)
    for identity in ("fr_obama", "fr_biden", "df_katy_perry"):
        shutil.copy(face(identity), photos / f"{identity}.jpg")
    shutil.copy(TWO_PEOPLE, photos / "two.jpg")
    path = tmp_path / "people.csv"
    path.write_text("\n".join(["name,unit,phone,care_watch,photo", *rows]) + "\n", encoding="utf-8")
    return str(path)


def test_people_csv_imports_all_rows_with_photos(minimal_config, capsys, store, tmp_path):
    csv_path = _people_csv(tmp_path, [
        "王建国,12-301,13800000001,yes,photos/fr_obama.jpg",
        "李桂兰,3-402,,1,photos/fr_biden.jpg",
        "陈小明,5-101,13800000003,no,",
    ])
    code, out, err = run(capsys, "import", "-c", minimal_config, csv_path)
    assert code == 0, err
    result = json.loads(out)
    assert len(result["created"]) == 3 and result["templates"] == 2
    assert [p["care_watch"] for p in store.people.all()] == [1, 1, 0]
    # Importing the same file again updates instead of duplicating.
    code, out, _ = run(capsys, "import", "-c", minimal_config, csv_path)
    assert code == 0 and len(json.loads(out)["updated"]) == 3 and len(store.people.all()) == 3


def test_people_csv_with_bad_rows_imports_nothing_and_reports_each(minimal_config, capsys, store, tmp_path):
    csv_path = _people_csv(tmp_path, [
        "王建国,12-301,,yes,photos/fr_obama.jpg",
        ",3-402,,no,",
        "李桂兰,three-oh-two,,no,",
        "陈小明,5-101,,maybe,",
        "赵四,6-101,,no,photos/missing.jpg",
        "王建国,12-301,,no,",
    ])
    code, _, err = run(capsys, "import", "-c", minimal_config, csv_path)
    assert code == 1
    assert "nothing imported, 5 problem(s)" in err
    for expected in (":3: name: empty", ":4: unit: 'three-oh-two' is not a unit", ":5: care_watch: 'maybe'",
                     ":6: photo: 'photos/missing.jpg' not found", ":7: name: 王建国 in 12-301 is already on line 2"):
        assert expected in err
    assert store.people.all() == []


def test_people_csv_with_a_two_face_photo_imports_nothing(minimal_config, capsys, store, tmp_path):
    csv_path = _people_csv(tmp_path, ["王建国,12-301,,yes,photos/fr_obama.jpg", "李桂兰,3-402,,no,photos/two.jpg"])
    code, _, err = run(capsys, "import", "-c", minimal_config, csv_path)
    assert code == 1 and ":3: photo:" in err and "2 faces found" in err
    assert store.people.all() == []


def _vehicles_csv(tmp_path, rows: list[str]) -> str:
    path = tmp_path / "vehicles.csv"
    path.write_text("\n".join(["plate,class,person_unit,person_name,valid_until", *rows]) + "\n", encoding="utf-8")
    return str(path)


def test_vehicles_csv_all_or_nothing(minimal_config, capsys, store, tmp_path):
    owner = store.people.add("王建国", "12-301")
    store.people.add("李桂兰", "3-402")
    store.people.add("李明", "3-402")
    good = ["沪A12345,resident,12-301,,2099-01-31", "沪AD12345,family,12-301,王建国,"]
    code, _, err = run(capsys, "import", "-c", minimal_config, _vehicles_csv(tmp_path, [
        *good, "沪B1234O,visitor,,,", "沪C54321,taxi,,,", "沪D11111,resident,9-999,,", "沪E22222,resident,3-402,,",
        "沪A12345,blocked,,,"]))
    assert code == 1
    for expected in (":4: plate:", "never use the letters I and O", ":5: class: 'taxi' is not a class",
                     ":6: person_unit: no registered anyone in unit 9-999",
                     ":7: person_name: 2 people live in 3-402", ":8: plate: 沪A12345 is already on line 2"):
        assert expected in err
    assert store.vehicles.all() == []

    code, out, err = run(capsys, "import", "-c", minimal_config,
                         _vehicles_csv(tmp_path, [*good, "沪B99999,blocked,,,"]))
    assert code == 0, err
    assert json.loads(out)["created"] == ["沪A12345", "沪AD12345", "沪B99999"]
    assert store.vehicles.get("沪AD12345")["person_id"] == owner


def test_unknown_csv_kind_is_refused(minimal_config, capsys, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("foo,bar\n1,2\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "-c", minimal_config, path)
    assert code == 1 and "neither people" in err


def test_person_list_json(minimal_config, capsys, store):
    store.people.add("王建国", "12-301", care_watch=True)
    code, out, _ = run(capsys, "person", "list", "-c", minimal_config, "--json")
    assert code == 0
    assert json.loads(out)[0]["name"] == "王建国"


def test_a_csv_photo_outside_the_csvs_folder_is_refused_without_saying_whether_it_exists(tmp_path, config):
    from edge.registry.importer import ImportRejected, import_csv
    from edge.store import Store

    folder = tmp_path / "csv"
    folder.mkdir()
    csv = folder / "people.csv"
    csv.write_text("name,unit,phone,care_watch,photo\n王,1-101,,0,../secret.jpg\n李,1-102,,0,/etc/hostname\n",
                   encoding="utf-8")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    with Store(config.database) as store:
        with pytest.raises(ImportRejected) as refused:
            import_csv(store, csv)
        assert store.people.count() == 0
    problems = refused.value.problems
    assert len(problems) == 2 and all("outside the CSV's folder" in p for p in problems)
    assert not any("not found" in p for p in problems)


def test_a_huge_image_is_refused_before_it_is_decoded(tmp_path):
    import numpy as np
    from PIL import Image

    from models.images import ImageError, load_rgb

    huge = tmp_path / "huge.png"
    Image.fromarray(np.zeros((8000, 6000), np.uint8)).save(huge)  # 48 MP, small on disk
    with pytest.raises(ImageError, match="8000"):  # (width x height) named, nothing decoded
        load_rgb(huge)


def test_an_image_past_pillows_own_bound_is_refused_as_too_large_not_a_crash(tmp_path):
    """Found in review: a 30000x30000 PNG (a few hundred bytes: only its header is read) was a 500 at the
    console: Pillow's DecompressionBombError is none of the errors the size check caught."""
    import struct
    import zlib

    from models.images import ImageError, load_rgb

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    huge = tmp_path / "huge.png"
    huge.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 0, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    with pytest.raises(ImageError, match="huge.png: far more than the 40 MP"):
        load_rgb(huge)


def test_a_csv_field_past_the_csv_modules_bound_is_a_named_problem_not_a_crash(minimal_config, capsys, store,
                                                                                tmp_path):
    """Found in review: one 200,000-character field (well under the upload bound) was a traceback."""
    csv_path = _people_csv(tmp_path, ["王建国,12-301,,no,", "A" * 200_000 + ",1-101,,no,"])
    code, _, err = run(capsys, "import", "-c", minimal_config, csv_path)
    assert code == 1 and "not a CSV this reads (field larger than field limit" in err and "Traceback" not in err
    assert store.people.all() == []


def test_the_import_checks_a_person_as_the_console_does(minimal_config, capsys, store, tmp_path):
    """Found in review: the import took a NUL or a right-to-left override in a name and any text as a
    phone, which the console's form refuses; one check (edge.store.people.person_problems) for both."""
    from edge.store.errors import RegistryError
    from edge.store.people import person_problems

    rows = ["A\x00B,1-101,,no,", "\u202eEvil\x07,1-102,,no,", "陈明,1-103,not-a-phone!!,no,", "李" * 51 + ",1-104,,no,"]
    code, _, err = run(capsys, "import", "-c", minimal_config, _people_csv(tmp_path, rows))
    assert code == 1 and "nothing imported, 4 problem(s)" in err
    for expected in (":2: name: one line of at most 50 characters", ":3: name: one line",
                     ":4: phone: 'not-a-phone!!' is not a phone number", ":5: name: one line"):
        assert expected in err
    assert store.people.all() == []
    assert person_problems("王秀英", "12-301", "138-0000-0000") == []
    with pytest.raises(RegistryError, match="phone: 'call me'"):
        store.people.add("王秀英", "12-301", "call me")  # the CLI's way in, too


def test_a_column_named_twice_is_refused(minimal_config, capsys, store, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("name,unit,name\n王秀英,12-301,李四\n", encoding="utf-8")
    code, _, err = run(capsys, "import", "-c", minimal_config, path)
    assert code == 1 and "(header): column 'name' appears more than once" in err
    assert store.people.all() == []
