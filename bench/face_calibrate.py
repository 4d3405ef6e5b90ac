"""Face calibration: true and false accepts per encoder on ../shared/data, and the thresholds to ship.

Protocol (issue 3): enrol ``faces/<id>/1.jpg`` for every identity, probe with every other photo of
that identity; ``faces_impostors`` are never enrolled. A false accept is an impostor matched to
anyone, or a probe matched to someone else. For each encoder and each margin the tolerance is the
largest with zero false accepts; the (tolerance, margin) pair with most true accepts is shipped.
East Asian identities (af_*, kp_*) are also reported on their own. Enrolment photos are read the way
enrolment reads them (dlib's HOG with its 68 landmarks, with a border for tight crops), probes the way
the encoder reads camera frames (the same, or YuNet with dlib's five landmarks for ``ensemble-yunet``).
For ``ensemble-yunet`` a last line enrols through YuNet too: the alternative its design was measured
against (issue 30).

    python -m bench.face_calibrate [--encoders dlib,ensemble,ensemble-yunet]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np

from bench import shared_data
from edge.rules.matcher import FaceMatcher
from edge.store import TemplateSet

MARGINS = [0.0, 0.02, 0.04, 0.06, 0.08, 0.10, 0.12]


def east_asian(identity: str) -> bool:
    return identity.startswith(("af_", "kp_"))


@dataclass
class Photo:
    identity: str
    path: str
    enrol: bool
    impostor: bool


def load_faces(data, encoder: str = "dlib", enrol_as_frames: bool = False):
    """Detect the face in every photo once: enrolment photos as enrolment does, the others as ``encoder``
    reads camera frames (``enrol_as_frames``: enrolment photos that way too)."""
    from models.faces import FaceEngine
    from models.images import load_rgb

    engine = FaceEngine(encoder=encoder, scale=1.0)
    photos, detections, missed = [], [], []
    for folder, impostor in (("faces", False), ("faces_impostors", True)):
        for path in sorted((data / folder).glob("*/*.jpg")):
            enrol = path.name == "1.jpg" and not impostor
            image, faces = engine.find_faces_thoroughly(load_rgb(path), frames=enrol_as_frames or not enrol)
            if not faces:
                missed.append(str(path.relative_to(data)))
                continue
            photos.append(Photo(path.parent.name, str(path.relative_to(data)), path.name == "1.jpg", impostor))
            detections.append((image, faces[0]))
    return photos, detections, missed


def encode_all(encoder_name: str, detections) -> np.ndarray:
    from models.faces import make_encoder

    encoder = make_encoder(encoder_name)
    return np.stack([encoder.encode(image, face) for image, face in detections])


def compare_litert(detections) -> str:
    """MobileFaceNet as the gate runs it (the converted ONNX in OpenCV's dnn) against the published .tflite
    under LiteRT, on the same views of every detected face: are the templates the same?"""
    from models.face_arcface import MobileFaceNetEncoder, MobileFaceNetLiteRTEncoder, aligned_views

    ours, litert = MobileFaceNetEncoder(), MobileFaceNetLiteRTEncoder(threads=1)
    raw, cosines = 0.0, []
    for image, face in detections:
        views = aligned_views(image, face)
        a, b = ours.outputs(views), litert.outputs(views)
        raw = max(raw, float(np.abs(a - b).max()))
        cosines += [float(x @ y / np.linalg.norm(x) / np.linalg.norm(y)) for x, y in zip(a, b)]
        cosines.append(float(ours.embed(views) @ litert.embed(views)))
    return (f"{len(detections)} faces: largest |ONNX (OpenCV) - LiteRT| of an output {raw:.2e}; "
            f"smallest cosine of two outputs or templates {min(cosines):.8f} (1 - cosine {1 - min(cosines):.1e})")


def outcomes(photos, vectors, enrol_filter=None):
    """For every non-enrolment photo: (identity, impostor, best person, best distance, gap)."""
    enrol_filter = enrol_filter or (lambda p: p.enrol and not p.impostor)
    enrolled = [i for i, p in enumerate(photos) if enrol_filter(p)]
    names = sorted({photos[i].identity for i in enrolled})
    index = {name: k for k, name in enumerate(names)}
    ids = np.array([index[photos[i].identity] for i in enrolled], dtype=np.int64)
    matcher = FaceMatcher(tolerance=np.inf, margin=0.0)
    matcher.load(TemplateSet("x", ids, vectors[enrolled], 0))
    probes = [i for i, p in enumerate(photos) if i not in set(enrolled)]
    results = matcher.match(vectors[probes])
    rows = []
    for i, result in zip(probes, results):
        gap = (result.second_distance - result.distance) if result.second_distance is not None else np.inf
        rows.append((photos[i].identity, photos[i].impostor, names[result.person_id], result.distance, gap))
    return rows


def rates(rows, tolerance, margin):
    return counted([(r, r[3] <= tolerance and r[4] >= margin) for r in rows])


def counted(accepted):
    """Rates of [(row, accepted)]: an accepted row names its row's person (r[2])."""
    false = sum(1 for r, ok in accepted if ok and (r[1] or r[2] != r[0]))
    genuine = [(r, ok) for r, ok in accepted if not r[1]]

    def tar(subset):
        subset = list(subset)
        return sum(1 for r, ok in subset if ok and r[2] == r[0]) / max(len(subset), 1)

    return {
        "false_accepts": false,
        "tar": tar(genuine),
        "tar_east_asian": tar(g for g in genuine if east_asian(g[0][0])),
        "tar_western": tar(g for g in genuine if not east_asian(g[0][0])),
        "probes": len(genuine),
        "impostors": sum(1 for r, _ in accepted if r[1]),
        "accepted": sum(1 for r, ok in genuine if ok and r[2] == r[0]),
        "accepted_east_asian": sum(1 for r, ok in genuine if ok and r[2] == r[0] and east_asian(r[0])),
        "probes_east_asian": sum(1 for r, _ in genuine if east_asian(r[0])),
    }


def over_all_photos(result: dict, missed, enrolment=("/1.jpg",)) -> dict:
    """``result`` with every probe photo of the set counted: a probe in which the detector found no face is
    a true accept lost (the person stood at the gate and was not let in), a stranger's is a refusal. Rates
    of two detectors are comparable only over the same photos (issue 30: HOG misses two probes YuNet finds)."""
    probes = [m for m in missed if m.startswith("faces/") and not m.endswith(enrolment)]
    east = sum(1 for m in probes if east_asian(m.split("/")[1]))
    out = dict(result)
    out["probes"] += len(probes)
    out["probes_east_asian"] += east
    out["impostors"] += sum(1 for m in missed if m.startswith("faces_impostors/"))
    out["no_face"] = len(probes)
    western = out["probes"] - out["probes_east_asian"]
    accepted_western = out["accepted"] - out["accepted_east_asian"]
    out["tar"] = out["accepted"] / max(out["probes"], 1)
    out["tar_east_asian"] = out["accepted_east_asian"] / max(out["probes_east_asian"], 1)
    out["tar_western"] = accepted_western / max(western, 1)
    return out


def first_network_rows(photos, vectors, dim):
    """``outcomes`` of the first ``dim`` columns (a cascade's first network: its own unit vectors)."""
    first = vectors[:, :dim]
    return outcomes(photos, first / np.linalg.norm(first, axis=1, keepdims=True))


def cascade_decisions(first_rows, rows, cascade, tolerance, margin):
    """[(row, accepted)] as ``edge.rules.matcher.identify`` decides, and which rows went to the second
    network. The first network's row decides when clear; the full template's row when unsure."""
    decided, escalated = [], []
    for first, full in zip(first_rows, rows):
        if first[3] > cascade.reject_above:
            decided.append((first, False))
            escalated.append(False)
        elif first[3] <= cascade.accept_below and first[4] >= cascade.accept_margin:
            decided.append((first, True))
            escalated.append(False)
        else:
            decided.append((full, full[3] <= tolerance and full[4] >= margin))
            escalated.append(True)
    return decided, escalated


def fit_cascade(first_rows, rows, tolerance, margin, min_margin):
    """The band with zero false accepts and at least the full template's true accepts, fewest escalations.

    reject_above: midway between the largest first-network distance of a probe the full rule accepts
    and the next larger one of any photo (no true accept lost on this set). For each margin, accept_below:
    0.01 below the first network's first false match with that margin, rounded down to two decimals (a
    face one network decides alone keeps that distance from the closest false one on this set), for
    margins of at least ``min_margin`` (the first network's own, when it is an encoder alone: a face
    nearly as close to a second person is never decided by one network). Of those, the most true
    accepts, then the fewest escalations.
    """
    from models.faces import Cascade

    full = rates(rows, tolerance, margin)
    kept = [f[3] for f, r in zip(first_rows, rows) if not r[1] and r[2] == r[0] and r[3] <= tolerance
            and r[4] >= margin]
    above = [f[3] for f in first_rows if f[3] > max(kept)]
    reject = round((max(kept) + min(above)) / 2, 3) if above else round(max(kept) + 0.01, 3)
    best = None
    for accept_margin in (m for m in MARGINS if m >= min_margin - 1e-9):
        false_distances = sorted(r[3] for r in first_rows if r[4] >= accept_margin and (r[1] or r[2] != r[0]))
        limit = false_distances[0] if false_distances else reject
        accept = float(np.floor((limit - 0.01) * 100) / 100)
        cascade = Cascade(min(accept, reject), accept_margin, reject)
        decided, escalated = cascade_decisions(first_rows, rows, cascade, tolerance, margin)
        found = counted(decided)
        if found["false_accepts"] or found["tar"] < full["tar"] - 1e-9:
            continue
        key = (found["tar"], -sum(escalated))
        if best is None or key > best[0]:
            best = (key, cascade, found, escalated)
    return None if best is None else best[1:]


def calibrate(rows):
    """Best (tolerance, margin) with zero false accepts; the tolerance sits midway below the first one."""
    best = None
    for margin in MARGINS:
        false_distances = sorted(r[3] for r in rows if r[4] >= margin and (r[1] or r[2] != r[0]))
        limit = false_distances[0] if false_distances else max(r[3] for r in rows) + 0.01
        genuine_below = sorted(r[3] for r in rows if not r[1] and r[2] == r[0] and r[4] >= margin and r[3] < limit)
        # Midway between the last true accept and the first false one: no wider than the data allows.
        tolerance = round((genuine_below[-1] + limit) / 2, 3) if genuine_below else round(limit - 0.01, 3)
        found = rates(rows, tolerance, margin)
        if found["false_accepts"]:
            continue
        if best is None or found["tar"] > best[2]["tar"] + 1e-9:
            best = (tolerance, margin, found)
    return best


def main(argv=None) -> int:
    from models.faces import ENCODERS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default=",".join(ENCODERS))
    parser.add_argument("--compare-litert", action="store_true",
                        help="also: MobileFaceNet's ONNX model against the .tflite under LiteRT, per detector")
    args = parser.parse_args(argv)
    data = shared_data()
    if data is None:
        return 0
    from models.faces import make_encoder

    started = time.perf_counter()
    found, lines_out, by_path = {}, [], {}
    for name in args.encoders.split(","):
        shipped = make_encoder(name)
        detector = shipped.detector
        if detector not in found:
            found[detector] = load_faces(data, name)
            photos, _, missed = found[detector]
            print(f"camera frames by {detector}: photos with a face: {len(photos)}; no face found in {len(missed)}: "
                  f"{', '.join(missed)}; identities enrolled: "
                  f"{len({p.identity for p in photos if p.enrol and not p.impostor})}; "
                  f"impostor photos: {sum(p.impostor for p in photos)}")
            if args.compare_litert:
                print(f"MobileFaceNet on faces found by {detector}: {compare_litert(found[detector][1])}")
        photos, detections, _ = found[detector]
        vectors = encode_all(name, detections)
        by_path[name] = {p.path: v for p, v in zip(photos, vectors)}
        rows = outcomes(photos, vectors)
        lines = []
        false_d = sorted(r[3] for r in rows if r[1] or r[2] != r[0])
        tol0 = round(false_d[0] - 0.001, 3)
        lines.append(("distance only, zero false accepts", tol0, 0.0, rates(rows, tol0, 0.0)))
        best = calibrate(rows)
        if best:
            lines.append(("calibrated tolerance + margin", best[0], best[1], best[2]))
        lines.append(("shipped thresholds", shipped.tolerance, shipped.margin,
                      rates(rows, shipped.tolerance, shipped.margin)))
        if shipped.cascade is not None:
            first_rows = first_network_rows(photos, vectors, shipped.parts[0].dim)
            fitted = fit_cascade(first_rows, rows, shipped.tolerance, shipped.margin, shipped.parts[0].margin)
            for label, band in (("fitted", fitted[0] if fitted else None), ("shipped", shipped.cascade)):
                if band is None:
                    print("cascade: no band keeps zero false accepts and the true accepts")
                    continue
                decided, escalated = cascade_decisions(first_rows, rows, band, shipped.tolerance, shipped.margin)
                strangers = [e for e, r in zip(escalated, rows) if r[1]]
                lines.append((f"cascade, {label} band: {shipped.parts[0].name} alone within {band.accept_below:.3f} "
                              f"(margin {band.accept_margin:.2f}) or beyond {band.reject_above:.3f}; second network "
                              f"for {sum(e for e, r in zip(escalated, rows) if not r[1])} of "
                              f"{len(rows) - len(strangers)} probes, {sum(strangers)} of {len(strangers)} strangers",
                              shipped.tolerance, shipped.margin, counted(decided)))
        several = outcomes(photos, vectors, lambda p: not p.impostor and p.path.endswith(("/1.jpg", "/2.jpg")))
        missed = found[detector][2]
        lines_out += [(name, rule, tol, margin, over_all_photos(r, missed)) for rule, tol, margin, r in lines]
        lines_out.append((name, "shipped, enrol photos 1+2", shipped.tolerance, shipped.margin,
                          over_all_photos(rates(several, shipped.tolerance, shipped.margin), missed,
                                          ("/1.jpg", "/2.jpg"))))
    if "ensemble-yunet" in by_path:
        photos, detections, missed = load_faces(data, "ensemble-yunet", enrol_as_frames=True)
        rows = outcomes(photos, encode_all("ensemble-yunet", detections))
        best = calibrate(rows)
        if best:
            lines_out.append(("ensemble-yunet", "enrolled through YuNet too (not shipped): calibrated", best[0],
                              best[1], over_all_photos(best[2], missed)))
    print("\n| encoder | rule | tolerance | margin | false accepts | true accepts | East Asian | Western |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rule, tol, margin, r in lines_out:
        print(f"| {name} | {rule} | {tol:.3f} | {margin:.2f} | {r['false_accepts']} | {r['tar']:.3f} "
              f"| {r['tar_east_asian']:.3f} | {r['tar_western']:.3f} |")
    print("\nTrue accepts are of every probe photo of the set: one where no face was found counts as refused.")
    print("\nIn counts (true accepts of probe photos, East Asian of theirs):")
    for name, rule, _, _, r in lines_out:
        print(f"- {name}, {rule}: {r['accepted']} of {r['probes']} (no face found in {r['no_face']}), "
              f"{r['accepted_east_asian']} of {r['probes_east_asian']}; {r['false_accepts']} false accepts among "
              f"{r['impostors']} strangers")
    print(f"\n(one enrolment photo per identity unless said; {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
