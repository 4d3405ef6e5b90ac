"""A simulator served from the command line (``simulate-barrier``, ``simulate-modem``): started on a serial
port or the device end of a new pty pair, driven by lines on standard input until ``quit`` or an
interrupt, and closed (then its pty pair) however it ends."""

from __future__ import annotations

import sys
import time

from edge.cli.commands import InputError


def start(simulator, port: str, link) -> None:
    """Start ``simulator`` on ``port``; when it cannot, close ``link`` (the pty pair, or None) and say why."""
    try:
        simulator.start()
    except Exception as exc:
        if link:
            link.close()
        raise InputError(f"cannot serve on {port}: {exc}") from None


def serve(simulator, link, control, *, replies=None) -> int:
    """Give each line on standard input to ``control(line)`` and print its answer (to ``replies``; None:
    standard output) until ``quit`` or an interrupt; with standard input closed (run in the background),
    serve on until interrupted. Then close ``simulator`` and ``link``."""
    try:
        for line in sys.stdin:
            words = line.split()
            if words and words[0] == "quit":
                break
            if words:
                print(control(line.strip()), file=replies, flush=True)
        else:
            while True:  # stdin closed (run in the background): keep serving until interrupted
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        simulator.close()
        if link:
            link.close()
    return 0
