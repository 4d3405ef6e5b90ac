"""A real RTSP server for tests: GStreamer's gst-rtsp-server serving a Motion-JPEG video file.

The server is Debian's (``gir1.2-gst-rtsp-server-1.0``, ``python3-gi``, ``gstreamer1.0-plugins-good``;
``scripts/system-deps.sh`` installs them as root). GStreamer's Python bindings belong to Debian's
python, not to our venv, so this file is two things:

- run as ``/usr/bin/python3 tests/rtsp_server.py --port N --path /x --media clip.avi [--user u:p]``
  it is the server: it plays the file in real time to every client (each client from the start),
  over RTP/UDP or interleaved TCP, and prints ``ready`` when it listens;
- imported by the tests, ``RtspServer`` runs that process and does to it what a network or a camera
  does: ``stop()`` (SIGKILL), ``start()`` again on the same port, ``pause()`` (SIGSTOP: a frozen camera
  whose socket stays open) and ``resume()`` (SIGCONT).

``unavailable()`` says why the server cannot run here (the tests skip with that reason).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_PACKAGES = "gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good"
ELEMENTS = ("avidemux", "jpegdec", "jpegenc", "rtpjpegpay", "rtpbin", "udpsink")
_PROBE = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
          "from gi.repository import Gst, GstRtspServer; Gst.init(None);"
          f"print(' '.join(e for e in {ELEMENTS!r} if not Gst.ElementFactory.find(e)))")


def unavailable() -> str | None:
    """None when the server can run here, else the reason (for pytest.skip)."""
    hint = f"(make test installs it as root: apt-get install {DEBIAN_PACKAGES})"
    if not Path(SYSTEM_PYTHON).is_file():
        return f"{SYSTEM_PYTHON} is missing; the RTSP test server runs with Debian's python {hint}"
    try:
        probe = subprocess.run([SYSTEM_PYTHON, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        return f"GStreamer's RTSP server is not installed ({last}) {hint}"
    if probe.stdout.strip():
        return f"GStreamer elements missing: {probe.stdout.strip()} {hint}"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RtspServer:
    """One RTSP server process on a fixed port; ``url`` is what a camera is configured with."""

    def __init__(self, media: Path, port: int | None = None, path: str = "/cam", user: str | None = None):
        self.media = Path(media)
        self.port = port or free_port()
        self.path = path
        self.user = user  # "name:password": the server then asks for Basic authentication
        self.process: subprocess.Popen | None = None
        self.start_s: float | None = None  # how long the last start() took until the server listened

    @property
    def url(self) -> str:
        creds = f"{self.user}@" if self.user else ""
        return f"rtsp://{creds}127.0.0.1:{self.port}{self.path}"

    def start(self, timeout: float = 20.0) -> RtspServer:
        """Start the server and wait until it accepts connections."""
        if self.process is not None:
            raise RuntimeError("the RTSP server is running already")
        command = [SYSTEM_PYTHON, "-I", __file__, "--port", str(self.port), "--path", self.path,
                   "--media", str(self.media)]
        if self.user:
            command += ["--user", self.user]
        began = time.monotonic()
        # GStreamer's warnings go to a file: a pipe that nobody reads could fill up and stop the server
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=self._stderr, text=True)
        line = self._read_line(timeout)
        if line != "ready":
            error = self._stop_and_collect()
            raise RuntimeError(f"the RTSP server did not start ({line!r}): {error}")
        self.start_s = time.monotonic() - began
        return self

    def _read_line(self, timeout: float) -> str:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return "timeout"
        return self.process.stdout.readline().strip()

    def _stop_and_collect(self) -> str:
        process, self.process = self.process, None
        if process is None:
            return ""
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)  # a paused process must be able to die
            process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        self._stderr.seek(0)
        error = self._stderr.read().decode(errors="replace").strip()[-2000:]
        self._stderr.close()
        return error

    def stop(self) -> None:
        """Kill the server (SIGKILL: no goodbye to the clients), as a power cut or a crash would."""
        self._stop_and_collect()

    def restart(self) -> RtspServer:
        self.stop()
        return self.start()

    def pause(self) -> None:
        """SIGSTOP: the socket stays open, nothing more is sent, requests get no answer."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.process.pid, signal.SIGCONT)

    def __enter__(self) -> RtspServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def make_clip(path: Path, seconds: int = 60, fps: int = 10) -> Path:
    """A Motion-JPEG clip (320x240) made from the test photographs, a new face every second."""
    from conftest import face

    from models.images import letterbox, load_rgb, write_video

    stills = [letterbox(load_rgb(face(name)), 320, 240) for name in ("fr_obama", "fr_biden", "wm_tzuyu")]
    write_video(path, (stills[(i // fps) % len(stills)] for i in range(seconds * fps)), fps)
    return path


# -- the server process (Debian's python3 with GStreamer) ------------------------------------------
def _serve(port: int, path: str, media: str, user: str | None) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    location = media.replace("\\", "\\\\").replace('"', '\\"')
    # Re-encoded: RTP/JPEG (RFC 2435) carries only baseline JPEG with its own tables, as cameras send it.
    factory.set_launch(f'( filesrc location="{location}" ! avidemux ! jpegdec ! jpegenc ! rtpjpegpay name=pay0 pt=26 )')
    factory.set_shared(False)  # every client gets the video from its start, as from a camera's fresh session
    if user:  # Basic authentication, as IP cameras ask for it
        name, _, password = user.partition(":")
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth = GstRtspServer.RTSPAuth()
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(name, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(path, factory)
    if server.attach(None) == 0:
        raise SystemExit(f"cannot listen on 127.0.0.1:{port}")
    loop = GLib.MainLoop()
    parent = os.getppid()
    GLib.timeout_add(500, lambda: os.getppid() == parent or loop.quit())  # never outlive the tests
    print("ready", flush=True)
    loop.run()


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--media", required=True)
    parser.add_argument("--user", help="name:password (Basic authentication)")
    args = parser.parse_args(argv)
    _serve(args.port, args.path, args.media, args.user)


if __name__ == "__main__":
    main(sys.argv[1:])
