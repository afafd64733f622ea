"""Peak cross-correlation of RadialVarianceHash hashes for many pairs at once,
bit for bit equal to OpenCV's ``RadialVarianceHash::compare`` (x86-64 with
AVX2/FMA dispatch, the OpenCV wheels' code path on such CPUs).

OpenCV's compare(a, b) for two 40-byte hashes, as computed (opencv_contrib
img_hash/src/radial_variance_hash.cpp and core's Mat::dot / meanStdDev):

1. a and b become float32; mean and population standard deviation come
   from ``cv::meanStdDev`` in double: s = sum, q = sum of squares (exact),
   mean = s * (1/40), std = sqrt(max(q * (1/40) - mean^2, 0)).
2. Each hash is centred in float32: c = float32(x) - float32(mean)
   (exact here: x is an integer and the result fits 24 bits).
3. For each of the 40 cyclic shifts i (b rotated right by i):
   dot = ``Mat::dot`` of the float32 vectors, covar = dot / 40,
   corr = covar / (std_a * std_b + 1e-20); PCC = max over shifts, starting
   from DBL_MIN (so PCC >= 2.2e-308).
4. ``Mat::dot`` on float32 (core dotProd_32f, AVX2 dispatch, 8 lanes,
   unrolled x4): lanes s0..s3 = float32(a*b) of elements 0-7, 8-15, 16-23,
   24-31; v = s0 + ((s1 + s2) + s3) in float32; v = fma(a, b, v) for
   elements 32-39; the 8 lanes are summed as
   ((v0+v1) + (v2+v3)) + ((v4+v5) + (v6+v7)) in float32, then widened to
   double.

Every float32 step is reproduced here: a product of two centred values is
exact in double (each is a multiple of 2^-16 below 256), a product plus a
float32 lane is exact in double too (below 2^20, multiple of 2^-32: 52
bits), so rounding that double to float32 once equals the fused
multiply-add. The result therefore equals OpenCV's to the last bit on
CPUs where OpenCV dispatches dotProd_32f to AVX2 (tests compare every pair
of real photographs with cv2's compare). On a CPU where OpenCV takes another
SIMD path its own compare() differs in the last bits; this function does
not (it is the AVX2 value everywhere, so results are machine-independent).

Cost: 40 shifts x 40 multiply-adds per pair, compiled with numba.
"""
from __future__ import annotations

import numpy as np
from numba import njit

HASH_SIZE = 40
DBL_MIN = float(np.finfo(np.float64).tiny)


def centre(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float32 centred values (n, 40), float64 std (n,)) as OpenCV computes
    them in compare() (steps 1-2 of the module docstring)."""
    x = np.asarray(hashes, dtype=np.uint8).reshape(len(hashes), HASH_SIZE)
    xd = x.astype(np.float64)
    scale = 1.0 / HASH_SIZE
    mean = xd.sum(axis=1) * scale
    std = np.sqrt(np.maximum((xd * xd).sum(axis=1) * scale - mean * mean, 0.0))
    c = x.astype(np.float32) - mean.astype(np.float32)[:, None]
    return np.ascontiguousarray(c, dtype=np.float32), std


@njit(cache=True, nogil=True)
def _pcc(ca, sa, cb, sb, out):  # pragma: no cover - compiled
    n, m = ca.shape[0], cb.shape[0]
    v = np.empty(8, np.float32)
    bb = np.empty(2 * HASH_SIZE, np.float32)
    for j in range(m):
        for k in range(HASH_SIZE):
            bb[k] = cb[j, k]
            bb[k + HASH_SIZE] = cb[j, k]
        for i in range(n):
            denom = sa[i] * sb[j] + 1e-20
            best = DBL_MIN
            for s in range(HASH_SIZE):
                off = HASH_SIZE - s  # rotated right by s: element k is b[(k - s) mod 40]
                for ln in range(8):
                    p0 = np.float32(np.float64(ca[i, ln]) * np.float64(bb[off + ln]))
                    p1 = np.float32(np.float64(ca[i, 8 + ln]) * np.float64(bb[off + 8 + ln]))
                    p2 = np.float32(np.float64(ca[i, 16 + ln]) * np.float64(bb[off + 16 + ln]))
                    p3 = np.float32(np.float64(ca[i, 24 + ln]) * np.float64(bb[off + 24 + ln]))
                    acc = p0 + np.float32(np.float32(p1 + p2) + p3)
                    v[ln] = np.float32(np.float64(ca[i, 32 + ln]) * np.float64(bb[off + 32 + ln])
                                       + np.float64(acc))
                lo = np.float32(np.float32(v[0] + v[1]) + np.float32(v[2] + v[3]))
                hi = np.float32(np.float32(v[4] + v[5]) + np.float32(v[6] + v[7]))
                dot = np.float64(np.float32(lo + hi))
                corr = (dot / HASH_SIZE) / denom
                if not (corr < best):  # std::max(corr, best)
                    best = corr
            out[i, j] = best


def peak_cross_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenCV's RadialVarianceHash compare() for every pair: float64
    (len(a), len(b)) from packed hashes (n, 40) uint8."""
    ca, sa = centre(a)
    cb, sb = centre(b)
    out = np.empty((len(ca), len(cb)), dtype=np.float64)
    if len(ca) and len(cb):
        _pcc(ca, sa, cb, sb, out)
    return out
