"""Real storage faults for the soak: the gate's database on a small ext4 filesystem of its own.

    LoopDisk(work, 64)   an ext4 image on a loop device, mounted at work/data (root: CAP_SYS_ADMIN)
    .read_only(db)       the database, its WAL and its folder immutable (``chattr +i``: the kernel refuses
                         every write, also through descriptors the daemon holds; reads still work)
    .fill()              the filesystem filled to the last byte by one file (SQLite: "database or disk
                         is full"); ``.writable()`` undoes either

ext4 because it honours ``chattr +i`` on files already open (tmpfs does not), and a filesystem of
its own because the soak fills it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True)


class LoopDisk:
    def __init__(self, work: Path, size_mb: int = 64):
        self.image = work / "data.img"
        self.mount = work / "data"
        self.mount.mkdir(parents=True, exist_ok=True)
        self._immutable: list[str] = []
        with self.image.open("wb") as out:
            out.truncate(size_mb * 2**20)
        for cmd in (("mkfs.ext4", "-q", "-F", str(self.image)), ("mount", "-o", "loop", str(self.image),
                                                                  str(self.mount))):
            done = _run(*cmd)
            if done.returncode != 0:
                raise OSError(f"{' '.join(cmd)}: {done.stderr.strip()} (the soak's storage faults need root)")
        self.mount.chmod(0o777)

    def read_only(self, db: Path) -> None:
        paths = [str(p) for p in (db.parent, db, Path(f"{db}-wal")) if p.exists()]
        done = _run("chattr", "+i", *paths)
        if done.returncode != 0:
            raise OSError(f"chattr +i: {done.stderr.strip()}")
        self._immutable = paths

    def fill(self) -> None:
        with (self.mount / "filler").open("wb", buffering=0) as out:
            for size in (1 << 20, 65536, 4096, 512):
                with contextlib.suppress(OSError):
                    while out.write(b"\0" * size):
                        pass

    def free_mb(self) -> float:
        return shutil.disk_usage(self.mount).free / 2**20

    def writable(self) -> None:
        if self._immutable:
            _run("chattr", "-i", *self._immutable)
            self._immutable = []
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.mount / "filler")

    def close(self) -> None:
        self.writable()
        _run("umount", "-l", str(self.mount))
        with contextlib.suppress(FileNotFoundError):
            self.image.unlink()
