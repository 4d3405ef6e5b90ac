"""Chinese licence plates as data: the canonical form, the grammar, and why a text is not a plate.

    blue / yellow   沪 A 12345      province + authority letter + 5 from the plate alphabet
    special ending  沪 A 1234 警    … + 4 + one of 学 警 挂 港 澳 领
    green (NEV)     沪 A D12345     province + letter + D/F/A-K + 5 (small car)
                    沪 A 12345D     province + letter + 5 digits + D/F/A-K (large vehicle)
    embassy         使 014578       使 + 6 digits

The plate alphabet has digits and the letters A-Z without I and O (they read as 1 and 0).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"  # no I, no O
DIGITS = "0123456789"
ALPHABET = LETTERS + DIGITS
SPECIAL_ENDINGS = "学警挂港澳领"
NEV_MARKS = "DFABCEGHJK"  # new-energy size/fuel marks in use

_P = f"[{PROVINCES}]"
_L = f"[{LETTERS}]"
_A = f"[{ALPHABET}]"
_GRAMMAR = [
    ("standard", re.compile(f"^{_P}{_L}{_A}{{5}}$")),
    ("new_energy", re.compile(f"^{_P}{_L}(?:[{NEV_MARKS}]{_A}\\d{{4}}|\\d{{5}}[{NEV_MARKS}])$")),
    ("special", re.compile(f"^{_P}{_L}{_A}{{4}}[{SPECIAL_ENDINGS}]$")),
    ("embassy", re.compile("^使\\d{6}$")),
]
_SEPARATORS = re.compile(r"[\s·•・.\-_]+")


class InvalidPlate(ValueError):
    """A text that is not a Chinese plate; the message names it and says what is wrong."""


@dataclass(frozen=True)
class Plate:
    text: str  # canonical
    kind: str  # standard | new_energy | special | embassy


def canonical(text: str) -> str:
    """Upper case, separators removed, full-width characters folded to half-width."""
    folded = unicodedata.normalize("NFKC", str(text))
    return _SEPARATORS.sub("", folded).upper()


def classify(text: str) -> str | None:
    """The grammar kind of an already canonical text, or None when it is not a plate."""
    for kind, pattern in _GRAMMAR:
        if pattern.match(text):
            return kind
    return None


def parse_plate(text: str) -> Plate:
    """Canonicalise and check ``text``; raise InvalidPlate with the reason when it is not a plate."""
    plate = canonical(text)
    kind = classify(plate)
    if kind:
        return Plate(plate, kind)
    raise InvalidPlate(f"{text!r} is not a Chinese plate: {_why(plate)}")


def _why(plate: str) -> str:
    if not plate:
        return "it is empty"
    if plate[0] not in PROVINCES and plate[0] != "使":
        return f"it must start with a province abbreviation such as 沪 or 京, not {plate[0]!r}"
    if len(plate) < 2 or plate[1] not in LETTERS:
        second = plate[1] if len(plate) > 1 else ""
        return f"the second character must be a letter (no I or O), not {second!r}"
    serial = plate[2:]
    if "I" in serial or "O" in serial:
        return "plates never use the letters I and O; did you mean 1 or 0?"
    if len(plate) not in (7, 8):
        return f"it has {len(plate)} characters; plates have 7 (blue/yellow) or 8 (green new-energy)"
    if len(plate) == 8:
        return "an 8-character new-energy plate has D/F (or A-K) before 5 characters, or after 5 digits"
    bad = [c for c in serial if c not in ALPHABET and c not in SPECIAL_ENDINGS]
    if bad:
        return f"{bad[0]!r} is not used on plates (digits, letters without I/O, endings {SPECIAL_ENDINGS})"
    return f"special endings ({SPECIAL_ENDINGS}) go last, after 4 characters"


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: how many characters to insert, delete or change to turn a into b."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
