"""The ``gate-edge`` command line (DESIGN 4.1): parse, dispatch, and turn errors into exit codes.

Exit codes: 0 ok; 1 bad input (photo, plate, CSV row, id), with one line on stderr naming it;
2 bad config or usage.
"""

from __future__ import annotations

import argparse
import logging
import sys

from edge import __version__
from edge.cli.commands import InputError, UsageError


def check_config(args) -> int:
    from edge.config import ConfigError, load_config

    try:
        config = load_config(args.file)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    for warning in getattr(config, "warnings", []):
        print(warning, file=sys.stderr)
    if not getattr(config, "is_office", False):
        from edge.site.identity import line_of, stored_identity_problem

        problem = stored_identity_problem(config)
        if problem:
            print(f"{args.file}:{line_of(args.file, 'identity_key_file')}: identity_key_file: {problem}",
                  file=sys.stderr)
            return 2
    print("ok")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from edge.cli.commands import (
        cmd_cmd,
        console_cmds,
        device_cmds,
        identify,
        keys_cmds,
        modem_cmds,
        office_cmds,
        pass_cmds,
        registry_cmds,
    )

    parser = argparse.ArgumentParser(
        prog="gate-edge", description="Gate daemon: faces, plates, QR passes, barrier, MQTT"
    )
    parser.add_argument("--version", action="version", version=f"gate-edge {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("check-config", help="validate a config file; print every problem with its line")
    p.add_argument("file")
    p.set_defaults(func=check_config)
    registry_cmds.register(sub)
    identify.register(sub)
    pass_cmds.register(sub)
    device_cmds.register(sub)
    modem_cmds.register(sub)
    cmd_cmd.register(sub)
    keys_cmds.register(sub)
    office_cmds.register(sub)
    console_cmds.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from edge.config import ConfigError
    from edge.store import RegistryError, SchemaTooNew

    try:
        return args.func(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except SchemaTooNew as exc:  # exit 2, like bad config: systemd's RestartPreventExitStatus=2 stops the loop
        print(f"gate-edge: {exc}", file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"gate-edge: {exc}", file=sys.stderr)
        return 2
    except (InputError, RegistryError) as exc:
        print(f"gate-edge: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
