"""What a gate decides per passage, not per frame: the hard set's conditions as cars coming up to the
gate (bench/plate_hardset.build_passages: six frames 0.2 s apart, the plate widening from 60 to 120 px,
one colour and one condition per passage), each frame read by the reader and the readings voted by the
gate's own PlateVoter with the gate's defaults (recognition.plate: min_hits, min_confidence, window_s).

Per passage: right (the voted plate is the labelled one), wrong (a plate was decided, and it is not),
none (no decision: the car waits for the guard); and after how many frames the decision came.
Synthetic: these figures are not the real photographs' and not the per-frame hard-set figures.

    single  PP-OCRv4 alone (PlateReader(second_opinion=False); the tables before issue 30 call it "today")
    today   the pipeline as issue 30 found it (PlateReader(fast=False): three recognisers on every plate)
    ours    models.plates.PlateReader()

    python -m bench.plate_passages [--readers single,today,ours]
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


def decide(reader, passage, settings: PlateRecognitionConfig):
    """(voted text or None, frames read until the decision) for one passage."""
    voter = PlateVoter(settings.min_hits, settings.min_confidence, settings.window_s, settings.cooldown_s)
    for n, frame in enumerate(passage.frames, 1):
        for reading in reader.read(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)):
            voted = voter.add("in", reading.text, reading.char_confidence, n * FRAME_S, reading.box)
            if voted is not None:
                return voted.text, n
    return None, None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", default="today,ours")
    args = parser.parse_args(argv)
    data = shared_data()
    if data is None:
        return 0
    from models.plates import PlateReader

    passages = build_passages(data)
    settings = PlateRecognitionConfig()
    print(f"{len(passages)} synthetic passages of {PASSAGE_FRAMES} frames (plate 60 -> 120 px) from {data / 'plates'}; "
          f"voting: min_hits {settings.min_hits}, min_confidence {settings.min_confidence}, "
          f"window_s {settings.window_s}")
    readers = {"single": lambda: PlateReader(second_opinion=False), "today": lambda: PlateReader(fast=False),
               "ours": PlateReader}
    print("| reader | right | wrong | none | " + " | ".join(COLOURS) + " | frames to decide (median, max) |")
    print("|---|---|---|---|" + "---|" * len(COLOURS) + "---|")
    for name in args.readers.split(","):
        reader = readers[name]()
        outcome, by_colour, frames = Counter(), Counter(), []
        totals = Counter(p.color for p in passages)
        wrongs = []
        for passage in passages:
            text, n = decide(reader, passage, settings)
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
