"""Site-mode sections: how a gate follows the office's registry (``registry:``), and the office's own file.

A gate's ``registry.source`` is ``local`` (its own registry, a single-gate site: the default) or
``site`` (a signed replica of the office's registry, DESIGN 6.2). The office's file (``role: office``)
is checked by the same ``check-config``.
"""

from __future__ import annotations

from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, field_validator, model_validator

from edge.config.base import (
    ClockConfig,
    ConfigPath,
    Identifier,
    KeyedProblems,
    LogLevel,
    ReadableFile,
    Section,
    TimeZoneName,
    not_reserved,
)
from edge.config.mqtt import MqttConfig
from edge.config.notify import NotifyConfig
from edge.config.recognition import FaceRecognitionConfig, RecognitionConfig, known_encoder
from edge.config.rules import InactivityConfig, ParkingConfig, PolicyConfig


class RegistryConfig(Section):
    source: Literal["local", "site"] = Field(
        "local", description="local: this gate's own registry; site: a signed replica of the office's"
    )
    public_keys: list[ReadableFile] = Field(
        default_factory=list, description="site mode: the office's registry.pub (several while a key is rotated)"
    )

    @model_validator(mode="after")
    def _keys_for_site(self):
        if self.source == "site" and not self.public_keys:
            raise ValueError("registry.source: site needs registry.public_keys: [the office's registry.pub]")
        if self.source == "local" and self.public_keys:
            raise ValueError("registry.public_keys is only used with registry.source: site")
        return self


class SigningKeyConfig(Section):
    signing_key_file: ReadableFile = Field(description="the office's private key (PEM) for this purpose")


class OfficePassesConfig(SigningKeyConfig):
    max_valid_hours: int = Field(24 * 366, ge=1, description="longest validity a pass may be issued for")


class SiteSettings(Section):
    """One policy for the whole site, published signed to every gate (DESIGN 6.2)."""

    face_encoder: Annotated[str, AfterValidator(known_encoder)] = Field(
        "ensemble", description="templates are computed at the office with it; gates must use the same encoder")
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    parking: ParkingConfig = Field(default_factory=ParkingConfig)
    inactivity: InactivityConfig = Field(default_factory=InactivityConfig)


class OfficeRetentionConfig(Section):
    stranger_snapshots_to_office: bool = Field(False, description="gates may send strangers' face crops here")
    events_days: int = Field(365, ge=1, description="keep the archive of events this long")


def proxy_network(value: str) -> str:
    """One ``console.trusted_proxies`` entry: an IP address or a network in CIDR notation."""
    import ipaddress

    try:
        ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8, ::1)") from None
    return str(value)


class ConsoleConfig(Section):
    listen: str = Field("127.0.0.1:8080", description="address:port of the web console (loopback by default)")
    users_file: ConfigPath | None = Field(None, description="console users (gate-edge console-user add)")
    trusted_proxies: list[Annotated[str, AfterValidator(proxy_network)]] = Field(
        default_factory=list, description="reverse proxies (IP addresses or CIDR networks) whose X-Forwarded-For "
        "and X-Forwarded-Proto are believed; from any other peer those headers are ignored")


class PortalConfig(Section):
    """The residents' portal (DESIGN 8): under ``/my/`` on the console's listener; each feature can be off."""

    enabled: bool = Field(False, description="serve the residents' portal under /my/ (on console.listen)")
    sms_channel: str | None = Field(None, description=(
        "the notify.channels entry (type sms) that sends the login codes; required while login is on"))
    login: bool = Field(True, description="residents may log in by a code sent by SMS (off: no new sessions)")
    household: bool = Field(True, description="residents see their unit's people and vehicles")
    invites: bool = Field(True, description="residents may invite a visitor on foot or register a car for a day")
    away: bool = Field(True, description="residents may pause care-watch for a person of their own unit")
    invites_per_unit_per_day: int = Field(5, ge=0, le=100, description="invitations a unit may make a day")
    codes_per_hour: int = Field(100, ge=1, le=10000, description=(
        "login codes the whole site may send in an hour; reaching it refuses more (429) and raises the "
        "portal:codes device alert (someone is trying numbers, or the SMS budget is at risk)"))


class EnrolmentConfig(Section):
    keep_photos: bool = Field(False, description="keep enrolment photos at the office (re-enrolment after an "
                              "encoder change); never sent to gates")
    detector: Literal["hog", "cnn"] = Field("hog", description="face detector used on enrolment photos")


class OfficeConfig(Section):
    role: Literal["office"] = Field(description="this file configures the committee office's service")
    site: Identifier = Field(description="site name, second level of every MQTT topic")
    database: ConfigPath = Field("/var/lib/gate-edge/office.db", description="the site registry and the archive")
    timezone: TimeZoneName = Field("Asia/Shanghai", description="IANA time zone of the site (fees, days)")
    log_level: LogLevel = Field("INFO", description="logging level")
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    registry: SigningKeyConfig = Field(description="registry.key: signs registry records and site settings")
    commands: SigningKeyConfig | None = Field(None, description="command.key: signs commands to gates")
    passes: OfficePassesConfig | None = Field(None, description="pass.key: signs QR passes valid at every gate")
    gates: dict[Identifier, ReadableFile] = Field(
        default_factory=dict, description="expected gates and their public keys; a silent one raises an alert")
    gate_silent_after_s: int = Field(180, ge=30, description="a gate not heard from this long raises an alert")
    site_settings: SiteSettings = Field(default_factory=SiteSettings)
    enrolment: EnrolmentConfig = Field(default_factory=EnrolmentConfig)
    retention: OfficeRetentionConfig = Field(default_factory=OfficeRetentionConfig)
    console: ConsoleConfig = Field(default_factory=ConsoleConfig)
    clock: ClockConfig = Field(default_factory=ClockConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig, description="who is told of alerts, how (DESIGN 7)")
    portal: PortalConfig = Field(default_factory=PortalConfig, description="the residents' portal (DESIGN 8)")

    @field_validator("gates")
    @classmethod
    def _not_reserved(cls, gates: dict) -> dict:
        for name in gates:
            not_reserved(name)
        return gates

    @model_validator(mode="after")
    def _portal_sends_by_sms(self):
        portal, channels = self.portal, self.notify.channels
        if portal.enabled and self.console.users_file is None:
            raise KeyedProblems([(("portal", "enabled"), "the portal is served on the console's listener: set "
                                  "console.users_file (the committee's logins) too")])
        if not (portal.enabled and portal.login):
            return self
        sms = sorted(name for name, channel in channels.items() if channel.type == "sms")
        choice = f"one of: {', '.join(sms)}" if sms else "add an sms channel to notify.channels first"
        if portal.sms_channel is None:
            raise KeyedProblems([(("portal", "sms_channel"), "required while portal.login is on: the sms channel "
                                  f"that sends the login codes ({choice})")])
        channel = channels.get(portal.sms_channel)
        if channel is None:
            raise KeyedProblems([(("portal", "sms_channel"), f"no channel {portal.sms_channel!r} in notify.channels "
                                  f"({choice})")])
        if channel.type != "sms":
            raise KeyedProblems([(("portal", "sms_channel"), f"channel {portal.sms_channel!r} is a {channel.type} "
                                  f"channel; login codes go by sms ({choice})")])
        return self

    # -- what the shared code (registry commands, query, enrolment) reads of a config -------------
    gate = property(lambda self: "office")
    zone = property(lambda self: ZoneInfo(self.timezone))
    client_id = property(lambda self: self.mqtt.client_id or f"{self.site}-office")
    policy = property(lambda self: self.site_settings.policy)
    parking = property(lambda self: self.site_settings.parking)
    inactivity = property(lambda self: self.site_settings.inactivity)

    @property
    def recognition(self) -> RecognitionConfig:
        face = FaceRecognitionConfig(encoder=self.site_settings.face_encoder, keep_photos=self.enrolment.keep_photos,
                                     detector=self.enrolment.detector)
        return RecognitionConfig(face=face)

    @property
    def is_office(self) -> bool:
        return True
