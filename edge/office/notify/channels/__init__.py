"""The channel types by name; ``build_channels`` makes one ``Channel`` per ``notify.channels`` entry."""

from __future__ import annotations

from edge.office.notify.channels.base import Channel, DeliveryFailed, Outgoing
from edge.office.notify.channels.dingtalk import Dingtalk
from edge.office.notify.channels.sms import SmsChannel
from edge.office.notify.channels.smtp import Smtp
from edge.office.notify.channels.webhook import Webhook
from edge.office.notify.channels.wecom import Wecom

# type → class; each channel module registers itself here when it is written.
TYPES: dict[str, type[Channel]] = {cls.type: cls for cls in (Wecom, Dingtalk, Webhook, SmsChannel, Smtp)}


def build_channels(notify_config, *, clock) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    try:
        for name, section in notify_config.channels.items():
            cls = TYPES.get(section.type)
            if cls is None:
                raise ValueError(f"notify.channels.{name}: channel type {section.type!r} is not available")
            channels[name] = cls(name, section, clock=clock)
    except BaseException:
        for channel in channels.values():  # those already made hold clients: give them back
            channel.close()
        raise
    return channels


__all__ = ["TYPES", "Channel", "DeliveryFailed", "Outgoing", "build_channels"]
