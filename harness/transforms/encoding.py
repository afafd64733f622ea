"""Encoding families: the only families that re-encode pixels (through
OpenCV's codecs, as albumentations' ImageCompression does); the decoded
result stays in memory as an array."""
from __future__ import annotations

import albumentations as A

from .base import Family, alb, int_range, register_family


def _codec(kind: str):
    def build(quality, params, shape):
        """Encode with `kind` at `quality` and decode back to 8-bit RGB."""
        q = int(quality)
        return alb(A.ImageCompression, compression_type=kind, quality_range=(q, q))
    return build


JPEG = register_family(Family(
    "jpeg", "JPEG quality 1..100 (lower = stronger), encoded and decoded by OpenCV's libjpeg",
    (95, 80, 60, 40, 20, 10), int_range(1, 100), _codec("jpeg"), group="encoding", encodes=True))

WEBP = register_family(Family(
    "webp", "lossy WebP quality 1..100 (lower = stronger), encoded and decoded by OpenCV's libwebp",
    (80, 50, 20), int_range(1, 100), _codec("webp"), group="encoding", encodes=True))
