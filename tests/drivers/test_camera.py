"""The OpenCV camera driver on real files: newest frame only, end of file, stills, reconnect, alerts."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from conftest import face
from mqtt_helpers import wait_for

from drivers.camera import Camera
from drivers.camera_config import CameraConfig
from models.images import letterbox, load_rgb, write_video


def video(path, stills, seconds_each=1.0, fps=10, size=(320, 240)):
    frames = []
    for still in stills:
        frame = letterbox(load_rgb(still), *size) if still is not None else np.zeros((size[1], size[0], 3), np.uint8)
        frames += [frame] * int(seconds_each * fps)
    write_video(path, frames, fps)
    return path


def camera_config(source, **kw):
    return CameraConfig(id="cam", source=str(source), role="face", lane="in", **kw)


def test_file_plays_at_its_pace_and_ends(tmp_path):
    path = video(tmp_path / "v.avi", [face("fr_obama")], seconds_each=1.0, fps=10)
    with Camera(camera_config(path)) as camera:
        assert wait_for(lambda: camera.state == "ended", 5)
        stats = camera.stats()
    assert stats["frames"] == 10
    assert 5 < stats["fps"] < 20
    assert camera.down_for() == 0


def test_slow_consumer_gets_the_newest_frame_not_a_backlog(tmp_path):
    path = video(tmp_path / "v.avi", [face("fr_obama"), face("fr_biden")], seconds_each=2.0, fps=20)
    with Camera(camera_config(path, realtime=True)) as camera:
        seen, seq = [], 0
        while camera.state != "ended":
            frame = camera.wait_newer(seq, timeout=1.0)
            if frame is None:
                continue
            seen.append(frame.seq)
            seq = frame.seq
            time.sleep(0.25)  # a recogniser five times slower than the camera
    assert len(seen) < 25  # 80 frames were captured; we only ever got the newest ones
    assert max(b - a for a, b in zip(seen, seen[1:])) >= 3


def test_still_image_repeats(tmp_path):
    with Camera(camera_config(face("fr_biden"), fps=20)) as camera:
        assert wait_for(lambda: camera.stats()["frames"] >= 10, 5)
        assert camera.latest().image.shape[2] == 3


def test_a_source_that_disappears_is_reconnected(tmp_path):
    path = video(tmp_path / "v.avi", [face("fr_obama")], seconds_each=0.5, fps=10)
    spare = tmp_path / "spare.avi"
    path.rename(spare)
    path.hardlink_to(spare)
    with Camera(camera_config(path, loop=True, reconnect_max_s=1.0)) as camera:
        assert wait_for(lambda: camera.state == "ok", 5)
        path.unlink()  # the camera is unplugged: at the end of the loop the file is gone
        assert wait_for(lambda: camera.state == "down", 5)
        assert wait_for(lambda: camera.reconnects >= 2, 5)
        frames_while_down = camera.stats()["frames"]
        path.hardlink_to(spare)  # plugged back in
        assert wait_for(lambda: camera.state == "ok" and camera.stats()["frames"] > frames_while_down, 10)


def test_a_camera_down_too_long_raises_and_then_clears_a_device_alert(tmp_path, config, store):
    from edge.alerts import Alerts
    from edge.gate.jobs import Jobs

    path = tmp_path / "late.avi"
    path.write_bytes(b"")  # the file is there but holds no video yet: the camera cannot open it
    alerts = Alerts(config, store)
    with Camera(camera_config(path, loop=True, down_alert_s=0.5, reconnect_max_s=0.5)) as camera:
        jobs = Jobs(config, store, alerts, cameras=[camera])
        assert wait_for(lambda: camera.down_for() > 0.6, 5)
        jobs.device_health()
        raised = store.alerts.all(subject="camera:cam", state="raised")
        assert len(raised) == 1
        jobs.device_health()  # still down: the same alert, not a second one
        assert len(store.alerts.all(subject="camera:cam")) == 1
        path.unlink()
        video(path, [face("fr_obama")], seconds_each=0.5, fps=10)
        assert wait_for(lambda: camera.state == "ok", 10)
        jobs.device_health()
    rows = store.alerts.all(subject="camera:cam")
    assert [r["state"] for r in rows] == ["cleared"]
    topics = [m["topic"] for m in store.outbox.messages()]
    assert topics == ["gate/tianlin12/east/alert/device"] * 2


def test_close_is_idempotent_and_stops_the_thread(tmp_path):
    camera = Camera(camera_config(face("fr_obama"))).start()
    camera.close()
    camera.close()
    assert not camera.alive


def test_credentials_never_appear_in_the_source_shown(tmp_path):
    camera = Camera(CameraConfig(id="c", source="rtsp://admin:secret@192.0.2.1/s", role="face", lane="in"))
    assert "secret" not in camera._shown()


@pytest.mark.parametrize("source", ["0", "/dev/video9", "rtsp://192.0.2.1/stream"])
def test_devices_and_streams_are_not_files(source):
    assert not camera_config(source).is_file


def test_threads_are_named_for_the_leak_guard(tmp_path):
    with Camera(camera_config(face("fr_obama"))):
        assert any(t.name == "gate-edge-camera-cam" for t in threading.enumerate())


def test_every_frame_mode_hands_over_each_frame_with_video_time(tmp_path):
    path = video(tmp_path / "v.avi", [face("fr_obama")], seconds_each=1.0, fps=10)
    with Camera(camera_config(path, every_frame=True)) as camera:
        got, seq = [], 0
        while camera.state != "ended" or camera.latest().seq > seq:
            frame = camera.wait_newer(seq, timeout=1.0)
            if frame is None:
                continue
            got.append(frame)
            seq = frame.seq
            time.sleep(0.05)  # slower than the video: nothing may be dropped
    assert [f.seq for f in got] == list(range(1, 11))
    assert got[-1].ts - got[0].ts == pytest.approx(0.9, abs=1e-6)


def test_a_still_image_is_re_read_when_it_changes(tmp_path):
    import os
    import shutil

    path = tmp_path / "snapshot.jpg"
    shutil.copy(face("fr_obama"), path)
    with Camera(camera_config(path, fps=20)) as camera:
        assert wait_for(lambda: camera.latest() is not None, 5)
        first = camera.latest().image.shape
        shutil.copy(face("fr_biden"), tmp_path / "next.jpg")
        os.replace(tmp_path / "next.jpg", path)  # the camera uploads a new snapshot
        assert wait_for(lambda: camera.latest().image.shape != first, 5)


def test_a_frame_is_converted_to_rgb_in_its_own_buffer_and_a_still_keeps_its_picture():
    from drivers.camera_frames import Frame

    bgr = np.zeros((4, 6, 3), np.uint8)
    bgr[..., 0] = 255  # blue
    captured = Frame(1, 0.0, bgr, 0.0)
    rgb = captured.image
    assert rgb is bgr and rgb[0, 0].tolist() == [0, 0, 255]  # no copy of a captured frame
    assert captured.image is rgb  # converted once
    still = np.zeros((4, 6, 3), np.uint8)
    still[..., 0] = 255
    shown = Frame(2, 0.0, still, 0.0, shared=True).image
    assert shown[0, 0].tolist() == [0, 0, 255] and still[0, 0].tolist() == [255, 0, 0]  # published again as it is

