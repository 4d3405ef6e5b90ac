"""A null-modem cable made of two real pseudo-terminals, for bench tests and demos without hardware.

    device end  /dev/pts/A  <->  relay thread  <->  /dev/pts/B  host end

Each end is a real tty that pyserial opens by path. The relay can pace bytes at a baud rate (so
timings are those of the real wire), and ``unplug()`` / ``replug()`` make the host end vanish and
come back under the same symlink, like a USB RS-485 adapter pulled out and put back.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import tty
from pathlib import Path


def _raw_pty() -> tuple[int, int, str]:
    """(master fd, slave fd, slave path) of a raw, echo-less pty.

    We keep the slave fd open although the far side opens the path itself: with no slave open, the
    master reports EIO on every read and the relay would spin.
    """
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    return master, slave, os.ttyname(slave)


class PtyLink:
    """Two linked ptys. ``device_path`` for the simulated controller, ``host_path`` for the driver."""

    def __init__(self, link_dir: str | Path | None = None, baudrate: int | None = None):
        self.baudrate = baudrate
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._device_fd, self._device_keep, self.device_tty = _raw_pty()
        self._host_fd, self._host_keep, self.host_tty = _raw_pty()
        self._link = Path(link_dir) / "ttyRS485" if link_dir else None
        if self._link:
            self._link.parent.mkdir(parents=True, exist_ok=True)
        if self._link:
            self._point_link()
        self._thread = threading.Thread(target=self._relay, name="gate-edge-ptylink", daemon=True)
        self._thread.start()

    @property
    def device_path(self) -> str:
        return self.device_tty

    @property
    def host_path(self) -> str:
        return str(self._link) if self._link else self.host_tty

    def _point_link(self) -> None:
        tmp = self._link.with_suffix(".new")
        if tmp.is_symlink() or tmp.exists():
            tmp.unlink()
        tmp.symlink_to(self.host_tty)
        tmp.replace(self._link)

    def unplug(self) -> None:
        """The host end disappears: its tty closes and the symlink goes away."""
        with self._lock:
            if self._host_fd is not None:
                os.close(self._host_fd)
                os.close(self._host_keep)
                self._host_fd = self._host_keep = None
            if self._link and self._link.is_symlink():
                self._link.unlink()

    def replug(self) -> None:
        """A new host end appears under the same symlink (the tty number may differ, as with USB)."""
        with self._lock:
            if self._host_fd is None:
                self._host_fd, self._host_keep, self.host_tty = _raw_pty()
                if self._link:
                    self._point_link()

    def _pace(self, count: int) -> None:
        if self.baudrate:
            # 10 bits per byte on the wire (start, 8 data, stop).
            self._stop.wait(count * 10 / self.baudrate)

    def _relay(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fds = [fd for fd in (self._device_fd, self._host_fd) if fd is not None]
            try:
                ready, _, _ = select.select(fds, [], [], 0.05)
            except (OSError, ValueError):
                continue
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    self._stop.wait(0.01)  # that side is being unplugged
                    continue
                with self._lock:
                    target = self._host_fd if fd == self._device_fd else self._device_fd
                if data and target is not None:
                    self._pace(len(data))
                    try:
                        os.write(target, data)
                    except OSError:
                        pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        with self._lock:
            for fd in (self._device_fd, self._host_fd, self._device_keep, self._host_keep):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._device_fd = self._host_fd = self._device_keep = self._host_keep = None
            if self._link and self._link.is_symlink():
                self._link.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
