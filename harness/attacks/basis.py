"""Low-dimensional perturbation bases: a vector z of k*k numbers -> a smooth
(h, w) luminance field, scaled to an exact L-infinity amplitude.

- ``dct``: the k x k lowest-frequency 2-D DCT-II basis functions (orthonormal
  cosines, ``cos(pi (2n + 1) u / 2N)``), field = Cy^T Z Cx;
- ``grid``: a k x k grid of values upsampled to the image size (bilinear).

The field is added to R, G and B alike (so luminance Y = 0.299 R + 0.587 G +
0.114 B moves by the same amount), rounded to integers, limited to
+-amplitude grey levels and clipped to 0..255: the perturbed image is uint8,
same size, and ``max |x' - x| <= amplitude``.

Example::

    >>> import numpy as np
    >>> b = Basis("dct", 4, 16, 24)
    >>> x = np.full((16, 24, 3), 100, np.uint8)
    >>> y = b.apply(x, np.ones(b.dim), 5)
    >>> y.dtype, y.shape, int(np.abs(y.astype(int) - x).max())
    (dtype('uint8'), (16, 24, 3), 5)
"""

from __future__ import annotations

import numpy as np
from numba import njit

BASES = ("dct", "grid")


def _dct_rows(k: int, n: int) -> np.ndarray:
    """(k, n) orthonormal DCT-II basis: row u = c_u cos(pi (2m + 1) u / (2n))."""
    m = np.arange(n)
    u = np.arange(k)[:, None]
    rows = np.cos(np.pi * (2 * m[None, :] + 1) * u / (2 * n))
    rows *= np.sqrt(2.0 / n)
    rows[0] /= np.sqrt(2.0)
    return rows


class Basis:
    """Perturbation basis `kind` ("dct" or "grid") of size k x k for (h, w) images."""

    def __init__(self, kind: str, k: int, h: int, w: int):
        if kind not in BASES:
            raise ValueError(f"basis must be one of {', '.join(BASES)} (got {kind!r})")
        self.kind, self.k, self.h, self.w = kind, int(k), int(h), int(w)
        self.dim = self.k * self.k
        if kind == "dct":
            self._cy = _dct_rows(min(self.k, h), h)
            self._cx = _dct_rows(min(self.k, w), w)

    def field(self, z: np.ndarray) -> np.ndarray:
        """(h, w) float64 field for coefficients z (length dim), unscaled."""
        z = np.asarray(z, dtype=np.float64).reshape(self.k, self.k)
        if self.kind == "dct":
            z = z[: self._cy.shape[0], : self._cx.shape[0]]
            return self._cy.T @ z @ self._cx
        import cv2

        return cv2.resize(z, (self.w, self.h), interpolation=cv2.INTER_LINEAR)

    def perturbation(self, z: np.ndarray, amplitude: int) -> np.ndarray:
        """(h, w) int16 perturbation: field scaled so max |field| = amplitude,
        rounded, within +-amplitude (all zeros when z or amplitude is 0)."""
        amplitude = int(amplitude)
        f = self.field(z)
        peak = float(np.abs(f).max())
        if amplitude <= 0 or peak == 0.0 or not np.isfinite(peak):
            return np.zeros((self.h, self.w), dtype=np.int16)
        p = np.rint(f * (amplitude / peak))
        return np.clip(p, -amplitude, amplitude).astype(np.int16)

    def apply(self, x: np.ndarray, z: np.ndarray, amplitude: int) -> np.ndarray:
        """x (h, w, 3) uint8 plus the perturbation on every channel, clipped to
        0..255 (one compiled pass; equals ``clip(x + perturbation(z, a), 0, 255)``)."""
        amplitude = int(amplitude)
        f = self.field(z)
        peak = float(np.abs(f).max())
        out = np.empty_like(x)
        if amplitude <= 0 or peak == 0.0 or not np.isfinite(peak):
            out[...] = x
            return out
        _add_scaled(np.ascontiguousarray(x), np.ascontiguousarray(f), amplitude / peak, amplitude, out)
        return out


@njit(cache=True)
def _add_scaled(x, f, scale, amplitude, out):
    """out = clip(x + clip(rint(f * scale), -amplitude, amplitude), 0, 255) per channel."""
    h, w, c = x.shape
    for i in range(h):
        for j in range(w):
            p = np.int64(np.rint(f[i, j] * scale))
            p = min(max(p, -amplitude), amplitude)
            for k in range(c):
                v = np.int64(x[i, j, k]) + p
                out[i, j, k] = min(max(v, 0), 255)
