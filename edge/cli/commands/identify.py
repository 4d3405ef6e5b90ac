"""``gate-edge identify``: what the gate would see in still images, one JSON object per image."""

from __future__ import annotations

import time

from edge.cli.commands import InputError, emit


def identify_image(path: str, recognizers, pass_key, store, config) -> dict:
    """Faces, plates and QR passes in one image; timing measured inside the process."""
    from edge.registry.passes import check_pass
    from models.images import ImageError, load_rgb

    started = time.perf_counter()
    try:
        rgb = load_rgb(path)
    except ImageError as exc:
        raise InputError(str(exc)) from None
    # Searched harder than a frame (a still must not miss a face), but with the camera frames' detector and
    # landmarks, and matched by the gate's own rule (edge.rules.matcher.identify: the cascade of
    # ensemble-yunet too): the verdict is the gate's.
    image, faces = recognizers.faces.find_faces_thoroughly(rgb, frames=True)
    # Boxes are reported in the original image's pixels (the detector may have padded it).
    offset_y = (image.shape[0] - rgb.shape[0]) // 2
    offset_x = (image.shape[1] - rgb.shape[1]) // 2
    face_out = []
    if faces:
        found = recognizers.identify_faces(image, faces=faces) if store else [(f, None) for f in faces]
        for face, match in found:
            top, right, bottom, left = face.box
            matched = match is not None and match.matched
            face_out.append(
                {
                    "box": [top - offset_y, right - offset_x, bottom - offset_y, left - offset_x],
                    "person_id": match.person_id if matched else None,
                    "distance": round(match.distance, 4) if match and match.distance is not None else None,
                    "distance_by": match.by if match else None,  # template, or the cascade's first network
                    "match": match.tier if match else None,
                }
            )
    plates_out = []
    index = recognizers.plate_index()
    site_province = config.recognition.plate.province if config else None
    for reading in recognizers.plates.read(rgb):
        found = index.match(reading.text, reading.char_confidence, site_province) if store else None
        plates_out.append(
            {
                **reading.to_dict(),
                "vehicle_class": found.vehicle["class"] if found else None,
                "match": found.kind if found else None,
                "registered_plate": found.plate if found else None,
            }
        )
    qr_out = []
    for code in recognizers.qr.read(rgb):
        check = check_pass(code.text, pass_key, store)
        qr_out.append({**check.to_dict(), "box": list(code.box)})
    return {
        "image": path,
        "elapsed_ms": round((time.perf_counter() - started) * 1000, 1),
        "faces": face_out,
        "plates": plates_out,
        "qr": qr_out,
    }


def identify(args) -> int:
    from edge.gate.recognition import Recognizers

    config = store = pass_key = None
    if args.config:
        from edge.cli.commands import load, open_registry
        from edge.registry.passes import PassError, pass_checker

        config = load(args)
        store = open_registry(config)
        try:
            pass_key = pass_checker(config)
        except PassError as exc:
            raise InputError(str(exc)) from None
    recognizers = Recognizers(config, store)
    # Load every model before the clock starts: elapsed_ms is the per-image cost, not start-up.
    recognizers.faces, recognizers.plates, recognizers.qr  # noqa: B018
    failed = 0
    try:
        for path in args.images:
            try:
                emit(identify_image(path, recognizers, pass_key, store, config))
            except InputError as exc:
                # One unreadable image does not stop the others; it is reported on stderr and in the code.
                import sys

                print(f"gate-edge: {exc}", file=sys.stderr)
                failed += 1
    finally:
        if store is not None:
            store.close()
    return 1 if failed else 0


def register(sub) -> None:
    p = sub.add_parser("identify", help="faces, plates and QR passes in still images (JSON per image)")
    p.add_argument("-c", "--config", help="match against this gate's registry (without: detect and read only)")
    p.add_argument("--json", action="store_true", help="JSON output (the only format; kept for scripts)")
    p.add_argument("images", nargs="+")
    p.set_defaults(func=identify)
