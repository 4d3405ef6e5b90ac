"""Memory of the per-frame models over a stream of frames: glibc's defaults (naive) against
``edge.gate.memory.return_freed_memory`` (ours: what the daemon does), each in its own process, same frames.

Frames: 1280x720 resizes of ../shared/data faces and plates, alternately through the face engine and
the plate reader, ``--loops`` times. Prints RSS after loading, peak RSS, RSS at the end and the mean
time per frame, and the ratio of peaks.

    python -m bench.memory [--loops 4]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from bench import REPO, shared_data, status_mb

MODES = ("naive", "ours")


def measure(data: Path, loops: int, mode: str) -> dict:
    from edge.gate.memory import return_freed_memory

    if mode == "ours":
        return_freed_memory()
    import cv2

    from models.faces import FaceEngine
    from models.plates import PlateReader

    faces, plates = FaceEngine("ensemble"), PlateReader()
    face_frames = sorted((data / "faces").glob("*/*.jpg"))[:30]
    plate_frames = sorted((data / "plates").glob("*.jpg"))[:30]
    alternating = [item for pair in zip(face_frames, plate_frames) for item in pair]
    frames = [(faces.analyze if path in face_frames else plates.read,
               cv2.resize(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB), (1280, 720)))
              for path in alternating]
    loaded = status_mb("VmRSS")
    peak, seconds = loaded, 0.0
    for _ in range(loops):
        for analyse, frame in frames:
            start = time.perf_counter()
            analyse(frame)
            seconds += time.perf_counter() - start
            peak = max(peak, status_mb("VmRSS"))
    return {"loaded_mb": loaded, "peak_mb": peak, "end_mb": status_mb("VmRSS"),
            "ms_per_frame": round(1000 * seconds / (loops * len(frames)), 1)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=4)
    parser.add_argument("--child", choices=MODES)
    args = parser.parse_args(argv)
    data = shared_data()
    if data is None:
        return 1
    if args.child:
        print(json.dumps(measure(data, args.loops, args.child)))
        return 0
    results = {}
    for mode in MODES:
        out = subprocess.run([sys.executable, "-m", "bench.memory", "--loops", str(args.loops), "--child", mode],
                             cwd=REPO, capture_output=True, text=True, check=True).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
        print(f"{mode:5s} {results[mode]}")
    naive, ours = results["naive"], results["ours"]
    print(f"peak RSS: ours {ours['peak_mb']} MB vs naive {naive['peak_mb']} MB "
          f"({naive['peak_mb'] / ours['peak_mb']:.2f}x less); end {ours['end_mb']} vs {naive['end_mb']} MB; "
          f"time per frame {ours['ms_per_frame']} vs {naive['ms_per_frame']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
