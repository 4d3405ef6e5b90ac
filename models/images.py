"""Reading and writing images: files to RGB arrays, arrays to JPEG/PNG bytes (OpenCV)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.schemas.phrases import Message, tell


class ImageError(ValueError):
    """A file that is not a readable image; the message names it (``said``: marked for the console's catalog,
    where one is)."""

    def __init__(self, said: Message | str):
        self.said = said
        super().__init__(str(said))


MAX_PIXELS = 40_000_000  # a 12000x12000 photo took 15 s and 2.4 GB to decode: refuse it before decoding


def check_size(source, name: str) -> None:
    """ImageError when the image (a path or bytes) is larger than MAX_PIXELS; reads only its header."""
    import io

    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
    except Image.DecompressionBombError:  # Pillow's own bound (about 179 MP), far past ours
        raise ImageError(tell("{file}: far more than the {max_mp:.0f} MP this reads; resize it (a face needs about "
                              "300 px)", file=name, max_mp=MAX_PIXELS / 1e6)) from None
    except (UnidentifiedImageError, OSError, ValueError):
        return  # not something Pillow reads: OpenCV decides below
    if width * height > MAX_PIXELS:
        raise ImageError(tell("{file}: {width}x{height} pixels ({mp:.0f} MP) is more than the {max_mp:.0f} MP this "
                              "reads; resize it (a face needs about 300 px)", file=name, width=width, height=height,
                              mp=width * height / 1e6, max_mp=MAX_PIXELS / 1e6))


def load_rgb(path: str | Path) -> np.ndarray:
    """The image at ``path`` as an RGB uint8 array (H, W, 3)."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(tell("{file}: no such file", file=str(path)))
    check_size(path, str(path))
    data = np.fromfile(str(path), dtype=np.uint8)  # survives non-ASCII paths, unlike cv2.imread
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise ImageError(tell("{file}: not an image OpenCV can read (JPEG, PNG, BMP…)", file=str(path)))
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def crop_roi(image: np.ndarray, roi) -> tuple[np.ndarray, int, int]:
    """(view, x0, y0): the region of interest (x1, y1, x2, y2) of ``image`` without copying, and its
    offset, so that boxes found in the view can be given in full-frame pixels."""
    if roi is None:
        return image, 0, 0
    x1, y1, x2, y2 = roi
    return image[y1:y2, x1:x2], x1, y1


def encode_jpeg(rgb: np.ndarray, quality: int = 90) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ImageError("could not encode JPEG")
    return buffer.tobytes()


def decode_image(blob: bytes) -> np.ndarray:
    check_size(blob, "stored image")
    bgr = cv2.imdecode(np.frombuffer(blob, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError("stored image cannot be decoded")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def resize(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return rgb
    return cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def letterbox(rgb: np.ndarray, width: int, height: int, fill: int = 40) -> np.ndarray:
    """``rgb`` scaled to fit a width x height canvas, centred on a plain background."""
    h, w = rgb.shape[:2]
    scale = min(width / w, height / h)
    resized = cv2.resize(rgb, (max(1, int(w * scale)), max(1, int(h * scale))), interpolation=cv2.INTER_AREA)
    canvas = np.full((height, width, 3), fill, dtype=np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    canvas[y : y + resized.shape[0], x : x + resized.shape[1]] = resized
    return canvas


def write_video(path: str | Path, frames, fps: float) -> int:
    """Write RGB frames (all the same size) to a Motion-JPEG AVI; returns the number written."""
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (w, h))
                if not writer.isOpened():
                    raise ImageError(f"{path}: OpenCV cannot write MJPG video here")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    return count


def crop_jpeg(rgb: np.ndarray, box, margin: float = 0.3) -> bytes:
    """JPEG of a face box (top, right, bottom, left) with some margin around it."""
    top, right, bottom, left = box
    pad_y, pad_x = int((bottom - top) * margin), int((right - left) * margin)
    h, w = rgb.shape[:2]
    crop = rgb[max(0, top - pad_y):min(h, bottom + pad_y), max(0, left - pad_x):min(w, right + pad_x)]
    return encode_jpeg(crop, quality=85)
