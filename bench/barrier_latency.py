"""Barrier command latency: open() called -> coil ON seen by the device, over a pty paced at the baud rate.

    naive  what a quick script does: open the serial port, write the coil, close it, per command
    ours   the modbus_rtu driver: one persistent client, bus lock, absolute writes

Both talk to the same simulated controller (pymodbus's server) through a PtyLink that delays every
byte as the wire would (10 bits per byte at the baud rate).

    python -m bench.barrier_latency [--commands 60]
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import threading
import time

import numpy as np

from drivers.barrier_simulator import BarrierSimulator
from drivers.barriers.modbus_rtu import Barrier, Config
from drivers.ptylink import PtyLink


def _watch(device, before: int, seen: dict) -> None:
    """Note the moment the device records a new pulse."""
    deadline = time.monotonic() + 5
    while len(device.pulses()) == before and time.monotonic() < deadline:
        time.sleep(0.0002)
    seen["t"] = time.perf_counter()


def measure(open_fn, device, commands: int) -> list[float]:
    latencies = []
    for _ in range(commands):
        seen: dict = {}
        watcher = threading.Thread(target=_watch, args=(device, len(device.pulses()), seen))
        started = time.perf_counter()
        watcher.start()
        open_fn()
        watcher.join()
        latencies.append(seen["t"] - started)
        time.sleep(0.01)
    return latencies


def naive_open(port: str, baud: int) -> None:
    """What a quick script does: open the port, pulse the coil, close the port."""
    from pymodbus.client import ModbusSerialClient

    client = ModbusSerialClient(port, baudrate=baud, timeout=0.5)
    client.connect()
    client.write_coil(0, True, device_id=1)
    time.sleep(0.05)
    client.write_coil(0, False, device_id=1)
    client.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=60)
    args = parser.parse_args(argv)
    print("| baud | naive p50 / p95 ms | ours p50 / p95 ms | naive / ours (p50) |")
    print("|---|---|---|---|")
    for baud in (9600, 115200):
        with tempfile.TemporaryDirectory() as folder:
            link = PtyLink(folder, baudrate=baud)
            device = BarrierSimulator(link.device_path, baudrate=baud, arm_up_s=0.0).start()
            try:
                barrier = Barrier(Config(id="car", type="modbus_rtu", port=link.host_path, baudrate=baud,
                                         pulse_ms=50, lanes=["in"], timeout_s=0.5))
                naive = measure(functools.partial(naive_open, link.host_path, baud), device, args.commands)
                ours = measure(functools.partial(barrier.open, "in"), device, args.commands)
                barrier.close()
            finally:
                device.close()
                link.close()
        n50, n95 = np.percentile(naive, [50, 95]) * 1000
        o50, o95 = np.percentile(ours, [50, 95]) * 1000
        print(f"| {baud} | {n50:.1f} / {n95:.1f} | {o50:.1f} / {o95:.1f} | {n50 / o50:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
