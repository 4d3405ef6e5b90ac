"""QR passes: a code in our pass format is verified and decided; any other code is ignored.

A "move my car" phone number on a windscreen, a delivery label or a URL is not one of our passes, so it
makes no event at all (logged at debug). Only a code that parses as a gate-edge pass (``GE1:``/``GE2:``,
``edge.registry.passes.parse_token``) and fails verification (forged, expired, revoked …) is ``denied``.
"""

from __future__ import annotations

import logging

from edge.gate.credentials.base import Processor, Shot
from edge.registry.passes import check_pass
from edge.rules.consensus import Consensus

_LOG = logging.getLogger(__name__)
QR_COOLDOWN_S = 10.0


class QrProcessor(Processor):
    """Any camera with ``read_qr``: a pass held up to it, once per passage (``QR_COOLDOWN_S``).

    ``pass_key`` is what passes are verified with (``edge.registry.passes.pass_checker``); the daemon replaces
    it on ``reload``."""

    credential = "qr"

    def __init__(self, cam, config, recognizers, gate, pass_key=None):
        super().__init__(cam, config, recognizers, gate)
        self.pass_key = pass_key
        self.consensus = Consensus(1, 1.0, QR_COOLDOWN_S)

    def observe(self, shot: Shot) -> list:
        return self.recognizers.qr.read(shot.rgb, self.cam.roi)

    def agree(self, code, shot: Shot):
        # The same code still held up to the camera is one passage (also a foreign one: logged once).
        return None if self.consensus.add(self.cam.lane, code.text, shot.mono) is None else code

    def request(self, code, shot: Shot) -> dict | None:
        check = check_pass(code.text, self.pass_key, self.recognizers.store)
        if check.claim is None:
            _LOG.debug("camera %s: ignored a QR code that is not a gate-edge pass", self.cam.id)
            return None
        return self.gate.qr_pass(self.cam.lane, check, camera=self.cam)

    def expire(self, mono: float) -> None:
        self.consensus.expire(mono)
