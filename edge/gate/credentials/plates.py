"""Plates: readings of one vehicle voted over frames into one plate, matched against the registry."""

from __future__ import annotations

from edge.gate.credentials.base import Processor, Shot
from edge.rules.plate_vote import PlateVoter


class PlateProcessor(Processor):
    """A plate camera: a voted plate asks the gate to decide for that vehicle."""

    credential = "plate"

    def __init__(self, cam, config, recognizers, gate):
        super().__init__(cam, config, recognizers, gate)
        plate = config.recognition.plate
        self.voter = PlateVoter(plate.min_hits, plate.min_confidence, plate.window_s, plate.cooldown_s,
                                plate.agreeing_hits)

    def observe(self, shot: Shot) -> list:
        return self.recognizers.plates.read(shot.rgb, self.cam.roi)

    def agree(self, reading, shot: Shot):
        voted = self.voter.add(self.cam.lane, reading.text, reading.char_confidence, shot.mono, reading.box)
        return None if voted is None else (voted, reading)

    def request(self, agreed, shot: Shot) -> dict:
        voted, reading = agreed
        index = self.recognizers.plate_index()
        match = index.match(voted.text, voted.char_confidence, self.config.recognition.plate.province)
        extra = {"confidence": round(voted.confidence, 3), "camera": self.cam.id,
                 **({"color": reading.color} if reading.color else {})}
        return self.gate.vehicle(self.cam.lane, voted.text, camera=self.cam, match=match, extra=extra,
                                 look_alike=index.look_alike(voted.text) if match is None else None)
