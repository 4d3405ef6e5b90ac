"""What the gate recognises with, made ready before the first frame and re-read on the ``reload`` command.

At start: the models its cameras need are loaded (not on the first passer-by); on a gate that keeps its
own registry, face templates made by another encoder are re-enrolled from kept photos, and whoever has
none is named in the ``faces`` alert (in site mode the templates come from the office); the QR pass key
is read (a missing or bad key disables passes, with a log line, and nothing else).
On ``reload``: the templates, the plate index and the pass key are read again (the office edited the
registry or rotated the key behind the gate's back). Config changes still need a restart: they can move
cameras and barriers.
"""

from __future__ import annotations

import logging

from edge.schemas.phrases import say
from edge.store import StorageFailure

_LOG = logging.getLogger(__name__)


class RecognitionReady:
    def __init__(self, config, store, recognizers, alerts, guard):
        self.config = config
        self.store = store
        self.recognizers = recognizers
        self.alerts = alerts
        self.guard = guard
        self._roles = {c.role for c in config.cameras}

    def prepare(self):
        """Load the models the cameras need; returns the pass key (None: QR passes off)."""
        if "face" in self._roles and not self.config.site_mode:  # in site mode templates come from the office
            self._reconcile_encoder()
            self.recognizers.matcher()
        if "plate" in self._roles:
            self.recognizers.plates  # noqa: B018
        if any(c.read_qr for c in self.config.cameras):
            self.recognizers.qr  # noqa: B018
        return self.pass_key()

    def reload(self, workers) -> None:
        """Re-read templates, vehicles and the pass key; the workers verify passes with the new key."""
        self.recognizers.reload()
        templates = self.recognizers.matcher().size if "face" in self._roles else 0
        if "plate" in self._roles:
            self.recognizers.plate_index()
        pass_key = self.pass_key()
        for worker in workers:
            worker.pass_key = pass_key
        _LOG.info("reloaded: %d face templates, QR passes %s", templates, "on" if pass_key else "off")

    def pass_key(self):
        from edge.registry.passes import PassError, pass_checker

        try:
            return pass_checker(self.config)
        except (PassError, OSError) as exc:
            _LOG.error("QR passes disabled: %s", exc)
            return None

    def _reconcile_encoder(self) -> None:
        """Templates of another encoder are useless: re-enrol from kept photos, or say who must come."""
        from edge.registry.enrol import Enroller, reconcile_encoder

        try:
            result = reconcile_encoder(self.store, Enroller(self.config.recognition.face, self.recognizers.faces))
        except StorageFailure as exc:  # re-enrolment writes: done at a later start
            self.guard.failed(exc)
            return
        if result["reenrolled"]:
            _LOG.warning("re-enrolled %d people from their stored photos for encoder %s",
                         len(result["reenrolled"]), result["encoder"])
        missing = result["must_reenrol"]
        detail = None
        if missing:
            who = ", ".join(f"{m['person_id']} ({m['unit']})" for m in missing[:20])
            detail = say("faces_must_reenrol", count=len(missing), encoder=result["encoder"], who=who)
            _LOG.warning("%s", detail)
        self.alerts.device("faces", not missing, detail)
