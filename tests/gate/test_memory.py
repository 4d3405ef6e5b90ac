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
