"""Compiled (numba) haar kernel for imagehash.whash's ``dwt_low``.

`haar_whash_low_jit(pixels, ll_max_level, dwt_level, remove_max_haar_ll)`
computes what `harness.hashers.imagehash_backend.haar_whash_low` (numpy)
computes, and what imagehash computes with pywt, for a square power-of-2
float64 array: ``pywt.wavedec2(pixels, 'haar', level=ll_max_level)``, the
LL coefficient multiplied by 0, ``pywt.waverec2``, then the LL of
``pywt.wavedec2(..., level=dwt_level)``.

Why it is exact: each output double is produced by the same IEEE-754
float64 operations, on the same operands, as in the numpy transcription
(whose equality to pywt is argued in its docstrings), with C =
0.7071067811865476 (pywt's haar filter taps):

- analysis along an axis (pairs x0 = x[2o], x1 = x[2o+1]):
  ``lo = C*x1 + C*x0`` and ``hi = C*x0 - C*x1`` (each product rounded,
  then the sum/difference rounded);
- synthesis along an axis (a, d at index i):
  ``out[2i] = C*a + C*d`` and ``out[2i+1] = C*a - C*d``;
- the order of axes is pywt's: analysis axis 0 (rows of pairs) then axis
  1; synthesis axis 1 then axis 0; the LL coefficient is multiplied by 0.0
  (not assigned), as imagehash's ``coeffs[0] *= 0`` does.

Only element order in memory differs (a Mallat layout in one buffer
instead of separate subband arrays), which changes no value. The kernel
is compiled without fastmath: numba then emits plain fmul/fadd/fsub with
no reassociation and no fused multiply-add contraction, so every product
is rounded before it is added. `imagehash_backend.haar_jit_agrees` checks
the kernel against pywt once per process before it is used, and tests
assert ``array_equal`` against pywt and the numpy path on real photos.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: pywt's haar filters: dec_lo = rec_lo = [C, C], dec_hi = [-C, C], rec_hi = [C, -C]
C = 0.7071067811865476


@njit(cache=True)
def _analyse(buf, tmp, m):
    """One 2-D analysis level on the top-left m x m block of `buf`, in place:
    afterwards the block holds [[aa, ad], [da, dd]] (pywt dwtn subband
    names: first letter axis 0, second axis 1)."""
    h = m // 2
    # axis 0: rows 2o, 2o+1 -> low row o, high row h + o
    for o in range(h):
        for j in range(m):
            x0 = buf[2 * o, j]
            x1 = buf[2 * o + 1, j]
            c0 = C * x0
            c1 = C * x1
            tmp[o, j] = c1 + c0
            tmp[h + o, j] = c0 - c1
    # axis 1: columns 2o, 2o+1 -> low column o, high column h + o
    for i in range(m):
        for o in range(h):
            x0 = tmp[i, 2 * o]
            x1 = tmp[i, 2 * o + 1]
            c0 = C * x0
            c1 = C * x1
            buf[i, o] = c1 + c0
            buf[i, h + o] = c0 - c1


@njit(cache=True)
def _synthesise(buf, tmp, m):
    """One 2-D synthesis level on the top-left m x m block of `buf`, in
    place (inverse of `_analyse`, pywt idwtn order: axis 1 first, then 0)."""
    h = m // 2
    # axis 1: (aa, ad) -> low rows, (da, dd) -> high rows, interleaving columns
    for i in range(m):
        for k in range(h):
            ca = C * buf[i, k]
            cd = C * buf[i, h + k]
            tmp[i, 2 * k] = ca + cd
            tmp[i, 2 * k + 1] = ca - cd
    # axis 0: low row k and high row h + k -> rows 2k, 2k+1
    for k in range(h):
        for j in range(m):
            ca = C * tmp[k, j]
            cd = C * tmp[h + k, j]
            buf[2 * k, j] = ca + cd
            buf[2 * k + 1, j] = ca - cd


@njit(cache=True)
def _low(buf, tmp, m):
    """One level of the 2-D low-pass (LL) on the top-left m x m block; the
    m/2 x m/2 result is written to the top-left of `buf`."""
    h = m // 2
    for o in range(h):
        for j in range(m):
            tmp[o, j] = C * buf[2 * o + 1, j] + C * buf[2 * o, j]
    for i in range(h):
        for o in range(h):
            buf[i, o] = C * tmp[i, 2 * o + 1] + C * tmp[i, 2 * o]


@njit(cache=True)
def _whash_low(pixels, ll_max_level, dwt_level, remove):
    n = pixels.shape[0]
    buf = pixels.copy()
    tmp = np.empty_like(buf)
    if remove:
        m = n
        for _ in range(ll_max_level):
            _analyse(buf, tmp, m)
            m //= 2
        for i in range(m):
            for j in range(m):
                buf[i, j] = buf[i, j] * 0.0
        for _ in range(ll_max_level):
            m *= 2
            _synthesise(buf, tmp, m)
    m = n
    for _ in range(dwt_level):
        _low(buf, tmp, m)
        m //= 2
    return buf[:m, :m].copy()


def haar_whash_low_jit(
    pixels: np.ndarray, ll_max_level: int, dwt_level: int, remove_max_haar_ll: bool = True
) -> np.ndarray:
    """imagehash.whash's ``dwt_low`` (see the module docstring) for a
    square float64 array of side 2**ll_max_level; returns a new
    C-contiguous float64 array of side 2**(ll_max_level - dwt_level)."""
    pixels = np.ascontiguousarray(pixels, dtype=np.float64)
    n = pixels.shape[0]
    if pixels.ndim != 2 or pixels.shape[1] != n or n != 1 << int(ll_max_level):
        raise ValueError(f"haar kernel needs a square array of side 2**{ll_max_level}, got {pixels.shape}")
    if not 0 <= int(dwt_level) <= int(ll_max_level):
        raise ValueError(f"dwt_level must be in 0..{ll_max_level}, got {dwt_level}")
    return _whash_low(pixels, int(ll_max_level), int(dwt_level), bool(remove_max_haar_ll))
