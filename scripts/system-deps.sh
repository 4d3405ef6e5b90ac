#!/usr/bin/env bash
# Install the system packages the demo and the tests use, when they are missing and we are root.
# mosquitto: the tests start their own broker; systemd-analyze: the unit file is verified;
# chromium: the console's browser tests (driven by Playwright with Debian's chromium, never a download);
# GStreamer's RTSP server (gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-good): the IP camera
# that the camera tests kill, restart and freeze (tests/rtsp_server.py, run with Debian's /usr/bin/python3).
set -uo pipefail
need=()
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)  # Chinese glyphs
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)
for pkg in gir1.2-gst-rtsp-server-1.0 python3-gi gstreamer1.0-plugins-good; do
  installed "$pkg" || need+=("$pkg")
done
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "note: missing system packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]});" \
       "tests that need them will be skipped with that reason" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq || true
apt-get install -y -qq --no-install-recommends "${need[@]}"
# Debian starts the packaged broker on 1883; our tests start their own on free ports.
