"""Issue 30, item 4: a gate whose face encoder is not the site's says so, naming both, until they agree."""

from __future__ import annotations

from edge.site.replica.records import Records


class Alerts:
    def __init__(self):
        self.calls = []

    def device(self, device, ok, detail=None):
        self.calls.append((device, ok, None if detail is None else str(detail)))


def records(encoder):
    alerts = Alerts()
    found = Records(None, None, None, alerts, None, topics=None, summary=None, adoption=None, resync=None,
                    lock=None, clock=None, encoder_name=encoder)
    return found, alerts


def test_a_gate_on_ensemble_yunet_under_ensemble_settings_raises_a_faces_encoder_alert_naming_both():
    found, alerts = records("ensemble-yunet")
    found._check_encoder("ensemble")
    [(device, ok, text)] = alerts.calls
    assert (device, ok) == ("faces-encoder", False)
    assert "'ensemble'" in text and "'ensemble-yunet'" in text
    found._check_encoder("ensemble-yunet")  # the site switched: the alert clears
    assert alerts.calls[-1][:2] == ("faces-encoder", True)


def test_no_alert_without_a_face_camera_or_a_site_encoder():
    for gate, site in (("ensemble", "ensemble"), (None, "ensemble"), ("ensemble-yunet", None)):
        found, alerts = records(gate)
        found._check_encoder(site)
        assert all(ok for _, ok, _ in alerts.calls), (gate, site)
