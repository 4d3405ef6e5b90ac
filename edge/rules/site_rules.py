"""The rules one site applies at every gate: policy, parking, inactivity, face encoder (DESIGN 6.2).

A gate's own YAML values hold until the office's signed site settings arrive (``registry.source:
site``); from then on the office's apply, so the fee never depends on which gate a car leaves by.
Gate, Alerts, Jobs and ``query`` read them from here, never from the config directly.
"""

from __future__ import annotations


class SiteRules:
    """What the site decides for every gate: policy, parking, inactivity and the face encoder.

    A gate's own YAML values are used until the office's signed settings arrive; Gate, Alerts and Jobs
    read them from here, so a change applies without a restart.
    """

    def __init__(self, config):
        self.policy = config.policy
        self.parking = config.parking
        self.inactivity = config.inactivity
        self.face_encoder = None  # None: the gate's own configured encoder
        self.from_office = False

    def update(self, settings: dict) -> None:
        from edge.config.rules import InactivityConfig, ParkingConfig, PolicyConfig

        self.policy = _known(PolicyConfig, settings.get("policy", {}))
        self.parking = _known(ParkingConfig, settings.get("parking", {}))
        self.inactivity = _known(InactivityConfig, settings.get("inactivity", {}))
        self.face_encoder = settings.get("face_encoder")
        self.from_office = True

    @classmethod
    def for_store(cls, config, store) -> SiteRules:
        """The rules in force for a gate's database: the stored site settings, else the config's."""
        rules = cls(config)
        settings = store.records.get("settings") if getattr(config, "site_mode", False) else None
        if settings:
            rules.update(settings)
        return rules


def _known(section, values: dict):
    """``section`` made of the keys it knows: a newer office may publish keys this gate does not know yet
    (``parking.exit_without_entry`` once was one); a rolling upgrade ignores them, as receivers ignore
    unknown fields, rather than refuse the site's settings."""
    return section(**{k: v for k, v in values.items() if k in section.model_fields})
