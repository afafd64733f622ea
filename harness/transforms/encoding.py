"""Encoding families: the only families that re-encode pixels. The decoded
result stays in memory as an array.

Why not albumentations' ImageCompression: in 2.0.8 it passes the RGB array
straight to ``cv2.imencode``, which reads it as BGR, so the codec's
RGB->YCbCr transform weights red and blue the wrong way round (luma =
0.114 R + 0.587 G + 0.299 B) and chroma subsampling lands on the wrong
colours: the artefacts differ from a real JPEG of the photo. Here the
array is converted to BGR, encoded and decoded by OpenCV (libjpeg-turbo /
libwebp as bundled in its wheel; JPEG 4:2:0 chroma subsampling, OpenCV's
default), and converted back: exactly one encode/decode round trip. The
applied params record the codec, quality and encoded size in bytes.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..errors import TransformError
from .base import Family, int_range, register_family

_CODECS = {"jpeg": (".jpg", cv2.IMWRITE_JPEG_QUALITY), "webp": (".webp", cv2.IMWRITE_WEBP_QUALITY)}


def encode_decode(rgb: np.ndarray, codec: str, quality: int) -> tuple[np.ndarray, int]:
    """One encode/decode round trip of an RGB uint8 array; returns (pixels,
    encoded size in bytes)."""
    ext, flag = _CODECS[codec]
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [int(flag), int(quality)])
    if not ok:
        h, w = rgb.shape[:2]
        raise TransformError(f"OpenCV could not encode a {w}x{h} image as {codec}")
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise TransformError(f"OpenCV could not decode its own {codec} output")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), int(buf.size)


def _codec(codec: str):
    def apply(quality, params, rgb, seed):
        """Encode at `quality` and decode back to 8-bit RGB (no randomness)."""
        pixels, size = encode_decode(rgb, codec, int(quality))
        h, w = rgb.shape[:2]
        return pixels, {
            "codec": codec,
            "quality": int(quality),
            "bytes": size,
            "bits_per_pixel": round(8 * size / (h * w), 4),
            "library": f"OpenCV {cv2.__version__}",
        }

    return apply


JPEG = register_family(
    Family(
        "jpeg",
        "JPEG quality 1..100 (lower = stronger), one OpenCV encode/decode, 4:2:0",
        (95, 80, 60, 40, 20, 10),
        int_range(1, 100),
        apply=_codec("jpeg"),
        group="encoding",
        encodes=True,
    )
)

WEBP = register_family(
    Family(
        "webp",
        "lossy WebP quality 1..100 (lower = stronger), one OpenCV encode/decode",
        (80, 50, 20),
        int_range(1, 100),
        apply=_codec("webp"),
        group="encoding",
        encodes=True,
    )
)
