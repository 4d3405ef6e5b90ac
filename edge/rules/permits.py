"""Vehicle permits: whether a registration is valid at a moment, and the class that then applies."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from edge.timeutil import end_of_day, parse_day, start_of_day


def permit_valid(vehicle: dict, at_epoch: float, zone: ZoneInfo) -> bool:
    """A permit is valid from the start of valid_from to the end of valid_until (site time)."""
    if vehicle.get("valid_from") and at_epoch < start_of_day(parse_day(vehicle["valid_from"]), zone):
        return False
    return not (vehicle.get("valid_until") and at_epoch > end_of_day(parse_day(vehicle["valid_until"]), zone))


def effective_class(vehicle: dict | None, at_epoch: float, zone: ZoneInfo) -> str:
    """The class the rules apply: unregistered and expired permits count as visitors; blocked stays blocked."""
    if vehicle is None:
        return "visitor"
    if vehicle["class"] == "blocked":
        return "blocked"
    if vehicle["class"] in ("resident", "family") and not permit_valid(vehicle, at_epoch, zone):
        return "visitor"
    return vehicle["class"]
