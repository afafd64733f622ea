"""Hash-quality diagnostics: what explains an FPR far above the floor of
ideal random hashes.

- per-bit bias: share of ones of each bit over the originals (ideal 0.5);
- bit-pair correlation: Pearson correlation of every pair of bits over the
  originals, summarised by mean |r| and max |r| (ideal ~0);
- impostor distribution: mean and variance of the orig-orig distances
  (bits); normalised distance x = d / bits;
- degrees of freedom in Daugman's sense (as used for iris codes):
  p = mean(x), sigma^2 = var(x), N = p (1 - p) / sigma^2. Independent
  unbiased bits give N = bits; correlated bits give fewer.
- the binomial tail that N implies: FPR_model(t) = P(K <= N t / bits),
  K ~ Binomial(N, p), continued to real N and k through the regularised
  incomplete beta function, I_{1-p}(N - k, k + 1). It is a MODEL: used to
  extrapolate below what the pair count can measure, always in separate
  columns (`fpr_model`) next to the measured FPR, with its goodness of fit
  (Kolmogorov-Smirnov distance between measured and model CDFs, and
  log10(model / measured) at the smallest threshold with >= 10 measured
  false positives).
- per-bit flip rate under each transform: share of images whose bit b
  differs between the original and the variant (as in PHASER's bit
  analysis).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betainc

MIN_TAIL_COUNT = 10


def unpack_bits(packed: np.ndarray, bits: int, pad=None) -> np.ndarray:
    """(n, nbytes) uint8 -> (n, bits) uint8 of 0/1 in stored order (most
    significant bit of byte 0 first), without the padding bits (located by
    hamming.padding_positions, unless given as `pad`)."""
    from .hamming import padding_positions

    packed = np.asarray(packed, dtype=np.uint8)
    full = np.unpackbits(packed, axis=1)
    pad = padding_positions(packed, bits) if pad is None else np.asarray(pad)
    return np.delete(full, pad, axis=1) if len(pad) else full


def share_of_ones(bitmat: np.ndarray) -> np.ndarray:
    return bitmat.mean(axis=0) if len(bitmat) else np.full(bitmat.shape[1], np.nan)


def correlation_summary(bitmat: np.ndarray, chunk: int = 20_000) -> dict:
    """Mean and max |Pearson r| over bit pairs with non-constant bits, and
    the share of pairs with |r| > 0.3. The cross-product matrix is summed
    over row chunks, so memory is O(bits^2 + chunk x bits)."""
    n, bits = bitmat.shape
    ones = np.zeros(bits)
    cross = np.zeros((bits, bits))
    for r0 in range(0, n, chunk):
        x = bitmat[r0 : r0 + chunk].astype(np.float64)
        ones += x.sum(axis=0)
        cross += x.T @ x
    out = {"n_constant_bits": int(((ones == 0) | (ones == n)).sum()) if n else bits}
    live = (ones > 0) & (ones < n)
    if live.sum() < 2 or n < 3:
        return out | {"corr_mean_abs": np.nan, "corr_max_abs": np.nan, "corr_share_above_0.3": np.nan}
    p = ones[live] / n
    cov = cross[np.ix_(live, live)] / n - np.outer(p, p)
    sd = np.sqrt(p * (1 - p))
    r = cov / np.outer(sd, sd)
    iu = np.triu_indices(r.shape[0], 1)
    a = np.abs(r[iu])
    return out | {
        "corr_mean_abs": float(a.mean()),
        "corr_max_abs": float(a.max()),
        "corr_share_above_0.3": float((a > 0.3).mean()),
    }


def impostor_moments(hist) -> tuple[float, float]:
    """Mean and variance (bits, bits^2) of the distance histogram."""
    h = np.asarray(hist, dtype=np.float64)
    n = h.sum()
    if n == 0:
        return float("nan"), float("nan")
    d = np.arange(len(h))
    mean = (h * d).sum() / n
    return float(mean), float((h * (d - mean) ** 2).sum() / n)


def daugman_dof(hist, bits: int) -> tuple[float, float, float]:
    """(N, p, sigma) of the normalised impostor distances d / bits."""
    mean, var = impostor_moments(hist)
    if not var > 0:
        return float("nan"), mean / bits if bits else float("nan"), float("nan")
    p, s2 = mean / bits, var / bits**2
    return float(p * (1 - p) / s2), float(p), float(math.sqrt(s2))


def binomial_tail(thresholds, bits: int, N: float, p: float) -> np.ndarray:
    """Model FPR(t) = P(K <= N t / bits), K ~ Binomial(N, p), real N."""
    t = np.asarray(thresholds, dtype=np.float64)
    if not (N > 0 and 0 < p < 1):
        return np.full(t.shape, np.nan)
    k = N * t / bits
    out = np.where(k >= N, 1.0, 0.0)
    inside = (k >= 0) & (k < N)
    out[inside] = betainc(N - k[inside], k[inside] + 1, 1 - p)
    return out


def tail_fit(hist, model_cdf) -> dict:
    """Goodness of fit of a model CDF to a measured distance histogram."""
    h = np.asarray(hist, dtype=np.float64)
    n = h.sum()
    cum = np.cumsum(h)
    ks = float(np.max(np.abs(cum / n - model_cdf))) if n else float("nan")
    idx = np.nonzero(cum >= MIN_TAIL_COUNT)[0]
    if len(idx) and n:
        t = int(idx[0])
        ratio = float(np.log10(model_cdf[t] / (cum[t] / n))) if model_cdf[t] > 0 else float("-inf")
    else:
        t, ratio = -1, float("nan")
    return {"model_ks": ks, "model_tail_threshold": t, "model_tail_log10_ratio": ratio}


def flip_rates(orig_bits: np.ndarray, var_bits: np.ndarray) -> np.ndarray:
    """Per-bit share of images whose bit changed (rows aligned)."""
    if not len(orig_bits):
        return np.full(orig_bits.shape[1], np.nan)
    return (orig_bits != var_bits).mean(axis=0)
