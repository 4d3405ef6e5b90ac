"""``simulate-modem``: a GSM modem on a serial port or a new pty, for demos and tests of the ``sms`` channel.

Standard output is for programs: its first line names the path to put in the channel's ``port:``, then
each SMS the modem "sends" is one JSON line ``{"to", "text"}`` (a long one put back together). Standard
input drives it: ``sms FROM TEXT`` (an SMS arriving from FROM), ``fault none|silent|garbage|error|
no_network``, ``status``, ``quit``; what it says back goes to standard error.
"""

from __future__ import annotations

import json
import re
import sys
import threading

from edge.cli.commands import serving

_PHONE = re.compile(r"^\+?[0-9]{3,20}$")


def simulate_modem(args) -> int:
    from drivers.modem.simulator import FAULTS, ModemSimulator
    from drivers.ptylink import PtyLink

    out_lock = threading.Lock()

    def print_sent(to: str, text: str) -> None:
        with out_lock:
            sys.stdout.write(json.dumps({"to": to, "text": text}, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    link = PtyLink() if args.pty else None
    port = link.device_path if link else args.port
    simulator = ModemSimulator(port, baudrate=args.baudrate, pin=args.pin, fault=args.fault, on_sent=print_sent)
    serving.start(simulator, port, link)
    where = link.host_path if link else port
    with out_lock:
        print(f"GSM modem (AT commands, PDU mode) listening; connect the sms channel's port to: {where}",
              flush=True)
    print("commands: sms FROM TEXT, fault none|" + "|".join(FAULTS) + ", status, quit", file=sys.stderr, flush=True)
    return serving.serve(simulator, link, lambda line: _control(simulator, line), replies=sys.stderr)


def _control(simulator, line: str) -> str:
    from drivers.modem.simulator import FAULTS

    words = line.split(maxsplit=2)
    if words[0] == "sms":
        if len(words) < 3 or not _PHONE.match(words[1]):
            return "usage: sms FROM TEXT (FROM: digits, optionally starting with +)"
        indexes = simulator.receive(words[1], words[2])
        return f"received from {words[1]}, stored at {', '.join(map(str, indexes))}"
    if words[0] == "fault" and len(words) == 2:
        mode = None if words[1] == "none" else words[1]
        if mode not in (None, *FAULTS):
            return f"unknown fault {words[1]!r}"
        simulator.fault = mode
    elif words[0] != "status":
        return f"unknown command {words[0]!r}"
    state = simulator.state
    return (f"sent {len(simulator.sent)}, stored {len(state.storage)}, fault {simulator.fault}, "
            f"reporting new SMS {'on' if state.report_new else 'off'}")


def register(sub) -> None:
    p = sub.add_parser("simulate-modem", help="a GSM modem (AT commands, PDU mode) on a serial port or a new pty; "
                                              "prints each SMS it sends as a JSON line")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial device to serve on")
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal pair and print its path")
    p.add_argument("--baudrate", type=int, default=115200)
    p.add_argument("--pin", help="the simulated SIM asks for this PIN (AT+CPIN) before anything else")
    p.add_argument("--fault", choices=["silent", "garbage", "error", "no_network"])
    p.set_defaults(func=simulate_modem)
