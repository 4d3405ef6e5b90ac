"""The hard plate development set, built reproducibly from ../shared/data/plates (real CCPD photos
with their labels and four labelled corners). Synthetic: every frame says how it was made.

Each item is one 1280x720 BGR frame holding one labelled plate:
    size         the scene scaled so the plate is 60-120 px wide (traffic-camera distances)
    perspective  a slight random homography (up to ~8 degrees of rotation and some shear)
    colour       blue as photographed, or repainted inside its labelled corners: yellow (black
                 characters on yellow), white (black on white), black (white on black); green
                 new-energy plates (8 characters) are the set's real green plates, as photographed
    condition    day; night (0.3-0.5x brightness, sensor noise sigma 3-7, a headlight's glare
                 beside the plate); motion blur (2-4 px, any direction within 30 degrees of
                 horizontal); and JPEG compression (quality 55-85) on every frame
The rest of the frame is the same scene with its plate painted over, stretched and blurred (no
second readable plate). Deterministic: the same seed gives the same frames.

    python -m bench.plate_hardset [--out DIR]     # writes the frames and labels.csv to look at them
    python -m bench.plate_hardset --test-images   # remakes tests/data/plates/synthetic_*.jpg
"""

from __future__ import annotations

import argparse
import csv
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from bench import shared_data

WIDTH, HEIGHT = 1280, 720
SEED = 20261126
# Paint colours (BGR) for the repainted variants: background, characters.
PAINT = {
    "yellow": ((20, 175, 235), (25, 25, 25)),
    "white": ((235, 235, 235), (25, 25, 25)),
    "black": ((30, 30, 30), (235, 235, 235)),
}
CONDITIONS = ("day", "night", "blur")


@dataclass(frozen=True)
class HardItem:
    name: str
    plate: str
    color: str
    condition: str
    plate_width: int
    frame: np.ndarray  # BGR 1280x720


def _order(quad: np.ndarray) -> np.ndarray:
    """Corners as tl, tr, br, bl whatever order they were labelled in."""
    s, d = quad.sum(1), quad[:, 0] - quad[:, 1]
    return np.array([quad[np.argmin(s)], quad[np.argmax(d)], quad[np.argmax(s)], quad[np.argmin(d)]], np.float32)


def repaint(bgr: np.ndarray, quad: np.ndarray, color: str) -> np.ndarray:
    """Repaint a blue plate (white characters on blue) inside its corners as another colour, keeping
    the photograph's shading, blur and character shapes (character weight from the brightness)."""
    background, ink = (np.array(c, np.float32) for c in PAINT[color])
    mask = np.zeros(bgr.shape[:2], np.uint8)
    cv2.fillConvexPoly(mask, quad.astype(np.int32), 255)
    mask = cv2.dilate(mask, np.ones((3, 3), np.uint8))
    inside = mask > 0
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY).astype(np.float32)
    values = gray[inside]
    lo, hi = np.percentile(values, 30), np.percentile(values, 97)
    weight = np.clip((gray - lo) / max(hi - lo, 1.0), 0, 1)[..., None]  # 1 = character stroke
    shade = np.clip(gray / max(np.percentile(values, 60), 1.0), 0.6, 1.3)[..., None]
    painted = (weight * ink + (1 - weight) * background) * np.where(weight > 0.5, 1.0, shade)
    out = bgr.copy().astype(np.float32)
    soft = cv2.GaussianBlur(mask.astype(np.float32) / 255, (3, 3), 0)[..., None]
    out = out * (1 - soft) + painted * soft
    return np.clip(out, 0, 255).astype(np.uint8)


def _without_plate(bgr: np.ndarray, quad: np.ndarray) -> np.ndarray:
    out = bgr.copy()
    x1, y1 = quad.min(0).astype(int)
    x2, y2 = quad.max(0).astype(int)
    pad = max(x2 - x1, y2 - y1)
    out[max(y1 - pad // 2, 0):y2 + pad // 2, max(x1 - pad // 3, 0):x2 + pad // 3] = (80, 80, 80)
    return out


def _glare(frame: np.ndarray, center, radius: float, strength: float) -> np.ndarray:
    """A headlight: a bright Gaussian spot (computed only where it is visible)."""
    x1, y1 = max(int(center[0] - 4 * radius), 0), max(int(center[1] - 4 * radius), 0)
    x2, y2 = min(int(center[0] + 4 * radius), frame.shape[1]), min(int(center[1] + 4 * radius), frame.shape[0])
    if x2 <= x1 or y2 <= y1:
        return frame
    yy, xx = np.mgrid[y1:y2, x1:x2].astype(np.float32)
    d2 = ((xx - center[0]) ** 2 + (yy - center[1]) ** 2) / (radius**2)
    light = strength * np.exp(-d2)[..., None] * np.array([235, 245, 255], np.float32)
    out = frame.copy()
    out[y1:y2, x1:x2] = np.clip(frame[y1:y2, x1:x2].astype(np.float32) + light, 0, 255).astype(np.uint8)
    return out


def make_frame(scene: np.ndarray, quad: np.ndarray, rng: np.random.Generator, color: str, condition: str,
               plate_width: int) -> np.ndarray:
    quad = _order(np.asarray(quad, np.float32))
    if color in PAINT:
        scene = repaint(scene, quad, color)
    width_now = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    scale = plate_width / width_now
    # Background: the scene without its plate, stretched over the frame and blurred.
    background = cv2.resize(_without_plate(scene, quad), (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
    background = cv2.GaussianBlur(background, (0, 0), 6)
    # Foreground: the scene scaled, with a slight perspective, the plate placed in the lower 2/3.
    h, w = scene.shape[:2]
    sw, sh = int(w * scale), int(h * scale)
    angle = np.deg2rad(rng.uniform(-8, 8))
    shear = rng.uniform(-0.15, 0.15)
    tilt = rng.uniform(-0.0004, 0.0004) / max(scale, 0.1)
    center = quad.mean(0) * scale
    target = np.array([rng.uniform(200, WIDTH - 200), rng.uniform(HEIGHT * 0.35, HEIGHT - 90)], np.float32)
    rotate = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    matrix = (
        np.array([[1, 0, target[0]], [0, 1, target[1]], [0, 0, 1]])
        @ rotate
        @ np.array([[1, shear, 0], [0, 1, 0], [tilt, 0, 1]])
        @ np.array([[1, 0, -center[0]], [0, 1, -center[1]], [0, 0, 1]])
        @ np.diag([scale, scale, 1.0])
    )
    fg = cv2.warpPerspective(scene, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA)
    cover = cv2.warpPerspective(np.full((h, w), 255, np.uint8), matrix, (WIDTH, HEIGHT))
    cover = cv2.GaussianBlur(cover, (5, 5), 0).astype(np.float32)[..., None] / 255
    frame = (fg * cover + background * (1 - cover)).astype(np.uint8)
    del sw, sh
    plate = cv2.perspectiveTransform(quad[None], matrix)[0]
    if condition == "night":
        frame = (frame.astype(np.float32) * rng.uniform(0.3, 0.5)).astype(np.uint8)
        pc = plate.mean(0)
        side = rng.choice([-1, 1])
        frame = _glare(frame, (pc[0] + side * plate_width * rng.uniform(0.9, 1.6), pc[1] - plate_width * 0.1),
                       plate_width * rng.uniform(0.35, 0.6), rng.uniform(0.9, 1.4))
        noise = rng.normal(0, rng.uniform(3, 7), frame.shape)
        frame = np.clip(frame + noise, 0, 255).astype(np.uint8)
    elif condition == "blur":
        length = int(rng.integers(2, 5))
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0 / length
        rot = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), rng.uniform(-30, 30), 1.0)
        kernel = cv2.warpAffine(kernel, rot, (length, length))
        frame = cv2.filter2D(frame, -1, kernel / max(kernel.sum(), 1e-6))
    ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 86))])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


# A repainted colour is drawn from this (blue twice, yellow twice: the commonest plates).
COLOUR_DRAW = ("blue", "yellow", "blue", "white", "yellow", "black")


def _scenes(data: Path):
    """(file name, BGR scene, labelled plate, labelled corners, real colour) of each labelled scene."""
    meta = [json.loads(line) for line in (data / "plates" / "meta.jsonl").open(encoding="utf-8")]
    rows = csv.DictReader((data / "plates" / "labels.csv").open(encoding="utf-8"))
    labels = {row["file"]: row["plate"] for row in rows}
    for entry in sorted(meta, key=lambda m: m["file"]):
        if entry["file"] not in labels or not entry.get("quad"):
            continue
        scene = cv2.imread(str(data / "plates" / entry["file"]))
        if scene is not None:
            yield (entry["file"], scene, labels[entry["file"]], np.array(entry["quad"], np.float32),
                   entry.get("color", "blue"))


def build(data: Path, seed: int = SEED, per_scene: int = 3) -> list[HardItem]:
    """The hard set: every labelled scene ``per_scene`` times (green ones three times as often)."""
    rng = np.random.default_rng(seed)
    items = []
    for file, scene, plate, quad, real_colour in _scenes(data):
        copies = per_scene * 3 if real_colour == "green" else per_scene
        for k in range(copies):
            colour = "green" if real_colour == "green" else COLOUR_DRAW[int(rng.integers(0, 6))]
            condition = CONDITIONS[(k + int(rng.integers(0, 3))) % 3]
            width = int(rng.integers(60, 121))
            frame = make_frame(scene, quad, rng, colour, condition, width)
            name = f"{Path(file).stem}_{k}_{colour}_{condition}_{width}px"
            items.append(HardItem(name, plate, colour, condition, width, frame))
    return items


# Where a standard plate's characters stand, as fractions of its width (GA 36: 440 mm wide, characters
# 45 mm wide and 12 mm apart, 34.5 mm with the dot after the second): province, letter, the other five.
PROVINCE_SPAN, LETTER_SPAN, SERIAL_SPAN = (0.035, 0.1375), (0.165, 0.267), (0.345, 0.966)
FLAT_W, FLAT_H = 451, 140  # a single-row plate rectified by its corners
DOUBLE_W, DOUBLE_H = 560, 280  # a double-row plate (440 x 220 mm), drawn at this size


def double_row_plate(flat: np.ndarray) -> np.ndarray:
    """A double-row plate (a bus's, a truck's or a trailer's rear plate) made of a single-row plate's own
    characters (``flat``: FLAT_W x FLAT_H, rectified by its corners): province and letter, smaller and
    far apart, in the upper row; the other five, large, below; a dark rim around it."""
    plate = np.empty((DOUBLE_H, DOUBLE_W, 3), np.uint8)
    plate[:] = np.median(flat.reshape(-1, 3), 0)
    h, w = flat.shape[:2]

    def cut(span):
        return flat[int(0.06 * h):int(0.94 * h), int(span[0] * w):int(span[1] * w)]

    for span, centre in ((PROVINCE_SPAN, 0.32), (LETTER_SPAN, 0.68)):
        char = cut(span)
        height = int(0.34 * DOUBLE_H)
        width = int(char.shape[1] * height / char.shape[0] * 1.3)
        x, y = int(centre * DOUBLE_W - width / 2), int(0.08 * DOUBLE_H)
        plate[y:y + height, x:x + width] = cv2.resize(char, (width, height), interpolation=cv2.INTER_CUBIC)
    lower = cv2.resize(cut(SERIAL_SPAN), (int(0.88 * DOUBLE_W), int(0.54 * DOUBLE_H)), interpolation=cv2.INTER_CUBIC)
    x, y = int(0.06 * DOUBLE_W), int(0.42 * DOUBLE_H)
    plate[y:y + lower.shape[0], x:x + lower.shape[1]] = lower
    cv2.rectangle(plate, (3, 3), (DOUBLE_W - 4, DOUBLE_H - 4), (25, 25, 25), 4)
    return plate


def with_double_row_plate(scene: np.ndarray, quad: np.ndarray, color: str = "yellow"):
    """(scene, corners): the scene with its plate (repainted ``color``) replaced by the same characters
    on a double-row plate, standing on the plate's lower edge, twice as high as wide is half."""
    quad = _order(np.asarray(quad, np.float32))
    painted = repaint(scene, quad, color) if color in PAINT else scene
    target = np.array([[0, 0], [FLAT_W, 0], [FLAT_W, FLAT_H], [0, FLAT_H]], np.float32)
    flat = cv2.warpPerspective(painted, cv2.getPerspectiveTransform(quad, target), (FLAT_W, FLAT_H),
                               flags=cv2.INTER_CUBIC)
    plate = double_row_plate(flat)
    tl, tr, br, bl = quad
    up = (tl - bl + tr - br) / 2
    up = up / max(float(np.linalg.norm(up)), 1e-6) * float(np.linalg.norm(br - bl)) / 2
    corners = np.array([bl + up, br + up, br, bl], np.float32)
    source = np.array([[0, 0], [DOUBLE_W, 0], [DOUBLE_W, DOUBLE_H], [0, DOUBLE_H]], np.float32)
    matrix = cv2.getPerspectiveTransform(source, corners)
    size = (scene.shape[1], scene.shape[0])
    warped = cv2.warpPerspective(plate, matrix, size, flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((DOUBLE_H, DOUBLE_W), 255, np.uint8), matrix, size) > 127
    out = painted.copy()
    out[mask] = warped[mask]
    return out, corners


def build_double_rows(data: Path, seed: int = SEED + 2) -> list[HardItem]:
    """A double-row yellow plate on every labelled scene (as a bus's rear plate; synthetic: made of the
    scene's own plate characters), 80-160 px wide in 1280x720 frames, day / night / blur as ``build``."""
    rng = np.random.default_rng(seed)
    items = []
    for file, scene, plate, quad, real_colour in _scenes(data):
        if real_colour == "green":
            continue  # new-energy plates have no double-row form
        double_scene, corners = with_double_row_plate(scene, quad)
        condition = CONDITIONS[int(rng.integers(0, 3))]
        width = int(rng.integers(80, 161))
        frame = make_frame(double_scene, corners, rng, "double", condition, width)
        items.append(HardItem(f"{Path(file).stem}_double_{condition}_{width}px", plate, "yellow", condition, width,
                              frame))
    return items


@dataclass(frozen=True)
class Passage:
    """One car coming up to the gate: ``frames`` (BGR 1280x720, 0.2 s apart) of one plate growing from
    60 to 120 px wide, in one colour and one condition, each frame with its own small changes."""

    name: str
    plate: str
    color: str
    condition: str
    frames: tuple


PASSAGE_FRAMES = 6
PASSAGE_SEED = SEED + 1


def build_passages(data: Path, seed: int = PASSAGE_SEED, frames: int = PASSAGE_FRAMES) -> list[Passage]:
    """One passage per labelled scene (three for the green ones), colours and conditions drawn as in
    ``build``; within a passage the plate widens linearly from 60 to 120 px."""
    rng = np.random.default_rng(seed)
    passages = []
    for file, scene, plate, quad, real_colour in _scenes(data):
        for k in range(3 if real_colour == "green" else 1):
            colour = "green" if real_colour == "green" else COLOUR_DRAW[int(rng.integers(0, 6))]
            condition = CONDITIONS[int(rng.integers(0, 3))]
            shots = tuple(make_frame(scene, quad, rng, colour, condition, int(60 + 60 * i / max(frames - 1, 1)))
                          for i in range(frames))
            passages.append(Passage(f"{Path(file).stem}_{k}_{colour}_{condition}", plate, colour, condition, shots))
    return passages


# The province stress set: the real plates of ../shared/data that are not from 皖 (CCPD's Anhui, most of
# the set), so a recogniser skewed to 皖 shows. Each crop as it is and in three harder copies, each
# scene as it is and in 1280x720 frames under the hard set's three conditions.
PROVINCE_SEED = SEED + 3
CROP_CONDITIONS = ("small", "blur", "night")


def _harder_crop(crop: np.ndarray, rng: np.random.Generator, condition: str) -> np.ndarray:
    """A real 94x24 crop made harder: ``small`` (seen 60% as wide, enlarged back), ``blur`` (2-4 px of
    horizontal motion), ``night`` (0.35-0.55x brightness, sensor noise sigma 4-8); JPEG 55-85 on each."""
    h, w = crop.shape[:2]
    if condition == "small":
        shrunk = cv2.resize(crop, (int(w * 0.6), int(h * 0.6)), interpolation=cv2.INTER_AREA)
        crop = cv2.resize(shrunk, (w, h), interpolation=cv2.INTER_LINEAR)
    elif condition == "blur":
        length = int(rng.integers(2, 5))
        crop = cv2.filter2D(crop, -1, np.full((1, length), 1.0 / length, np.float32))
    elif condition == "night":
        dark = crop.astype(np.float32) * rng.uniform(0.35, 0.55) + rng.normal(0, rng.uniform(4, 8), crop.shape)
        crop = np.clip(dark, 0, 255).astype(np.uint8)
    ok, jpeg = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(55, 86))])
    return cv2.imdecode(jpeg, cv2.IMREAD_COLOR)


def build_provinces(data: Path, seed: int = PROVINCE_SEED, skip: str = "皖") -> tuple[list[HardItem], list[HardItem]]:
    """(crops, frames): every real plate crop (plate_crops/) and scene (plates/) whose province is not
    ``skip``, as it is and harder (``CROP_CONDITIONS`` for crops; day / night / blur frames, the plate
    70-120 px wide, for scenes). Real plates, synthetic conditions."""
    rng = np.random.default_rng(seed)
    crops, frames = [], []
    rows = csv.DictReader((data / "plate_crops" / "labels.csv").open(encoding="utf-8"))
    for row in sorted(rows, key=lambda r: r["file"]):
        plate = row["plate"]
        if plate[0] == skip:
            continue
        image = cv2.imread(str(data / "plate_crops" / row["file"]))
        colour = "green" if len(plate) == 8 else "blue"
        crops.append(HardItem(f"{Path(row['file']).stem}_as_is", plate, colour, "as is", image.shape[1], image))
        for condition in CROP_CONDITIONS:
            crops.append(HardItem(f"{Path(row['file']).stem}_{condition}", plate, colour, condition, image.shape[1],
                                  _harder_crop(image, rng, condition)))
    for file, scene, plate, quad, colour in _scenes(data):
        if plate[0] == skip:
            continue
        frames.append(HardItem(f"{Path(file).stem}_as_is", plate, colour, "as is", 0, scene))
        for condition in CONDITIONS:
            width = int(rng.integers(70, 121))
            frames.append(HardItem(f"{Path(file).stem}_{condition}_{width}px", plate, colour, condition, width,
                                   make_frame(scene, quad, rng, colour, condition, width)))
    return crops, frames


# The synthetic test frames (tests/data/plates/synthetic_*.jpg), made from the repository's own
# copies of CCPD photos (MIT) with their labelled corners: name, source, colour, condition, width, seed.
TEST_FRAMES = [
    ("synthetic_yellow_100px.jpg", "ccpd_07.jpg", [[373, 433], [520, 447], [516, 498], [369, 484]],
     "yellow", "day", 100, 1),
    ("synthetic_small_64px.jpg", "ccpd_20.jpg", [[130, 447], [404, 431], [402, 541], [128, 557]],
     "blue", "day", 64, 2),
    ("synthetic_green_night_90px.jpg", "ccpd2020_002.jpg", [[197, 428], [501, 492], [500, 586], [207, 515]],
     "green", "night", 90, 3),
    ("synthetic_white_80px.jpg", "ccpd_10.jpg", [[231, 438], [361, 448], [360, 494], [230, 484]],
     "white", "day", 80, 4),
]


# Double-row yellow plates (with_double_row_plate) made of those scenes' own characters: one the detector
# sees whole, one of which it sees the lower row only.
DOUBLE_TEST_FRAMES = [
    ("synthetic_double_row_140px.jpg", "ccpd_10.jpg", [[231, 438], [361, 448], [360, 494], [230, 484]],
     "double", "day", 140, 5),
    ("synthetic_double_row_130px.jpg", "ccpd2019_020.jpg", [[560, 594], [202, 628], [212, 511], [570, 477]],
     "double", "day", 130, 1),
]


def make_test_frames(plates_dir: Path) -> None:
    for name, source, quad, colour, condition, width, seed in TEST_FRAMES + DOUBLE_TEST_FRAMES:
        scene, quad = cv2.imread(str(plates_dir / source)), np.array(quad, np.float32)
        if colour == "double":
            scene, quad = with_double_row_plate(scene, quad)
        frame = make_frame(scene, quad, np.random.default_rng(seed), colour, condition, width)
        cv2.imwrite(str(plates_dir / name), frame, [cv2.IMWRITE_JPEG_QUALITY, 85])
        print(f"{plates_dir / name}: {source} as {colour}, {condition}, plate {width} px wide in 1280x720")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the frames and labels.csv here")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--test-images", action="store_true", help="remake tests/data/plates/synthetic_*.jpg")
    args = parser.parse_args(argv)
    if args.test_images:
        from bench import REPO

        make_test_frames(REPO / "tests" / "data" / "plates")
        return 0
    data = shared_data()
    if data is None:
        return 0
    items = build(data, args.seed)
    counts: dict = {}
    for item in items:
        counts[item.color] = counts.get(item.color, 0) + 1
    print(f"hard set: {len(items)} synthetic 1280x720 frames from {data / 'plates'}; by colour {counts}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        with (args.out / "labels.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file", "plate", "color", "condition", "plate_width"])
            for item in items:
                cv2.imwrite(str(args.out / f"{item.name}.jpg"), item.frame)
                writer.writerow([f"{item.name}.jpg", item.plate, item.color, item.condition, item.plate_width])
        print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
