"""How we connect to the broker: user name / password file, TLS and the largest packet we take, in one place.

Used by the daemon's and the office's link (``edge.site.mqtt_link``), by ``gate-edge cmd`` and by a gate waiting
for its database (``edge.gate.waiting``), so all authenticate the same way from the same ``mqtt:`` section.
A helper client passes its own ``login`` (``mqtt.cmd_login``, ``mqtt.waiting_login``): the site's broker
(``use_username_as_clientid``) gives each login one client id, so a helper under the service's login would
take over the service's session.
"""

from __future__ import annotations

import ssl

# The largest MQTT packet we accept (MQTT v5 CONNECT "Maximum Packet Size"): the broker never delivers a
# larger one to us (Mosquitto drops it for this client), so a 64 MB message on a topic we read cannot fill
# our memory. The site's broker refuses payloads above 1 MB (``message_size_limit``); this leaves room
# for the topic and properties around such a payload.
MAX_PACKET_BYTES = 1_048_576 + 65_536


def configure(client, mqtt_config, login=None) -> None:
    """Set ``client``'s credentials and TLS from an ``mqtt:`` config section (``MqttConfig``); ``login``
    (an ``mqtt.*_login`` section) instead of the section's own user name and password file."""
    who = login if login is not None and login.username else mqtt_config
    if who.username:
        password = None
        if who.password_file:
            password = who.password_file.read_text(encoding="utf-8").strip()
        client.username_pw_set(who.username, password)
    tls = mqtt_config.tls
    if tls.ca:
        client.tls_set(
            ca_certs=str(tls.ca),
            certfile=str(tls.cert) if tls.cert else None,
            keyfile=str(tls.key) if tls.key else None,
            cert_reqs=ssl.CERT_REQUIRED,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
        client.tls_insecure_set(bool(tls.insecure))


def connect_properties(session_expiry_s: int):
    """The CONNECT properties of every client of ours: its session's lifetime and ``MAX_PACKET_BYTES``."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    props.MaximumPacketSize = MAX_PACKET_BYTES
    return props
