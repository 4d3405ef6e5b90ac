"""The whole gate config (DESIGN 4.2): top-level keys and the sections they hold."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from drivers.barriers import BarrierConfig
from drivers.camera_config import CameraConfig
from edge.config.base import (
    ClockConfig,
    ConfigPath,
    Identifier,
    LogLevel,
    ReadableFile,
    Section,
    TimeZoneName,
    not_reserved,
)
from edge.config.mqtt import MqttConfig
from edge.config.recognition import RecognitionConfig
from edge.config.rules import (
    InactivityConfig,
    ParkingConfig,
    PassesConfig,
    PolicyConfig,
    RetentionConfig,
)
from edge.config.site import RegistryConfig


class GateConfig(Section):
    role: Literal["gate", "office"] = Field(
        "gate", description="gate (this file) or office (the committee office's file, checked by the same check-config)"
    )
    site: Identifier = Field(description="site name, second level of every MQTT topic")
    gate: Identifier = Field(description="this gate's name (east, west…)")
    database: ConfigPath = Field(
        "/var/lib/gate-edge/registry.db", description="SQLite registry, events and outbox (systemd's StateDirectory)"
    )
    timezone: TimeZoneName = Field("Asia/Shanghai", description=(
        "IANA time zone of the site: fees are per calendar day in this zone; event times carry its offset"))
    log_level: LogLevel = Field("INFO", description="logging level")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    cameras: list[CameraConfig] = Field(default_factory=list, description="one entry per camera; ids must be unique")
    barriers: list[BarrierConfig] = Field(
        default_factory=list, description="one entry per barrier controller; type selects the driver")
    recognition: RecognitionConfig = Field(default_factory=RecognitionConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    parking: ParkingConfig = Field(default_factory=ParkingConfig)
    inactivity: InactivityConfig = Field(default_factory=InactivityConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    passes: PassesConfig = Field(default_factory=PassesConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig, description="local or the office's (site)")
    clock: ClockConfig = Field(default_factory=ClockConfig)
    identity_key_file: ReadableFile | None = Field(
        None, description="site mode: this gate's own private key (NAME.key), signing its events and requests")

    @field_validator("role")
    @classmethod
    def _a_gate(cls, role: str) -> str:
        if role != "gate":  # load_config reads a role: office file as the office's (OfficeConfig)
            raise ValueError("role: office is the office's file; check it with gate-edge check-config")
        return role

    @field_validator("gate")
    @classmethod
    def _not_reserved(cls, name: str) -> str:
        return not_reserved(name)

    @field_validator("barriers")
    @classmethod
    def _one_line_one_setting(cls, barriers):
        """Barriers on one RS-485 port share its one client: they must agree on its serial settings."""
        from drivers.barriers.rs485_bus import bus_conflicts
        from edge.config.base import KeyedProblems

        problems = [((index, setting), message) for index, setting, message in bus_conflicts(barriers)]
        if problems:
            raise KeyedProblems(problems)
        return barriers

    @model_validator(mode="after")
    def _identity_for_site(self):
        if self.registry.source == "site" and self.identity_key_file is None:
            raise ValueError("registry.source: site needs identity_key_file: this gate's own key (gate-edge keys "
                             "new --gate NAME), which signs its events and its requests to the office")
        return self

    @property
    def is_office(self) -> bool:
        return False

    @property
    def site_mode(self) -> bool:
        return self.registry.source == "site"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def client_id(self) -> str:
        return self.mqtt.client_id or f"{self.site}-{self.gate}"

    def barrier(self, barrier_id: str):
        """The barrier config with this id, or KeyError naming the known ids."""
        for barrier in self.barriers:
            if barrier.id == barrier_id:
                return barrier
        known = ", ".join(b.id for b in self.barriers) or "none configured"
        raise KeyError(f"no barrier {barrier_id!r} in the config (barriers: {known})")

    def barrier_for(self, camera: CameraConfig):
        """The barrier a camera opens: its explicit ``barrier:`` or the one serving its lane."""
        if camera.barrier:
            return self.barrier(camera.barrier)
        serving = [b for b in self.barriers if camera.lane in b.lanes]
        return serving[0] if len(serving) == 1 else None
