"""Write ``config/gate.example.yaml`` from the config models: every key, its default, its description.

    python -m edge.config.example > config/gate.example.yaml

The comment of each key is its field's description (``edge/config/``, ``drivers/camera_config.py``,
``drivers/barriers/``), preceded by the allowed values of an enumerated key; a value shown that is not
the default says ``(default: …)``, and a key without a default says ``required``. Change a description
in the models, then regenerate: ``tests/config/test_config.py`` fails while the committed file differs.

What belongs to this example rather than to a key is in the tables below: the real-looking values of a
gate (its site, cameras and barriers, key files under /etc/gate-edge) and a few notes.
"""

from __future__ import annotations

import re
import sys
import textwrap
import typing
import unicodedata
from pathlib import Path

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

COMMAND = "python -m edge.config.example > config/gate.example.yaml"

HEADER = f"""\
# gate-edge configuration for one gate. Check it with:   gate-edge check-config /etc/gate-edge/gate.yaml
# Every key is listed with its default; unknown keys are errors (a typo never passes silently).
# Relative paths are relative to this file's folder. A value that is not the default says (default: …).
# Generated from the config models' descriptions by `{COMMAND}`:
# change a description in edge/config/ or drivers/ and regenerate, never this file by hand.
"""

# Dotted key → the value this example shows instead of the default (a gate as a technician fills it in).
EXAMPLE: dict[str, object] = {
    "site": "tianlin12",
    "gate": "east",
    "mqtt.host": "192.0.2.10",
    "mqtt.port": 8883,
    "mqtt.username": "tianlin12-east",
    "mqtt.password_file": "/etc/gate-edge/mqtt.password",
    "mqtt.tls.ca": "/etc/gate-edge/ca.pem",
    "mqtt.command_key_file": "/etc/gate-edge/command.key",
    "recognition.plate.province": "沪",
    "passes.secret_file": "/etc/gate-edge/pass.key",
    # The first item of each kind lists every key of its kind; the others only what they set.
    "cameras": [
        {"id": "east-face-in", "source": "rtsp://192.0.2.21:554/stream1", "role": "face", "lane": "in",
         "barrier": "east-foot"},
        {"id": "east-plate-in", "source": "rtsp://192.0.2.22:554/stream1", "role": "plate", "lane": "in",
         "barrier": "east-car"},
        {"id": "east-plate-out", "source": "rtsp://192.0.2.23:554/stream1", "role": "plate", "lane": "out",
         "barrier": "east-car"},
    ],
    "barriers": [
        {"id": "east-car", "type": "modbus_rtu", "port": "/dev/ttyUSB0", "open_coil": {"in": 0, "out": 1}},
        {"id": "east-foot", "type": "simulated", "lanes": ["in"]},
    ],
}

# Dotted key → a note added to its description: about this example, or what a value means in practice.
NOTES: dict[str, str] = {
    "gate": "the other gate of the site uses another (west)",
    "mqtt.command_key_file": "gate-edge keys new --local --dir /etc/gate-edge writes it",
    "mqtt.command_public_keys": "e.g. [/etc/gate-edge/command.pub], then without command_key_file",
    "cameras.0.process_every_s": "0.2: at most 5 frames a second (a Pi has 4 cores)",
    "barriers.0.port": "here the USB RS-485 adapter; barriers on one port share it (one unit id each)",
    "barriers.1.type": "here a pedestrian gate still being wired: simulated until then",
    "recognition.face.scale": "0.5 detects on a half-size frame: 4x faster, but faces must then be >= ~160 px "
    "(dlib's HOG finds faces from ~80 px after scaling); aim the camera accordingly",
    "recognition.face.detector": "cnn takes ~1.9 s a 640x480 frame on 2 x86 cores: not for a Pi",
    "parking.daily_cap_cents": "e.g. 3000 caps each calendar day at 30 yuan",
    "retention.stranger_snapshots_days": "N: a stranger's face crop is kept on the gate (table snapshots) for N "
    "days; it is never published",
    "passes.secret_file": "gate-edge keys new --local --dir /etc/gate-edge writes it",
    "passes.public_keys": "e.g. [/etc/gate-edge/pass.pub], then without secret_file: passes issued at the office "
    "work at every gate",
    "clock.offset_file": "e.g. /run/gate-edge/clock-offset",
}

COMMENT_COLUMN = 32
WIDTH = 118
# Keys an item of a list shows first (the rest follow in the model's order).
FIRST = ("id", "type", "lanes")


def render(model: type[BaseModel] | None = None) -> str:
    """The example config text for ``model`` (GateConfig)."""
    if model is None:
        from edge.config.root import GateConfig

        model = GateConfig
    lines = [*HEADER.splitlines(), ""]
    after_section = False
    for name, field in model.model_fields.items():
        section = bool(_models(field.annotation))
        if section or after_section:  # sections stand apart; the top-level scalars stay together
            lines.append("")
        lines.extend(_field(name, field, name, 0))
        after_section = section
    return "\n".join(lines) + "\n"


def _field(name: str, field: FieldInfo, path: str, indent: int, prefix: str = "") -> list[str]:
    """The lines of one key: a section with its keys, a list of items, or ``key: value  # comment``."""
    lead = " " * indent + prefix
    models = _models(field.annotation)
    if models and typing.get_origin(field.annotation) is not list and _is_model(field.annotation):
        lines = _line(f"{lead}{name}:", field.description or "")
        for inner, inner_field in models[0].model_fields.items():
            lines.extend(_field(inner, inner_field, f"{path}.{inner}", indent + 2))
        return lines
    if models:  # a list of sections (cameras, barriers): the example's items
        return _items(name, field, path, indent, models)
    value = EXAMPLE.get(path, _default(field))
    return _line(f"{lead}{name}: {_yaml(value)}", _comment(field, path, value))


def _items(name: str, field: FieldInfo, path: str, indent: int, models: list[type[BaseModel]]) -> list[str]:
    lines = _line(f"{' ' * indent}{name}:", field.description or "")
    shown: set[type[BaseModel]] = set()
    for index, item in enumerate(EXAMPLE.get(path, [])):
        model = _model_of(item, models)
        every_key = model not in shown
        shown.add(model)
        keys = _keys(model)
        first = True
        for key in keys:
            if key not in item and not every_key:
                continue
            inner = model.model_fields[key]
            key_path = f"{path}.{index}.{key}"
            value = item[key] if key in item else _default(inner)
            text = f"{' ' * (indent + 2)}{'- ' if first else '  '}{key}: {_yaml(value)}"
            lines.extend(_line(text, _comment(inner, key_path, value, types=_types(models) if key == "type" else None)))
            first = False
    return lines


def _keys(model: type[BaseModel]) -> list[str]:
    """An item's keys: FIRST, then the driver's own, then those every driver has (pulse_ms …)."""
    own = getattr(model, "__annotations__", {})
    rest = [k for k in model.model_fields if k not in FIRST]
    return ([k for k in FIRST if k in model.model_fields] + [k for k in rest if k in own]
            + [k for k in rest if k not in own])


def _model_of(item: dict, models: list[type[BaseModel]]) -> type[BaseModel]:
    for model in models:
        type_field = model.model_fields.get("type")
        if type_field is None or item.get("type") in typing.get_args(type_field.annotation):
            return model
    raise ValueError(f"no config model for example item {item!r}")


def _types(models: list[type[BaseModel]]) -> list[str]:
    return [arg for model in models for arg in typing.get_args(model.model_fields["type"].annotation)]


def _comment(field: FieldInfo, path: str, value, types: list[str] | None = None) -> str:
    allowed = types or allowed_values(field)
    text = field.description or ""
    if allowed and not all(re.search(rf"\b{re.escape(_yaml(v))}\b", text) for v in allowed):
        text = f"{' | '.join(map(_yaml, allowed))}: {text}"  # unless the description names them all
    if field.is_required():
        text = f"required; {text}"
    elif value != _default(field):
        text += f" (default: {_yaml(_default(field))})"
    note = NOTES.get(path)
    if note:
        text += f"; {note}"
    return text


def allowed_values(field: FieldInfo) -> list:
    """The values an enumerated key accepts: its Literal's, or those its validator checks against."""
    from edge.config.recognition import known_encoder

    for meta in field.metadata:
        if getattr(meta, "func", None) is known_encoder:
            from models.faces import ENCODERS

            return ["default", *ENCODERS]
    annotation = field.annotation
    args = [annotation] if typing.get_origin(annotation) is typing.Literal else typing.get_args(annotation)
    for arg in args:
        if typing.get_origin(arg) is typing.Literal:
            return list(typing.get_args(arg))
    return []


def _default(field: FieldInfo):
    if field.is_required():
        return None
    return field.get_default(call_default_factory=True)


def _line(text: str, comment: str) -> list[str]:
    """``text`` with ``comment`` from the comment column, wrapped into comment lines under it."""
    if not comment:
        return [text]
    column = max(COMMENT_COLUMN, _width(text) + 1)
    wrapped = textwrap.wrap(comment, width=WIDTH - column - 2, break_long_words=False, break_on_hyphens=False)
    first = f"{text}{' ' * (column - _width(text))}# {wrapped[0]}"
    return [first] + [f"{' ' * column}# {more}" for more in wrapped[1:]]


def _width(text: str) -> int:
    """Columns ``text`` takes in a terminal (沪 takes two)."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _yaml(value) -> str:
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6, sort_keys=False)
    return text.strip().removesuffix("...").strip()


def _models(annotation) -> list[type[BaseModel]]:
    """The config models inside an annotation (Section, list[Section], a discriminated union of them)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(m for m in _models(arg) if m not in found)
    return found


def _is_model(annotation) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
