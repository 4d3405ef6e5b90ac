"""edge.gate.memory: glibc takes the daemon's heap settings (thresholds, two arenas) before threads start."""

from __future__ import annotations

import platform
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = """
import sys
from edge.gate.memory import return_freed_memory
print(return_freed_memory(None if sys.argv[1] == "none" else int(sys.argv[1])))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
@pytest.mark.parametrize("arenas", ["2", "none"])
def test_glibc_takes_the_heap_settings(arenas):
    """In a fresh process: mallopt's answers are glibc's own, and once set they stay for the process."""
    done = subprocess.run([sys.executable, "-c", CHECK, arenas], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


GIVE_BACK = """
import ctypes
from edge.gate.memory import give_back, return_freed_memory

return_freed_memory()
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]


def rss_mb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) // 1024 for line in status if line.startswith("VmRSS:"))


chunks = [libc.malloc(1 << 20) for _ in range(80)]  # below the mmap threshold: on the heap
for chunk in chunks:
    ctypes.memset(chunk, 1, 1 << 20)
pin = libc.malloc(4096)  # still in use above them: the trim threshold cannot return what lies below
for chunk in chunks:
    libc.free(chunk)
held = rss_mb()
print(give_back(), held - rss_mb())
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_give_back_returns_freed_memory_below_what_is_in_use():
    """80 MB freed below a block still in use stay in the process until ``give_back`` (the daemon calls it
    once the models are loaded)."""
    done = subprocess.run([sys.executable, "-c", GIVE_BACK], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    gave, returned_mb = done.stdout.split()
    assert gave == "True" and int(returned_mb) >= 70, done.stdout
