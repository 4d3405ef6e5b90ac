"""Credential processors: what a camera worker runs over each analysed frame.

``processors_for(cam, …)`` builds a camera's list from its role (``face`` or ``plate``) and
``read_qr`` (on by default: an unlicensed car's pass is shown at the car lane). The interface is
``edge.gate.credentials.base.Processor``.
"""

from __future__ import annotations

from edge.gate.credentials.base import Processor, Shot
from edge.gate.credentials.faces import FaceProcessor, StrangerClusters
from edge.gate.credentials.plates import PlateProcessor
from edge.gate.credentials.qr import QrProcessor

BY_ROLE: dict[str, type[Processor]] = {"face": FaceProcessor, "plate": PlateProcessor}

__all__ = ["BY_ROLE", "FaceProcessor", "PlateProcessor", "Processor", "QrProcessor", "Shot", "StrangerClusters",
           "processors_for"]


def processors_for(cam, config, recognizers, gate, pass_key=None) -> list[Processor]:
    """The processors of one camera (its CameraConfig): its role's, then QR passes when ``read_qr``."""
    chain: list[Processor] = [BY_ROLE[cam.role](cam, config, recognizers, gate)]
    if cam.read_qr:
        chain.append(QrProcessor(cam, config, recognizers, gate, pass_key))
    return chain
