"""Config fields every barrier driver shares."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from edge.config.base import Identifier, Section

Lane = Literal["in", "out"]


class BarrierBaseConfig(Section):
    id: Identifier = Field(description="unique barrier name, used by cameras, CLI and alerts")
    lanes: list[Lane] = Field(["in", "out"], min_length=1, description="lanes this barrier opens")
    pulse_ms: int = Field(500, ge=50, le=10000, description="how long the open contact is held")
    fail_alert_after: int = Field(3, ge=1, le=100, description="consecutive failures before a device alert")

    @field_validator("lanes")
    @classmethod
    def _unique_lanes(cls, lanes):
        if len(set(lanes)) != len(lanes):
            raise ValueError(f"lanes {lanes} repeat a lane; list each lane once")
        return lanes
