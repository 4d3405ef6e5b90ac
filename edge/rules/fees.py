"""Parking fees: pure functions of the vehicle class, the stay and the site's rules (DESIGN section 2).

    resident (valid permit)  free
    family                   first family_free_minutes free; after that, per started hour of the
                             time beyond the free period, at the visitor rate
    visitor / unregistered   free up to visitor_free_minutes; a longer stay is charged from the
                             start, per started hour at rate_per_hour_cents
    daily cap                each charged hour belongs to the calendar day (site time zone) it starts
                             in; a day's hours cost at most daily_cap_cents
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

HOUR = 3600.0


def fee_cents(vehicle_class: str, entry_epoch: float, exit_epoch: float, rules, zone: ZoneInfo) -> int:
    """The fee for a stay from ``entry_epoch`` to ``exit_epoch`` (``rules`` = ParkingConfig)."""
    stay = max(0.0, exit_epoch - entry_epoch)
    if vehicle_class in ("resident", "blocked"):
        return 0
    if vehicle_class == "family":
        free = rules.family_free_minutes * 60.0
        if stay <= free:
            return 0
        charged_from = entry_epoch + free
    else:
        if stay <= rules.visitor_free_minutes * 60.0:
            return 0
        charged_from = entry_epoch
    hours = math.ceil((exit_epoch - charged_from) / HOUR - 1e-9)
    return _priced(charged_from, hours, rules, zone)


def _priced(start_epoch: float, hours: int, rules, zone: ZoneInfo) -> int:
    rate = rules.rate_per_hour_cents
    if rules.daily_cap_cents is None:
        return hours * rate
    per_day: Counter = Counter()
    for k in range(hours):
        per_day[datetime.fromtimestamp(start_epoch + k * HOUR, zone).date()] += 1
    return sum(min(n * rate, rules.daily_cap_cents) for n in per_day.values())
