"""Site rules sections: ``policy``, ``parking``, ``inactivity``, ``retention``, ``passes``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edge.config.base import ReadableFile, Section
from edge.config.mqtt import PublicKeyFile


class PolicyConfig(Section):
    mode: Literal["normal", "strict"] = Field(
        "normal", description="strict: only registered people/vehicles and valid passes pass"
    )


class ParkingConfig(Section):
    capacity: int = Field(306, ge=0, description="parking spaces; non-residents are held when full")
    family_free_minutes: int = Field(120, ge=0, description="free minutes for family vehicles")
    visitor_free_minutes: int = Field(30, ge=0, description="free minutes for visitors")
    rate_per_hour_cents: int = Field(
        500, ge=0, description="per started hour, charged from the start once past the free time"
    )
    daily_cap_cents: int | None = Field(None, ge=0, description="max fee per calendar day (site time)")
    stale_session_days: int = Field(7, ge=1, description="report sessions open longer than this")
    reconcile_window_hours: float = Field(
        72, ge=0, description="an exit that finds no session of its own is reconciled with the one open session "
        "whose plate differs from the reading in one character (the province included) and that entered within "
        "this many hours; several such sessions hold the exit for the guard; 0: never reconciled")
    exit_without_entry: Literal["open", "hold"] = Field(
        "open", description="an exit that finds neither its session nor a look-alike: open (let out, flagged) or "
        "hold (the barrier stays closed until the guard decides; a resident with a valid permit is let out)")


class InactivityConfig(Section):
    threshold_hours: float = Field(48, gt=0, description="care-watch resident unseen this long raises an alert")
    check_every_minutes: float = Field(60, gt=0, description="how often the check runs")


class RetentionConfig(Section):
    events_days: int = Field(180, ge=1, description="delete sent events older than this")
    stranger_snapshots_days: int = Field(0, ge=0, description="0 = never store stranger snapshots")
    min_free_mb: int = Field(
        200, ge=0,
        description="free space (MB) on the database's filesystem below which the gate raises a 'disk' "
        "alert; below a quarter of it, retention deletes the oldest sent events and snapshots to keep that "
        "much room, rather than refuse new events",
    )


class PassesConfig(Section):
    secret_file: ReadableFile | None = Field(
        None, description="HMAC key for QR passes; without it passes can be neither issued nor accepted"
    )
    public_keys: list[PublicKeyFile] = Field(
        default_factory=list,
        description="site mode: the office's pass.pub (several while a key is rotated); passes are then "
        "the office's, verified with Ed25519 instead of secret_file",
    )
    max_valid_hours: int = Field(24 * 366, ge=1, description="longest validity a pass may be issued for")
