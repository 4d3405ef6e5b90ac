"""``gate-edge cmd``: sign a command for a gate, publish it, wait for its ``cmd/result`` and print it.

The technician's, the office's and the demo's tool (DESIGN 4.1). It signs with the config's
``mqtt.command_key_file`` for ``<site>/<GATE>/<verb>`` (``edge.site.remote.new_command``), connects as
``<client_id>-cmd-<random>`` (never the daemon's own id, which would kick the daemon off), subscribes to
``P/<GATE>/cmd/result`` before it publishes on ``P/<GATE>/cmd/<verb>`` at QoS 1, and prints the result
with its request_id as one JSON line (the work is ``edge.site.command_client.send_command``).

Exit codes: 0 the gate did it; 1 the gate refused it (the result's ``error`` says why); 2 no answer
within ``--timeout``, the broker cannot be reached or refused us, or bad arguments / config.
"""

from __future__ import annotations

import sys

from edge.cli.commands import UsageError, command, emit, load


def _fail(message: str) -> int:
    print(f"gate-edge cmd: {message}", file=sys.stderr)
    return 2


def _fields(args) -> dict:
    """The command's body fields from the arguments, or UsageError."""
    if args.verb != "open" and (args.lane is not None or args.barrier is not None):
        raise UsageError(f"--lane and --barrier go with 'open', not {args.verb!r}")
    if args.verb not in ("pay", "correct") and args.session is not None:
        raise UsageError(f"--session goes with 'pay' or 'correct', not {args.verb!r}")
    if args.verb != "pay" and args.amount_cents is not None:
        raise UsageError(f"--amount-cents goes with 'pay', not {args.verb!r}")
    if args.verb != "correct" and (args.plate is not None or args.exit_event is not None):
        raise UsageError(f"--plate and --exit-event go with 'correct', not {args.verb!r}")
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
    if args.verb == "correct":
        if args.session is None or (args.plate is None and args.exit_event is None):
            raise UsageError("correct needs --session SESSION_ID and --plate PLATE or --exit-event EVENT_ID (or both)")
        fields = {"session_id": args.session}
        if args.plate is not None:
            fields["plate"] = args.plate
        if args.exit_event is not None:
            fields["exit_event_id"] = args.exit_event
        return fields
    return {}


def cmd(args) -> int:
    from edge.contract import GateNameError, check_gate_name
    from edge.site.command_client import CommandError, CommandKeyError, command_key, send_command

    if args.timeout <= 0:
        raise UsageError(f"--timeout must be more than 0 seconds, not {args.timeout:g}")
    try:
        check_gate_name(args.gate)
    except GateNameError as exc:
        raise UsageError(f"--gate {args.gate!r} is a reserved name, not a gate" if exc.reserved else
                         f"--gate {args.gate!r} is not a gate name (letters, digits, '-', '_', '.')") from None
    fields = _fields(args)
    config = load(args)
    try:
        key = command_key(config, args.config)
    except CommandKeyError as exc:
        raise UsageError(str(exc)) from None
    try:
        result = send_command(config, args.gate, args.verb, fields, args.timeout, key=key)
    except CommandError as exc:
        return _fail(str(exc))
    emit(result)
    return 0 if result.get("ok") is True else 1


def register(sub) -> None:
    from edge.contract import COMMAND_VERBS

    p = command(sub, "cmd", cmd, "sign a command for a gate, send it, wait for its cmd/result and print it "
                "(exit 0 ok, 1 refused, 2 no answer)", config_help="a config with the broker and mqtt.command_key_file")
    p.add_argument("--gate", required=True, help="the gate to command (its name in the topics: east, west…)")
    p.add_argument("verb", choices=list(COMMAND_VERBS))
    p.add_argument("--lane", choices=["in", "out"], help="open: the lane to open (default in)")
    p.add_argument("--barrier", help="open: the barrier id (default: the one serving the lane)")
    p.add_argument("--session", help="pay, correct: the parking session id")
    p.add_argument("--amount-cents", type=int, help="pay: the amount paid, in cents")
    p.add_argument("--plate", help="correct: the session's car is this plate (the reading was wrong)")
    p.add_argument("--exit-event", help="correct: the event id of an exit held with no session: that car is the "
                   "session's")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the gate's answer (default 10)")
