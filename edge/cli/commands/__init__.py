"""Command-line handlers, one module per group of ``gate-edge`` sub-commands."""

from __future__ import annotations

import json
import sys


class UsageError(Exception):
    """Bad arguments or config (exit 2)."""


class InputError(Exception):
    """Bad input data: a photo, a plate, a CSV row, an id (exit 1)."""


def emit(obj) -> None:
    """Print one JSON document on stdout (UTF-8, plates readable)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()


OFFICE_CONFIG = "the office's YAML file (role: office)"  # what -c names for the office's commands


def actions(sub, name: str, help: str):
    """The command ``name`` whose work is said by an action (``gate-edge person add``): its sub-parsers."""
    return sub.add_parser(name, help=help).add_subparsers(dest="action", required=True, metavar="ACTION")


def command(sub, name: str, func, help: str, *, config_help: str | None = None):
    """The (sub-)command ``name``, run as ``func(args)``, on the config its required ``-c`` names (read with
    ``load``); its own arguments are added to the parser returned."""
    parser = sub.add_parser(name, help=help)
    parser.add_argument("-c", "--config", required=True, help=config_help)
    parser.set_defaults(func=func)
    return parser


def load(args):
    """The validated config named by ``-c``."""
    from edge.config import load_config

    if not getattr(args, "config", None):
        raise UsageError("this command needs -c CONFIG (the gate's or the office's YAML file)")
    return load_config(args.config)


SITE_REGISTRY_REFUSAL = "this gate follows the site registry; make the change at the office"


def open_registry(config, *, write: bool = False):
    """The registry a command works on: the office's (every change signed and queued for the gates),
    or a gate's own. A gate in site mode refuses writes (exit 2) with DESIGN 6.3's message."""
    if config.is_office:
        from edge.office.service import open_office_store

        return open_office_store(config)[0]
    if write and config.site_mode:
        raise UsageError(SITE_REGISTRY_REFUSAL)
    from edge.store import Store

    return Store(config.database)
