"""How the process's C heap gives memory back: a gate box has 1–4 GB and runs for months.

The models allocate big, short-lived buffers of ever-changing sizes (a plate crop's width, a face's
box). glibc raises its mmap threshold each time such a buffer is freed, so later ones come from the
heap, and a fragmented heap is never returned to the system: the daemon then sits 100–200 MB above
what it uses (measured by ``python -m bench.memory``). A fixed threshold keeps big buffers in their
own mappings, returned on free. Each thread that allocates also gets a heap (an "arena") of its own,
up to eight per core, and what one thread frees is kept in its arena: the cameras' and workers'
threads together held about 30 MB more at the peak than two arenas do (``gate-edge run``, issue 30).
Loading the models leaves about 40 MB freed inside the heap, below what is still in use, where no
threshold returns it: ``give_back`` hands it to the system once they are loaded (``malloc_trim``).
A no-op where the C library is not glibc.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

_LOG = logging.getLogger(__name__)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# Measured (bench.memory): 1 MB saves most but costs plate reading 10-25% in page faults; 8 MB keeps
# frames and small tensors on the heap, maps the detector's big activations, and costs no time.
MMAP_THRESHOLD_BYTES = 8 << 20
TRIM_THRESHOLD_BYTES = 4 << 20
# Measured (gate-edge run, one face and one plate camera, ensemble-yunet): 8 x cores arenas peak at 364 MB,
# 2 at 330, 1 at 324 (single runs; a few MB of noise); 2 keeps a second heap for the worker threads.
ARENA_MAX = 2


def _libc():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def return_freed_memory(arenas: int | None = ARENA_MAX) -> bool:
    """Fix glibc's mmap and trim thresholds and its number of heaps for this process (call it before
    threads start); True when it took effect. ``arenas=None`` leaves glibc's number of heaps (before
    issue 30; bench.memory's comparison)."""
    try:
        mallopt = _libc().mallopt
    except AttributeError:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    ok = (bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES))
          and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
          and (arenas is None or bool(mallopt(M_ARENA_MAX, arenas))))
    if not ok:
        _LOG.debug("mallopt refused the thresholds; the heap keeps glibc's defaults")
    return ok


def give_back() -> bool:
    """Return the heap's free pages to the system, wherever they are in it (glibc's ``malloc_trim(0)``),
    e.g. once the models are loaded: their loading (onnxruntime's parsing above all) frees about 40 MB
    below memory still in use (``gate-edge run``, issue 30: 284 -> 245 MB after loading, 18 MB less at
    the peak). True when something was given back; False too where the C library is not glibc."""
    try:
        trim = _libc().malloc_trim
    except AttributeError:
        return False
    trim.argtypes = [ctypes.c_size_t]
    return bool(trim(0))
