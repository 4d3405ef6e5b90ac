"""Send one signed command to a gate and wait for its ``cmd/result`` (DESIGN 4.3, 6.1).

Used by ``gate-edge cmd`` (the technician's and the office's tool) and by the committee's console
("payment received", "remote open"). It signs with the office's ``command.key`` (or a local site's shared
secret) for ``<site>/<gate>/<verb>``, connects as ``<client_id>-cmd-<random>`` (never the service's own
id, which would kick the service off the broker), subscribes to ``P/<gate>/cmd/result`` before it
publishes on ``P/<gate>/cmd/<verb>`` at QoS 1, and returns the gate's result (``ok`` true or false).
"""

from __future__ import annotations

import json
import secrets
import threading
import time


class CommandError(Exception):
    """No answer: the broker cannot be reached or refused us, or the gate did not answer in time."""


class CommandKeyError(CommandError):
    """The config names no usable command key (a configuration problem)."""


def command_key(config, path=None):
    """The office's command.key (Ed25519) from an office config, or a local site's shared secret."""
    from edge.keys import KeyFileError
    from edge.remote import command_signer

    try:
        key = command_signer(config)
    except KeyFileError as exc:
        raise CommandKeyError(str(exc)) from None
    if key is None:
        where = "commands.signing_key_file (the office's command.key)" if config.is_office else (
            "mqtt.command_key_file (the key the gates share for signed commands)")
        raise CommandKeyError(f"{path or 'the config'}: {where} is not set; name the file holding it")
    return key


def send_command(config, gate: str, verb: str, fields: dict | None = None, timeout: float = 10.0, *,
                 key=None, now: float | None = None) -> dict:
    """Sign ``verb`` with ``fields`` for ``gate``, publish it and return the gate's ``cmd/result`` (a dict
    with ``request_id`` and ``ok``; ``error`` when the gate refused). Raises CommandError when there is no
    answer within ``timeout`` seconds (all of it: connect, subscribe, publish and the gate's answer).
    ``now``: the sender's clock (the office's one clock); by default the clock ``config`` declares."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.contract import Topics
    from edge.mqtt_client import configure
    from edge.remote import new_command

    if key is None:
        key = command_key(config)
    topics = Topics(config.mqtt.topic_prefix, config.site, gate)
    if now is None:
        from edge.timeutil import clock_from_config

        now = clock_from_config(config)()
    body = new_command(verb, site=config.site, gate=gate, key=key, zone=config.zone, now=now, **(fields or {}))
    request_id = body["request_id"]
    where = f"{config.mqtt.host}:{config.mqtt.port}"
    deadline = time.monotonic() + timeout

    state = {"connack": None, "suback": None, "puback": None, "result": None}
    changed = threading.Condition()

    def note(name, value) -> None:
        with changed:
            state[name] = value
            changed.notify_all()

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        note("connack", reason_code)

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
        note("suback", reason_codes[0] if reason_codes else None)

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        note("puback", reason_code)

    def on_message(client, userdata, message) -> None:
        try:
            result = json.loads(message.payload)
        except ValueError:
            return
        if isinstance(result, dict) and result.get("request_id") == request_id:
            note("result", result)

    def wait(name) -> bool:
        with changed:
            return changed.wait_for(lambda: state[name] is not None, max(0.0, deadline - time.monotonic()))

    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{config.client_id}-cmd-{secrets.token_hex(4)}",
                         protocol=mqtt.MQTTv5, reconnect_on_failure=False)
    configure(client, config.mqtt)
    client.connect_timeout = max(0.5, min(timeout, 10.0))
    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_publish, client.on_message = on_publish, on_message
    try:
        client.connect(config.mqtt.host, config.mqtt.port, config.mqtt.keepalive_s, clean_start=True)
    except (OSError, ValueError) as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
        raise CommandError(f"cannot reach the broker at {where}: {exc}") from None
    client.loop_start()
    try:
        if not wait("connack"):
            raise CommandError(f"the broker at {where} did not answer the connection within {timeout:g} s")
        if state["connack"].is_failure:
            raise CommandError(f"the broker at {where} refused the connection: {state['connack']} "
                               "(check mqtt.username, password_file and tls)")
        client.subscribe(topics.command_result, qos=1)
        if not wait("suback"):
            raise CommandError(f"no answer from the broker at {where} to subscribing to {topics.command_result}")
        if state["suback"] is None or state["suback"].is_failure:
            raise CommandError(f"the broker refused our subscription to {topics.command_result}: {state['suback']}")
        client.publish(topics.command(verb), json.dumps(body, ensure_ascii=False), qos=1)
        if not wait("puback"):
            raise CommandError(f"the broker at {where} did not acknowledge the command within {timeout:g} s")
        if state["puback"].is_failure:
            raise CommandError(f"the broker refused to take the command on {topics.command(verb)}: "
                               f"{state['puback']} (check the broker's ACL)")
        if not wait("result"):
            raise CommandError(f"no answer from gate {gate!r} on {topics.command_result} within {timeout:g} s "
                               f"(request_id {request_id}); is the gate running and connected to {where}?")
    finally:
        client.disconnect()
        client.loop_stop()
    return state["result"]
