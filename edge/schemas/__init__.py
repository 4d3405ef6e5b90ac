"""JSON Schemas (draft 2020-12) of the MQTT payloads of DESIGN 4.3, one file per payload, and one validator.

    event.json              P/<gate>/event/<kind>
    status.json             P/<gate>/status (and its last will)
    alert-inactivity.json   P/alert/inactivity
    alert-device.json       P/<gate>/alert/device
    cmd-result.json         P/<gate>/cmd/result
    command.json            P/<gate>/cmd/open|pay|reload|correct ($defs: what each verb adds)

``phrases.py`` (``edge.schemas.phrases``) is the vocabulary of two of their fields: the stable codes of an
event's ``reason`` and a device alert's ``detail`` (``reason_code``/``reason_params``,
``detail_code``/``detail_params``), each with the English template its text is made from.

Every schema allows additional properties (receivers ignore fields they do not know; a newer gate may
add some) and requires the fields a receiver relies on, ``"v": 1`` first of all.

Used by the tests and by tools (the office, a site's integrator checking a capture): not by the
gate's hot path, which builds its payloads in ``edge.contract``. ``jsonschema`` (the ``test`` extra)
is imported only inside :func:`validate`, so importing this module costs nothing.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

NAMES = ("event", "status", "alert-inactivity", "alert-device", "cmd-result", "command")
VERBS = ("open", "pay", "reload", "correct")  # edge.contract.COMMAND_VERBS (not imported: it imports us)


@cache
def _text(name: str) -> str:
    if name not in NAMES:
        raise KeyError(f"no schema {name!r}; there are {', '.join(NAMES)}")
    return resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8")


def schema(name: str) -> dict:
    """The schema ``name`` (one of NAMES) as a fresh dict."""
    return json.loads(_text(name))


def schema_for_topic(topic: str, base: str) -> str | None:
    """The ``validate`` kind of a topic under ``base`` (``P`` = ``<topic_prefix>/<site>``), or None when
    the contract has no such topic.

    ``command/<verb>`` for a command, so that the verb's own fields are checked too."""
    if not topic.startswith(base.rstrip("/") + "/"):
        return None
    parts = topic[len(base.rstrip("/")) + 1 :].split("/")
    match parts:
        case ["alert", "inactivity"]:
            return "alert-inactivity"
        case [_, "status"]:
            return "status"
        case [_, "event", kind] if kind:
            return "event"
        case [_, "alert", "device"]:
            return "alert-device"
        case [_, "cmd", "result"]:
            return "cmd-result"
        case [_, "cmd", verb] if verb in VERBS:
            return f"command/{verb}"
    return None


@cache
def _validators(topic_kind: str) -> tuple:
    from jsonschema import Draft202012Validator

    name, _, verb = topic_kind.partition("/")
    whole = schema(name)
    Draft202012Validator.check_schema(whole)
    checker = Draft202012Validator.FORMAT_CHECKER
    validators = [Draft202012Validator(whole, format_checker=checker)]
    if verb:
        part = whole.get("$defs", {}).get(verb) if name == "command" and verb in VERBS else None
        if part is None:
            raise KeyError(f"no schema {topic_kind!r}")
        validators.append(Draft202012Validator(part, format_checker=checker))
    return tuple(validators)


def validate(topic_kind: str, payload) -> list[str]:
    """Every way ``payload`` breaks the schema ``topic_kind`` (a name of NAMES, or ``command/<verb>``),
    one message each as ``<json path>: <what is wrong>``; an empty list when it conforms."""
    errors = []
    for validator in _validators(topic_kind):
        for error in validator.iter_errors(payload):
            where = error.json_path if error.json_path != "$" else "$ (top level)"
            errors.append(f"{where}: {error.message}")
    return sorted(set(errors))
