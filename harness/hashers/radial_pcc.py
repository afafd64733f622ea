"""Peak cross-correlation of RadialVarianceHash hashes for many pairs at once.

The harness's cv_radialvariance distance is DEFINED by this kernel: the
same float64 value on every CPU (no SIMD dispatch, no fast-math, no
reordering; a test recompiles it for a generic x86-64 target and compares
the bytes, another freezes a digest). It equals OpenCV's
``RadialVarianceHash::compare`` bit for bit where OpenCV dispatches its
float32 dot product to AVX2/FMA, and is within a float32 rounding bound of
it on every other dispatch path (AVX-512, SSE, scalar):
`compare_error_bound` below, derived in "How it relates to OpenCV on other
CPUs".

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
CPUs where OpenCV dispatches dotProd_32f to AVX2. On a CPU where OpenCV
takes another SIMD path (AVX-512 sums 16 lanes, in another order) its own
compare() differs in the last bits; this function does not (it is the AVX2
value everywhere, so the harness's results are machine-independent).

How it relates to OpenCV on other CPUs (the bound tests use):
steps 1-3 are exact or double precision and identical on every path (sums
of integers in double are exact in any order); only the float32 dot
product of step 4 depends on the dispatch. For ANY evaluation order of a
float32 dot product of n terms, with or without fused multiply-adds,
``|fl(x.y) - x.y| <= gamma_n * sum|x_i y_i|`` with
``gamma_n = n u / (1 - n u)``, u = 2^-24 (Higham, Accuracy and Stability of
Numerical Algorithms, 2nd ed., eq. 3.5). Two implementations therefore
differ by at most ``2 gamma_40 sum|x_i y_i| <= 2 gamma_40 |x|_2 |y|_2``
(Cauchy-Schwarz, the same for every cyclic shift), and since the maximum
over shifts is 1-Lipschitz, the two PCC values (and distances 1 - PCC)
differ by at most::

    2 gamma_40 |c_a|_2 |c_b|_2 / (40 (std_a std_b + 1e-20))  + 8 eps (1 + |PCC|)

(c: the centred float32 hash; the last term covers the few double-precision
roundings after the dot product, eps = 2^-52). For two non-constant hashes
the first term is about 2 gamma_40 = 4.8e-6; for a constant hash it is 0.
`compare_error_bound` computes it per pair. A distance can only change
bin (`quantise`, bins of 0.005) across CPUs when it lies within this bound
of a bin edge.

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
                    v[ln] = np.float32(np.float64(ca[i, 32 + ln]) * np.float64(bb[off + 32 + ln]) + np.float64(acc))
                lo = np.float32(np.float32(v[0] + v[1]) + np.float32(v[2] + v[3]))
                hi = np.float32(np.float32(v[4] + v[5]) + np.float32(v[6] + v[7]))
                dot = np.float64(np.float32(lo + hi))
                corr = (dot / HASH_SIZE) / denom
                if not (corr < best):  # std::max(corr, best)
                    best = corr
            out[i, j] = best


#: unit roundoff of float32 and gamma_40 = 40 u / (1 - 40 u) (module docstring)
FLOAT32_UNIT_ROUNDOFF = 2.0**-24
GAMMA_40 = HASH_SIZE * FLOAT32_UNIT_ROUNDOFF / (1.0 - HASH_SIZE * FLOAT32_UNIT_ROUNDOFF)


def compare_error_bound(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest possible difference between `peak_cross_correlation` and
    OpenCV's compare() on ANY SIMD dispatch path, per pair: float64
    (len(a), len(b)), in PCC units (= distance units, d = 1 - PCC).

    ``2 gamma_40 |c_a|_2 |c_b|_2 / (40 (std_a std_b + 1e-20)) + 8 eps (1 + 1)``
    with gamma_40 = 40 u / (1 - 40 u), u = 2^-24 and eps = 2^-52 (derivation
    in the module docstring; |PCC| <= 1 up to rounding).

    >>> import numpy as np
    >>> h = np.arange(80, dtype=np.uint8).reshape(2, 40)
    >>> bool(compare_error_bound(h, h).max() < 5e-6)
    True
    >>> float(compare_error_bound(np.zeros((1, 40), np.uint8), h)[0, 0]) < 1e-14
    True
    """
    ca, sa = centre(a)
    cb, sb = centre(b)
    na = np.sqrt((ca.astype(np.float64) ** 2).sum(axis=1))
    nb = np.sqrt((cb.astype(np.float64) ** 2).sum(axis=1))
    denom = HASH_SIZE * (sa[:, None] * sb[None, :] + 1e-20)
    return 2.0 * GAMMA_40 * (na[:, None] * nb[None, :]) / denom + 16.0 * np.finfo(np.float64).eps


def peak_cross_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """OpenCV's RadialVarianceHash compare() for every pair: float64
    (len(a), len(b)) from packed hashes (n, 40) uint8."""
    ca, sa = centre(a)
    cb, sb = centre(b)
    out = np.empty((len(ca), len(cb)), dtype=np.float64)
    if len(ca) and len(cb):
        _pcc(ca, sa, cb, sb, out)
    return out
