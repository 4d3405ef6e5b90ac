"""The fields of a write, from a JSON body or an HTML form alike (a form sends every value as text).

Each helper returns the value or raises a 400 whose message names the field and what it should be.
"""

from __future__ import annotations

import math
import re

from starlette.exceptions import HTTPException

from edge.office.console.words import field as named
from edge.schemas.phrases import tell

# ASCII digits only: ``str.isdigit()`` is true for "²" and ``int()`` reads "٣", "+3", "1_000" and " 3 ".
DIGITS = re.compile(r"[0-9]{1,18}")

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("", "0", "false", "no", "off")


def flag(data: dict, field: str) -> bool:
    """A yes/no field: JSON true/false, or a form's checkbox (absent or ``on``)."""
    value = data.get(field)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise HTTPException(400, tell("{field}: true or false", field=named(field)))


def text(data: dict, field: str, *, limit: int, required: bool = False) -> str | None:
    """A line of text, trimmed; None when absent or blank (400 when ``required``)."""
    value = data.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise HTTPException(400, tell("{field}: required", field=named(field)))
        return None
    if not isinstance(value, str):
        raise HTTPException(400, tell("{field}: text", field=named(field)))
    value = value.strip()
    if len(value) > limit or any(ord(c) < 32 for c in value):
        raise HTTPException(400, tell("{field}: one line of at most {limit} characters", field=named(field),
                                      limit=limit))
    return value


def digits(text) -> int | None:
    """The whole number that ``text`` writes in ASCII digits (0-9, nothing else), or None."""
    if isinstance(text, str) and DIGITS.fullmatch(text):
        return int(text)
    return None


def whole(value, field: str) -> int | None:
    """A whole number (JSON or a form's digits); None when absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        number = digits(value.strip())
        if number is None:
            raise HTTPException(400, tell("{field}: a whole number (digits 0-9)", field=named(field)))
        return number
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10 ** 18:
        raise HTTPException(400, tell("{field}: a whole number", field=named(field)))
    return value


def number(value, field: str) -> float | None:
    """A positive number of (e.g.) hours; None when absent or blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise HTTPException(400, tell("{field}: a number", field=named(field))) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise HTTPException(400, tell("{field}: a number above 0", field=named(field)))
    return float(value)


def plate(value, field: str = "plate") -> str:
    """A Chinese plate in its canonical form (``edge.plates.parse_plate``)."""
    from edge.plates import InvalidPlate, parse_plate

    if not isinstance(value, str) or not value.strip():
        raise HTTPException(400, tell("{field}: required, e.g. {example}", field=named(field), example="沪A12345"))
    try:
        return parse_plate(value, field=named(field)).text
    except InvalidPlate as exc:
        raise HTTPException(400, exc.said) from None
