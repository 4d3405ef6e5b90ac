"""``gate-edge console-user add -c OFFICE_CONFIG NAME --role guard|admin [--password-file F]`` and
``gate-edge console-user remove -c OFFICE_CONFIG NAME`` (DESIGN 6.3).

The password comes from ``--password-file`` (its first line) or is asked for twice without echo; it is
never printed. The user is written to the office config's ``console.users_file``. A user's open sessions
end as soon as their role or password changes or they are removed (the console checks the file on
every request), whether or not the office is running.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from edge.cli.commands import OFFICE_CONFIG, InputError, UsageError, actions, command, emit, load


def _password(args) -> str:
    if args.password_file:
        try:
            text = Path(args.password_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"--password-file {args.password_file}: {exc.strerror or exc}") from None
        lines = text.splitlines()
        return lines[0] if lines else ""
    if not sys.stdin.isatty():
        raise UsageError("no terminal to ask for the password on: use --password-file F")
    first = getpass.getpass(f"password for {args.name}: ")
    second = getpass.getpass("the same password again: ")
    if first != second:
        raise InputError("the two passwords differ; nothing changed")
    return first


def _users_file(args) -> Path:
    config = load(args)
    if not config.is_office:
        raise UsageError(f"{args.config} is a gate's config; console users belong to the office's (role: office)")
    path = config.console.users_file
    if path is None:
        raise UsageError(f"{args.config}: console.users_file is not set; name the file for the console's users "
                         "(e.g. console: {users_file: /etc/gate-edge/console-users})")
    return path


def add(args) -> int:
    from edge.office.console.users import UsersFileError, add_user

    path = _users_file(args)
    password = _password(args)
    try:
        action = add_user(path, args.name, args.role, password)
    except UsersFileError as exc:
        raise InputError(str(exc)) from None
    emit({"user": args.name, "role": args.role, "users_file": str(path), "result": action})
    return 0


def remove(args) -> int:
    from edge.office.console.users import UsersFileError, remove_user

    path = _users_file(args)
    try:
        removed = remove_user(path, args.name)
    except UsersFileError as exc:
        raise InputError(str(exc)) from None
    if not removed:
        raise InputError(f"no console user {args.name!r} in {path}; nothing changed")
    emit({"user": args.name, "users_file": str(path), "result": "removed"})
    return 0


def register(sub) -> None:
    users = actions(sub, "console-user", "the committee console's users: console-user add | remove")
    a = command(users, "add", add, "add a console user (or set an existing user's role and password)",
                config_help=OFFICE_CONFIG)
    a.add_argument("name", help="the user's login name")
    a.add_argument("--role", required=True, choices=["guard", "admin"],
                   help="guard: alerts, passages, open, pay; admin: also the registry")
    a.add_argument("--password-file", help="read the password from this file's first line (else asked twice)")
    r = command(users, "remove", remove, "remove a console user (their open sessions end)", config_help=OFFICE_CONFIG)
    r.add_argument("name", help="the user's login name")
