"""Distortion between a photo and its attacked version (both (h, w, 3) uint8).

- rmse: sqrt(mean((x' - x)^2)) over every pixel and channel, in grey levels;
- linf: max |x' - x|, grey levels;
- psnr: 10 log10(255^2 / mse) dB (skimage.metrics.peak_signal_noise_ratio;
  +inf when the images are identical);
- ssim: skimage.metrics.structural_similarity, data_range 255, channel_axis 2
  (window 7, or the largest odd size that fits a smaller image).

Example::

    >>> import numpy as np
    >>> x = np.zeros((8, 8, 3), np.uint8); y = x.copy(); y[0, 0, 0] = 16
    >>> d = distortion(x, y)
    >>> d["linf"], round(d["rmse"], 3)
    (16, 1.155)
"""

from __future__ import annotations

import math

import numpy as np


def distortion(original: np.ndarray, attacked: np.ndarray) -> dict:
    """rmse, linf, psnr, ssim of `attacked` against `original` (see module doc)."""
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a = np.asarray(original)
    b = np.asarray(attacked)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    diff = b.astype(np.float64) - a.astype(np.float64)
    mse = float(np.mean(diff * diff))
    psnr = math.inf if mse == 0 else float(peak_signal_noise_ratio(a, b, data_range=255))
    win = min(7, min(a.shape[:2]))
    win -= (win + 1) % 2  # odd
    ssim = (
        float(structural_similarity(a, b, data_range=255, channel_axis=2, win_size=max(win, 3)))
        if min(a.shape[:2]) >= 3
        else float("nan")
    )
    return {"rmse": math.sqrt(mse), "linf": int(np.abs(diff).max()) if diff.size else 0, "psnr": psnr, "ssim": ssim}
