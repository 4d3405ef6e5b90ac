"""What every channel is: one ``send`` of one message, and the one way it says it failed.

The delivery worker (``edge.office.notify``) owns queueing, retries, back-off and rate limits; a channel
only turns a ``Outgoing`` message into one request to its service and says whether it was taken.
A channel never logs its URL (robot URLs hold keys) nor a secret.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class DeliveryFailed(Exception):
    """The service did not take the message. ``retry``: worth trying again later (a timeout, a 5xx, a busy
    modem); False when trying again cannot help (a 4xx for a malformed request, an address refused).
    ``retry_after_s``: the service asked to wait that long (a robot's rate limit)."""

    def __init__(self, reason: str, *, retry: bool = True, retry_after_s: float | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retry = retry
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Outgoing:
    """One message to one recipient, as queued (DESIGN 7's message JSON in ``payload``).

    ``message_id`` is stable across retries and restarts: a service that deduplicates can use it.
    ``address`` is the phone number or e-mail address for ``sms``/``smtp``, None for a group robot.
    ``text`` is what a person reads (already cut to the channel's ``detail``)."""

    message_id: str
    channel: str
    address: str | None
    text: str
    payload: dict = field(default_factory=dict)


class Channel:
    """Base of every channel type. ``config`` is its section of ``notify.channels`` (edge.config.notify)."""

    type: str = ""
    # A channel that also receives (sms: replies carrying an alert's short code) says so, and hands each
    # incoming message to the callable set as its ``on_sms(sender, text)``.
    RECEIVES: bool = False

    def __init__(self, name: str, config, *, clock):
        self.name = name
        self.config = config
        self.clock = clock  # epoch seconds (DingTalk's timestamp; the demo's simulated time)

    @property
    def detail(self) -> str:
        return self.config.effective_detail

    @property
    def rate_per_minute(self) -> int | None:
        return self.config.rate_per_minute

    def send(self, message: Outgoing) -> None:
        """Deliver ``message`` or raise ``DeliveryFailed``; blocking, with the channel's own timeout."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the channel holds (a serial port, a connection pool); idempotent."""


def read_secret(path: Path, *, channel: str, key: str) -> str:
    """The secret (a robot's URL, a signing key, a password) held by ``path``, read once when the channel is
    made; an unreadable or empty file names the key, never what the file holds."""
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"notify.channels.{channel}.{key}: cannot read the file ({type(exc).__name__})") from None
    if not text:
        raise ValueError(f"notify.channels.{channel}.{key}: the file is empty")
    return text
