"""bench.face_calibrate's rates count every probe photo of the set: a probe the detector found no face in is
a refusal, so two detectors' rates are over the same photos (issue 30)."""

from bench.face_calibrate import counted, over_all_photos


def row(identity, impostor, best, distance=0.5, gap=0.2):
    return (identity, impostor, best, distance, gap)


def test_a_probe_without_a_face_is_a_refusal_not_a_missing_photo():
    decided = [(row("kp_a", False, "kp_a"), True), (row("js_b", False, "js_b"), True),
               (row("kp_a", False, "kp_a"), False), (row("x", True, "kp_a"), False)]
    found = counted(decided)
    assert (found["accepted"], found["probes"], found["tar"]) == (2, 3, 2 / 3)
    whole = over_all_photos(found, ["faces/kp_a/4.jpg", "faces_impostors/y/1.jpg", "faces/js_b/1.jpg"])
    # kp_a/4 is a probe lost; an impostor's photo is a refusal; js_b/1.jpg is an enrolment photo, no probe.
    assert (whole["accepted"], whole["probes"], whole["no_face"], whole["impostors"]) == (2, 4, 1, 2)
    assert whole["tar"] == 2 / 4
    assert whole["tar_east_asian"] == 1 / 3  # kp_a: one of its two found probes and the lost one
    assert whole["tar_western"] == 1.0
    assert found["probes"] == 3  # the result given is left as it was


def test_photos_enrolled_are_no_probes_whichever_are_enrolled():
    found = counted([(row("kp_a", False, "kp_a"), True)])
    assert over_all_photos(found, ["faces/kp_a/2.jpg"])["probes"] == 2
    assert over_all_photos(found, ["faces/kp_a/2.jpg"], ("/1.jpg", "/2.jpg"))["probes"] == 1
