"""Reading and writing images: files to RGB arrays, arrays to JPEG/PNG bytes (OpenCV)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class ImageError(ValueError):
    """A file that is not a readable image; the message names it."""


def load_rgb(path: str | Path) -> np.ndarray:
    """The image at ``path`` as an RGB uint8 array (H, W, 3)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(f"{path}: no such file")
    data = np.fromfile(str(path), dtype=np.uint8)  # survives non-ASCII paths, unlike cv2.imread
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ImageError(f"{path}: not an image OpenCV can read (JPEG, PNG, BMP…)")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def bgr_to_rgb(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("could not encode JPEG")
    return buffer.tobytes()


def decode_image(blob: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("stored image cannot be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def write_png(path: str | Path, gray_or_rgb: np.ndarray) -> None:
    image = gray_or_rgb if gray_or_rgb.ndim == 2 else cv2.cvtColor(gray_or_rgb, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", image)
    if not ok:
        raise ImageError(f"{path}: could not encode PNG")
    Path(path).write_bytes(buffer.tobytes())


def resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return rgb
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
