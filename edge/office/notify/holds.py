"""What holds a message back (DESIGN 7): storms hold the steps to contacts, quiet hours device messages.

``Storms`` (for ``edge.office.notify.steps.Notices``): more than ``storm.alerts`` care-watch alerts raised
within ``storm.minutes``, or a gate with an open camera or clock alert, is a camera or a clock, not many
deaths; the steps to ``CHANNEL:contacts`` are held meanwhile and the duty recipients are told once per
storm (an open ``storm`` row in notify_alerts until it ends).
``quiet_until``: inside ``quiet_hours.device`` (site time), the end of the window; device messages wait
for it, care-watch never waits.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from edge.office.notify import text


class Storms:
    def __init__(self, config, store, recipients, *, wake):
        """``recipients``: ``edge.office.notify.recipients.Recipients``; ``wake()``: the delivery worker
        has something to send (called after the commit)."""
        self.config = config
        self.store = store
        self.recipients = recipients
        self.wake = wake

    def current(self, now: float) -> tuple[int, list[str]] | None:
        """(care-watch alerts raised within the window, gates with an open camera or clock alert) when it
        storms, else None."""
        rule, store = self.config.notify.storm, self.store
        count = store.alerts.count_raised_since("inactivity", now - rule.minutes * 60)
        gates = set()
        for alert in store.alerts.all(state="raised"):
            if alert["kind"] == "device":
                gate, device = self.recipients.gate_and_device(alert["subject"])
                if gate is not None and (device.split(":")[0] == "camera" or device == "clock"):
                    gates.add(gate)
        return (count, sorted(gates)) if count > rule.alerts or gates else None

    def tell(self, storm: tuple[int, list[str]], now: float) -> None:
        """The duty recipients are told once per storm (an open ``storm`` row until it ends)."""
        store, recipients = self.store, self.recipients
        if store.notifications.open_alerts("storm"):
            return
        row = store.notifications.open_alert(f"storm:{now:.0f}", "storm", None, None, now)
        for recipient in recipients.duty():
            channel, address, audience = recipients.target(recipient)
            said = text.storm(storm[0], self.config.notify.storm.minutes, storm[1], audience)
            recipients.queue(row, "storm", "storm", recipient, channel, address, said, now)
        store.after_commit(self.wake)


def quiet_until(window: str | None, now: float, zone) -> float | None:
    """The end of ``window`` ("HH:MM-HH:MM" in ``zone``, possibly across midnight) when ``now`` is inside
    it, else None (also when there is no window)."""
    if window is None:
        return None
    local = datetime.fromtimestamp(now, zone)
    start, end = ((int(part) for part in t.split(":")) for t in window.split("-"))
    start, end = local.replace(hour=next(start), minute=next(start), second=0, microsecond=0), \
        local.replace(hour=next(end), minute=next(end), second=0, microsecond=0)
    if start < end:
        return end.timestamp() if start <= local < end else None
    if local >= start:
        return (end + timedelta(days=1)).timestamp()
    return end.timestamp() if local < end else None
