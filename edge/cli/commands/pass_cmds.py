"""``pass issue|revoke|list``: QR passes for residents who decline face recognition, visitors, cars."""

from __future__ import annotations

from edge.cli.commands import InputError, actions, command, emit, load, open_registry


def pass_issue(args) -> int:
    from edge.plates import InvalidPlate, parse_plate
    from edge.registry.passes import PassError, issue_token, pass_issuer, record_pass
    from models.qr import write_qr_png

    config = load(args)
    try:
        key = pass_issuer(config)
        if args.valid_hours > config.passes.max_valid_hours:
            raise PassError(f"--valid-hours {args.valid_hours} exceeds passes.max_valid_hours "
                            f"({config.passes.max_valid_hours})")
        plate = parse_plate(args.plate).text if args.plate else None
    except (PassError, InvalidPlate, OSError) as exc:
        raise InputError(str(exc)) from None
    with open_registry(config, write=True) as store:
        if args.person is not None:
            store.people.get(args.person)
        token, claim = issue_token(key, person_id=args.person, plate=plate, valid_hours=args.valid_hours)
        try:
            write_qr_png(token, args.out)
        except OSError as exc:
            raise InputError(f"{args.out}: cannot write the pass image: {exc}") from None
        record_pass(store, claim)
    emit({"pass_id": claim.pass_id, "subject": claim.subject(), "valid_until": claim.valid_until, "out": args.out})
    return 0


def pass_revoke(args) -> int:
    from edge.registry.passes import revoke_pass

    config = load(args)
    with open_registry(config, write=True) as store:
        if not revoke_pass(store, args.pass_id):
            raise InputError(f"no active pass {args.pass_id}; see `gate-edge pass list`")
    emit({"pass_id": args.pass_id, "revoked": True})
    return 0


def pass_list(args) -> int:
    config = load(args)
    with open_registry(config) as store:
        emit(store.passes.all())
    return 0


def register(sub) -> None:
    psub = actions(sub, "pass", "issue and revoke signed QR passes")
    p = command(psub, "issue", pass_issue, "write a signed, expiring QR pass for a person or a plate")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--person", type=int)
    who.add_argument("--plate")
    p.add_argument("--valid-hours", type=float, required=True)
    p.add_argument("--out", required=True, help="PNG file to write")
    command(psub, "revoke", pass_revoke, "revoke a pass before it expires").add_argument("pass_id")
    command(psub, "list", pass_list, "passes issued (JSON)")
