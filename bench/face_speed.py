"""Face pipeline speed: face_recognition's naive loop, today's pipeline and ours, same frames, same run.

    naive  full frame, face_locations (HOG, upsample 1 as its default), face_encodings (dlib),
           compare_faces(list of every known encoding, tolerance 0.6)
    today  the pipeline before issue 30: dlib's HOG on the frame downscaled (0.5 at 1280x720; 1.0 at
           640x480, where faces are small), upsample 0, 68 landmarks, ensemble encoder with MobileFaceNet
           on LiteRT (its .tflite), FaceMatcher (one matrix product, tolerance + margin)
    ours   YuNet on the frame downscaled by 0.5 (320x240, 640x360), dlib's five landmarks, the same
           networks as a cascade (encoder ensemble-yunet: faceplugin for every face, MobileFaceNet only
           when faceplugin's match is unsure; edge.rules.matcher.identify, as the gate; both networks in
           OpenCV's dnn, MobileFaceNet as models/convert_mobilefacenet.py made it), FaceMatcher

Times are the process's CPU time per frame and wall time, with one thread per model (``--threads``;
OpenCV's, and LiteRT's for today): CPU time is then one core's time.

Frames are the shared photos (../shared/data/faces, second photo of each identity) letterboxed to
640x480 and 1280x720; one photo per identity is enrolled. Also: matching time for 100..50,000
enrolled templates, and peak RSS of a process that runs only our pipeline.

    python -m bench.face_speed [--frames 40] [--detector hog|cnn]
"""

from __future__ import annotations

import argparse
import copy
import resource
import subprocess
import sys
import time

import numpy as np

from bench import shared_data, status_mb


def percentiles(values):
    return np.percentile(np.asarray(values) * 1000, 50), np.percentile(np.asarray(values) * 1000, 95)


class Frames:
    """Frames made on the fly (so the peak RSS measured is the pipeline's, not the photo set's)."""

    def __init__(self, probes, size):
        self.probes, self.size = probes, size

    def __iter__(self):
        from models.images import letterbox, load_rgb

        for name, path in self.probes:
            yield name, letterbox(load_rgb(path), *self.size)

    def __len__(self):
        return len(self.probes)


class Enrolment(dict):
    def items(self):
        from models.images import load_rgb

        for name, path in super().items():
            yield name, load_rgb(path)


def load_frames(data, limit):
    enrol, probes = Enrolment(), []
    for folder in sorted((data / "faces").iterdir()):
        if not folder.is_dir() or not (folder / "2.jpg").exists():
            continue
        enrol[folder.name] = folder / "1.jpg"
        probes.append((folder.name, folder / "2.jpg"))
    probes = probes[:limit]
    return enrol, {size: Frames(probes, size) for size in ((640, 480), (1280, 720))}


def naive_run(enrol, frames):
    import face_recognition

    names, known = [], []
    for name, img in enrol.items():
        encodings = face_recognition.face_encodings(img)
        if encodings:
            names.append(name)
            known.append(encodings[0])
    results = {}
    for size, items in frames.items():
        times, cpu, correct = [], [], 0
        for truth, frame in items:
            started, started_cpu = time.perf_counter(), time.process_time()
            locations = face_recognition.face_locations(frame)
            encodings = face_recognition.face_encodings(frame, locations)
            matched = []
            for encoding in encodings:
                hits = face_recognition.compare_faces(known, encoding)
                distances = face_recognition.face_distance(known, encoding)
                best = int(np.argmin(distances)) if len(distances) else -1
                matched.append(names[best] if best >= 0 and hits[best] else None)
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            correct += truth in matched and all(m in (truth, None) for m in matched)
        results[size] = (times, correct, cpu)
    return results


def one_core(engine, threads: int, litert: bool = False) -> None:
    """OpenCV with ``threads`` threads; ``litert``: MobileFaceNet on LiteRT with as many, as before issue 30."""
    import cv2

    from models.face_arcface import MobileFaceNetEncoder, MobileFaceNetLiteRTEncoder

    cv2.setNumThreads(threads)
    parts = getattr(engine.encoder, "parts", [])
    for n, part in enumerate(parts):
        if litert and isinstance(part, MobileFaceNetEncoder):
            parts[n] = MobileFaceNetLiteRTEncoder(threads)


def ours_run(enrol, frames, on_ready=None, detector="hog", encoder="ensemble", threads=1, litert=False):
    from edge.rules.matcher import FaceMatcher, identify
    from edge.store import TemplateSet
    from models.faces import FaceDetector, FaceEngine

    # Enrolment always with HOG (the CNN takes many seconds on a 2048 px photo); the frames with the
    # detector asked for. One set of encoder models, as in the daemon.
    enroller = FaceEngine(encoder, scale=1.0)
    one_core(enroller, threads, litert)
    engines = {}
    for size, scale in (((640, 480), 1.0), ((1280, 720), 0.5)):
        engines[size] = copy.copy(enroller)
        if enroller.encoder.detector == "yunet":
            engines[size].detector = copy.copy(enroller.detector)
            engines[size].detector.scale = 0.5
        else:
            engines[size].detector = FaceDetector(detector, upsample=0, scale=scale)
    names, templates = [], []
    for name, img in enrol.items():
        try:
            templates.append(enroller.enrolment_template(img, name))
            names.append(name)
        except ValueError:
            continue
    encoder = enroller.encoder
    matcher = FaceMatcher(encoder.tolerance, encoder.margin)
    matcher.load(TemplateSet(encoder.name, np.arange(len(names)), np.stack(templates), 1))
    if on_ready:
        on_ready()
    results = {}
    for size, items in frames.items():
        engine = engines[size]
        times, cpu, correct = [], [], 0
        escalated = 0
        for truth, frame in items:
            started, started_cpu = time.perf_counter(), time.process_time()
            found = identify(engine, matcher, frame)  # with the cascade of ensemble-yunet, as the gate does
            matched = [names[match.person_id] if match.matched else None for _, match in found]
            times.append(time.perf_counter() - started)
            cpu.append(time.process_time() - started_cpu)
            correct += truth in matched and all(m in (truth, None) for m in matched)
            escalated += any(face.extras.get("escalated") for face, _ in found)
        results[size] = (times, correct, cpu, escalated)
    return results


def matching_times(dim=704, repeats=200):
    from edge.rules.matcher import FaceMatcher
    from edge.store import TemplateSet

    rng = np.random.default_rng(1)
    rows = []
    for n in (100, 1000, 10_000, 50_000):
        matrix = rng.standard_normal((n, dim)).astype(np.float32)
        matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
        people = np.arange(n) // 2  # two templates per person
        matcher = FaceMatcher(0.9, 0.06)
        matcher.load(TemplateSet("x", people, matrix, 1))
        probe = matrix[7:8] + 0.01
        matcher.match(probe)
        started = time.perf_counter()
        for _ in range(repeats):
            matcher.match(probe)
        ours = (time.perf_counter() - started) / repeats
        known = list(matrix)  # face_recognition keeps a list of encodings
        started = time.perf_counter()
        loops = max(3, repeats // (n // 100 + 1))
        for _ in range(loops):
            distances = np.linalg.norm(np.array(known) - probe[0], axis=1)
            _ = list(distances <= 0.6)
        naive = (time.perf_counter() - started) / loops
        rows.append((n, ours, naive))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--detector", choices=["hog", "cnn"], default="hog",
                        help="our detector (recognition.face.detector); naive always uses HOG")
    parser.add_argument("--encoder", default="ensemble-yunet", help="ours: the face encoder (and its detector)")
    parser.add_argument("--no-naive", action="store_true", help="leave face_recognition's loop out")
    parser.add_argument("--threads", type=int, default=1, help="threads per model (OpenCV; LiteRT for today)")
    parser.add_argument("--only-ours-rss", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = shared_data()
    if data is None:
        return 0
    enrol, frames = load_frames(data, args.frames)
    if args.only_ours_rss:
        # Enrolment of large photos is a one-off (a technician's command); the daemon's steady state is
        # the per-frame path. Linux lets us reset the peak (VmHWM) once the models are loaded.
        marks = {}

        def ready():
            marks["enrol"] = status_mb("VmHWM")
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")

        ours_run(enrol, frames, ready, args.detector, args.encoder)
        print(marks["enrol"], status_mb("VmHWM"))
        return 0
    runs = {} if args.no_naive else {"naive": naive_run(enrol, frames)}
    runs["today"] = ours_run(enrol, frames, detector=args.detector, encoder="ensemble", threads=args.threads,
                             litert=True)
    runs["ours"] = ours_run(enrol, frames, detector=args.detector, encoder=args.encoder, threads=args.threads)
    print(f"frames: {len(frames[(640, 480)])} per size (real photos letterboxed); {len(enrol)} people enrolled; "
          f"today: ensemble with dlib {args.detector}; ours: {args.encoder}; {args.threads} thread(s) per model\n")
    print("| frame | pipeline | CPU p50 / p95 / mean ms | wall p50 / p95 ms | CPU p50, today / this | correct |")
    print("|---|---|---|---|---|---|")
    for size in frames:
        today_cpu = percentiles(runs["today"][size][2])[0]
        for name, result in runs.items():
            times, correct, cpu = result[size][:3]
            c50, c95 = percentiles(cpu)
            w50, w95 = percentiles(times)
            print(f"| {size[0]}x{size[1]} | {name} | {c50:.1f} / {c95:.1f} / {np.mean(cpu) * 1000:.1f} "
                  f"| {w50:.1f} / {w95:.1f} "
                  f"| {today_cpu / c50:.2f}x | {correct}/{len(times)} |")
    print("\nours: the cascade's second network ran for " + "; ".join(
        f"{runs['ours'][size][3]} of {len(frames[size])} frames at {size[0]}x{size[1]}" for size in frames)
        + " (0 without a cascade: every network runs for every face)")
    print("\n| enrolled templates | ours (one matrix) ms | naive (list, compare_faces) ms | naive / ours |")
    print("|---|---|---|---|")
    for n, ours_s, naive_s in matching_times():
        print(f"| {n:,} | {ours_s * 1000:.3f} | {naive_s * 1000:.3f} | {naive_s / ours_s:.0f}x |")
    enrol_peak, frame_peak = subprocess.run(
        [sys.executable, "-m", "bench.face_speed", "--only-ours-rss", "--frames", str(args.frames),
         "--detector", args.detector, "--encoder", args.encoder],
        capture_output=True, text=True).stdout.strip().splitlines()[-1].split()
    print(f"\npeak RSS of a process running only our pipeline: {frame_peak} MB while analysing frames "
          f"({enrol_peak} MB during the one-off enrolment of {len(enrol)} photos of up to 2048 px); "
          f"this process, naive and ours together: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
