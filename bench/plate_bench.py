"""Plate reading: accuracy and time of ours against the naive way, on ../shared/data, same run.

    naive  rapidocr 3.x with its defaults (detect, classify, recognise) on the whole image; the first
           recognised text that passes the plate grammar
    ours   models.plates.PlateReader: detector boxes, rectify, de-slant, PP-OCRv4 recogniser on the
           grey crop, grammar-constrained CTC decoding, non-plate rejection

Scenes: plates/ (CCPD, with labels), read as they are and letterboxed into 1280x720 frames (timing is
reported for those). Crops: plate_crops/ (94x24, labels): naive = rapidocr on the crop, ours = the
recogniser with grammar decoding. A "false reading" is a plate reported that is not the labelled one.

    python -m bench.plate_bench [--markdown]
"""

from __future__ import annotations

import csv
import json
import time

import cv2
import numpy as np

from bench import shared_data
from edge.plates import canonical, classify


def naive_reader():
    from rapidocr import RapidOCR

    engine = RapidOCR(params={"Global.log_level": "error"})

    def read(bgr):
        result = engine(bgr)
        for text in result.txts or ():
            plate = canonical(text)
            if classify(plate):
                return [plate]
        return []

    return read


def ours_reader():
    from models.plates import PlateReader

    reader = PlateReader()
    return (lambda bgr: [r.text for r in reader.read(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))]), reader


def letterbox_bgr(bgr, width=1280, height=720):
    h, w = bgr.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(bgr, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), 40, np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return canvas


def score(readers, items):
    """items: (truth, kind, image). Returns {name: dict(exact, total, per-kind, false, times)}."""
    out = {}
    for name, read in readers.items():
        stats = {"exact": 0, "total": 0, "false": 0, "kinds": {}, "times": []}
        for truth, kind, image in items:
            started = time.perf_counter()
            texts = read(image)
            stats["times"].append(time.perf_counter() - started)
            hit = truth in texts
            stats["exact"] += hit
            stats["total"] += 1
            stats["false"] += sum(1 for t in texts if t != truth)
            got, seen = stats["kinds"].get(kind, (0, 0))
            stats["kinds"][kind] = (got + hit, seen + 1)
        out[name] = stats
    return out


def main(argv=None) -> int:
    data = shared_data()
    if data is None:
        return 0
    naive = naive_reader()
    ours, reader = ours_reader()
    meta = {json.loads(line)["file"]: json.loads(line) for line in (data / "plates" / "meta.jsonl").open()}
    scenes = []
    for row in csv.DictReader((data / "plates" / "labels.csv").open(encoding="utf-8")):
        kind = meta.get(row["file"], {}).get("color", "blue")
        scenes.append((row["plate"], kind, cv2.imread(str(data / "plates" / row["file"]))))
    frames = [(truth, kind, letterbox_bgr(image)) for truth, kind, image in scenes]
    crops = []
    for row in csv.DictReader((data / "plate_crops" / "labels.csv").open(encoding="utf-8")):
        crops.append((row["plate"], "green" if len(row["plate"]) == 8 else "blue",
                      cv2.imread(str(data / "plate_crops" / row["file"]))))

    def ours_crop(bgr):
        decoded, _ = reader.read_crop(bgr)
        return [decoded.text] if decoded else []

    for reader_fn in (naive, ours):  # warm up both (first calls allocate)
        reader_fn(frames[0][2])
    results = {
        "scenes as they are": score({"naive": naive, "ours": ours}, scenes),
        "scenes in 1280x720 frames": score({"naive": naive, "ours": ours}, frames),
        "plate crops": score({"naive": naive, "ours": ours_crop}, crops),
    }
    print("| set | reader | exact | blue | green | false readings | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|---|---|")
    totals = {"naive": [0, 0], "ours": [0, 0]}
    for label, by_reader in results.items():
        for name, s in by_reader.items():
            blue = s["kinds"].get("blue", (0, 0))
            green = s["kinds"].get("green", (0, 0))
            p50, p95 = (np.percentile(np.array(s["times"]) * 1000, q) for q in (50, 95))
            print(f"| {label} | {name} | {s['exact']}/{s['total']} ({s['exact'] / s['total']:.1%}) | "
                  f"{blue[0]}/{blue[1]} | {green[0]}/{green[1]} | {s['false']} | {p50:.0f} | {p95:.0f} |")
            if label != "scenes in 1280x720 frames":
                totals[name][0] += s["exact"]
                totals[name][1] += s["total"]
    for name, (hit, total) in totals.items():
        print(f"\nshared set (scenes as they are + crops), {name}: {hit}/{total} exact = {hit / total:.1%}", end="")
    frame = results["scenes in 1280x720 frames"]
    ratio = np.median(frame["naive"]["times"]) / np.median(frame["ours"]["times"])
    print(f"\nper 1280x720 frame, naive / ours p50 time: {ratio:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
