"""Vehicle permits: whether a registration is valid at a moment, and the class that then applies.

A permit runs in whole days of the site's time zone, from the start of ``valid_from`` to the end of
``valid_until``. An invited car (``edge.registry.invites``) is registered for a window of at most a day:
its ``valid_from_at``/``valid_until_at`` (ISO-8601 instants) narrow those days, and outside its window an
invitation is no registration at all (``in_force``): the car is a stranger's again, whatever its class.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from edge.timeutil import end_of_day, parse_day, parse_iso, start_of_day


def permit_valid(vehicle: dict, at_epoch: float, zone: ZoneInfo) -> bool:
    """A permit is valid from the start of valid_from to the end of valid_until (site time), and within
    the window of an invitation."""
    if vehicle.get("valid_from") and at_epoch < start_of_day(parse_day(vehicle["valid_from"]), zone):
        return False
    if vehicle.get("valid_until") and at_epoch > end_of_day(parse_day(vehicle["valid_until"]), zone):
        return False
    if vehicle.get("valid_from_at") and at_epoch < parse_iso(vehicle["valid_from_at"]):
        return False
    return not (vehicle.get("valid_until_at") and at_epoch >= parse_iso(vehicle["valid_until_at"]))


def invited(vehicle: dict | None) -> bool:
    """Registered by an invitation (for a window), not by the committee."""
    return vehicle is not None and bool(vehicle.get("valid_from_at") or vehicle.get("valid_until_at"))


def in_force(vehicle: dict | None, at_epoch: float, zone: ZoneInfo) -> dict | None:
    """The registration the rules see at ``at_epoch``: ``vehicle``, or None for an invitation outside its
    window (not yet begun, over, or cancelled: the car is unregistered then, also in strict mode)."""
    if invited(vehicle) and not permit_valid(vehicle, at_epoch, zone):
        return None
    return vehicle


def effective_class(vehicle: dict | None, at_epoch: float, zone: ZoneInfo) -> str:
    """The class the rules apply: unregistered and expired permits count as visitors; blocked stays blocked."""
    if vehicle is None:
        return "visitor"
    if vehicle["class"] == "blocked":
        return "blocked"
    if vehicle["class"] in ("resident", "family") and not permit_valid(vehicle, at_epoch, zone):
        return "visitor"
    return vehicle["class"]
