"""Geometric families: resize, max-size, crop, aspect, pad, rotate, flip.

All are albumentations 2.0.8 transforms built with ``strict=True, p=1``.
Sizes are rounded to the nearest pixel; a variant whose side would be
shorter than 2 px is not made (TransformError with the reason).
"""

from __future__ import annotations

import math

import albumentations as A
import cv2

from ..errors import TransformError
from .base import Family, alb, int_range, no_shape, num_range, one_of, register_family

MIN_SIDE = 2
#: largest variant made (pixels): 2**28 px is 768 MiB of RGB
MAX_VARIANT_PIXELS = 1 << 28


def _check_out(shape, nh, nw, what):
    h, w = shape
    if nh < MIN_SIDE or nw < MIN_SIDE:
        raise TransformError(f"image {w}x{h} too small for {what}: result would be {nw}x{nh}")
    if nh * nw > MAX_VARIANT_PIXELS:
        raise TransformError(
            f"image {w}x{h} too large for {what}: result would be {nw}x{nh} (limit {MAX_VARIANT_PIXELS} pixels)"
        )


def _resize(s, params, shape):
    """Scale both sides by `s` (aspect kept): INTER_AREA when shrinking,
    INTER_LINEAR when enlarging."""
    h, w = shape
    nh, nw = max(1, round(h * s)), max(1, round(w * s))
    _check_out(shape, nh, nw, f"resize({s})")
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return alb(A.Resize, height=nh, width=nw, interpolation=interp)


def _max_size(m, params, shape):
    """Downscale (INTER_AREA) so that the long side is at most `m` pixels, as
    upload services do; smaller images are left unchanged."""
    h, w = shape
    m = int(m)
    if max(h, w) <= m:
        return alb(A.NoOp)
    k = m / max(h, w)
    nh, nw = (m, max(1, round(w * k))) if h >= w else (max(1, round(h * k)), m)
    _check_out(shape, nh, nw, f"max-size({m})")
    return alb(A.Resize, height=nh, width=nw, interpolation=cv2.INTER_AREA)


def _crop(f, params, shape):
    """Keep fraction `f` of the area: each side scaled by sqrt(f).
    position=centre: centred window. position=off-centre: the window touches
    one of the four corners, chosen from the variant seed (albumentations
    OneOf; the chosen Crop and its coordinates are recorded)."""
    h, w = shape
    k = math.sqrt(f)
    nh, nw = round(h * k), round(w * k)
    _check_out(shape, nh, nw, f"crop({f})")
    if params.get("position", "centre") == "centre":
        return alb(A.CenterCrop, height=nh, width=nw)
    corners = [(0, 0), (w - nw, 0), (0, h - nh), (w - nw, h - nh)]
    return A.OneOf([alb(A.Crop, x_min=x, y_min=y, x_max=x + nw, y_max=y + nh) for x, y in corners], p=1)


def _aspect(s, params, shape):
    """Change the aspect ratio: width multiplied by `s`, height kept
    (INTER_LINEAR when stretching, INTER_AREA when squeezing)."""
    h, w = shape
    nw = max(1, round(w * s))
    _check_out(shape, h, nw, f"aspect({s})")
    return alb(A.Resize, height=h, width=nw, interpolation=cv2.INTER_LINEAR if s >= 1 else cv2.INTER_AREA)


def _pad(f, params, shape):
    """Add a border on every side: round(f*w) px left and right, round(f*h)
    px top and bottom. mode=solid: black; mode=mirror: the photo reflected
    (OpenCV BORDER_REFLECT_101)."""
    h, w = shape
    px, py = round(f * w), round(f * h)
    if px == 0 and py == 0:
        raise TransformError(f"image {w}x{h} too small for pad({f}): border rounds to 0 px")
    _check_out(shape, h + 2 * py, w + 2 * px, f"pad({f})")
    if params.get("mode", "solid") == "mirror":
        if min(h, w) < MIN_SIDE:
            raise TransformError(f"image {w}x{h} too small to mirror a border")
        return alb(A.Pad, padding=(px, py, px, py), border_mode=cv2.BORDER_REFLECT_101)
    return alb(A.Pad, padding=(px, py, px, py), border_mode=cv2.BORDER_CONSTANT, fill=0)


_QUARTER_TURNS = {  # counter-clockwise quarter turns as exact pixel permutations
    1: lambda: [alb(A.Transpose), alb(A.VerticalFlip)],
    2: lambda: [alb(A.HorizontalFlip), alb(A.VerticalFlip)],
    3: lambda: [alb(A.Transpose), alb(A.HorizontalFlip)],
}


def _rotate(d, params, shape):
    """Rotate `d` degrees counter-clockwise about the centre (bilinear).
    Multiples of 90 are exact pixel permutations (no interpolation).
    crop_to_content=false: the canvas grows to hold the whole rotated photo,
    corners black (albumentations Affine fit_output). crop_to_content=true:
    the largest axis-aligned rectangle inside the rotated photo is kept
    (albumentations Rotate crop_border)."""
    d = float(d)
    if d % 90 == 0:
        turns = int(d // 90) % 4
        return _QUARTER_TURNS[turns]() if turns else alb(A.NoOp)
    if params.get("crop_to_content", False):
        h, w = shape
        if min(h, w) < 4:
            raise TransformError(f"image {w}x{h} too small to crop to content after rotation")
        return alb(
            A.Rotate,
            limit=(d, d),
            interpolation=cv2.INTER_LINEAR,
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            crop_border=True,
        )
    return alb(
        A.Affine,
        rotate=(d, d),
        fit_output=True,
        interpolation=cv2.INTER_LINEAR,
        border_mode=cv2.BORDER_CONSTANT,
        fill=0,
    )


def _rotate_shape_key(d, params, shape):
    """What `_rotate` reads of the shape: only whether the photo is too small
    to crop to content (the other rotations ignore the shape)."""
    if float(d) % 90 != 0 and params.get("crop_to_content", False):
        return min(shape) < 4
    return None


def _flip(direction, params, shape):
    """Mirror the photo: horizontal (left-right) or vertical (top-bottom)."""
    return alb(A.HorizontalFlip if direction == "horizontal" else A.VerticalFlip)


for _family in (
    Family(
        "resize",
        "scale factor of both sides (1 = unchanged; 2 = upscale 2x)",
        (2, 0.75, 0.5, 0.25, 0.125),
        num_range(0, 8, what="a scale factor"),
        _resize,
        group="geometry",
    ),
    Family(
        "max-size",
        "longest side limit in pixels (larger photos are downscaled, smaller kept)",
        (1600, 1080, 720, 480),
        int_range(2, 65535),
        _max_size,
        group="geometry",
    ),
    Family(
        "crop",
        "kept fraction of the area (position centre or off-centre)",
        (0.95, 0.9, 0.8, 0.7, 0.5),
        num_range(0, 1, what="a fraction"),
        _crop,
        params_allowed={"position": ("centre", "off-centre")},
        group="geometry",
    ),
    Family(
        "aspect",
        "width stretch factor, height kept (1 = unchanged)",
        (1.1, 1.25, 1.5),
        num_range(0, 8, what="a stretch factor"),
        _aspect,
        group="geometry",
    ),
    Family(
        "pad",
        "border on each side as a fraction of the side (mode solid or mirror)",
        (0.05, 0.1, 0.25),
        num_range(0, 2, what="a fraction"),
        _pad,
        params_allowed={"mode": ("solid", "mirror")},
        group="geometry",
    ),
    Family(
        "rotate",
        "degrees counter-clockwise (crop_to_content false: canvas grows, black corners)",
        (1, 2, 5, 10, 45, 90, 180),
        num_range(-360, 360, True, True, "degrees"),
        _rotate,
        params_allowed={"crop_to_content": (False, True)},
        group="geometry",
        shape_key=_rotate_shape_key,
    ),
    Family(
        "flip",
        "mirror direction: horizontal or vertical",
        ("horizontal", "vertical"),
        one_of("horizontal", "vertical"),
        _flip,
        group="geometry",
        shape_key=no_shape,
    ),
):
    register_family(_family)
