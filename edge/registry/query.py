"""The self-service query: what the registry knows about a plate or a person, and the fee due now."""

from __future__ import annotations

import time

from edge.plates import parse_plate
from edge.rules.parking import fee_due
from edge.rules.permits import effective_class, invited, permit_valid
from edge.rules.site_rules import SiteRules
from edge.store import Store
from edge.timeutil import iso, parse_day


def _seen(store: Store, subject: str, zone) -> dict | None:
    row = store.sightings.get(subject)
    return {"ts": iso(row["ts_epoch"], zone), "gate": row["gate"]} if row else None


def query_plate(store: Store, config, plate_text: str, now: float | None = None) -> dict:
    """Registration, permit validity, last seen, open session and the fee if the car left now."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    zone = config.zone
    plate = parse_plate(plate_text).text
    vehicle = store.vehicles.get(plate)
    answer: dict = {"plate": plate, "registered": vehicle is not None}
    if vehicle:
        owner = None
        if vehicle["person_id"] is not None:
            person = store.people.find_by_id(vehicle["person_id"])
            owner = {"person_id": person["id"], "name": person["name"], "unit": person["unit"]} if person else None
        valid = permit_valid(vehicle, now, zone)
        days_left = None
        if vehicle["valid_until"]:
            days_left = (parse_day(vehicle["valid_until"]) - _today(now, zone)).days
        answer.update(
            {
                "class": vehicle["class"],
                "owner": owner,
                "permit": {
                    "valid_from": vehicle["valid_from"],
                    "valid_until": vehicle["valid_until"],
                    "valid_now": valid,
                    "days_left": days_left,
                    # An invited car's window (added fields, only for one: edge.registry.invites).
                    **({"valid_from_at": vehicle["valid_from_at"], "valid_until_at": vehicle["valid_until_at"]}
                       if invited(vehicle) else {}),
                },
            }
        )
    answer["effective_class"] = effective_class(vehicle, now, zone)
    answer["last_seen"] = _seen(store, f"plate:{plate}", zone)
    session = store.sessions.open_for(plate)
    if session:
        parking = SiteRules.for_store(config, store).parking
        due = fee_due(session, vehicle, now, parking, zone)  # the exit hold and pay use the same
        answer["open_session"] = {
            "session_id": session["session_id"],
            "entry_ts": iso(session["entry_epoch"], zone),
            "entry_gate": session["entry_gate"],
            "minutes": round((now - session["entry_epoch"]) / 60, 1),
        }
        answer["fee_due_cents"] = due
    else:
        answer["open_session"] = None
        answer["fee_due_cents"] = 0
    answer["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return answer


def query_person(store: Store, config, person_id: int, now: float | None = None) -> dict:
    started = time.perf_counter()
    now = time.time() if now is None else now
    person = store.people.get(person_id)
    vehicles = store.vehicles.of_person(person_id)
    alerts = store.alerts.open_inactivity(person_id)
    answer = {
        "person_id": person["id"],
        "name": person["name"],
        "unit": person["unit"],
        "care_watch": bool(person["care_watch"]),
        "face_templates": store.templates.counts_by_encoder(person_id),
        "vehicles": [
            {**v, "valid_now": permit_valid(v, now, config.zone) if v["valid_until"] else True} for v in vehicles
        ],
        "last_seen": _seen(store, f"person:{person_id}", config.zone),
        "inactivity_alert": (
            {"alert_id": alerts[0]["alert_id"], "raised": iso(alerts[0]["raised_epoch"], config.zone)}
            if alerts
            else None
        ),
    }
    answer["elapsed_ms"] = round((time.perf_counter() - started) * 1000, 3)
    return answer


def query_household(store: Store, config, unit: str, now: float | None = None) -> dict:
    """A unit's people (id, name, care-watch) and its vehicles, each as ``query_plate`` answers for it
    (class, permit, open session, fee due now): the residents' portal's household."""
    started = time.perf_counter()
    now = time.time() if now is None else now
    people = [{"person_id": p["id"], "name": p["name"], "care_watch": bool(p["care_watch"])}
              for p in store.people.find(unit)]
    vehicles = [query_plate(store, config, v["plate"], now) for v in store.vehicles.of_unit(unit)]
    return {"unit": unit, "people": people, "vehicles": vehicles,
            "elapsed_ms": round((time.perf_counter() - started) * 1000, 3)}


def _today(now: float, zone):
    from datetime import datetime

    return datetime.fromtimestamp(now, zone).date()
