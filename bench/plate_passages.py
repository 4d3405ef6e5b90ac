"""What a gate decides per passage, not per frame: the hard set's conditions as cars coming up to the
gate (bench/plate_hardset.build_passages: six frames 0.2 s apart, the plate widening from 60 to 120 px,
one colour and one condition per passage), each frame read by the reader and the readings voted by the
gate's own PlateVoter with the gate's defaults (recognition.plate: min_hits, min_confidence, window_s,
agreeing_hits).

Per passage: right (the voted plate is the labelled one), wrong (a plate was decided, and it is not),
none (no decision: the car waits for the guard); and after how many frames the decision came.
Synthetic: these figures are not the real photographs' and not the per-frame hard-set figures.

    single  PP-OCRv4 alone (PlateReader(second_opinion=False); the tables before issue 30 call it "today")
    today   the pipeline as issue 30 found it (PlateReader(fast=False): three recognisers on every plate)
    before  the pipeline before issue 31 (bench.plate_bench.before_reader: every recogniser votes the province
            alone) voted as before (agreeing_hits 0: the position vote decides alone)
    ours    models.plates.PlateReader(), voted with the gate's defaults; ``--agreeing`` adds rows of ours voted
            with other agreeing_hits (each reader reads the frames once)

    python -m bench.plate_passages [--readers single,today,before,ours] [--agreeing 0,1,3]
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter

import cv2

from bench import shared_data
from bench.plate_hardset import PASSAGE_FRAMES, build_passages
from edge.config.recognition import PlateRecognitionConfig
from edge.rules.plate_vote import PlateVoter

COLOURS = ("blue", "yellow", "green", "white", "black")
FRAME_S = 0.2  # 5 frames a second, as a gate's plate camera is configured


def read_passage(reader, passage) -> list:
    """Each frame's readings, in order."""
    return [reader.read(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)) for frame in passage.frames]


def decide(frames, settings: PlateRecognitionConfig, agreeing_hits: int):
    """(voted text or None, frames read until the decision) for one passage's readings."""
    voter = PlateVoter(settings.min_hits, settings.min_confidence, settings.window_s, settings.cooldown_s,
                       agreeing_hits)
    for n, readings in enumerate(frames, 1):
        for reading in readings:
            voted = voter.add("in", reading.text, reading.char_confidence, n * FRAME_S, reading.box)
            if voted is not None:
                return voted.text, n
    return None, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", default="single,today,before,ours")
    parser.add_argument("--agreeing", default="", help="also ours voted with these agreeing_hits, e.g. 0,1,3")
    args = parser.parse_args(argv)
    data = shared_data()
    if data is None:
        return 0
    from bench.plate_bench import before_reader
    from models.plates import PlateReader

    passages = build_passages(data)
    settings = PlateRecognitionConfig()
    print(f"{len(passages)} synthetic passages of {PASSAGE_FRAMES} frames (plate 60 -> 120 px) from {data / 'plates'}; "
          f"voting: min_hits {settings.min_hits}, min_confidence {settings.min_confidence}, "
          f"window_s {settings.window_s}, agreeing_hits {settings.agreeing_hits}")
    readers = {"single": lambda: PlateReader(second_opinion=False), "today": lambda: PlateReader(fast=False),
               "before": before_reader, "ours": PlateReader}
    print("| reader | right | wrong | none | " + " | ".join(COLOURS) + " | frames to decide (median, max) |")
    print("|---|---|---|---|" + "---|" * len(COLOURS) + "---|")
    rows = []
    for name in args.readers.split(","):
        reader = readers[name]()
        read = [read_passage(reader, passage) for passage in passages]
        if name == "ours":
            rows.append((name, read, settings.agreeing_hits))
            rows += [(f"ours, agreeing_hits {k}", read, int(k)) for k in args.agreeing.split(",") if k]
        else:
            rows.append((name, read, 0))
        del reader
    for name, read, agreeing in rows:
        outcome, by_colour, frames = Counter(), Counter(), []
        totals = Counter(p.color for p in passages)
        wrongs = []
        for passage, readings in zip(passages, read):
            text, n = decide(readings, settings, agreeing)
            kind = "none" if text is None else "right" if text == passage.plate else "wrong"
            outcome[kind] += 1
            if kind == "right":
                by_colour[passage.color] += 1
                frames.append(n)
            elif kind == "wrong":
                wrongs.append(f"{passage.name}: {text} for {passage.plate}")
        total = len(passages)
        cells = [f"{by_colour[c]}/{totals[c]}" if totals[c] else "–" for c in COLOURS]
        spread = f"{statistics.median(frames):.0f}, {max(frames)}" if frames else "–"
        print(f"| {name} | {outcome['right']}/{total} ({100 * outcome['right'] / total:.1f}%) | {outcome['wrong']} "
              f"({100 * outcome['wrong'] / total:.1f}%) | {outcome['none']} | " + " | ".join(cells) + f" | {spread} |")
        for line in wrongs:
            print(f"    wrong ({name}): {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
