"""The office's notification parts without a broker, for the steps' tests: the office's config (loaded from a
real YAML file, ``notify:`` as DESIGN 7 shows it), its database, the archive that receives the gates' signed
alerts (``AlertArchive`` with ``Notices``), the office's own alerts (``edge.alerts.Alerts``), the
acknowledgements, all on a declared simulated clock (``FixedClock``: tests move it, never sleep).

``NotifySite.care_alert(person)`` has gate west raise a care-watch alert for the person (signed, as a gate
does); ``cleared(...)`` clears it with a sighting; ``queued()`` lists what was queued as
(alert_id, step, recipient). ``publish_care_alert`` has gate west publish one on a real broker instead (for a
running office).
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import yaml

SITE = "tianlin12"
ZONE = ZoneInfo("Asia/Shanghai")
DUTY_PHONE = "13800000000"
LEADER_PHONE = "13700000000"


def site_time(text: str) -> float:
    """``"2026-12-03 10:00"`` in the site's time zone, as an epoch."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE).timestamp()


NOTIFY = {
    "channels": {"duty-group": {"type": "wecom", "url_file": "wecom.url"},
                 "staff-group": {"type": "wecom", "url_file": "wecom.url", "detail": "full"},
                 "modem": {"type": "sms", "port": "/dev/ttyUSB2"}},
    "care_watch": [{"after_minutes": 0, "to": ["duty-group"]},
                   {"after_minutes": 30, "to": [f"modem:{DUTY_PHONE}"]},
                   {"after_minutes": 120, "to": [f"modem:{LEADER_PHONE}", "modem:contacts"]}],
    "device": [{"after_minutes": 10, "to": ["duty-group", f"modem:{DUTY_PHONE}"]}],
    "quiet_hours": {"device": "22:00-07:00"},
    "roll_call": {"at": "08:30", "unseen_hours": 24, "to": ["duty-group", "staff-group"]},
    "storm": {"alerts": 5, "minutes": 60},
}


def write_office_config(folder: Path, notify: dict, **extra) -> Path:
    from edge.keys import write_gate_key, write_site_keys

    keys = folder / "keys"
    write_site_keys(keys)
    for gate in ("east", "west"):
        write_gate_key(keys, gate)
    (folder / "wecom.url").write_text("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=secret\n")
    path = folder / "office.yaml"
    path.write_text(yaml.safe_dump({
        "role": "office", "site": SITE, "database": str(folder / "office.db"), "timezone": "Asia/Shanghai",
        "registry": {"signing_key_file": str(keys / "registry.key")},
        "gates": {"east": str(keys / "east.pub"), "west": str(keys / "west.pub")},
        "site_settings": {"inactivity": {"threshold_hours": 48}},
        "notify": notify, **extra}, allow_unicode=True))
    return path


class NotifySite:
    def __init__(self, folder: Path, start: float, notify: dict | None = None):
        from edge.alerts import Alerts
        from edge.config import load_config
        from edge.keys import Verifier, load_signer
        from edge.office.alert_archive import AlertArchive
        from edge.office.notify.ack import Acknowledgements
        from edge.office.notify.steps import Notices
        from edge.store import Store
        from edge.timeutil import FixedClock

        self.config = load_config(write_office_config(folder, NOTIFY if notify is None else notify))
        self.clock = FixedClock(start)
        self.store = Store(self.config.database)
        self.store.clock = self.clock
        self.woken = 0
        self.notices = Notices(self.config, self.store, clock=self.clock, wake=self._woken)
        self.acks = Acknowledgements(self.config, self.store, self.notices, clock=self.clock)
        self.signers = {gate: load_signer(folder / "keys" / f"{gate}.key") for gate in ("east", "west")}
        verifiers = {gate: Verifier([signer.public_key]) for gate, signer in self.signers.items()}
        self.quarantined: list = []
        self.archive = AlertArchive(self.store, SITE, verifiers.get, clock=self.clock,
                                    quarantine=lambda *a: self.quarantined.append(a), announce=lambda p: None,
                                    notices=self.notices)
        self.alerts = Alerts(self.config, self.store, clock=self.clock, notices=self.notices)  # the office's own
        self._seq = {"east": 0, "west": 0}

    def _woken(self) -> None:
        self.woken += 1

    def close(self) -> None:
        self.store.close()

    def minutes(self, n: float) -> None:
        self.clock.advance(n * 60)

    # -- what the gates say --------------------------------------------------------------------
    def _signed(self, gate: str, body: dict) -> bytes:
        from edge.keys import sign_record

        self._seq[gate] += 1
        return json.dumps(sign_record(self.signers[gate], {**body, "gate": gate, "seq": self._seq[gate]})).encode()

    def resident(self, name: str, unit: str, phone: str | None = None, care_watch: bool = True) -> int:
        return self.store.people.add(name, unit, phone, care_watch=care_watch)

    def seen(self, person: int, epoch: float, gate: str = "west") -> str:
        """A sighting of ``person`` at ``gate`` archived (its event and the last-seen time)."""
        from edge.contract import event_payload, subject
        from edge.timeutil import iso

        event = event_payload(event_id=str(uuid.uuid4()), seq=None, ts=iso(epoch, ZONE), site=SITE, gate=gate,
                              lane="in", kind="entry", credential="face", subject=subject("person", person_id=person),
                              decision="open", reason="ok", fee_cents=None, session_id=None)
        with self.store.transaction():
            self.store.events.add_peer(event, epoch)
            self.store.sightings.note(f"person:{person}", epoch, gate, event["event_id"])
        return event["event_id"]

    def care_alert(self, person: int, unit: str, last_seen: float, gate: str = "west", expect: str = "applied") -> str:
        """Gate ``gate`` raises the care-watch alert of ``person`` last seen at ``last_seen``, now (``expect``:
        the archive's answer, "duplicate" for one it holds)."""
        from edge.contract import inactivity_alert_id, inactivity_payload
        from edge.timeutil import iso

        alert_id = inactivity_alert_id(SITE, person, last_seen)
        now = self.clock()
        body = inactivity_payload(alert_id, "raised", person, unit, iso(last_seen, ZONE),
                                  round((now - last_seen) / 3600, 1), iso(now, ZONE))
        outcome = self.archive.receive("inactivity", None, self._signed(gate, body), f"gate/{SITE}/alert/inactivity")
        assert outcome == expect, (outcome, self.quarantined)
        return alert_id

    def cleared(self, alert_id: str, person: int, unit: str, gate: str = "east") -> None:
        """``person`` passes ``gate`` now; the gate clears the alert naming that sighting."""
        from edge.contract import inactivity_payload
        from edge.timeutil import iso

        now = self.clock()
        event_id = self.seen(person, now, gate)
        body = inactivity_payload(alert_id, "cleared", person, unit, iso(now, ZONE), 0.0, iso(now, ZONE))
        outcome = self.archive.receive("inactivity", None, self._signed(gate, {**body, "event_id": event_id}),
                                       f"gate/{SITE}/alert/inactivity")
        assert outcome == "applied", (outcome, self.quarantined)

    def gate_device(self, gate: str, device: str, state: str, detail: str = "not answering") -> str:
        """A gate's device alert (``camera:cam-in``, ``clock``) raised or cleared now; its alert id."""
        from edge.contract import device_alert_payload
        from edge.timeutil import iso

        open_alert = self.store.alerts.open_device(f"{gate}:{device}")
        alert_id = open_alert["alert_id"] if open_alert else str(uuid.uuid4())
        body = device_alert_payload(alert_id, device, state, detail, iso(self.clock(), ZONE))
        outcome = self.archive.receive("device", gate, self._signed(gate, body), f"gate/{SITE}/{gate}/alert/device")
        assert outcome == "applied", (outcome, self.quarantined)
        return alert_id

    # -- what was queued ----------------------------------------------------------------------
    def messages(self, alert_id: str | None = None) -> list[dict]:
        found = reversed(self.store.notifications.recent(100_000))  # oldest first
        return [m for m in found if alert_id is None or m["alert_id"] == alert_id]

    def queued(self, alert_id: str | None = None) -> list[tuple[str, str, str]]:
        return [(m["alert_id"], m["step"], m["recipient"]) for m in self.messages(alert_id)]

    def deliver_all(self) -> None:
        """What the delivery worker does once a message is taken: queued -> sending -> sent."""
        for message in self.store.notifications.due(self.clock(), 1000):
            with self.store.transaction():
                self.store.notifications.claim(message["message_id"])
                self.store.notifications.sent(message["message_id"], self.clock())


def publish_care_alert(folder: Path, broker_port: int, zone, person: int, unit: str, hours: float = 49.0) -> str:
    """Gate west publishes the care-watch alert of ``person`` last seen ``hours`` ago, signed with its key
    (``folder/keys/west.key``) and under its own broker login, as the gate does; its alert id."""
    import time

    import paho.mqtt.client as mqtt
    from test_site import PASSWORDS

    from edge.contract import inactivity_alert_id, inactivity_payload
    from edge.keys import load_signer, sign_record
    from edge.timeutil import iso

    last, now = time.time() - hours * 3600, time.time()
    alert_id = inactivity_alert_id(SITE, person, last)
    body = inactivity_payload(alert_id, "raised", person, unit, iso(last, zone), hours, iso(now, zone))
    signed = sign_record(load_signer(folder / "keys" / "west.key"), {**body, "gate": "west", "seq": 1})
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="west", protocol=mqtt.MQTTv5)
    client.username_pw_set("west", PASSWORDS["west"])
    client.connect("127.0.0.1", broker_port)
    client.loop_start()
    try:
        client.publish(f"gate/{SITE}/alert/inactivity", json.dumps(signed), qos=1).wait_for_publish(10)
    finally:
        client.loop_stop()
        client.disconnect()
    return alert_id
