"""Load and validate the gate's YAML config; every problem is reported at once with file and line.

    problems are printed as   <file>:<line>: <dotted.key>: <message>
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ValidationError

from edge.config.base import KeyedProblems
from edge.config.crosscheck import config_warnings, cross_checks
from edge.config.yamlsource import YamlSource, YamlSyntaxError, read_yaml

if TYPE_CHECKING:
    from edge.config.root import GateConfig


def __getattr__(name: str):
    # GateConfig pulls in the drivers' config classes, which themselves build on edge.config.base:
    # importing it lazily lets either package be imported first.
    if name == "GateConfig":
        from edge.config.root import GateConfig

        return GateConfig
    raise AttributeError(name)

__all__ = ["ConfigError", "ConfigProblem", "GateConfig", "load_config", "log_warnings"]

# Keys people reach for that we refuse on purpose, with what to do instead.
_HINTS = {
    ("mqtt", "password"): "never put the password in YAML: write it to a file readable only by the "
    "gate-edge user and set mqtt.password_file",
    ("passes", "secret"): "never put the secret in YAML: set passes.secret_file to a key file",
}


@dataclass(frozen=True)
class ConfigProblem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        from edge.config.base import mask_credentials

        # Whatever a message quotes (a camera URL typed under another key too), no password reaches the journal.
        return mask_credentials(f"{self.file}:{self.line}: {self.key}: {self.message}")


class ConfigError(Exception):
    """The config file has one or more problems; ``str()`` lists them one per line."""

    def __init__(self, problems: list[ConfigProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def load_config(path: str | Path) -> GateConfig:
    """Read, validate and return the config at ``path``; raise ConfigError listing every problem."""
    path = Path(path)
    shown = str(path)
    try:
        source = read_yaml(path)
    except FileNotFoundError:
        raise ConfigError(
            [ConfigProblem(shown, 0, "(file)", "no such file; give the path of the YAML config")]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigProblem(shown, 0, "(file)", f"cannot read it: {exc}")]) from None
    except YamlSyntaxError as exc:
        raise ConfigError([ConfigProblem(shown, exc.line, "(yaml)", exc.message)]) from None

    if not isinstance(source.data, dict):
        raise ConfigError(
            [ConfigProblem(shown, 1, "(document)", "the file must be a mapping of keys (site:, gate:, …)")]
        )

    problems = [
        ConfigProblem(shown, line, _dotted(loc), "key given twice; keep one (the last one wins in YAML)")
        for loc, line in source.duplicates
    ]
    root = _root_model(source.data)
    config = None
    try:
        config = root.model_validate(source.data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        problems.extend(_from_pydantic(exc, source, shown))
    if root.__name__ != "OfficeConfig":  # cameras and barriers are a gate's
        problems.extend(ConfigProblem(shown, source.line_of(loc), _dotted(loc), message)
                        for loc, message in cross_checks(source.data))
    if problems:
        problems.sort(key=lambda p: (p.line, p.key))
        raise ConfigError(problems)
    # Accepted but worth changing: check-config prints these (same format as problems) and says ok.
    warnings = sorted((ConfigProblem(shown, source.line_of(loc), _dotted(loc), message)
                       for loc, message in config_warnings(config)), key=lambda p: (p.line, p.key))
    object.__setattr__(config, "warnings", [str(w) for w in warnings])  # not a config key: the model is frozen
    return config


def log_warnings(config) -> None:
    """Log what check-config warns about (a lane without a camera …) when a service starts with it."""
    import logging

    for warning in getattr(config, "warnings", []):
        logging.getLogger(__name__).warning("config: %s", warning)


def _root_model(data: dict) -> type[BaseModel]:
    """``role: office`` selects the office's file; anything else is a gate's (role: gate, the default)."""
    if data.get("role") == "office":
        from edge.config.site import OfficeConfig

        return OfficeConfig
    from edge.config.root import GateConfig

    return GateConfig


def _dotted(loc) -> str:
    return ".".join(str(part) for part in loc) or "(document)"


# How pydantic names the member of a union (``int``, ``dict[literal['in','out'],int]``) in an error's loc.
_UNION_MEMBERS = {"int", "float", "str", "bool", "none", "bytes"}


def _is_member_tag(part, node) -> bool:
    if not isinstance(part, str) or (isinstance(node, dict) and part in node):
        return False
    return part in _UNION_MEMBERS or "[" in part


def _strip_tags(loc: tuple, data: object) -> tuple[tuple, int | None, bool]:
    """Drop pydantic's tags from ``loc`` so it matches the YAML keys: discriminator tags ('modbus_rtu'),
    union member tags ('int', 'dict[…]') and '[key]' (the error is about a mapping's key, not its value).
    Returns (loc, length of the loc of the union whose member failed or None, about a key)."""
    out = []
    node = data
    union_at = None
    about_key = False
    for part in loc:
        if part == "[key]":
            about_key = True
            continue
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("type") == part:
            continue
        if _is_member_tag(part, node):
            union_at = len(out) if union_at is None else union_at
            continue
        out.append(part)
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(out), union_at, about_key


def allowed_values(expected: str) -> list[str]:
    """pydantic's ``"'N', 'E' or 'O'"`` → ``['N', 'E', 'O']``."""
    return [value.strip().strip("'") for value in re.split(r", | or ", expected) if value.strip()]


def _model_for(loc: tuple, data: object) -> type[BaseModel] | None:
    """The pydantic model that owns the mapping at ``loc`` (to suggest the key meant)."""
    model: object = _root_model(data) if isinstance(data, dict) else None
    node = data
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)) or part not in model.model_fields:
            return None
        annotation = model.model_fields[part].annotation
        node = node.get(part) if isinstance(node, dict) else None
        model = _resolve_model(annotation, node)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _resolve_model(annotation, node):
    import typing

    args = typing.get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in args:
        inner = _resolve_model(arg, node)
        if inner is None:
            continue
        type_field = inner.model_fields.get("type")
        if type_field is not None and isinstance(node, dict):
            if node.get("type") in typing.get_args(type_field.annotation):
                return inner
            continue
        return inner
    return None


def _describe(value) -> str:
    from edge.config.base import mask_credentials

    text = mask_credentials(repr(value))  # a camera URL's password never reaches the journal
    return text if len(text) <= 60 else text[:57] + "..."


def _from_pydantic(exc: ValidationError, source: YamlSource, shown: str) -> list[ConfigProblem]:
    problems = []
    for error, loc, about_key in _union_pruned(exc.errors(), source.data):
        kind = error["type"]
        if kind == "extra_forbidden":
            message = _unknown_key(loc, source.data)
        elif kind == "missing":
            message = "required key is missing; add it"
        elif kind == "union_tag_invalid":
            ctx = error.get("ctx", {})
            loc = (*loc, "type")
            tags = ", ".join(allowed_values(str(ctx.get("expected_tags", ""))))
            message = f"unknown type {_describe(ctx.get('tag'))}; use one of: {tags}"
        elif kind == "union_tag_not_found":
            message = f"missing 'type:'; say which driver ({' or '.join(_driver_types())})"
        elif kind == "literal_error":
            # An enumerated value (lane, role, parity, mode …): name the allowed ones, always.
            what = "key" if about_key else "value"
            message = (f"unknown {what} {_describe(error['input'])}; use one of: "
                       f"{', '.join(allowed_values(error['ctx']['expected']))}")
            field = None if about_key else _field_description(loc, source.data)
            if field:
                message += f" — {field}"
        elif kind == "value_error" and isinstance(error["ctx"]["error"], KeyedProblems):
            for sub_loc, message in error["ctx"]["error"].problems:  # each at its own key and line
                full = (*loc, *sub_loc)
                problems.append(ConfigProblem(shown, source.line_of(full), _dotted(full), message))
            continue
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        else:
            message = f"{error['msg']}, got {_describe(error['input'])}"
            field = _field_description(loc, source.data)
            if field:
                message += f" — {field}"
        problems.append(ConfigProblem(shown, source.line_of(loc), _dotted(loc), message))
    return problems


def _driver_types() -> tuple[str, ...]:
    from edge.config.crosscheck import barrier_types

    return barrier_types()


def _union_pruned(errors: list[dict], data) -> list[tuple[dict, tuple, bool]]:
    """[(error, loc, about_key)] with loc matching the YAML keys. When a value fits no member of a union
    (``open_coil: int | {lane: int}``), pydantic reports one error per member: keep those of the member
    the value was evidently meant for (an error deeper inside the value), or else one line for the key."""
    entries = []
    for error in errors:
        loc, union_at, about_key = _strip_tags(tuple(error["loc"]), data)
        entries.append((error, loc, about_key, union_at))
    deeper = {loc[:at] for _, loc, _, at in entries if at is not None and len(loc) > at}
    out, merged = [], {}
    for error, loc, about_key, union_at in entries:
        if union_at is None or len(loc) > union_at:  # not a union, or inside the member it was meant for
            out.append((error, loc, about_key))
        elif loc not in deeper:
            if loc in merged:  # "Input should be a valid integer" + "… a valid dictionary" → one line
                first = merged[loc]
                first["msg"] += " or " + error["msg"].split(",")[0].removeprefix("Input should be ")
                continue
            error = {**error, "type": "union", "msg": error["msg"].split(",")[0]}
            merged[loc] = error
            out.append((error, loc, about_key))
    return out


def _field_description(loc: tuple, data) -> str | None:
    parts = [p for p in loc]
    while parts and isinstance(parts[-1], int):
        parts.pop()
    if not parts or not isinstance(parts[-1], str):
        return None
    model = _model_for(tuple(parts[:-1]), data)
    if model is None or parts[-1] not in model.model_fields:
        return None
    return model.model_fields[parts[-1]].description


def _unknown_key(loc: tuple, data) -> str:
    key = loc[-1]
    hint = _HINTS.get(tuple(p for p in loc if not isinstance(p, int))[-2:])
    if hint:
        return hint
    model = _model_for(loc[:-1], data)
    allowed = sorted(model.model_fields) if model else []
    guess = difflib.get_close_matches(str(key), allowed, n=1, cutoff=0.6)
    message = f"unknown key {str(key)!r}"
    if guess:
        message += f"; did you mean {guess[0]!r}?"
    elif allowed:
        message += f"; allowed here: {', '.join(allowed)}"
    return message
