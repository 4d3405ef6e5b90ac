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

from edge.schemas.phrases import Message, tell

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
    """A text that is not a Chinese plate; the message names it (and the field it was typed in, when the
    caller names one) and says what is wrong: ``said``, marked for the console's catalog."""

    def __init__(self, value: str, why: Message, field=None):
        self.said = (tell("{value!r} is not a Chinese plate: {why}", value=value, why=why) if field is None else
                     tell("{field}: {value!r} is not a Chinese plate: {why}", field=field, value=value, why=why))
        super().__init__(self.said.text)


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


def parse_plate(text: str, field=None) -> Plate:
    """Canonicalise and check ``text``; raise InvalidPlate with the reason when it is not a plate (naming
    ``field``, the field it was typed in, when given)."""
    plate = canonical(text)
    kind = classify(plate)
    if kind:
        return Plate(plate, kind)
    raise InvalidPlate(str(text), _why(plate), field)


def _why(plate: str) -> Message:
    if not plate:
        return tell("it is empty")
    if plate[0] not in PROVINCES and plate[0] != "使":
        return tell("it must start with a province abbreviation such as 沪 or 京, not {first!r}", first=plate[0])
    if len(plate) < 2 or plate[1] not in LETTERS:
        second = plate[1] if len(plate) > 1 else ""
        return tell("the second character must be a letter (no I or O), not {second!r}", second=second)
    serial = plate[2:]
    if "I" in serial or "O" in serial:
        return tell("plates never use the letters I and O; did you mean 1 or 0?")
    if len(plate) not in (7, 8):
        return tell("it has {count} characters; plates have 7 (blue/yellow) or 8 (green new-energy)", count=len(plate))
    if len(plate) == 8:
        return tell("an 8-character new-energy plate has D/F (or A-K) before 5 characters, or after 5 digits")
    bad = [c for c in serial if c not in ALPHABET and c not in SPECIAL_ENDINGS]
    if bad:
        return tell("{bad!r} is not used on plates (digits, letters without I/O, endings {endings})", bad=bad[0],
                    endings=SPECIAL_ENDINGS)
    return tell("special endings ({endings}) go last, after 4 characters", endings=SPECIAL_ENDINGS)


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: how many characters to insert, delete or change to turn a into b."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]
