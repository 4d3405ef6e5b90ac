"""The camera driver against a real RTSP server (GStreamer's, tests/rtsp_server.py) playing a real clip.

A killed and restarted server, a frozen one (SIGSTOP: the socket stays open, nothing comes), the device
alert after ``down_alert_s`` and its clearing, the reconnect count on the status topic, a plausible
frames/s after a reconnect, and a URL's password never shown. Skipped, with the reason, when the
server's Debian packages are missing (``make test`` installs them as root).
"""

from __future__ import annotations

import time

import pytest
from mqtt_helpers import Listener, gate_config, wait_for

from drivers.camera import Camera
from drivers.camera_config import CameraConfig

DOWN_ALERT_S = 2.0
MARGIN_S = 1.5  # the health check's period, a frame interval and scheduling
SOURCE_FPS = 10  # the clip's rate (tests/rtsp_server.make_clip)
PASSWORD = "s3cr3t-pw"


def live(url: str, **kw) -> CameraConfig:
    return CameraConfig(id="gate-cam", source=url, role="plate", lane="in", read_qr=False,
                        down_alert_s=DOWN_ALERT_S, reconnect_max_s=1.0, **kw)


def flowing(camera: Camera, frames: int = 1, timeout: float = 15.0) -> bool:
    """Frames flow: the camera is ok and ``frames`` more arrived."""
    start = camera.stats()["frames"]
    return wait_for(lambda: camera.state == "ok" and camera.stats()["frames"] >= start + frames, timeout)


def alert_within(jobs, store, state: str, timeout: float) -> float | None:
    """Run the health job every 0.1 s until the camera's device alert is ``state``: the seconds it took."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        jobs.device_health()
        rows = store.alerts.all(subject="camera:gate-cam")
        if rows and rows[-1]["state"] == state:
            return time.monotonic() - began
        time.sleep(0.1)
    return None


@pytest.fixture
def watched(config, store):
    """A camera factory whose cameras are watched by the daemon's health job (Alerts + Jobs)."""
    from edge.alerts import Alerts
    from edge.gate.jobs import Jobs

    cameras = []

    def make(url):
        camera = Camera(live(url)).start()
        cameras.append(camera)
        return camera, Jobs(config, store, Alerts(config, store), cameras=[camera])

    yield make
    for camera in cameras:
        camera.close()


def test_the_camera_reads_a_real_rtsp_stream(rtsp_server):
    assert rtsp_server.start_s < 5, f"the RTSP server took {rtsp_server.start_s:.2f} s to start"
    with Camera(live(rtsp_server.url)) as camera:
        assert flowing(camera, frames=25), camera.stats()
        image = camera.latest().image
        stats = camera.stats()
    assert image.shape == (240, 320, 3) and image.std() > 20  # a photograph, not a blank frame
    assert SOURCE_FPS / 2 <= stats["fps"] <= SOURCE_FPS * 1.5, stats
    assert stats["reconnects"] == 0


def test_a_killed_rtsp_server_is_reconnected_with_an_alert_raised_and_cleared(rtsp_server, watched, store):
    camera, jobs = watched(rtsp_server.url)
    assert flowing(camera), camera.stats()
    rtsp_server.stop()  # SIGKILL: the camera's connection is reset
    took = alert_within(jobs, store, "raised", DOWN_ALERT_S + 5)
    assert took is not None, f"no alert; camera {camera.stats()}"
    assert DOWN_ALERT_S - 0.3 <= took <= DOWN_ALERT_S + MARGIN_S
    rtsp_server.start()  # the same port, as a camera that rebooted
    assert alert_within(jobs, store, "cleared", 15) is not None, camera.stats()
    assert camera.state == "ok" and camera.reconnects >= 1
    sent = [m for m in store.outbox.messages() if m["topic"].endswith("/alert/device")]
    assert len(sent) == 2


def test_a_frozen_rtsp_server_is_down_and_alerted_within_down_alert_s(rtsp_server, watched, store):
    camera, jobs = watched(rtsp_server.url)
    assert flowing(camera), camera.stats()
    rtsp_server.pause()  # SIGSTOP: the connection stays open and silent, reads block
    try:
        took = alert_within(jobs, store, "raised", DOWN_ALERT_S + 4)
        assert took is not None, f"a frozen stream raised no alert; camera {camera.stats()}"
        assert took <= DOWN_ALERT_S + MARGIN_S
        assert camera.stats()["state"] == "down" and camera.stats()["fps"] == 0
    finally:
        rtsp_server.resume()
    assert alert_within(jobs, store, "cleared", 20) is not None, camera.stats()
    assert camera.stats()["state"] == "ok"


def test_frames_per_second_after_a_freeze_is_the_stream_rate(rtsp_server, watched):
    camera, _ = watched(rtsp_server.url)
    assert flowing(camera), camera.stats()
    rtsp_server.pause()
    time.sleep(DOWN_ALERT_S + 0.5)  # longer than the camera's stall bound: it gives up and reconnects
    rtsp_server.resume()
    assert flowing(camera, frames=5, timeout=20), camera.stats()
    samples = []
    for _ in range(8):  # the first two seconds after frames came back
        samples.append(camera.stats()["fps"])
        time.sleep(0.25)
    assert max(samples) <= SOURCE_FPS * 1.5, samples
    assert samples[-1] >= SOURCE_FPS / 2, samples


def test_the_status_topic_shows_the_camera_s_reconnects(make_rtsp_server, broker, tmp_path):
    from edge.gate.daemon import Daemon

    server = make_rtsp_server()
    cam = {"id": "gate-cam", "source": server.url, "role": "plate", "lane": "in", "read_qr": False,
           "down_alert_s": DOWN_ALERT_S, "reconnect_max_s": 1.0}
    config = gate_config(tmp_path / "east", broker.port, cameras=[cam],
                         barriers=[{"id": "car", "type": "simulated", "lanes": ["in"]}])
    office = Listener(broker.port, "gate/tianlin12/east/#")
    try:
        daemon = Daemon(config).start()
    except BaseException:
        office.close()  # a daemon that cannot start must not leave the listener's thread behind
        raise
    try:
        camera = daemon.cameras[0]
        assert flowing(camera), camera.stats()

        def alerts(state):
            return [a for a in office.on("/alert/device") if a.get("device") == "camera:gate-cam"
                    and a.get("state") == state]

        server.stop()
        killed = time.monotonic()
        assert wait_for(lambda: alerts("raised"), DOWN_ALERT_S + 5), camera.stats()
        assert time.monotonic() - killed <= DOWN_ALERT_S + MARGIN_S + 0.5  # the daemon's own schedule
        server.start()
        assert wait_for(lambda: alerts("cleared"), 15), camera.stats()
        daemon.jobs.status()  # what the scheduler publishes every minute

        def camera_status():
            shown = [s.get("cameras", {}).get("gate-cam") for s in office.on("/status")]
            return [c for c in shown if c and c["state"] == "ok" and c["reconnects"] >= 1]

        assert wait_for(camera_status, 10), office.on("/status")[-1:]
    finally:
        daemon.close()
        office.close()


def test_rtsp_credentials_never_reach_logs_or_check_config(make_rtsp_server, caplog, capfd, write_config):
    import logging

    from edge.cli.main import main

    caplog.set_level(logging.DEBUG)
    server = make_rtsp_server(user=f"user:{PASSWORD}", path="/x")
    refused = server.url.replace(PASSWORD, "wr0ng-pw")
    with Camera(live(refused)) as camera:  # the server answers 401: a logged failure, again and again
        assert wait_for(lambda: camera.reconnects >= 1, 10)
    with Camera(live(server.url)) as camera:
        assert flowing(camera), camera.stats()
        server.stop()
        assert wait_for(lambda: camera.state == "down", 10)
    cam = {"id": "gate-cam", "source": server.url, "role": "face", "lane": "in"}
    for broken in ({**cam, "colour": "red"}, {**cam, "role": "facee"}, server.url, {**cam, "source": [server.url]},
                   {**cam, "id": server.url}, {**cam, "barrier": refused}):
        path = write_config({"site": "tianlin12", "gate": "east", "database": "r.db", "cameras": [broken],
                             "barriers": [{"id": "car", "type": "simulated", "lanes": ["in"]}]})
        assert main(["check-config", str(path)]) == 2
    shown = capfd.readouterr()
    printed = caplog.text + shown.out + shown.err
    assert "***@127.0.0.1" in caplog.text and "***@127.0.0.1" in shown.err  # the URLs were there, masked
    assert PASSWORD not in printed and "wr0ng-pw" not in printed
