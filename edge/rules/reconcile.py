"""Plates read wrongly at one end of a stay (issue 31): which open sessions look like a reading, what an exit
that finds no session of its own does, which correction of a session stands, and which held exits still wait.

The one owner of "which sessions look like this reading"; pure (rows in, answers out). A look-alike is an
open session whose plate differs from the reading in exactly one position (any character, the province
included: ``edge.rules.plate_match.PlateIndex`` finds them) and that entered within
``parking.reconcile_window_hours``. For an exit that finds no session under its reading:

    reading matched a registered plate   never reconciled to another session (the registry says who it is)
    exactly one look-alike               the exit is that session's: decided on it, its fee from that entry,
                                         the reading recorded beside the entry's (``corrected``)
    several                              held for the guard, the look-alikes listed as ``candidates``
    none                                 ``parking.exit_without_entry``: open (let out, flagged) or hold

A ``session`` event with the transition ``corrected`` says which plate and class a session has from then
on (a guard's correction, or a reconciled exit, which keeps them and records the reading). Corrections
may arrive at a receiver in any order: the one that stands is the one of the highest ``revision`` (one
more than the highest the correcting gate knew: a correction made knowing another replaces it, whatever
the clocks say), then the newest (by time, then gate and seq) between corrections made without knowing of
each other, so every gate and the office end with the same plate whatever the order.

An exit held with no session (``waiting_exits``) waits until an event of its gate resolves it
(``resolves``: the guard named its session) or its gate decides at that exit again (a later exit on the
same lane and camera, or the office's remote open of that lane: the car has gone, or is read again).
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.rules.plate_match import PlateIndex
from edge.timeutil import parse_iso

HOUR = 3600.0
MAX_CANDIDATES = 8  # listed in a held exit's event (an event stays small: edge.contract.MAX_EVENT_BYTES)


@dataclass(frozen=True)
class Reconciliation:
    """What an exit with no session of its own found: ``session`` the one look-alike, else ``candidates``
    (several look-alikes: the exit is held for the guard; none: ``exit_without_entry`` decides)."""

    session: dict | None = None
    candidates: tuple[dict, ...] = ()


def look_alikes(reading: str, sessions: list[dict], *, now: float, window_s: float) -> list[dict]:
    """The open ``sessions`` whose plate differs from ``reading`` in one position and whose entry is known
    and within ``window_s`` before ``now``, oldest entry first."""
    recent = [s for s in sessions if s.get("entry_gate") is not None and s["plate"] != reading
              and s["entry_epoch"] >= now - window_s]
    index = PlateIndex(recent)
    found = [index.by_plate[plate] for plate, _ in index.neighbours(reading)]
    return sorted(found, key=lambda s: (s["entry_epoch"], s["session_id"]))


def reconcile_exit(reading: str, sessions: list[dict], *, registered: bool, now: float,
                   window_hours: float) -> Reconciliation:
    """An exit read as ``reading`` that found no session under it. ``registered``: the reading matched a
    registered vehicle (exactly, or by a fuzzy match allowed to open): it is that car, never another's."""
    if registered or window_hours <= 0:
        return Reconciliation()
    found = look_alikes(reading, sessions, now=now, window_s=window_hours * HOUR)
    if len(found) == 1:
        return Reconciliation(found[0], tuple(found))
    return Reconciliation(None, tuple(found))


def candidates_field(candidates) -> list[dict]:
    """A held exit's ``candidates`` as its event carries them: session id and plate, at most MAX_CANDIDATES."""
    return [{"session_id": s["session_id"], "plate": s["plate"]} for s in list(candidates)[:MAX_CANDIDATES]]


def _order(payload: dict) -> tuple:
    return (parse_iso(payload["ts"]), payload.get("gate") or "", payload.get("seq") or 0, payload["event_id"])


def _revision(payload: dict) -> int:
    revision = payload.get("revision")
    return revision if isinstance(revision, int) and not isinstance(revision, bool) else 0


def next_revision(corrections: list[dict]) -> int:
    """The ``revision`` of a new correction of a session whose known corrections are ``corrections``."""
    return 1 + max((_revision(c) for c in corrections), default=0)


def standing_correction(corrections: list[dict]) -> dict | None:
    """Of a session's ``corrected`` events (payloads), the one that stands: the highest revision, then the
    newest by time, gate and seq; None when there is none."""
    return max(corrections, key=lambda c: (_revision(c), *_order(c))) if corrections else None


def is_unmatched_hold(payload: dict) -> bool:
    """An exit held with no session: several look-alikes, or ``exit_without_entry: hold``."""
    return payload.get("kind") == "exit" and payload.get("decision") == "hold" and not payload.get("session_id")


def _same_exit(later: dict, hold: dict) -> bool:
    if later.get("kind") != "exit" or later.get("gate") != hold.get("gate") or later.get("lane") != hold.get("lane"):
        return False
    camera, held_at = later.get("camera"), hold.get("camera")
    return camera is None or held_at is None or camera == held_at  # a remote open names no camera: that lane


def _after(later: dict, hold: dict) -> bool:
    if later.get("seq") is not None and hold.get("seq") is not None:
        return later["seq"] > hold["seq"]
    return _order(later) > _order(hold)


def waiting_exits(holds: list[dict], later: list[dict]) -> list[dict]:
    """Of ``holds`` (exit events held with no session), those still waiting for the guard, given ``later``
    (the events of their gates since the oldest of them: exits and session events); oldest first."""
    waiting = []
    for hold in holds:
        if not is_unmatched_hold(hold):
            continue
        done = any(e.get("gate") == hold.get("gate") and e["event_id"] != hold["event_id"] and _after(e, hold)
                   and (e.get("resolves") == hold["event_id"] or _same_exit(e, hold)) for e in later)
        if not done:
            waiting.append(hold)
    return sorted(waiting, key=_order)
