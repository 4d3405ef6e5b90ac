"""The ``mqtt:`` section: broker address, identity, TLS and the command-signing key."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from edge.config.base import ReadableFile, Section


def _ed25519_public_key(path: Path) -> Path:
    from edge.keys import KeyFileError, load_public_key

    try:
        load_public_key(path)
    except KeyFileError as exc:
        raise ValueError(str(exc)) from None
    return path


# A readable PEM file holding an Ed25519 public key (the office's command.pub, pass.pub …).
PublicKeyFile = Annotated[ReadableFile, AfterValidator(_ed25519_public_key)]


class TlsConfig(Section):
    ca: ReadableFile | None = Field(
        None, description="CA certificate (PEM) that signed the broker's certificate; null = no TLS"
    )
    cert: ReadableFile | None = Field(None, description="client certificate (PEM), with key")
    key: ReadableFile | None = Field(None, description="client private key (PEM), with cert")
    insecure: bool = Field(False, description="skip host name check (never in production)")

    @property
    def enabled(self) -> bool:
        return self.ca is not None


class Login(Section):
    """A broker login of its own for a helper client (the site's broker gives each login one client id)."""

    username: str | None = Field(None, min_length=1, description="broker user name; null = none configured")
    password_file: ReadableFile | None = Field(
        None, description="file holding the broker password (never the password itself in YAML)"
    )


class MqttConfig(Section):
    enabled: bool = Field(True, description="false keeps every event in the local outbox only")
    host: str = Field(
        "127.0.0.1", min_length=1, description="broker host name or address (the committee office's Mosquitto or EMQX)"
    )
    port: int = Field(1883, ge=1, le=65535, description="1883 plain, 8883 with TLS")
    client_id: str | None = Field(None, description="MQTT client id; default <site>-<gate>")
    username: str | None = Field(None, description="broker user name")
    password_file: ReadableFile | None = Field(
        None, description="file holding the broker password (never the password itself in YAML)"
    )
    tls: TlsConfig = Field(default_factory=TlsConfig, description="TLS settings")
    cmd_login: Login = Field(
        default_factory=Login,
        description="the login of `gate-edge cmd` (e.g. office-cmd): the site's broker ties each login to one "
        "client id, so the service's own login would disconnect the service; required on a site's office",
    )
    waiting_login: Login = Field(
        default_factory=Login,
        description="the login a gate uses while it waits for its database (e.g. east-waiting), so its "
        "service's session is left alone; a site gate without it stays off the broker while it waits",
    )
    topic_prefix: str = Field(
        "gate", pattern=r"^[^#+]+$", description="first level of every topic: <prefix>/<site>/<gate>/…"
    )
    keepalive_s: int = Field(30, ge=5, le=600, description="MQTT keep-alive, seconds")
    session_expiry_s: int = Field(
        3600, ge=0, description="how long the broker keeps our session (and queued QoS 1) across drops"
    )
    command_key_file: ReadableFile | None = Field(
        None, description="shared HMAC key for signed commands (cmd/open, pay, reload, correct); none = refuse all"
    )
    command_public_keys: list[PublicKeyFile] = Field(
        default_factory=list,
        description="site mode: the office's command.pub (several while a key is rotated); commands are then "
        "verified with Ed25519 instead of command_key_file",
    )
    command_window_s: int = Field(120, ge=5, le=3600, description="max age of a command's timestamp")
