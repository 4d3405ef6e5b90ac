"""Plate reading: accuracy and time of ours, today's previous pipeline and the naive way, same run.

    naive  rapidocr 3.x with its defaults (detect, classify, recognise) on the whole image; the first
           recognised text that passes the plate grammar
    ocrdet the pipeline before the plate detector (PlateReader(detector="ppocr")): PP-OCRv6 text
           boxes, rectify, de-slant, then the same reading as ours
    single the pipeline as it was before the second recogniser (PlateReader(second_opinion=False); the
           tables before issue 30 call it "today"): HyperLPR3's y5fu plate detector (320, refined around
           each plate, 640 when 320 reads nothing), rectified by the plate's four corners, colour, the
           grammar narrowed by colour, PP-OCRv4 alone with grammar-constrained CTC decoding, non-plate
           rejection
    today  the pipeline as issue 30 found it (PlateReader(fast=False, lean=False)): the same detector
           (at its square inputs) and crops, every plate read by the three recognisers together, the
           decoding's Python loops
    before the pipeline as it was before issue 31 (ours with every recogniser's province vote counting
           alone: no recogniser's province_skew; a crop of unknown colour read under every layout, also when its
           pixels are blue), run in the same process so before and after print together
    ours   models.plates.PlateReader(): the same detector (a wide frame at 320x192 and 640x384, issue 30)
           and crops, read by PP-OCRv4 and the plate
           recognisers together (the text they score best; each character's confidence what they
           believe), no reading when a character is unsure (SERIAL_FLOOR); a recogniser skewed to one
           province (models/manifest.json province_skew) does not vote that province alone
    ours+P the same with the site's province prior (--province, default 皖: CCPD is from Anhui),
           applied only where the province read is unsure

Double-row (synthetic, bench/plate_hardset.build_double_rows): every scene's plate redrawn, with its own
characters, as a yellow double-row plate (a bus's or truck's rear plate) 80-160 px wide, day/night/blur.

Provinces (bench/plate_hardset.build_provinces): the real plates of ../shared/data not from 皖 (crops as
they are and small / blurred / dark; scenes as they are and in day / night / blur frames), read by the
crop reader and the frame reader; tables of the province read, province by province.

Real photographs (../shared/data): plates/ (CCPD, with labels), read as they are and letterboxed into
1280x720 frames; plate_crops/ (94x24, labels): naive = rapidocr on the crop, ours = the recogniser
with grammar decoding. Hard set (synthetic, bench/plate_hardset.py): the same scenes with plates
60-120 px wide in 1280x720 frames, night/glare/noise, motion blur, perspective, colour variants.

Columns: exact = the labelled plate among the readings; province / suffix = the best reading's first
character / the rest right; wrong = frames where a plate was reported that is not the labelled one;
"sure" = only readings whose serial part scores >= 0.8 (recognition.plate.min_confidence, what the
gate's voting counts as a hit); ms per image (per 1280x720 frame for the frames sets).

The one-thread table (issue 30): today's pipeline and ours, one thread per model, each frame read by
both in turn (the same load for both), the process's CPU time per frame; ``--time-every N`` times
every N-th frame only (a shared machine); ``--no-times`` skips it.

    python -m bench.plate_bench [--sets real,hard,double,provinces] [--no-naive-crops] [--no-times]
                                [--readers naive,ocrdet,single,today,before,ours] [--province 皖] [--time-every 1]
"""

from __future__ import annotations

import argparse
import csv
import json
import time

import cv2
import numpy as np

from bench import shared_data
from edge.plates import canonical, classify

COLOURS = ("blue", "yellow", "green", "white", "black")
SURE = 0.8
CPU_P50: dict = {}  # (reader, frames) -> CPU ms p50 per frame, one thread per model (one_thread_times)


def naive_reader():
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error"})

    def read(bgr):
        result = engine(bgr)
        for text in result.txts or ():
            plate = canonical(text)
            if classify(plate):
                return [(plate, None)]
        return []

    return read


def pipeline_reader(reader):
    def read(bgr):
        return [(r.text, r.char_confidence) for r in reader.read(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))]

    return read


def before_reader(**kwargs):
    """The pipeline before issue 31 (models.plates.PlateReader with no recogniser's province skew known):
    a recogniser skewed to one province votes it alone, as it did."""
    from models.plates import PlateReader

    reader = PlateReader(**kwargs)
    for recognizer, _, _ in reader.opinions:
        recognizer.province_skew = None
    reader._crops.blue_from_pixels = False  # nor a crop of unknown colour read as blue from its pixels
    return reader


def crop_reader(reader, province=None):
    """A crop read as the frame reader reports a plate: nothing unless it is a plate, every character after
    the province sure enough (models.plate_accept.sure at the reader's own floor)."""
    from models.plate_accept import SERIAL_FLOOR, SINGLE_PROVINCE_FLOOR, SINGLE_SERIAL_FLOOR

    floor = SERIAL_FLOOR if reader.second_opinion else SINGLE_SERIAL_FLOOR

    def read(bgr):
        decoded, raw = reader.read_crop(bgr)
        if not reader.sure(decoded, raw, floor):
            return []
        if not reader.second_opinion and decoded.char_confidence[0] < SINGLE_PROVINCE_FLOOR:
            return []
        text, confidence, _ = reader.with_province_prior(decoded, province) if province else (
            decoded.text, decoded.char_confidence, False)
        return [(text, confidence)]

    return read


def prior_flips(read, items, province: str) -> tuple[int, int]:
    """(readings turned into the site's province, plates from elsewhere): on real plates from another
    province, how often the prior replaced the province (it must never replace a clear one)."""
    flipped = total = 0
    for truth, _, image in items:
        if truth[0] == province:
            continue
        total += 1
        flipped += any(t[0] == province for t, _ in read(image))
    return flipped, total


def letterbox_bgr(bgr, width=1280, height=720):
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(bgr, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 40, np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return canvas


def score(read, items) -> dict:
    """items: (truth, colour, image BGR)."""
    stats = {"exact": 0, "total": 0, "province": 0, "suffix": 0, "wrong": 0, "sure_exact": 0, "sure_wrong": 0,
             "colours": {}, "times": [], "items": []}
    for truth, colour, image in items:
        started = time.perf_counter()
        readings = read(image)
        stats["times"].append(time.perf_counter() - started)
        texts = [t for t, _ in readings]
        stats["items"].append((truth, readings[:1]))
        hit = truth in texts
        stats["total"] += 1
        stats["exact"] += hit
        if readings:
            top = texts[0]
            stats["province"] += top[:1] == truth[:1]
            stats["suffix"] += top[1:] == truth[1:]
        stats["wrong"] += any(t != truth for t in texts)
        sure = [t for t, conf in readings if conf is not None and min(conf[1:]) >= SURE]
        stats["sure_exact"] += truth in sure
        stats["sure_wrong"] += any(t != truth for t in sure)
        got, seen = stats["colours"].get(colour, (0, 0))
        stats["colours"][colour] = (got + hit, seen + 1)
    return stats


def row(label: str, name: str, s: dict, with_sure: bool) -> str:
    n = s["total"]
    colours = " | ".join(
        f"{s['colours'][c][0]}/{s['colours'][c][1]}" if c in s["colours"] else "–" for c in COLOURS
    )
    sure = f"{s['sure_exact']} / {s['sure_wrong']}" if with_sure else "–"
    p50, p95 = (np.percentile(np.array(s["times"]) * 1000, q) for q in (50, 95))
    return (f"| {label} | {name} | {s['exact']}/{n} ({s['exact'] / n:.1%}) | {s['province']} | {s['suffix']} | "
            f"{colours} | {s['wrong']} ({s['wrong'] / n:.1%}) | {sure} | {p50:.0f} | {p95:.0f} |")


def province_rows(label: str, name: str, stats: list[dict]) -> list[str]:
    """Province by province: plates, province right, wrong and sure (the recognisers' province at least
    PROVINCE_CLEAR: the site's province would not replace it), wrong and unsure, no reading."""
    from models.plate_accept import PROVINCE_CLEAR

    counts: dict = {}
    for s in stats:
        for truth, readings in s["items"]:
            row = counts.setdefault(truth[0], [0, 0, 0, 0, 0])
            row[0] += 1
            if not readings:
                row[4] += 1
                continue
            text, confidence = readings[0]
            if text[0] == truth[0]:
                row[1] += 1
            else:
                row[2 if confidence is not None and confidence[0] >= PROVINCE_CLEAR else 3] += 1
    total = [sum(column) for column in zip(*counts.values())] if counts else [0] * 5
    lines = []
    for province, row in [*sorted(counts.items(), key=lambda kv: -kv[1][0]), ("all", total)]:
        lines.append(f"| {label} | {name} | {province} | " + " | ".join(str(v) for v in row) + " |")
    return lines


def detector_backends(frames) -> list[str]:
    """The plate detector alone, onnxruntime vs OpenCV dnn, on the same frames, one thread each (CPU
    time per frame: robust to other jobs on the machine; wall time beside it)."""
    from models.plate_detector import PlateDetector

    lines = ["| plate detector (one thread) | backend | plates found | CPU p50 ms | CPU p95 ms | wall p50 ms |",
             "|---|---|---|---|---|---|"]
    for size in (320, 640):
        for backend in ("onnxruntime", "opencv"):
            detector = PlateDetector(size=size, backend=backend, fallback_size=None, threads=1)
            cv2.setNumThreads(1)
            detector.detect(frames[0], refine=False)
            cpu, wall, found = [], [], 0
            for frame in frames:
                started, cpu_started = time.perf_counter(), time.process_time()
                found += bool(detector.detect(frame, refine=False))
                cpu.append(time.process_time() - cpu_started)
                wall.append(time.perf_counter() - started)
            c50, c95 = (np.percentile(np.array(cpu) * 1000, q) for q in (50, 95))
            height, width = detector._input_shape(size, *frames[0].shape[:2])  # ours: the rectangle (issue 30)
            lines.append(f"| y5fu {width}x{height} on a 1280x720 frame | {backend} | {found}/{len(frames)} | "
                         f"{c50:.0f} | {c95:.0f} | {np.median(wall) * 1000:.0f} |")
    return lines


def one_thread_times(sets, names=("today", "ours")) -> list[str]:
    """Today's pipeline and ours with one thread per model: CPU time per frame (process time), which other
    jobs on a shared machine do not inflate the way they inflate wall-clock time, and the wall time beside
    it. Each frame is read by every pipeline in turn, so a change of load weighs on both alike."""
    import os

    from models.plates import PlateReader

    made = {"today": lambda: PlateReader(threads=1, fast=False, lean=False),
            "ours": lambda: PlateReader(threads=1)}
    readers = {name: made[name]() for name in names}
    cv2.setNumThreads(1)
    head = " | ".join(f"{name} CPU p50 ms | {name} CPU p95 ms | {name} wall p50 ms" for name in names)
    ratio = len(names) > 1 and names[0] == "today"
    lines = [f"| one thread per model | frames | {head} |" + (" ours / today (p50) |" if ratio else ""),
             "|---|---|" + "---|" * (3 * len(names) + ratio)]
    for label, frames in sets:
        cpu = {name: [] for name in names}
        wall = {name: [] for name in names}
        for reader in readers.values():
            reader.read(cv2.cvtColor(frames[0], cv2.COLOR_BGR2RGB))
        for frame in frames:
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            for name, reader in readers.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                reader.read(rgb)
                cpu[name].append(time.process_time() - cpu_started)
                wall[name].append(time.perf_counter() - started)
        cells = []
        for name in names:
            c50, c95 = (np.percentile(np.array(cpu[name]) * 1000, q) for q in (50, 95))
            CPU_P50[(name, label)] = c50
            cells.append(f"{c50:.0f} | {c95:.0f} | {np.median(wall[name]) * 1000:.0f}")
        line = f"| {label} | {len(frames)} | {' | '.join(cells)} |"
        if ratio:
            line += f" {CPU_P50[('ours', label)] / CPU_P50[('today', label)]:.2f} |"
        lines.append(line)
    lines.append(f"\nload average at the end: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    return lines


def targets(results, province: str) -> None:
    """Issue 19's targets against this run's figures (ours, and ours with the site's prior)."""
    for who in ("ours", f"ours+P ({province})"):
        hard = [s for label, name, s, _ in results if name == who and label.startswith("hard")]
        real = [s for label, name, s, _ in results if name.split(" (=")[0] == who and label in
                ("real: scenes as they are", "real: plate crops")]
        if not hard:
            continue
        h = hard[0]
        n = h["total"]

        def share(colour, h=h):
            got, seen = h["colours"].get(colour, (0, 0))
            return got / seen if seen else float("nan")

        cpu = CPU_P50.get(("ours", "hard set, 1280x720"))
        rows = [
            ("hard set exact >= 95%", f"{h['exact'] / n:.1%} ({h['exact']}/{n})", h["exact"] / n >= 0.95),
            ("yellow >= 90%", f"{share('yellow'):.1%}", share("yellow") >= 0.9),
            ("green >= 90%", f"{share('green'):.1%}", share("green") >= 0.9),
            ("wrong readings <= 1%", f"{h['wrong'] / n:.1%} ({h['wrong']}/{n})", h["wrong"] / n <= 0.01),
        ]
        if cpu is not None:
            rows.append(("p50 <= 80 ms per 1280x720 frame (hard set, one thread per model, CPU time)",
                         f"{cpu:.0f} ms", cpu <= 80))
        for label in ("real scenes in 1280x720 frames", "hard set, 1280x720"):
            ours, today = CPU_P50.get(("ours", label)), CPU_P50.get(("today", label))
            if ours is not None and today is not None:
                rows.append((f"issue 30: p50 <= half of today's ({label}, one thread per model, CPU time)",
                             f"{ours:.0f} ms of {today:.0f} ({ours / today:.2f})", ours <= today / 2))
        if len(real) == 2:
            hit = sum(s["exact"] for s in real)
            total = sum(s["total"] for s in real)
            rows.append(("real development photographs >= 552/571", f"{hit}/{total}", hit >= 552))
        print(f"\ntargets (issue 19), {who}:")
        print("| target | measured | met |\n|---|---|---|")
        for target, measured, met in rows:
            print(f"| {target} | {measured} | {'yes' if met else 'no'} |")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="plate reading benchmark (real and hard sets)")
    parser.add_argument("--sets", default="real,hard,double")
    parser.add_argument("--no-naive-crops", action="store_true", help="skip naive OCR on the 503 crops (5 min)")
    parser.add_argument("--readers", default="naive,ocrdet,single,today,before,ours",
                        help="a subset, e.g. today,ours (timing re-runs)")
    parser.add_argument("--time-every", type=int, default=1,
                        help="the one-thread table times every N-th frame of each set (a shared machine)")
    parser.add_argument("--no-times", action="store_true", help="skip the timing tables")
    parser.add_argument("--province", default="皖", help="the site's province prior for the ours+P rows ('' for none)")
    args = parser.parse_args(argv)
    data = shared_data()
    if data is None:
        return 0
    from models.plates import PlateReader

    ours_reader = PlateReader()
    wanted = set(args.readers.split(","))
    readers = {"ours": pipeline_reader(ours_reader)}
    prior_reader = PlateReader(province=args.province) if args.province else None
    if prior_reader is not None:
        readers[f"ours+P ({args.province})"] = pipeline_reader(prior_reader)
    today_reader = single_reader = before = None
    if "before" in wanted:
        before = before_reader()
        readers = {"before": pipeline_reader(before), **readers}
    if "today" in wanted:
        today_reader = PlateReader(fast=False, lean=False)
        readers = {"today": pipeline_reader(today_reader), **readers}
    if "single" in wanted:
        single_reader = PlateReader(second_opinion=False)
        readers = {"single": pipeline_reader(single_reader), **readers}
    if "ocrdet" in wanted:
        readers = {"ocrdet": pipeline_reader(PlateReader(detector="ppocr")), **readers}
    if "naive" in wanted:
        readers = {"naive": naive_reader(), **readers}
    sets = set(args.sets.split(","))
    results = []  # (label, name, stats, with_sure)
    warm = letterbox_bgr(cv2.imread(str(data / "plates" / "ccpd_07.jpg")))
    for read in readers.values():
        read(warm)
    hard_frames, real_frames = [], []
    if "real" in sets:
        meta = {json.loads(line)["file"]: json.loads(line) for line in (data / "plates" / "meta.jsonl").open()}
        scenes = []
        for item in csv.DictReader((data / "plates" / "labels.csv").open(encoding="utf-8")):
            colour = meta.get(item["file"], {}).get("color", "blue")
            scenes.append((item["plate"], colour, cv2.imread(str(data / "plates" / item["file"]))))
        frames = [(truth, colour, letterbox_bgr(image)) for truth, colour, image in scenes]
        real_frames = [image for _, _, image in frames]
        crops = []
        for item in csv.DictReader((data / "plate_crops" / "labels.csv").open(encoding="utf-8")):
            crops.append((item["plate"], "green" if len(item["plate"]) == 8 else "blue",
                          cv2.imread(str(data / "plate_crops" / item["file"]))))
        for label, items in (("real: scenes as they are", scenes), ("real: scenes in 1280x720 frames", frames)):
            for name, read in readers.items():
                results.append((label, name, score(read, items), name != "naive"))
        crop_readers = {"ours (= ocrdet)": crop_reader(ours_reader)}
        if before is not None:
            crop_readers = {"before": crop_reader(before), **crop_readers}
        if args.province:
            crop_readers[f"ours+P ({args.province})"] = crop_reader(ours_reader, args.province)
        if today_reader is not None:
            crop_readers = {"today": crop_reader(today_reader), **crop_readers}
        if single_reader is not None:
            crop_readers = {"single": crop_reader(single_reader), **crop_readers}
        if not args.no_naive_crops and "naive" in readers:
            crop_readers = {"naive": readers["naive"], **crop_readers}
        for name, read in crop_readers.items():
            results.append(("real: plate crops", name, score(read, crops), name != "naive"))
        if args.province:
            flips = [prior_flips(crop_reader(ours_reader, args.province), crops, args.province),
                     prior_flips(pipeline_reader(prior_reader), scenes, args.province)]
    if "hard" in sets:
        from bench.plate_hardset import build

        hard = build(data)
        hard_frames = [item.frame for item in hard]
        items = [(item.plate, item.color, item.frame) for item in hard]
        for name, read in readers.items():
            results.append((f"hard (synthetic, {len(items)} frames)", name, score(read, items), name != "naive"))
    if "double" in sets:
        from bench.plate_hardset import build_double_rows

        items = [(item.plate, item.color, item.frame) for item in build_double_rows(data)]
        for name, read in readers.items():
            if name != "naive":
                results.append((f"double-row yellow (synthetic, {len(items)} frames)", name, score(read, items), True))
    province_tables = []
    if "provinces" in sets:
        from bench.plate_hardset import build_provinces

        crops, frames = build_provinces(data)
        crop_items = [(item.plate, item.color, item.frame) for item in crops]
        frame_items = [(item.plate, item.color, item.frame) for item in frames]
        by_reader = {"ours": (crop_reader(ours_reader), readers["ours"])}
        if before is not None:
            by_reader = {"before": (crop_reader(before), readers["before"]), **by_reader}
        if args.province:
            by_reader[f"ours+P ({args.province})"] = (crop_reader(ours_reader, args.province),
                                                      readers[f"ours+P ({args.province})"])
        for name, (read_crop, read_frame) in by_reader.items():
            crop_stats, frame_stats = score(read_crop, crop_items), score(read_frame, frame_items)
            results.append((f"provinces: {len(crop_items)} crops", name, crop_stats, True))
            results.append((f"provinces: {len(frame_items)} scenes and frames", name, frame_stats, True))
            province_tables += province_rows("provinces (crops, scenes, frames)", name, [crop_stats, frame_stats])
    for label in ("real: plate crops",):
        for name_, stats in [(n, s) for lab, n, s, _ in results if lab == label and n != "naive"]:
            province_tables += province_rows(label, name_, [stats])
    print("| set | reader | exact | province | suffix | blue | yellow | green | white | black | wrong | "
          "sure: exact / wrong | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for label, name, stats, with_sure in results:
        print(row(label, name, stats, with_sure))
    print()
    for who in ("single", "today", "ours", f"ours+P ({args.province})"):
        real = [s for label, name, s, _ in results if name.split(" (=")[0] == who and label in
                ("real: scenes as they are", "real: plate crops")]
        if len(real) == 2:
            hit, total = sum(s["exact"] for s in real), sum(s["total"] for s in real)
            print(f"real development photographs (scenes as they are + crops), {who}: {hit}/{total} exact = "
                  f"{hit / total:.1%}")
    if args.province and "real" in sets:
        (cf, ct), (sf, st) = flips
        print(f"site prior {args.province} on real plates from other provinces: {cf} of {ct} crops and {sf} of {st} "
              f"scenes turned into {args.province} (must be 0: a clear reading is never replaced)")
    if province_tables:
        print("\nprovince by province (the best reading's province; sure = at least PROVINCE_CLEAR, which the site's "
              "province never replaces):\n")
        print("| set | reader | province | plates | right | wrong, sure | wrong, unsure | no reading |")
        print("|---|---|---|---|---|---|---|---|")
        print("\n".join(province_tables))
    if args.no_times:
        return 0
    if hard_frames:
        print()
        print("\n".join(detector_backends(hard_frames)))
    every = max(args.time_every, 1)
    timed = [(label, f[::every]) for label, f in (("real scenes in 1280x720 frames", real_frames),
                                                  ("hard set, 1280x720", hard_frames),
                                                  ("no plate (grey 1280x720)",
                                                   [np.full((720, 1280, 3), 90, np.uint8)] * 20))
             if len(f)]
    print()
    print("\n".join(one_thread_times(timed, ("today", "ours") if "today" in wanted else ("ours",))))
    targets(results, args.province)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
