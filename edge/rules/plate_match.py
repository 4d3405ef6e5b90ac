"""Matching a voted plate against the registry: exact first, then a cautious fuzzy match.

A fuzzy match is allowed only when exactly one registered plate differs from the reading in exactly
one position, and that difference is a known OCR confusion (0/D/Q, 8/B, 2/Z, 5/S, 1/7, 6/G, 4/A) or
the province the recogniser was unsure of; if two registered plates are as close, nothing matches.
The site's province is evidence only here: between plates that differ only in an unsure province,
the one from the site's province is preferred. It is never written into the text read.

A reading that matches nothing may still have a registered look-alike (``look_alike``): the one plate that
differs from it only in the province. It never grants anything (the car is a stranger), but the event and
the console name it so the guard can correct the reading (issue 31). ``PlateIndex`` also indexes other rows
keyed by ``plate``: ``edge.rules.reconcile`` finds the open sessions one character from an exit's reading
with it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from edge.plates import PROVINCES

CONFUSION_GROUPS = ["0DQ", "8B", "2Z", "5S", "17", "6G", "4A"]
_CONFUSABLE = {(a, b) for group in CONFUSION_GROUPS for a in group for b in group if a != b}
UNSURE_PROVINCE = 0.5  # below this vote share, a province may be substituted when matching


@dataclass(frozen=True)
class PlateMatch:
    plate: str  # the registered plate
    kind: str  # "exact" | "fuzzy"
    vehicle: dict
    detail: str = ""


class PlateIndex:
    """Plates with one-position wildcards, for O(length) fuzzy lookups: registered vehicles (the matcher),
    or any rows keyed by ``plate`` (open sessions, ``edge.rules.reconcile``); ``by_plate`` gives the row."""

    def __init__(self, vehicles: list[dict], revision: int = 0):
        self.revision = revision
        self.by_plate = {v["plate"]: v for v in vehicles}
        self._masked: dict[str, list[str]] = defaultdict(list)
        for plate in self.by_plate:
            for i in range(len(plate)):
                self._masked[plate[:i] + "?" + plate[i + 1 :]].append(plate)

    @classmethod
    def from_registry(cls, store) -> PlateIndex:
        return cls(store.vehicles.all(), store.vehicles.revision())

    def neighbours(self, text: str) -> list[tuple[str, int]]:
        """Registered plates differing from ``text`` in exactly one position, with that position."""
        found = []
        for i in range(len(text)):
            for plate in self._masked.get(text[:i] + "?" + text[i + 1 :], ()):
                if plate != text:
                    found.append((plate, i))
        return found

    def look_alike(self, text: str) -> dict | None:
        """The registered vehicle whose plate differs from ``text`` only in the province, when ``text`` is not
        registered itself and exactly one such plate is (a province misread: named, never matched)."""
        if text in self.by_plate:
            return None
        twins = [plate for plate, position in self.neighbours(text) if position == 0 and plate[0] in PROVINCES]
        return self.by_plate[twins[0]] if len(twins) == 1 else None

    def match(self, text: str, char_confidence=(), site_province: str | None = None) -> PlateMatch | None:
        vehicle = self.by_plate.get(text)
        if vehicle:
            return PlateMatch(text, "exact", vehicle)
        allowed = []
        for plate, position in self.neighbours(text):
            read, registered = text[position], plate[position]
            if position == 0:
                sure = char_confidence[0] if char_confidence else 1.0
                if read in PROVINCES and registered in PROVINCES and sure < UNSURE_PROVINCE:
                    allowed.append((plate, f"province {read}→{registered} (read with {sure:.2f})"))
            elif (read, registered) in _CONFUSABLE:
                allowed.append((plate, f"{read}→{registered} at position {position + 1}"))
        if len(allowed) > 1 and site_province:
            local = [a for a in allowed if a[0][0] == site_province]
            if len(local) == 1 and all(a[0][1:] == local[0][0][1:] for a in allowed):
                allowed = local  # the only difference is an unsure province: the site's is the evidence
        if len(allowed) != 1:
            return None
        plate, detail = allowed[0]
        return PlateMatch(plate, "fuzzy", self.by_plate[plate], detail)
