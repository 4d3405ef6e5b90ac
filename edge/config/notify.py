"""The office's ``notify:`` section (DESIGN 7): the channels alerts leave by, and who is told when.

A recipient is a channel's name (a group robot: the whole group reads it), ``CHANNEL:ADDRESS`` (an ``sms``
phone number, an ``smtp`` address) or ``CHANNEL:contacts`` (the person's consenting contacts). Every
recipient must name a configured channel of a type that can take it; ``check-config`` names the key.
Secrets (robot URLs holding keys, signing secrets, passwords) are only ever read from files.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from edge.config.base import KeyedProblems, ReadableFile, Section

Detail = Literal["minimal", "full"]
_PHONE = re.compile(r"^\+?[0-9]{5,20}$")
_EMAIL = re.compile(r"^[^@\s:]+@[^@\s:]+\.[^@\s:]+$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class _Channel(Section):
    detail: Detail | None = Field(None, description=(
        "minimal: unit, hours unseen, last gate and the short code, never a name or a phone number (the default "
        "for services outside the site); full: names and contacts' numbers (staff channels only)"))
    rate_per_minute: int | None = Field(None, ge=1, description="most messages a minute this channel may take "
                                        "(wecom's robots allow 20)")

    # The default detail of a type: services outside the site get no names (DESIGN 7).
    DEFAULT_DETAIL: ClassVar[str] = "minimal"
    # Which recipients' ADDRESS form the channel takes: None (only its name), "phone", "email".
    ADDRESS: ClassVar[str | None] = None

    @property
    def effective_detail(self) -> str:
        return self.detail or self.DEFAULT_DETAIL


class _HttpChannel(_Channel):
    timeout_s: float = Field(10, gt=0, le=120, description="seconds before a silent service counts as failed "
                             "(the message is tried again later)")


def _url_in_file(path):
    """The file must hold one http(s) URL: said without repeating what the file holds (the robot's key)."""
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not re.match(r"^https?://[^\s/]+\S*$", text):
        raise ValueError("the file named here must hold the robot's webhook URL (https://…) on one line")
    return path


def _secret_in_file(path):
    if not path.read_text(encoding="utf-8", errors="replace").strip():
        raise ValueError("the file named here is empty; put the secret in it")
    return path


# A readable file holding a robot's webhook URL; one holding a secret (not empty). Read again by the channel.
UrlFile = Annotated[ReadableFile, AfterValidator(_url_in_file)]
SecretFile = Annotated[ReadableFile, AfterValidator(_secret_in_file)]


def _matching(pattern: re.Pattern, what: str) -> AfterValidator:
    """The text must match ``pattern``; else the error says it "is not ``what``"."""

    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _window(value: str) -> str:
    start, sep, end = value.partition("-")
    if not sep or not _HHMM.match(start) or not _HHMM.match(end) or start == end:
        raise ValueError(f"{value!r} is not a window like '22:00-07:00'")
    return value


# An e-mail address; a time of day (HH:MM); a window of the day (HH:MM-HH:MM, it may pass midnight).
Email = Annotated[str, _matching(_EMAIL, "an e-mail address")]
TimeOfDay = Annotated[str, _matching(_HHMM, "a time like '08:30'")]
Window = Annotated[str, AfterValidator(_window)]


class WecomChannel(_HttpChannel):
    type: Literal["wecom"]
    url_file: UrlFile = Field(description="file holding the group robot's webhook URL (it holds its key)")
    mention_mobiles: list[str] = Field(default_factory=list, description=(
        "mobile numbers of group members the robot @-mentions in each message (mentioned_mobile_list), "
        "or [\"@all\"]"))
    rate_per_minute: int | None = Field(20, ge=1, description="WeChat Work allows 20 messages a minute per robot")

    @field_validator("mention_mobiles")
    @classmethod
    def _mobiles(cls, values: list[str]) -> list[str]:
        for value in values:
            if value != "@all" and not _PHONE.match(value):
                raise ValueError(f"{value!r} is not a mobile number (digits, optionally starting with +) nor @all")
        return values


class DingtalkChannel(_HttpChannel):
    type: Literal["dingtalk"]
    url_file: UrlFile = Field(description="file holding the robot's webhook URL (access_token)")
    secret_file: SecretFile = Field(description="file holding the robot's 加签 secret (SEC…)")
    rate_per_minute: int | None = Field(20, ge=1, description="DingTalk allows 20 messages a minute per robot")


class WebhookChannel(_HttpChannel):
    type: Literal["webhook"]
    url: str = Field(description="the endpoint receiving the message JSON (POST)")
    secret_file: SecretFile = Field(description="file holding the HMAC-SHA256 key of X-Gate-Edge-Signature")

    @field_validator("url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not re.match(r"^https?://[^\s/]+\S*$", url):
            raise ValueError("an http:// or https:// URL")
        return url


class SmsChannel(_Channel):
    type: Literal["sms"]
    port: str = Field(description="the modem's serial device (/dev/ttyUSB2) or a simulate-modem pty")
    baudrate: int = Field(115200, ge=1200, description="serial speed")
    pin_file: ReadableFile | None = Field(None, description="file holding the SIM's PIN, when it has one")
    timeout_s: float = Field(60, gt=0, le=300, description=(
        "seconds the network may take to accept one SMS (one part of a long one) before the send counts as "
        "failed and is retried; each plain AT command waits at most 5 s of it"))
    DEFAULT_DETAIL: ClassVar[str] = "full"  # the site's own duty phone and the residents' contacts
    ADDRESS: ClassVar[str | None] = "phone"


class SmtpChannel(_Channel):
    type: Literal["smtp"]
    host: str = Field(description="SMTP server")
    port: int = Field(587, ge=1, le=65535, description="SMTP port (587 starttls, 465 implicit)")
    tls: Literal["starttls", "implicit", "none"] = Field("starttls", description=(
        "starttls or implicit; none only for a server on loopback"))
    username: str | None = Field(None, description="login, when the server needs one")
    password_file: SecretFile | None = Field(None, description="file holding the login's password")
    ca_file: ReadableFile | None = Field(None, description=(
        "CA certificate(s) to trust for this server instead of the system's (a site's own mail server)"))
    sender: Email = Field(alias="from", description="the From address")
    timeout_s: float = Field(20, gt=0, description="seconds before a silent server counts as failed")
    DEFAULT_DETAIL: ClassVar[str] = "full"
    ADDRESS: ClassVar[str | None] = "email"

    @model_validator(mode="after")
    def _login_whole(self):
        if (self.username is None) != (self.password_file is None):
            raise ValueError("smtp: username and password_file go together")
        if self.tls == "none" and self.host not in {"127.0.0.1", "::1", "localhost"}:
            raise ValueError("smtp: tls: none is only allowed for a server on loopback")
        return self


ChannelConfig = Annotated[WecomChannel | DingtalkChannel | WebhookChannel | SmsChannel | SmtpChannel,
                          Field(discriminator="type")]


class Step(Section):
    after_minutes: int = Field(ge=0, le=7 * 24 * 60, description="minutes after the alert was raised")
    to: list[str] = Field(min_length=1, description="recipients: CHANNEL, CHANNEL:ADDRESS or CHANNEL:contacts")


class QuietHours(Section):
    device: Window | None = Field(None, description=(
        "HH:MM-HH:MM in the site's time: device messages wait until its end; care-watch never waits"))


class RollCall(Section):
    at: TimeOfDay = Field(description="HH:MM in the site's time, daily")
    unseen_hours: float = Field(24, gt=0, description="care-watch residents unseen this long are listed")
    to: list[str] = Field(min_length=1, description="recipients")


class Storm(Section):
    alerts: int = Field(5, ge=1, description="more care-watch alerts than this within `minutes` is a storm: "
                        "steps to contacts are held")
    minutes: int = Field(60, ge=1, description="the storm's window")


class Retry(Section):
    first_s: float = Field(30, gt=0, description="first retry after this many seconds, doubling each time")
    max_s: float = Field(1800, gt=0, description="longest wait between two tries")
    failing_after: int = Field(3, ge=1, description="consecutive failures after which the channel raises "
                               "the notify:<channel> device alert")


class NotifyConfig(Section):
    channels: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")], ChannelConfig] = Field(
        default_factory=dict, description="name → channel settings")
    care_watch: list[Step] = Field(default_factory=list, description="inactivity alerts, step by step until "
                                   "acknowledged or cleared")
    device: list[Step] = Field(default_factory=list, description="device alerts still raised after each delay")
    quiet_hours: QuietHours = Field(default_factory=QuietHours)
    roll_call: RollCall | None = Field(None, description="daily list of care-watch residents unseen for a while")
    storm: Storm = Field(default_factory=Storm)
    retry: Retry = Field(default_factory=Retry)

    @model_validator(mode="after")
    def _recipients_known(self):
        problems: list[tuple[tuple, str]] = []
        lists = [(("care_watch", i, "to", j), r) for i, s in enumerate(self.care_watch) for j, r in enumerate(s.to)]
        lists += [(("device", i, "to", j), r) for i, s in enumerate(self.device) for j, r in enumerate(s.to)]
        if self.roll_call is not None:
            lists += [(("roll_call", "to", j), r) for j, r in enumerate(self.roll_call.to)]
        for loc, recipient in lists:
            problem = recipient_problem(recipient, self.channels, contacts_allowed=loc[0] == "care_watch")
            if problem:
                problems.append((loc, problem))
        ports: dict[str, str] = {}
        for name, channel in self.channels.items():
            if channel.type == "sms":  # one modem, one AT conversation at a time: one channel owns a port
                other = ports.setdefault(channel.port, name)
                if other != name:
                    problems.append((("channels", name, "port"), f"{channel.port} is already the port of sms "
                                     f"channel {other!r}; one modem is one channel: send both through {other!r}"))
        for name, steps in (("care_watch", self.care_watch), ("device", self.device)):
            minutes = [s.after_minutes for s in steps]
            if minutes != sorted(set(minutes)):
                problems.append(((name,), "steps must be in order of after_minutes, each a different time"))
        if problems:
            raise KeyedProblems(problems)
        return self


def parse_recipient(recipient: str) -> tuple[str, str | None]:
    """``"modem:13800000000"`` → ``("modem", "13800000000")``; ``"duty-group"`` → ``("duty-group", None)``."""
    channel, sep, address = recipient.partition(":")
    return channel, (address if sep else None)


def recipient_problem(recipient: str, channels: dict, *, contacts_allowed: bool = True) -> str | None:
    """Why ``recipient`` cannot be used with these channels, or None (the one owner of the rule)."""
    name, address = parse_recipient(recipient)
    channel = channels.get(name)
    if channel is None:
        known = ", ".join(sorted(channels)) or "none configured"
        return f"{recipient!r}: no channel {name!r} in notify.channels ({known})"
    if address is None:
        if channel.ADDRESS is not None:
            return f"{recipient!r}: a {channel.type} channel needs an address ({name}:ADDRESS or {name}:contacts)"
        return None
    if channel.ADDRESS is None:
        return f"{recipient!r}: a {channel.type} channel is a group; name it alone ({name!r})"
    if address == "contacts":
        if channel.ADDRESS != "phone":
            return f"{recipient!r}: contacts are reached by sms only"
        return None if contacts_allowed else f"{recipient!r}: only care-watch steps have a person's contacts"
    if channel.ADDRESS == "phone" and not _PHONE.match(address):
        return f"{recipient!r}: {address!r} is not a phone number (digits, optionally starting with +)"
    if channel.ADDRESS == "email" and not _EMAIL.match(address):
        return f"{recipient!r}: {address!r} is not an e-mail address"
    return None


def masked_recipient(recipient: str) -> str:
    """A recipient as the console and the API show it: a phone's middle and an e-mail's name hidden
    (``modem:138****0000``, ``mail:a***@x.cn``); a group robot or ``CHANNEL:contacts`` as it is."""
    name, address = parse_recipient(recipient)
    if address is None or address == "contacts":
        return recipient
    return f"{name}:{mask_address(address)}"


def mask_address(address: str) -> str:
    if "@" in address:
        local, _, domain = address.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if len(address) >= 8:
        return f"{address[:3]}****{address[-4:]}"
    return f"{address[:1]}****{address[-2:]}"
