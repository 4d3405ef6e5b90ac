"""``run``, ``barrier open|status`` and ``simulate-barrier``: the daemon and the technician's wiring tests."""

from __future__ import annotations

import logging
import time

from edge.cli.commands import InputError, UsageError, actions, command, emit, load, serving


def run(args) -> int:
    from edge.config import log_warnings
    from edge.gate.daemon import Daemon

    config = load(args)
    logging.getLogger().setLevel(getattr(logging, config.log_level))
    log_warnings(config)
    daemon = Daemon(config)
    daemon.stop_on_signals()
    try:
        daemon.start()
        return daemon.run()
    finally:
        daemon.close()


def _barrier(args):
    from drivers.barriers import make_barrier

    config = load(args)
    try:
        return make_barrier(config.barrier(args.barrier_id))
    except KeyError as exc:
        raise UsageError(str(exc.args[0])) from None


def barrier_open(args) -> int:
    from drivers.barriers import BarrierError

    with _barrier(args) as barrier:
        lane = args.lane or barrier.lanes[0]
        if lane not in barrier.lanes:
            raise InputError(f"barrier {barrier.id} serves lanes {barrier.lanes}, not {lane!r}")
        started = time.perf_counter()
        try:
            barrier.open(lane)
        except BarrierError as exc:
            raise InputError(str(exc)) from None
        emit({"barrier": barrier.id, "lane": lane, "ok": True,
              "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)})
    return 0


def barrier_status(args) -> int:
    with _barrier(args) as barrier:
        status = barrier.status()
        emit({"barrier": barrier.id, **status.to_dict()})
    return 0 if status.reachable else 1


def simulate_barrier(args) -> int:
    """Run a Modbus RTU barrier controller until interrupted; lines on stdin drive it."""
    import tempfile

    from drivers.barrier_simulator import FAULTS, BarrierSimulator, Faults
    from drivers.ptylink import PtyLink

    link = None
    port = args.port
    if args.pty:
        link = PtyLink(tempfile.mkdtemp(prefix="gate-edge-"), baudrate=args.baudrate if args.pace else None)
        port = link.device_path
    faults = Faults(mode=args.fault, latency_s=args.latency_ms / 1000)
    simulator = BarrierSimulator(port, unit=args.unit, baudrate=args.baudrate, arm_up_s=args.arm_up_s, faults=faults)
    serving.start(simulator, port, link)
    where = link.host_path if link else port
    print(f"barrier controller (Modbus RTU, unit {args.unit}, {args.baudrate} baud) listening; "
          f"connect the driver to: {where}", flush=True)
    print("commands: loop in|out on|off, fault none|" + "|".join(FAULTS) + ", latency MS, drop N, status, quit",
          flush=True)
    return serving.serve(simulator, link, lambda line: _control(simulator, line.split()))


def _control(simulator, words: list[str]) -> str:
    from drivers.barrier_simulator import FAULTS

    try:
        if words[0] == "loop" and words[1] in ("in", "out"):
            simulator.set_loop(words[1], words[2] == "on")
        elif words[0] == "fault":
            mode = None if words[1] == "none" else words[1]
            if mode not in (None, *FAULTS):
                return f"unknown fault {words[1]!r}"
            simulator.faults.mode = mode
        elif words[0] == "latency":
            simulator.faults.latency_s = float(words[1]) / 1000
        elif words[0] == "drop":
            simulator.faults.drop_replies = int(words[1])
        elif words[0] != "status":
            return f"unknown command {words[0]!r}"
    except (IndexError, ValueError):
        return "bad arguments"
    state = simulator.state
    return (f"arm {'up' if simulator.arm_up else 'down'}, pulses {len(state.pulses)}, loops {state.loops}, "
            f"fault {simulator.faults.mode}")


def demo(args) -> int:
    from edge.cli.demo import run_demo

    logging.getLogger().setLevel(logging.WARNING)
    return run_demo(args.seconds, args.workdir, args.keep)


def site_demo(args) -> int:
    from edge.cli.site_demo import run_site_demo

    logging.getLogger().setLevel(logging.WARNING)
    return run_site_demo(args.workdir, args.console_port, args.exit)


def register(sub) -> None:
    p = sub.add_parser("site-demo", help="the whole site (broker, office with its console, east and west gates) "
                                         "on bundled media; prints the console's address and a login")
    p.add_argument("--workdir", help="keep the site's files here (default: a temporary folder)")
    p.add_argument("--console-port", type=int, default=8080, help="the console's port (another if taken)")
    p.add_argument("--exit", action="store_true", help="stop once the story has played (tests, CI)")
    p.set_defaults(func=site_demo)

    p = sub.add_parser("demo", help="the whole daemon on bundled media, simulated barrier; JSON lines out")
    p.add_argument("--seconds", type=float, default=50.0, help="stop after this long at the latest")
    p.add_argument("--workdir", help="keep the demo's files here (default: a temporary folder, removed)")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.set_defaults(func=demo)

    command(sub, "run", run, "run the daemon (foreground; systemd Type=notify)")

    bsub = actions(sub, "barrier", "technician's wiring test of a barrier controller")
    p = command(bsub, "open", barrier_open, "one real opening pulse")
    p.add_argument("barrier_id")
    p.add_argument("--lane", choices=["in", "out"])
    command(bsub, "status", barrier_status, "reachable, arm state, loop detectors (JSON)").add_argument("barrier_id")

    p = sub.add_parser("simulate-barrier", help="a Modbus RTU barrier controller on a serial port or a new pty")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", help="serial device to serve on")
    where.add_argument("--pty", action="store_true", help="create a pseudo-terminal pair and print its path")
    p.add_argument("--unit", type=int, default=1)
    p.add_argument("--baudrate", type=int, default=9600)
    p.add_argument("--pace", action="store_true", help="with --pty: delay bytes as the real wire would")
    p.add_argument("--arm-up-s", type=float, default=3.0)
    p.add_argument("--fault", choices=["silent", "bad_crc", "garbage", "exception"])
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.set_defaults(func=simulate_barrier)
