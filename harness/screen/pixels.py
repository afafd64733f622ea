"""Pixel-domain similarity that uses none of the hashers: the check that
confirms or rejects each candidate pair of the duplicate screen.

For one image (an RGB uint8 array, as `harness.imageio.load_rgb` returns),
the **grey thumbnail** (`grey_thumbnail`) is

1. grey levels with Pillow's ``convert("L")`` (ITU-R 601-2 luma,
   ``L = R * 299/1000 + G * 587/1000 + B * 114/1000``);
2. resized to ``size x size`` pixels (default 64 x 64) with
   ``Image.resize(..., Image.LANCZOS)``, whatever the aspect ratio, so that
   two images of different sizes compare pixel by pixel; float64, 0..255.

Two measures of a pair of thumbnails x, y:

- **similarity** (the one that decides): SSIM, scikit-image's
  ``structural_similarity(x, y, data_range=255)`` with its defaults (7 x 7
  uniform window, K1 = 0.01, K2 = 0.03, sample covariances), the mean over
  the window positions of
  ``(2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``
  with ``C1 = (0.01 * 255)^2``, ``C2 = (0.03 * 255)^2``; unitless, at most 1
  (1 = identical thumbnails).
- **correlation** (reported beside it): the Pearson correlation of the
  thumbnails' grey levels,
  ``r = sum((x - mean x)(y - mean y)) / sqrt(sum((x - mean x)^2) sum((y - mean y)^2))``,
  in [-1, 1]; 0 when a thumbnail is flat (no defined correlation).

Why SSIM decides: the correlation of the whole thumbnail ignores where the
differences are, so different objects in the same pose on a plain
background correlate as highly as a re-encoded copy (Caltech-101: recoloured
catalogue motorbikes on black at r = 0.97-0.99); SSIM compares local means,
contrasts and structure in every 7 x 7 window and puts those pairs at
0.67-0.90, while re-encoded, resized or lightly edited copies stay above
0.93 (the measurement is in datasets.md).

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> a = rng.integers(0, 256, (80, 120, 3), dtype=np.uint8)
>>> ta, tb = grey_thumbnail(a), grey_thumbnail(255 - a)
>>> round(ssim(ta, ta), 6), round(correlation(ta, tb), 6)
(1.0, -1.0)
"""

from __future__ import annotations

import numpy as np

#: side of the common grey thumbnail, pixels
PIXEL_SIZE = 64


def grey_thumbnail(rgb: np.ndarray, size: int = PIXEL_SIZE) -> np.ndarray:
    """Grey levels (float64, 0..255, size x size) of `rgb` resized with
    Pillow's LANCZOS filter (steps 1-2 of the module docstring)."""
    from PIL import Image

    im = Image.fromarray(np.asarray(rgb, dtype=np.uint8)).convert("L")
    return np.asarray(im.resize((size, size), Image.LANCZOS), dtype=np.float64)


def ssim(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two grey thumbnails (scikit-image defaults, data_range 255)."""
    from skimage.metrics import structural_similarity

    return float(structural_similarity(x, y, data_range=255.0))


def correlation(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two grey thumbnails' pixels (0 if one is flat)."""
    a = np.asarray(x, np.float64).ravel()
    b = np.asarray(y, np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a @ a) * (b @ b)))
    return float(np.clip(a @ b / den, -1.0, 1.0)) if den > 1e-9 else 0.0


def pair_measures(thumbs: dict, i, j) -> tuple[np.ndarray, np.ndarray]:
    """(ssim, correlation) float64 arrays for the pairs (i[k], j[k]);
    `thumbs` maps a row to its grey thumbnail, or to None when the image
    could not be read (both measures 0 then: never confirmed)."""
    s, r = np.zeros(len(i)), np.zeros(len(i))
    for k, (a, b) in enumerate(zip(i, j)):
        x, y = thumbs.get(int(a)), thumbs.get(int(b))
        if x is not None and y is not None:
            s[k], r[k] = ssim(x, y), correlation(x, y)
    return s, r
