"""The channel types by name; ``build_channels`` makes one ``Channel`` per ``notify.channels`` entry."""

from __future__ import annotations

from edge.office.notify.channels.base import Channel, DeliveryFailed, Outgoing

# type → class; each channel module registers itself here when it is written.
TYPES: dict[str, type[Channel]] = {}


def build_channels(notify_config, *, clock) -> dict[str, Channel]:
    channels = {}
    for name, section in notify_config.channels.items():
        cls = TYPES.get(section.type)
        if cls is None:
            raise ValueError(f"notify.channels.{name}: channel type {section.type!r} is not available")
        channels[name] = cls(name, section, clock=clock)
    return channels


__all__ = ["TYPES", "Channel", "DeliveryFailed", "Outgoing", "build_channels"]
