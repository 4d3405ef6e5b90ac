"""The plate detector, colours and the grammar by colour: real green plates, and clearly labelled
synthetic frames (tests/data/plates/synthetic_*.jpg, made by bench/plate_hardset.make_frame from real
CCPD photographs: the plate repainted inside its labelled corners, scaled to 64-100 px wide in a
1280x720 frame; see tests/data/SOURCES.md)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import PLATES

from edge.plates import classify
from models.images import load_rgb


@pytest.mark.parametrize(
    "name, plate, color",
    [
        ("synthetic_yellow_100px.jpg", "皖AY6B59", "yellow"),  # black characters on yellow
        ("synthetic_small_64px.jpg", "皖AJ002E", "blue"),  # a plate 64 px wide in a 1280x720 frame
        ("synthetic_green_night_90px.jpg", "皖AF06789", "green"),  # night, glare, noise; 8 characters
        ("synthetic_white_80px.jpg", "皖AYL375", "white"),
        ("ccpd2020_002.jpg", "皖AF06789", "green"),  # a real green new-energy plate
        ("ccpd_07.jpg", "皖AY6B59", "blue"),
    ],
)
def test_plates_are_read_with_their_colour(engines, name, plate, color):
    readings = engines["plates"].read(load_rgb(PLATES / name))
    assert [(r.text, r.color) for r in readings] == [(plate, color)]
    assert readings[0].to_dict()["color"] == color


def test_the_detector_finds_the_plate_corners(engines):
    # ccpd_07.jpg's labelled corners (tl, tr, br, bl), scaled like the test copy of the photo.
    from models.images import load_rgb

    rgb = load_rgb(PLATES / "ccpd_07.jpg")
    labelled = np.array([[373, 433], [520, 447], [516, 498], [369, 484]], np.float32)
    labelled *= rgb.shape[1] / 720
    found = engines["plates"].plate_detector.detect(rgb[:, :, ::-1].copy())
    assert len(found) == 1 and not found[0].double
    assert np.abs(found[0].quad - labelled).max() < 0.05 * (labelled[1, 0] - labelled[0, 0])


def test_colour_from_plain_patches():
    from models.plate_detector import plate_color

    def plate(background, ink):
        crop = np.zeros((48, 150, 3), np.uint8)
        crop[:] = background
        for x in range(15, 140, 18):
            crop[12:36, x:x + 5] = ink  # character strokes
        return crop

    assert plate_color(plate((160, 60, 20), (240, 240, 240))) == "blue"
    assert plate_color(plate((20, 180, 230), (20, 20, 20))) == "yellow"
    assert plate_color(plate((90, 200, 60), (20, 20, 20))) == "green"
    assert plate_color(plate((235, 235, 235), (20, 20, 20))) == "white"
    assert plate_color(plate((25, 25, 25), (235, 235, 235))) == "black"


def test_the_colour_narrows_the_grammar(engines):
    from models.plate_decoder import TEMPLATES, TEMPLATES_BY_COLOR

    lengths = {color: {len(TEMPLATES[t]) for t in names} for color, names in TEMPLATES_BY_COLOR.items()}
    assert lengths["green"] == {8} and lengths["blue"] == {7}
    # A green crop decoded as green gives 8 characters even where the free reading merged two.
    import cv2

    rgb = load_rgb(PLATES / "ccpd2020_002.jpg")
    reader = engines["plates"]
    found = reader.plate_detector.detect(rgb[:, :, ::-1].copy())[0]
    crop = reader.rectify(rgb[:, :, ::-1].copy(), found.quad, 0.04, 0.08)
    decoded, _ = reader.read_crop(crop, "green")
    assert decoded.text == "皖AF06789" and decoded.template.startswith("new_energy")
    decoded, _ = reader.read_crop(cv2.imread(str(PLATES / "lprnet_0001.jpg")), "blue")
    assert len(decoded.text) == 7


@pytest.mark.parametrize("text", ["粤B1234学", "沪A1234警", "使014578", "粤Z1234港", "京AD12345", "京A12345D"])
def test_learner_police_embassy_and_new_energy_plates_are_plates(text):
    assert classify(text)


def test_a_double_row_plate_is_read_as_one_line(engines):
    """Synthetic: a yellow plate's two rows (province + letter above, five characters below), made
    from the real yellow-repainted ccpd_07 crop; the reader merges the rows before recognising."""
    import cv2

    from models.plate_detector import merge_double_row

    rgb = load_rgb(PLATES / "synthetic_yellow_100px.jpg")
    bgr = rgb[:, :, ::-1].copy()
    reader = engines["plates"]
    found = reader.plate_detector.detect(bgr)[0]
    flat = reader.rectify(bgr, found.quad, 0.0, 0.0, 140)
    height, width = flat.shape[:2]
    double = np.zeros((2 * height, int(width * 0.72), 3), np.uint8)
    double[:] = np.median(flat.reshape(-1, 3), 0)
    top = flat[:, : int(0.29 * width)]
    top = cv2.resize(top, (int(top.shape[1] * 0.75), int(height * 0.75)))
    x0 = (double.shape[1] - top.shape[1]) // 2
    double[int(height * 0.1): int(height * 0.1) + top.shape[0], x0:x0 + top.shape[1]] = top
    bottom = cv2.resize(flat[:, int(0.30 * width):], (double.shape[1], int(height * 1.05)))
    double[int(height * 0.9): int(height * 0.9) + bottom.shape[0]] = bottom[: 2 * height - int(height * 0.9)]
    decoded, _ = reader.read_crop(merge_double_row(double), "yellow")
    assert decoded is not None and decoded.text == "皖AY6B59"


@pytest.mark.parametrize("name, plate, detector_saw_it_whole", [
    ("synthetic_double_row_140px.jpg", "皖AYL375", True),
    # the detector takes the lower row (five large characters) for a plate: the reader grows it upwards
    # and reads two rows when the lower row alone is unsure (without that: nothing read)
    ("synthetic_double_row_130px.jpg", "皖A2Y616", False),
])
def test_a_double_row_plate_in_a_frame_is_read_as_one_line(engines, name, plate, detector_saw_it_whole):
    """Synthetic, clearly labelled (tests/data/SOURCES.md): a bus's double-row yellow plate in a 1280x720
    frame; ``identify`` and events give it in the usual single-line form."""
    reader = engines["plates"]
    rgb = load_rgb(PLATES / name)
    assert reader.plate_detector.detect(rgb[:, :, ::-1].copy())[0].double is detector_saw_it_whole  # its best
    readings = reader.read(rgb)
    assert [(r.text, r.color, r.double) for r in readings] == [(plate, "yellow", True)]


def test_the_committed_detector_weights_are_verified(tmp_path, monkeypatch):
    from models import manifest

    entry = manifest.entries()["hyperlpr3_y5fu_320"]
    assert entry.source == "repo" and "Apache-2.0" in entry.licence
    assert (manifest.WEIGHTS_DIR / "hyperlpr3" / "LICENSE").is_file()
    (tmp_path / "hyperlpr3").mkdir()
    (tmp_path / entry.file).write_bytes(b"not the model")
    monkeypatch.setattr(manifest, "WEIGHTS_DIR", tmp_path)
    monkeypatch.setattr(manifest, "_verified", set())
    with pytest.raises(manifest.WeightsError, match="sha256"):
        manifest.verified_path("hyperlpr3_y5fu_320")
    (tmp_path / entry.file).unlink()
    with pytest.raises(manifest.WeightsError, match="missing"):
        manifest.verified_path("hyperlpr3_y5fu_320")


def test_events_carry_the_plate_colour(tmp_path, engines):
    from test_camera import video
    from test_pipeline import events, gate_setup, run_cameras

    clip = video(tmp_path / "road.avi", [None, PLATES / "synthetic_yellow_100px.jpg", None,
                                         PLATES / "ccpd2020_002.jpg", None],
                 seconds_each=1.2, fps=5, size=(1280, 720))
    cams = [{"id": "plate-in", "source": str(clip), "role": "plate", "lane": "in", "fps": 5, "every_frame": True,
             "realtime": False}]
    config, store, barrier, gate, recognizers = gate_setup(tmp_path, engines, cams)
    run_cameras(config, recognizers, gate)
    got = [(e["subject"]["plate"], e.get("color")) for e in events(store)]
    assert got == [("皖AY6B59", "yellow"), ("皖AF06789", "green")]
    store.close()


def test_the_site_province_replaces_only_an_unsure_province():
    from models.plate_decoder import Decoded
    from models.plates import PlateReader

    def reading(*provinces):
        return Decoded(provinces[0][0] + "AY6B59", -0.1, (provinces[0][1],) + (0.99,) * 6, "standard", provinces)

    prior = PlateReader.with_province_prior
    assert prior(reading(("苏", 0.55), ("皖", 0.3)), "皖") == ("皖AY6B59", (0.3,) + (0.99,) * 6, True)
    assert prior(reading(("苏", 0.95), ("皖", 0.04)), "皖")[0] == "苏AY6B59"  # clear: never the prior
    assert prior(reading(("苏", 0.55), ("浙", 0.44), ("皖", 0.001)), "皖")[0] == "苏AY6B59"  # not plausible
    assert prior(reading(("苏", 0.55), ("皖", 0.3)), None)[0] == "苏AY6B59"  # no site province


def test_a_real_plate_from_another_province_keeps_its_province_under_the_site_prior(engines):
    """lprnet_0001 is a real Beijing plate (京PL3N67); the plate recogniser alone reads 皖 there (it was
    trained mostly on Anhui plates), the two together read 京 clearly, and the site's 皖 never replaces it."""
    import cv2

    reader = engines["plates"]
    decoded, _ = reader.read_crop(cv2.imread(str(PLATES / "lprnet_0001.jpg")))
    text, _, used = reader.with_province_prior(decoded, "皖")
    assert (text, used) == ("京PL3N67", False)


def test_the_likelihood_sums_every_alignment(engines):
    """The CTC forward likelihood of the decoded text is at least its best path's (Viterbi) score."""
    import cv2

    from models.plate_decoder import log_likelihood

    reader = engines["plates"]
    gray = cv2.cvtColor(cv2.imread(str(PLATES / "lprnet_0005.jpg")), cv2.COLOR_BGR2GRAY)
    probs = reader.recognizer.probabilities(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), 1.6)
    best = reader.decoder.decode(probs)
    ll = log_likelihood(reader.decoder, probs, [best.text, "沪C21F18"])
    assert ll[0] >= best.score * len(probs) - 1e-6
    assert ll[1] < ll[0]


@pytest.mark.parametrize("blur", [1, 5, 9, 13])
def test_a_blurred_small_plate_is_read_right_or_not_at_all(engines, blur):
    """Synthetic (a 64 px plate in a 1280x720 frame, see the module's doc), blurred more and more: the
    reader reports the right plate or nothing, never a wrong one."""
    import cv2

    rgb = load_rgb(PLATES / "synthetic_small_64px.jpg")
    blurred = cv2.GaussianBlur(rgb, (0, 0), blur / 3) if blur > 1 else rgb
    texts = [r.text for r in engines["plates"].read(blurred)]
    assert texts in ([], ["皖AJ002E"])
