"""``keys new``: the site's Ed25519 pairs, a gate's own pair, or a single gate's shared secrets (DESIGN 6.1).

    gate-edge keys new --dir DIR                 registry.key/.pub, command.key/.pub, pass.key/.pub
    gate-edge keys new --dir DIR --gate NAME     NAME.key/.pub (the gate signs its events and requests)
    gate-edge keys new --dir DIR --local         pass.key, command.key: shared secrets, 64 hex characters

Prints JSON: the files written, with the kid of each Ed25519 key. Never overwrites a file (exit 1).
"""

from __future__ import annotations

from edge.cli.commands import InputError, UsageError, actions, emit


def keys_new(args) -> int:
    from edge import keys
    from edge.contract import check_gate_name

    try:
        if args.gate is not None:
            check_gate_name(args.gate)
    except ValueError as exc:
        raise UsageError(f"--gate: {exc}") from None
    try:
        if args.local:
            written, kind = keys.write_local_secrets(args.dir), "local"
        elif args.gate is not None:
            written, kind = keys.write_gate_key(args.dir, args.gate), "gate"
        else:
            written, kind = keys.write_site_keys(args.dir), "site"
    except FileExistsError as exc:
        raise InputError(str(exc)) from None
    except OSError as exc:
        raise InputError(f"{args.dir}: cannot write keys there: {exc.strerror}") from None
    out = {"kind": kind, "files": [keys.describe(path) for path in written]}
    if args.gate is not None:
        out["gate"] = args.gate
    emit(out)
    return 0


def register(sub) -> None:
    ksub = actions(sub, "keys", "make key files (site pairs, a gate's pair, local secrets)")
    p = ksub.add_parser(
        "new", help="write new keys into --dir: the site's three Ed25519 pairs (default), a gate's own pair "
                    "(--gate NAME) or a single gate's shared secrets (--local); never overwrites",
    )
    p.add_argument("--dir", required=True, help="folder to write the key files into (created if missing)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--gate", metavar="NAME", help="a gate's own pair NAME.key / NAME.pub")
    which.add_argument("--local", action="store_true",
                       help="pass.key and command.key for a gate without an office (shared secrets)")
    p.set_defaults(func=keys_new)
