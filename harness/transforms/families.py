"""Transform families: each a name, one severity parameter with a documented
meaning, a valid range, a default sweep, and a builder that returns an
albumentations transform (constructed with ``strict=True, p=1``) for a given
image shape.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import albumentations as A
import cv2
import numpy as np

from ..errors import ConfigError, TransformError


@dataclass(frozen=True)
class Family:
    name: str
    severity_meaning: str
    default_sweep: tuple
    #: returns None if valid, else the allowed-values text
    check: Callable[[Any], str | None]
    #: build(severity, params, (h, w)) -> albumentations transform
    build: Callable[[Any, dict, tuple[int, int]], Any]
    params_allowed: dict = field(default_factory=dict)

    def validate(self, severity: Any, where: str = "severity") -> None:
        problem = self.check(severity)
        if problem:
            raise ConfigError(where, f"{self.name} severity {severity!r} invalid; allowed: {problem}")


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _int_range(lo, hi):
    def check(x):
        ok = _is_number(x) and float(x).is_integer() and lo <= x <= hi
        return None if ok else f"an integer in {lo}..{hi}"
    return check


def _open_range(lo, hi, lo_inclusive=False, hi_inclusive=True, what="a number"):
    def check(x):
        if not _is_number(x):
            return f"{what} in {'[' if lo_inclusive else '('}{lo}, {hi}{']' if hi_inclusive else ')'}"
        ok_lo = x >= lo if lo_inclusive else x > lo
        ok_hi = x <= hi if hi_inclusive else x < hi
        return None if ok_lo and ok_hi else (
            f"{what} in {'[' if lo_inclusive else '('}{lo}, {hi}{']' if hi_inclusive else ')'}")
    return check


def _jpeg(q, params, shape):
    return A.ImageCompression(compression_type="jpeg", quality_range=(int(q), int(q)), p=1, strict=True)


def _resize(s, params, shape):
    h, w = shape
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    if min(nh, nw) < 2:
        raise TransformError(f"image {w}x{h} too small to resize by {s}")
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return A.Resize(height=nh, width=nw, interpolation=interp, p=1, strict=True)


def _crop(f, params, shape):
    """Centred crop keeping fraction `f` of the area (each side scaled by sqrt(f))."""
    h, w = shape
    k = math.sqrt(f)
    nh, nw = round(h * k), round(w * k)
    if nh < 2 or nw < 2:
        raise TransformError(f"image {w}x{h} too small to keep {f} of its area")
    return A.CenterCrop(height=nh, width=nw, p=1, strict=True)


def _rotate(d, params, shape):
    """Rotation by `d` degrees counter-clockwise about the centre, same
    canvas size, corners filled with black."""
    return A.Rotate(limit=(float(d), float(d)), interpolation=cv2.INTER_LINEAR,
                    border_mode=cv2.BORDER_CONSTANT, fill=0, crop_border=False, p=1, strict=True)


def _noise(sigma, params, shape):
    """Additive gaussian noise, standard deviation `sigma` in 8-bit grey levels."""
    s = float(sigma) / 255.0
    return A.GaussNoise(std_range=(s, s), mean_range=(0.0, 0.0), per_channel=True, p=1, strict=True)


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> None:
    FAMILIES[family.name] = family


for _f in (
    Family("jpeg", "JPEG quality (lower = stronger)", (95, 80, 60, 40, 20, 10), _int_range(1, 100), _jpeg),
    Family("resize", "scale factor of both sides (1 = unchanged)", (0.75, 0.5, 0.25, 0.125),
           _open_range(0, 8, what="a scale factor"), _resize),
    Family("crop", "kept fraction of the area, centred", (0.95, 0.9, 0.8, 0.7, 0.5),
           _open_range(0, 1, what="a fraction"), _crop),
    Family("rotate", "degrees counter-clockwise, canvas kept, black corners",
           (1, 2, 5, 10, 45, 90, 180), _open_range(-360, 360, True, True, "degrees"), _rotate),
    Family("noise", "gaussian noise standard deviation in grey levels (0-255 scale)",
           (2, 5, 10, 20), _open_range(0, 255, what="a standard deviation"), _noise),
):
    register_family(_f)


def list_families() -> list[str]:
    return sorted(FAMILIES)


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError("transform", f"unknown transform {name!r}; available: {', '.join(list_families())}")
    return FAMILIES[name]
