"""The credential processor interface: observe a frame → agree over frames → ask the gate.

A camera worker runs a list of processors (``edge.gate.credentials.processors_for``) over every analysed
frame. Each one reads one kind of credential (a face, a plate, a QR pass) in three steps:

    observe(shot)            what the recogniser sees in this frame (zero or more sightings)
    agree(sighting, shot)    consensus over frames: something agreed, or None (not yet / same passage)
    request(agreed, shot)    hand a decision request to the gate; the event it recorded, or None

``process(shot)`` runs the three for every sighting, then ``expire`` forgets what is stale. Windows,
cooldowns and clusters are measured on ``shot.mono`` (monotonic), so a wall-clock jump never ends a
passage; events are stamped by the gate's own clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np


@dataclass(frozen=True)
class Shot:
    """One analysed frame: the picture (RGB), its wall-clock stamp and its monotonic stamp."""

    rgb: np.ndarray
    ts: float  # wall clock (the daemon's injected clock; video time in every_frame mode)
    mono: float  # monotonic seconds: what windows and cooldowns compare


class Processor(ABC):
    """One credential read at one camera (``cam``: its CameraConfig), deciding through ``gate``."""

    credential: ClassVar[str]  # face | plate | qr

    def __init__(self, cam, config, recognizers, gate):
        self.cam = cam
        self.config = config
        self.recognizers = recognizers
        self.gate = gate

    def process(self, shot: Shot) -> list[dict]:
        """Analyse one frame; the events it caused (usually none)."""
        events = []
        for sighting in self.observe(shot):
            agreed = self.agree(sighting, shot)
            if agreed is None:
                continue
            event = self.request(agreed, shot)
            if event is not None:
                events.append(event)
        self.expire(shot.mono)
        return events

    @abstractmethod
    def observe(self, shot: Shot) -> Iterable:
        """The sightings in this frame (faces with their match, plate readings, QR codes)."""

    @abstractmethod
    def agree(self, sighting, shot: Shot):
        """Record a sighting; what was agreed over frames, once per passage, else None."""

    @abstractmethod
    def request(self, agreed, shot: Shot) -> dict | None:
        """Ask the gate to decide; the event recorded, or None when there is nothing to ask."""

    def expire(self, mono: float) -> None:  # noqa: B027 - optional hook, nothing to forget by default
        """Forget stale hits and finished passages (monotonic seconds)."""
