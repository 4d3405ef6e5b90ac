"""CSV import of people and vehicles (DESIGN 4.4): every row checked first, then all rows or none.

    people.csv    name,unit,phone,care_watch,photo      (photo relative to the CSV, optional)
    vehicles.csv  plate,class,person_unit,person_name,valid_until

Re-importing the same file is safe: a person is matched by (unit, name) and updated, a vehicle by
its plate.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from edge.plates import InvalidPlate, parse_plate
from edge.store import VEHICLE_CLASSES, Store
from edge.store.people import person_problems
from edge.timeutil import parse_day

PEOPLE_COLUMNS = ["name", "unit", "phone", "care_watch", "photo"]
VEHICLE_COLUMNS = ["plate", "class", "person_unit", "person_name", "valid_until"]
_TRUE = {"1", "yes", "y", "true", "是", "x"}
_FALSE = {"", "0", "no", "n", "false", "否"}


class ImportRejected(ValueError):
    """The file was not imported; ``problems`` lists every bad row as '<file>:<line>: <column>: <why>'."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass
class _Plan:
    problems: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)

    def bad(self, source: Path, line: int, column: str, why: str) -> None:
        self.problems.append(f"{source}:{line}: {column}: {why}")


def read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict]]]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.DictReader(handle)
            header = [h.strip() for h in (reader.fieldnames or [])]
            twice = sorted({h for h in header if header.count(h) > 1})
            if twice:  # the second column of a name would silently win
                raise ImportRejected([f"{path}:1: (header): column {c!r} appears more than once" for c in twice])
            reader.fieldnames = header
            rows = []
            for row in reader:
                rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}))
            return header, rows
    except UnicodeDecodeError:
        raise ImportRejected([f"{path}:1: (file): not UTF-8; save the CSV as UTF-8"]) from None
    except csv.Error as exc:  # a field past the csv module's bound (131072 characters), a NUL byte …
        raise ImportRejected([f"{path}:{reader.line_num}: (file): not a CSV this reads ({exc})"]) from None
    except FileNotFoundError:
        raise ImportRejected([f"{path}: no such file"]) from None


def import_csv(store: Store, path: str | Path, enroller_factory=None) -> dict:
    """Import ``path`` (people or vehicles, told apart by the header); ImportRejected lists all bad rows."""
    path = Path(path)
    header, rows = read_rows(path)
    if set(header) >= {"name", "unit"}:
        return _import_people(store, path, header, rows, enroller_factory)
    if set(header) >= {"plate", "class"}:
        return _import_vehicles(store, path, header, rows)
    raise ImportRejected(
        [
            f"{path}:1: (header): columns {header} are neither people ({','.join(PEOPLE_COLUMNS)}) "
            f"nor vehicles ({','.join(VEHICLE_COLUMNS)})"
        ]
    )


def _unknown_columns(plan: _Plan, path: Path, header: list[str], allowed: list[str]) -> None:
    for column in header:
        if column not in allowed:
            plan.bad(path, 1, column, f"unknown column; allowed: {','.join(allowed)}")


def _import_people(store, path, header, rows, enroller_factory) -> dict:
    plan = _Plan()
    _unknown_columns(plan, path, header, PEOPLE_COLUMNS)
    seen: dict[tuple[str, str], int] = {}
    photo_rows = []
    for line, row in rows:
        name, unit = row.get("name", ""), row.get("unit", "")
        if not name:
            plan.bad(path, line, "name", "empty; every person needs a name")
        if not unit:
            plan.bad(path, line, "unit", "empty; write building-room, e.g. 12-301")
        for column, why in person_problems(name, unit, row.get("phone") or None):
            plan.bad(path, line, column, why)
        flag = row.get("care_watch", "").lower()
        if flag not in _TRUE | _FALSE:
            plan.bad(path, line, "care_watch", f"{row.get('care_watch')!r} is not yes/no (1/0)")
        key = (unit, name)
        if key in seen:
            plan.bad(path, line, "name", f"{name} in {unit} is already on line {seen[key]}")
        seen.setdefault(key, line)
        photo = None
        if row.get("photo"):
            photo = (path.parent / row["photo"]).resolve()
            if not photo.is_relative_to(path.parent.resolve()):
                # Never a file elsewhere (../, /etc/…), and never a hint whether such a file exists.
                plan.bad(path, line, "photo", f"{row['photo']!r} is outside the CSV's folder; put the photos "
                         "beside the CSV or in a folder under it")
                photo = None
            elif not photo.is_file():
                plan.bad(path, line, "photo", f"{row['photo']!r} not found (paths are relative to the CSV)")
                photo = None
            else:
                photo_rows.append((line, photo))
        plan.rows.append(
            {"line": line, "name": name, "unit": unit, "phone": row.get("phone") or None,
             "care_watch": flag in _TRUE, "photo": photo}
        )

    templates = {}
    if photo_rows and not plan.problems:
        enroller = enroller_factory()
        for line, photo in photo_rows:
            try:
                templates[line] = enroller.template_for(photo)
            except ValueError as exc:
                plan.bad(path, line, "photo", str(exc))
    if plan.problems:
        raise ImportRejected(plan.problems)

    created, updated = [], []
    with store.transaction():
        for item in plan.rows:
            existing = store.people.find(item["unit"], item["name"])
            if existing:
                person_id = existing[0]["id"]
                store.people.update(person_id, phone=item["phone"], care_watch=int(item["care_watch"]))
                updated.append(person_id)
            else:
                person_id = store.people.add(item["name"], item["unit"], item["phone"], item["care_watch"])
                created.append(person_id)
            if item["line"] in templates:
                template, jpeg = templates[item["line"]]
                store.templates.add(person_id, enroller.encoder_name, [template], [jpeg] if jpeg else [])
    return {"kind": "people", "created": created, "updated": updated, "templates": len(templates)}


def _import_vehicles(store, path, header, rows) -> dict:
    plan = _Plan()
    _unknown_columns(plan, path, header, VEHICLE_COLUMNS)
    seen: dict[str, int] = {}
    for line, row in rows:
        plate = None
        try:
            plate = parse_plate(row.get("plate", "")).text
        except InvalidPlate as exc:
            plan.bad(path, line, "plate", str(exc))
        if plate and plate in seen:
            plan.bad(path, line, "plate", f"{plate} is already on line {seen[plate]}")
        if plate:
            seen.setdefault(plate, line)
        vehicle_class = row.get("class", "").lower()
        if vehicle_class not in VEHICLE_CLASSES:
            plan.bad(path, line, "class", f"{row.get('class')!r} is not a class; use {', '.join(VEHICLE_CLASSES)}")
        person_id = None
        unit, name = row.get("person_unit", ""), row.get("person_name", "")
        if unit:
            people = store.people.find(unit, name or None)
            if not people:
                who = f"{name} in unit {unit}" if name else f"anyone in unit {unit}"
                plan.bad(path, line, "person_unit", f"no registered {who}; import people.csv first")
            elif len(people) > 1:
                plan.bad(path, line, "person_name", f"{len(people)} people live in {unit}; give person_name")
            else:
                person_id = people[0]["id"]
        elif vehicle_class in ("resident", "family"):
            plan.bad(path, line, "person_unit", f"a {vehicle_class} vehicle needs its owner's unit")
        valid_until = row.get("valid_until") or None
        if valid_until:
            try:
                valid_until = parse_day(valid_until).isoformat()
            except ValueError as exc:
                plan.bad(path, line, "valid_until", str(exc))
        plan.rows.append({"plate": plate, "class": vehicle_class, "person_id": person_id, "valid_until": valid_until})
    if plan.problems:
        raise ImportRejected(plan.problems)

    created, updated = [], []
    with store.transaction():
        for item in plan.rows:
            new = store.vehicles.upsert(item["plate"], item["class"], item["person_id"],
                                          valid_until=item["valid_until"])
            (created if new else updated).append(item["plate"])
    return {"kind": "vehicles", "created": created, "updated": updated}
