"""The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 section 6.2.1): one table,
read by the driver's PDU encoder and decoder and by the simulated modem.

A character of the extension table costs two septets: the escape (0x1B) and its code.
"""

from __future__ import annotations

# Septet → character, 0x00..0x7F; 0x1B is the escape to the extension table (never a character itself).
BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
ESCAPE = 0x1B
EXTENSION = {0x0A: "\f", 0x14: "^", 0x28: "{", 0x29: "}", 0x2F: "\\", 0x3C: "[", 0x3D: "~", 0x3E: "]",
             0x40: "|", 0x65: "€"}

assert len(BASIC) == 128

_TO_SEPTETS: dict[str, tuple[int, ...]] = {ch: (code,) for code, ch in enumerate(BASIC) if code != ESCAPE}
_TO_SEPTETS.update({ch: (ESCAPE, code) for code, ch in EXTENSION.items()})


def septets_of(char: str) -> tuple[int, ...] | None:
    """The septets of one character, or None when the default alphabet has no such character."""
    return _TO_SEPTETS.get(char)


def encodable(text: str) -> bool:
    return all(ch in _TO_SEPTETS for ch in text)


def to_septets(text: str) -> list[int]:
    """Septets of ``text``; KeyError on a character outside the alphabet (check ``encodable`` first)."""
    out: list[int] = []
    for ch in text:
        out.extend(_TO_SEPTETS[ch])
    return out


def from_septets(septets) -> str:
    """Characters of ``septets``. An escape followed by a code the extension table lacks reads as the
    basic character of that code, and a trailing lone escape as a space, as 23.038 asks of a receiver."""
    out = []
    escaped = False
    for code in septets:
        if escaped:
            out.append(EXTENSION.get(code, BASIC[code] if code != ESCAPE else " "))
            escaped = False
        elif code == ESCAPE:
            escaped = True
        else:
            out.append(BASIC[code])
    if escaped:
        out.append(" ")
    return "".join(out)
