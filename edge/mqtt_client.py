"""How we connect to the broker: user name / password file and TLS, in one place.

Used by the daemon's link (``edge.mqtt_link``) and by ``gate-edge cmd``, so both authenticate the
same way from the same ``mqtt:`` section.
"""

from __future__ import annotations

import ssl


def configure(client, mqtt_config) -> None:
    """Set ``client``'s credentials and TLS from an ``mqtt:`` config section (``MqttConfig``)."""
    if mqtt_config.username:
        password = None
        if mqtt_config.password_file:
            password = mqtt_config.password_file.read_text(encoding="utf-8").strip()
        client.username_pw_set(mqtt_config.username, password)
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
