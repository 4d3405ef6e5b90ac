"""``gate-edge cmd``: sign a command for a gate, publish it, wait for its ``cmd/result`` and print it.

The technician's, the office's and the demo's tool (DESIGN 4.1). It signs with the config's
``mqtt.command_key_file`` for ``<site>/<GATE>/<verb>`` (``edge.remote.new_command``), connects as
``<client_id>-cmd-<random>`` (never the daemon's own id, which would kick the daemon off), subscribes to
``P/<GATE>/cmd/result`` before it publishes on ``P/<GATE>/cmd/<verb>`` at QoS 1, and prints the result
with its request_id as one JSON line.

Exit codes: 0 the gate did it; 1 the gate refused it (the result's ``error`` says why); 2 no answer
within ``--timeout``, the broker cannot be reached or refused us, or bad arguments / config.
"""

from __future__ import annotations

import json
import re
import secrets
import sys
import threading
import time

from edge.commands import UsageError, emit, load

_GATE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # edge.config.base.Identifier
RESERVED = ("registry", "office", "alert")  # DESIGN 4.3: never gate names


def _fail(message: str) -> int:
    print(f"gate-edge cmd: {message}", file=sys.stderr)
    return 2


def _fields(args) -> dict:
    """The command's body fields from the arguments, or UsageError."""
    if args.verb != "open" and (args.lane is not None or args.barrier is not None):
        raise UsageError(f"--lane and --barrier go with 'open', not {args.verb!r}")
    if args.verb != "pay" and (args.session is not None or args.amount_cents is not None):
        raise UsageError(f"--session and --amount-cents go with 'pay', not {args.verb!r}")
    if args.verb == "open":
        fields = {"lane": args.lane or "in"}
        if args.barrier is not None:
            fields["barrier"] = args.barrier
        return fields
    if args.verb == "pay":
        if args.session is None or args.amount_cents is None:
            raise UsageError("pay needs --session SESSION_ID and --amount-cents N")
        if args.amount_cents < 0:
            raise UsageError(f"--amount-cents must be 0 or more, not {args.amount_cents}")
        return {"session_id": args.session, "amount_cents": args.amount_cents}
    return {}


def _command_key(config, path):
    """The office's command.key (Ed25519) from an office config, or a local site's shared secret."""
    from edge.keys import KeyFileError
    from edge.remote import command_signer

    try:
        key = command_signer(config)
    except KeyFileError as exc:
        raise UsageError(str(exc)) from None
    if key is None:
        where = "commands.signing_key_file (the office's command.key)" if config.is_office else (
            "mqtt.command_key_file (the key the gates share for signed commands)")
        raise UsageError(f"{path}: {where} is not set; name the file holding it")
    return key


def cmd(args) -> int:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.contract import Topics
    from edge.mqtt_client import configure
    from edge.remote import new_command

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {args.timeout:g}")
    if not _GATE.match(args.gate):
        raise UsageError(f"--gate {args.gate!r} is not a gate name (letters, digits, '-', '_', '.')")
    if args.gate in RESERVED:
        raise UsageError(f"--gate {args.gate!r} is a reserved name, not a gate")
    fields = _fields(args)
    config = load(args)
    key = _command_key(config, args.config)
    topics = Topics(config.mqtt.topic_prefix, config.site, args.gate)
    body = new_command(args.verb, site=config.site, gate=args.gate, key=key, zone=config.zone, **fields)
    request_id = body["request_id"]
    where = f"{config.mqtt.host}:{config.mqtt.port}"
    deadline = time.monotonic() + args.timeout

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
    client.connect_timeout = max(0.5, min(args.timeout, 10.0))
    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    client.on_publish, client.on_message = on_publish, on_message
    try:
        client.connect(config.mqtt.host, config.mqtt.port, config.mqtt.keepalive_s, clean_start=True)
    except (OSError, ValueError) as exc:  # refused, unreachable, TLS (ssl.SSLError is an OSError)
        return _fail(f"cannot reach the broker at {where}: {exc}")
    client.loop_start()
    try:
        if not wait("connack"):
            return _fail(f"the broker at {where} did not answer the connection within {args.timeout:g} s")
        if state["connack"].is_failure:
            return _fail(f"the broker at {where} refused the connection: {state['connack']} "
                         "(check mqtt.username, password_file and tls)")
        client.subscribe(topics.command_result, qos=1)
        if not wait("suback"):
            return _fail(f"no answer from the broker at {where} to subscribing to {topics.command_result}")
        if state["suback"] is None or state["suback"].is_failure:
            return _fail(f"the broker refused our subscription to {topics.command_result}: {state['suback']}")
        client.publish(topics.command(args.verb), json.dumps(body, ensure_ascii=False), qos=1)
        if not wait("puback"):
            return _fail(f"the broker at {where} did not acknowledge the command within {args.timeout:g} s")
        if state["puback"].is_failure:
            return _fail(f"the broker refused to take the command on {topics.command(args.verb)}: "
                         f"{state['puback']} (check the broker's ACL)")
        if not wait("result"):
            return _fail(f"no answer from gate {args.gate!r} on {topics.command_result} within {args.timeout:g} s "
                         f"(request_id {request_id}); is the gate running and connected to {where}?")
    finally:
        client.disconnect()
        client.loop_stop()
    result = state["result"]
    emit(result)
    return 0 if result.get("ok") is True else 1


def register(sub) -> None:
    p = sub.add_parser(
        "cmd", help="sign a command for a gate, send it, wait for its cmd/result and print it "
                    "(exit 0 ok, 1 refused, 2 no answer)",
    )
    p.add_argument("-c", "--config", required=True, help="a config with the broker and mqtt.command_key_file")
    p.add_argument("--gate", required=True, help="the gate to command (its name in the topics: east, west…)")
    p.add_argument("verb", choices=["open", "pay", "reload"])
    p.add_argument("--lane", choices=["in", "out"], help="open: the lane to open (default in)")
    p.add_argument("--barrier", help="open: the barrier id (default: the one serving the lane)")
    p.add_argument("--session", help="pay: the parking session id")
    p.add_argument("--amount-cents", type=int, help="pay: the amount paid, in cents")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the gate's answer (default 10)")
    p.set_defaults(func=cmd)
