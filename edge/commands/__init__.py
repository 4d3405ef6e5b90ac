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


def load(args):
    """The validated config named by ``-c``."""
    from edge.config import load_config

    if not getattr(args, "config", None):
        raise UsageError("this command needs -c CONFIG (the gate's YAML file)")
    return load_config(args.config)


def open_registry(config):
    from edge.store import Store

    return Store(config.database)
