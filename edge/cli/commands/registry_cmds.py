"""``person``, ``vehicle``, ``import`` and ``query``: the registry from the command line."""

from __future__ import annotations

import time

from edge.cli.commands import InputError, actions, command, emit, load, open_registry


def _enroller(config):
    from edge.registry.enrol import Enroller

    return Enroller(config.recognition.face)


def person_add(args) -> int:
    config = load(args)
    from edge.registry.enrol import EnrolmentError

    enroller = _enroller(config) if args.photo else None
    templates, images = [], []
    if args.photo:
        try:  # every photo is checked before anything is written
            templates, images = enroller.templates_for(args.photo)
        except EnrolmentError as exc:
            raise InputError(f"{exc}; nothing was stored") from None
    with open_registry(config, write=True) as store, store.transaction():
        person_id = store.people.add(args.name, args.unit, args.phone, args.care_watch, face_consent=bool(templates))
        ids = store.templates.add(person_id, enroller.encoder_name, templates, images) if templates else []
    emit({"person_id": person_id, "template_ids": ids})
    return 0


def person_enroll(args) -> int:
    config = load(args)
    from edge.registry.enrol import EnrolmentError

    with open_registry(config, write=True) as store:
        store.people.get(args.person_id)
        try:
            ids = _enroller(config).enrol(store, args.person_id, args.photo)
        except EnrolmentError as exc:
            raise InputError(f"{exc}; nothing was stored") from None
    emit({"person_id": args.person_id, "template_ids": ids})
    return 0


def person_remove(args) -> int:
    config = load(args)
    with open_registry(config, write=True) as store:
        emit(store.people.remove(args.person_id, time.time()))
    return 0


def person_list(args) -> int:
    config = load(args)
    with open_registry(config) as store:
        people = store.people.all()
    if args.json:
        emit([{k: p[k] for k in ("id", "name", "unit", "phone", "care_watch", "templates", "plates")} for p in people])
        return 0
    print(f"{'id':>5}  {'unit':<8} {'care':<4} {'faces':>5}  {'name':<16} plates")
    for p in people:
        care = "yes" if p["care_watch"] else ""
        print(f"{p['id']:>5}  {p['unit']:<8} {care:<4} {p['templates']:>5}  {p['name']:<16} {p['plates'] or ''}")
    return 0


def person_reenroll(args) -> int:
    from edge.registry.enrol import reconcile_encoder

    config = load(args)
    with open_registry(config, write=True) as store:
        emit(reconcile_encoder(store, _enroller(config)))
    return 0


def vehicle_add(args) -> int:
    from edge.plates import InvalidPlate, parse_plate
    from edge.timeutil import parse_day

    config = load(args)
    try:
        plate = parse_plate(args.plate).text
        valid_until = parse_day(args.valid_until).isoformat() if args.valid_until else None
    except (InvalidPlate, ValueError) as exc:
        raise InputError(str(exc)) from None
    if args.vehicle_class in ("resident", "family") and args.person is None:
        raise InputError(f"a {args.vehicle_class} vehicle needs its owner: add --person ID")
    with open_registry(config, write=True) as store:
        created = store.vehicles.upsert(plate, args.vehicle_class, args.person, valid_until=valid_until)
    emit({"plate": plate, "class": args.vehicle_class, "created": created})
    return 0


def vehicle_remove(args) -> int:
    from edge.plates import InvalidPlate, parse_plate

    config = load(args)
    try:
        plate = parse_plate(args.plate).text
    except InvalidPlate as exc:
        raise InputError(str(exc)) from None
    with open_registry(config, write=True) as store:
        store.vehicles.remove(plate)
    emit({"plate": plate, "removed": True})
    return 0


def import_file(args) -> int:
    from edge.registry.importer import ImportRejected, import_csv

    config = load(args)
    with open_registry(config, write=True) as store:
        try:
            result = import_csv(store, args.csv, enroller_factory=lambda: _enroller(config))
        except ImportRejected as exc:
            raise InputError(f"{args.csv}: nothing imported, {len(exc.problems)} problem(s):\n{exc}") from None
    emit(result)
    return 0


def query(args) -> int:
    from edge.plates import InvalidPlate
    from edge.registry.query import query_person, query_plate

    config = load(args)
    with open_registry(config) as store:
        try:
            if args.plate:
                emit(query_plate(store, config, args.plate))
            else:
                emit(query_person(store, config, args.person))
        except InvalidPlate as exc:
            raise InputError(str(exc)) from None
    return 0


def register(sub) -> None:
    """Add the registry sub-commands to the argparse sub-parsers ``sub``."""
    psub = actions(sub, "person", "register, enrol, erase and list people")
    p = command(psub, "add", person_add, "register a person (optionally with face photos)")
    p.add_argument("--name", required=True)
    p.add_argument("--unit", required=True, help="building-room, e.g. 12-301")
    p.add_argument("--phone")
    p.add_argument("--care-watch", action="store_true", help="elderly living alone, with consent")
    p.add_argument("--photo", action="append", default=[], help="enrolment photo (repeatable)")
    p = command(psub, "enroll", person_enroll, "add face templates from photos")
    p.add_argument("person_id", type=int)
    p.add_argument("--photo", action="append", required=True)
    command(psub, "remove", person_remove, "erase a person and every face template").add_argument("person_id", type=int)
    command(psub, "reenroll", person_reenroll, "after an encoder change: re-enrol from kept photos, list who must come")
    command(psub, "list", person_list, "list people").add_argument("--json", action="store_true")

    vsub = actions(sub, "vehicle", "register and remove vehicles")
    p = command(vsub, "add", vehicle_add, "register or update a vehicle")
    p.add_argument("--plate", required=True)
    p.add_argument("--class", dest="vehicle_class", required=True, choices=["resident", "family", "visitor", "blocked"])
    p.add_argument("--person", type=int, help="owner's person id")
    p.add_argument("--valid-until", help="YYYY-MM-DD, end of the monthly permit")
    command(vsub, "remove", vehicle_remove, "remove a vehicle").add_argument("--plate", required=True)

    command(sub, "import", import_file, "import people.csv or vehicles.csv (all rows or none)").add_argument("csv")

    who = command(sub, "query", query, "registration, validity, last seen, session and fee (JSON)"
                  ).add_mutually_exclusive_group(required=True)
    who.add_argument("--plate")
    who.add_argument("--person", type=int)
