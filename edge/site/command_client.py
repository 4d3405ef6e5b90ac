"""Send one signed command to a gate and wait for its ``cmd/result`` (DESIGN 4.3, 6.1).

Used by ``gate-edge cmd`` (the technician's and the office's tool) and by the committee's console
("payment received", "remote open"). It signs with the office's ``command.key`` (or a local site's shared
secret) for ``<site>/<gate>/<verb>`` and returns the gate's result (``ok`` true or false).

``send_command`` (``gate-edge cmd``) opens a connection of its own under ``mqtt.cmd_login``: the site's
broker ties each login to one client id, so the service's login would take the service's session over.
Without ``cmd_login`` (a local site's broker) it uses the config's own login as ``<client_id>-cmd-<random>``;
an office config without it is refused. It subscribes to ``P/<gate>/cmd/result`` before it publishes on
``P/<gate>/cmd/<verb>`` at QoS 1.

``OfficeCommands`` sends the console's commands over the office's one long-lived connection (which reads
``P/#``, results included): no connection, and no login, per command.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time

from edge.schemas.phrases import tell


class CommandError(Exception):
    """No answer: the broker cannot be reached or refused us, or the gate did not answer in time. ``said``:
    the message, marked for the console's catalog where it is written with ``tell``."""

    def __init__(self, said):
        self.said = said
        super().__init__(str(said))


class CommandKeyError(CommandError):
    """The config names no usable command key (a configuration problem)."""


class _Answers:
    """What one command is answered (the broker's CONNACK, SUBACK, PUBACK; the gate's result), noted as it
    arrives on another thread and waited for until one deadline: ``timeout`` covers every step."""

    def __init__(self, names: tuple[str, ...], timeout: float, changed: threading.Condition | None = None):
        self._values = dict.fromkeys(names)
        self._deadline = time.monotonic() + timeout
        self._changed = changed if changed is not None else threading.Condition()

    def __getitem__(self, name: str):
        return self._values[name]

    def note(self, name: str, value) -> None:
        with self._changed:
            self._values[name] = value
            self._changed.notify_all()

    def wait(self, name: str) -> bool:
        """True once ``name`` is answered; False at the deadline."""
        with self._changed:
            return self._changed.wait_for(lambda: self._values[name] is not None,
                                          max(0.0, self._deadline - time.monotonic()))


def _gate_answer(answers: _Answers, topics, verb: str, gate: str, request_id: str, timeout: float,
                 where: str | None = None) -> dict:
    """After the broker's PUBACK: the gate's result, or CommandError when the broker refused the command (its
    ACL) or the gate did not answer in time. ``where``: the broker's address, said when it is ours to check."""
    if answers["puback"].is_failure:
        raise CommandError(tell("the broker refused to take the command on {topic}: {detail} (check the broker's "
                                "ACL)", topic=topics.command(verb), detail=str(answers["puback"])))
    if not answers.wait("result"):
        if where is None:  # the office's own connection: the console has no broker address to check
            raise CommandError(tell("no answer from gate {gate!r} on {topic} within {seconds:g} s (request_id "
                                    "{request_id}); is the gate running and connected?", gate=gate,
                                    topic=topics.command_result, seconds=timeout, request_id=request_id))
        raise CommandError(tell("no answer from gate {gate!r} on {topic} within {seconds:g} s (request_id "
                                "{request_id}); is the gate running and connected to {where}?", gate=gate,
                                topic=topics.command_result, seconds=timeout, request_id=request_id, where=where))
    return answers["result"]


def command_key(config, path=None):
    """The office's command.key (Ed25519) from an office config, or a local site's shared secret."""
    from edge.keys import KeyFileError
    from edge.site.remote import command_signer

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

    from edge.contract import Refused, Topics, parse_command_result
    from edge.site.mqtt_client import configure, connect_properties
    from edge.site.remote import new_command

    if key is None:
        key = command_key(config)
    topics = Topics.of(config).for_gate(gate)
    if now is None:
        from edge.timeutil import clock_from_config

        now = clock_from_config(config)()
    body = new_command(verb, site=config.site, gate=gate, key=key, zone=config.zone, now=now, **(fields or {}))
    request_id = body["request_id"]
    where = f"{config.mqtt.host}:{config.mqtt.port}"
    answers = _Answers(("connack", "suback", "puback", "result"), timeout)

    def on_connect(client, userdata, flags, reason_code, properties) -> None:
        answers.note("connack", reason_code)

    def on_subscribe(client, userdata, mid, reason_codes, properties) -> None:
        answers.note("suback", reason_codes[0] if reason_codes else None)

    def on_publish(client, userdata, mid, reason_code, properties) -> None:
        answers.note("puback", reason_code)

    def on_message(client, userdata, message) -> None:
        try:
            result = parse_command_result(message.payload)
        except Refused:
            return
        if result.get("request_id") == request_id:
            answers.note("result", result)

    login = config.mqtt.cmd_login if config.mqtt.cmd_login.username else None
    if login is None and config.is_office and config.mqtt.username:
        raise CommandKeyError("mqtt.cmd_login is not set: the site's broker gives each login one client id, so "
                              f"the office's login {config.mqtt.username!r} would disconnect the office; give "
                              "gate-edge cmd a login of its own (README, The site's broker)")
    client_id = login.username if login else f"{config.client_id}-cmd-{secrets.token_hex(4)}"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
                         reconnect_on_failure=False)
    configure(client, config.mqtt, login)
    client.connect_timeout = max(0.5, min(timeout, 10.0))
    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_publish, client.on_message = on_publish, on_message
    try:
        client.connect(config.mqtt.host, config.mqtt.port, config.mqtt.keepalive_s, clean_start=True,
                       properties=connect_properties(0))
    except (OSError, ValueError) as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
        raise CommandError(tell("cannot reach the broker at {where}: {detail}", where=where, detail=str(exc))) from None
    client.loop_start()
    try:
        if not answers.wait("connack"):
            raise CommandError(tell("the broker at {where} did not answer the connection within {seconds:g} s",
                                    where=where, seconds=timeout))
        if answers["connack"].is_failure:
            raise CommandError(tell("the broker at {where} refused the connection: {detail} (check mqtt.username, "
                                    "password_file and tls)", where=where, detail=str(answers["connack"])))
        client.subscribe(topics.command_result, qos=1)
        if not answers.wait("suback"):
            raise CommandError(tell("no answer from the broker at {where} to subscribing to {topic}", where=where,
                                    topic=topics.command_result))
        if answers["suback"] is None or answers["suback"].is_failure:
            raise CommandError(tell("the broker refused our subscription to {topic}: {detail}",
                                    topic=topics.command_result, detail=str(answers["suback"])))
        client.publish(topics.command(verb), json.dumps(body, ensure_ascii=False), qos=1)
        if not answers.wait("puback"):
            raise CommandError(tell("the broker at {where} did not acknowledge the command within {seconds:g} s",
                                    where=where, seconds=timeout))
        return _gate_answer(answers, topics, verb, gate, request_id, timeout, where)
    finally:
        client.disconnect()
        client.loop_stop()


class OfficeCommands:
    """The console's commands over the office's link: published directly (never queued: an "open" the
    broker cannot take now is refused now, not done later), answered through ``received``."""

    def __init__(self, config, link, clock):
        """``link``: the office's MQTT link; its topics are the office's."""
        self.config = config
        self.link = link
        self.clock = clock
        self._waiting: dict[str, _Answers] = {}
        self._changed = threading.Condition()

    def received(self, payload: bytes) -> None:
        """A ``P/<gate>/cmd/result`` (the office's inbox thread)."""
        from edge.contract import Refused, parse_command_result

        try:
            result = parse_command_result(payload)
        except Refused:
            return
        with self._changed:
            answers = self._waiting.get(result.get("request_id"))
            if answers is not None:
                answers.note("result", result)

    def send(self, gate: str, verb: str, fields: dict | None = None, timeout: float = 10.0, *, key) -> dict:
        """As ``send_command``: the gate's result, or CommandError."""
        from edge.site.remote import new_command

        topics = self.link.topics.for_gate(gate)
        body = new_command(verb, site=self.config.site, gate=gate, key=key, zone=self.config.zone, now=self.clock(),
                           **(fields or {}))
        request_id = body["request_id"]
        answers = _Answers(("puback", "result"), timeout, self._changed)
        with self._changed:
            self._waiting[request_id] = answers
        try:
            acked = functools.partial(answers.note, "puback")
            if not self.link.publish_direct(topics.command(verb), json.dumps(body, ensure_ascii=False), acked):
                where = f"{self.config.mqtt.host}:{self.config.mqtt.port}"
                raise CommandError(tell("the office is not connected to the broker at {where} ({detail})",
                                        where=where, detail=self.link.last_error or "connecting"))
            if not answers.wait("puback"):
                raise CommandError(tell("the broker did not acknowledge the command within {seconds:g} s",
                                        seconds=timeout))
            return _gate_answer(answers, topics, verb, gate, request_id, timeout)
        finally:
            with self._changed:
                self._waiting.pop(request_id, None)
