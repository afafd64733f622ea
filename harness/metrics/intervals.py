"""Confidence intervals for false-positive rates, and the threshold
recommendation.

Three intervals, reported side by side and never mixed with point estimates:

- **The default, for dependent pairs** (`dependent_pair_interval`):
  Clopper-Pearson at the effective sample size of the dyadic (U-statistic)
  variance of the pair rate (`dyadic_variance`, `effective_clopper_pearson`).
  Deterministic; every recommendation (`recommend_threshold`) uses its
  upper bound. Formulas and measured coverage: docs/reference/intervals.md.
- **Clopper-Pearson** (exact binomial): for k matching pairs out of n,
  lo = Beta.ppf(a/2; k, n-k+1), hi = Beta.ppf(1-a/2; k+1, n-k), a = 1 -
  confidence (lo = 0 when k = 0, hi = 1 when k = n). It ASSUMES THE PAIRS
  ARE INDEPENDENT, which they are not (pairs sharing an image are
  correlated), so it is usually too narrow for FPRs.
- **Image-level (cluster) Poisson bootstrap**: each image gets a weight
  w ~ Poisson(1) per replicate; a pair (i, j) counts w_i * w_j. The
  numerator sum over matching pairs of w_i w_j is taken over the kept close
  pairs (every pair at or under `keep_below`, so it is exact for t <=
  keep_below); the denominator has a closed form:

  * within one set (orig-orig): sum_{i<j, g_i != g_j} w_i w_j =
    ((sum w)^2 - sum w^2)/2 - sum_g ((sum_{i in g} w)^2 - sum_{i in g} w^2)/2
  * across two sets A x B (variant-orig, variant of image i vs original of
    image j): (sum_A w)(sum_B w) - sum_g (sum_{A in g} w)(sum_{B in g} w)

  The interval is the (a/2, 1-a/2) percentile of the replicate FPRs.
  When k = 0 every replicate is 0, so the bootstrap says nothing. It is a
  seeded cross-check; no decision rests on it. Zero observed false
  positives are reported as an upper bound, never as "0".
"""

from __future__ import annotations

import math

import numpy as np
from scipy import sparse
from scipy.stats import beta

from ..compiled import numba_enabled
from ..errors import ConfigError

#: the largest (replicates x pairs) block held in memory at once
_BLOCK_CELLS = 4_000_000


def clopper_pearson(k, n, confidence: float = 0.95):
    """Exact (Clopper-Pearson) two-sided interval for a binomial proportion
    from ``k`` successes in ``n`` trials:

        lo = Beta.ppf(alpha/2,     k,     n - k + 1)   (0 when k = 0)
        hi = Beta.ppf(1 - alpha/2, k + 1, n - k)       (1 when k = n)

    with ``alpha = 1 - confidence``. ``n = 0`` (no trials, so no
    information) gives (0, 1). Coverage is at least `confidence` for
    independent trials; pairs of photos that share a photo are not
    independent, so for pair rates this interval is too narrow (see
    `bootstrap_fpr`).

    `k` and `n` are non-negative integers (or integer arrays, which
    broadcast) with ``k <= n``; anything else raises ConfigError. Returns
    ``(lo, hi)`` as two floats for scalar inputs, two float64 arrays
    otherwise.

    Examples
    --------
    >>> lo, hi = clopper_pearson(7, 100)
    >>> round(lo, 4), round(hi, 4)
    (0.0286, 0.1389)
    >>> clopper_pearson(0, 0)
    (0.0, 1.0)
    """
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0
    k = np.asarray(k, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    for name, v in (("k", k), ("n", n)):
        if not np.all(np.isfinite(v) & (v >= 0) & (v == np.floor(v))):
            raise ConfigError(name, f"must be a non-negative integer count (got {v if v.ndim == 0 else v[:5]})")
    if np.any(k > n):
        raise ConfigError("k", "count exceeds the number of trials n")
    if not 0.0 < confidence < 1.0:
        raise ConfigError("confidence", f"must be in (0, 1) (got {confidence!r})")
    lo, hi = _beta_bounds(k, n, confidence)
    if scalar:
        return float(lo), float(hi)
    return lo, hi


def _beta_bounds(k, n, confidence: float):
    """Clopper-Pearson's Beta quantiles for k of n (float arrays; real-valued
    counts allowed): lo = 0 at k = 0, hi = 1 at k = n."""
    a = 1.0 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(a / 2, np.maximum(k, 1e-300), n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - a / 2, k + 1, np.maximum(n - k, 1e-300)), 1.0)
    return lo, hi


def _indicator(codes: np.ndarray, n_cols: int) -> sparse.csr_matrix:
    rows = np.arange(len(codes))
    return sparse.csr_matrix((np.ones(len(codes)), (rows, codes)), shape=(len(codes), n_cols))


def weighted_pair_total(w_a, w_b, g_a, g_b, n_groups: int, within: bool) -> np.ndarray:
    """Closed-form sum of w_i w_j over the negative pairs, per replicate.

    w_a: (reps, n_a) weights of the rows of A; w_b the same for B (ignored
    when `within`); g_a, g_b: group codes in 0..n_groups-1."""
    if within:
        s = w_a.sum(axis=1)
        s2 = (w_a * w_a).sum(axis=1)
        total = (s * s - s2) / 2
        if len(np.unique(g_a)) == len(g_a):  # every group a singleton
            return total
        ga = _indicator(g_a, n_groups)
        G = np.asarray(ga.T.dot(w_a.T).T)  # (reps, groups)
        G2 = np.asarray(ga.T.dot((w_a * w_a).T).T)
        return total - ((G * G).sum(axis=1) - G2.sum(axis=1)) / 2
    ga = _indicator(g_a, n_groups)
    gb = _indicator(g_b, n_groups)
    GA = np.asarray(ga.T.dot(w_a.T).T)
    GB = np.asarray(gb.T.dot(w_b.T).T)
    return w_a.sum(axis=1) * w_b.sum(axis=1) - (GA * GB).sum(axis=1)


def bootstrap_fpr(
    img_a,
    img_b,
    group_of_image,
    pair_i,
    pair_j,
    pair_d,
    keep_below: int,
    replicates: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
):
    """Image-level Poisson bootstrap of FPR(t) for t = 0..keep_below.

    img_a[r]: image index (0..m-1) of row r of A; img_b likewise for B, or
    None for all pairs within A. group_of_image: group code per image.
    pair_i, pair_j, pair_d: every negative pair (rows of A, B) at distance
    <= keep_below. Returns (lo, hi, replicate_fpr) with lo, hi of length
    keep_below + 1 and replicate_fpr of shape (replicates, keep_below + 1).
    Deterministic for a given seed."""
    if keep_below < 0:
        z = np.zeros(0)
        return z, z, np.zeros((replicates, 0))
    img_a = np.asarray(img_a, dtype=np.int64)
    within = img_b is None
    img_b = img_a if within else np.asarray(img_b, dtype=np.int64)
    groups = np.asarray(group_of_image, dtype=np.int64)
    m = len(groups)
    n_groups = int(groups.max(initial=-1)) + 1
    pa, pb = img_a[np.asarray(pair_i, np.int64)], img_b[np.asarray(pair_j, np.int64)]
    d = np.asarray(pair_d, dtype=np.int64)
    n_t = keep_below + 1
    order = np.argsort(d, kind="stable")
    pa, pb, d = pa[order], pb[order], d[order]
    # number of pairs at distance <= t, for t = 0..keep_below
    ends = np.searchsorted(d, np.arange(n_t), side="right")
    rng = np.random.default_rng(seed)
    K = _kernel_module()
    out = np.empty((replicates, n_t))
    step = max(1, min(replicates, _BLOCK_CELLS // max(1, m, len(d))))
    if K is not None:  # per image: how often it is a row of A / of B; images in group order
        count_a = np.bincount(img_a, minlength=m)
        count_b = count_a if within else np.bincount(img_b, minlength=m)
        by_group = np.argsort(groups, kind="stable")
        ends_i = ends.astype(np.int64)
    for r0 in range(0, replicates, step):
        r1 = min(r0 + step, replicates)
        counts = rng.poisson(1.0, size=(r1 - r0, m))
        if K is not None:
            # the same sums in exact integer arithmetic (compiled; equal to
            # the float path below, which is exact too: integer-valued sums)
            wt = np.ascontiguousarray(counts.T.astype(np.uint8 if counts.max(initial=0) < 256 else np.int64))
            s_a, s_b, cross = K.group_weight_sums(wt, count_a, count_b, by_group, groups[by_group])
            denom = ((s_a * s_a - cross) // 2 if within else s_a * s_b - cross).astype(np.float64)
            num = K.weighted_pair_sums(wt, pa, pb, ends_i)
        else:
            w = counts.astype(np.float64)
            denom = weighted_pair_total(
                w[:, img_a],
                None if within else w[:, img_b],
                groups[img_a],
                None if within else groups[img_b],
                n_groups,
                within,
            )
            csum = np.zeros((r1 - r0, len(d) + 1))
            np.cumsum(w[:, pa] * w[:, pb], axis=1, out=csum[:, 1:])
            num = csum[:, ends]
        with np.errstate(invalid="ignore", divide="ignore"):
            out[r0:r1] = num / denom[:, None]
    a = 1.0 - confidence
    lo = np.nanquantile(out, a / 2, axis=0)
    hi = np.nanquantile(out, 1 - a / 2, axis=0)
    return lo, hi, out


def _kernel_module():
    if not numba_enabled():
        return None
    from . import kernel

    return kernel


def photo_pair_counts(img_a, img_b, group_of_image) -> tuple[np.ndarray, int]:
    """Per photo k: N_k, the number of negative pairs that involve photo k,
    and N, the number of negative pairs (sum_k N_k = 2N: every pair has two
    photos).

    img_a[r]: photo (0..m-1) of row r of set A; img_b the same for set B,
    or None for all pairs within A; group_of_image: group code per photo.
    Pairs inside one group are not negatives. Within A:
    N_k = c_k (n_A - G_A(g_k)); across A x B:
    N_k = a_k (n_B - G_B(g_k)) + b_k (n_A - G_A(g_k)), where c_k, a_k, b_k
    count photo k's rows and G_X(g) the rows of X in group g.

    >>> n_k, n = photo_pair_counts([0, 1, 2], None, [0, 0, 1])
    >>> n_k.tolist(), n
    ([1, 1, 2], 2)
    """
    groups = np.asarray(group_of_image, dtype=np.int64)
    m = len(groups)
    n_groups = int(groups.max(initial=-1)) + 1
    a = np.bincount(np.asarray(img_a, dtype=np.int64), minlength=m)
    g_a = np.bincount(groups, weights=a, minlength=n_groups).astype(np.int64)
    if img_b is None:
        n_k = a * (int(a.sum()) - g_a[groups]) if m else a
        return n_k.astype(np.int64), int(n_k.sum()) // 2
    b = np.bincount(np.asarray(img_b, dtype=np.int64), minlength=m)
    g_b = np.bincount(groups, weights=b, minlength=n_groups).astype(np.int64)
    n_k = a * (int(b.sum()) - g_b[groups]) + b * (int(a.sum()) - g_a[groups]) if m else a
    return n_k.astype(np.int64), int(n_k.sum()) // 2


def dyadic_variance(photo_a, photo_b, pair_d, keep_below: int, photo_pairs, n_pairs: int) -> np.ndarray:
    """Variance of a pair rate p(t) = X(t)/N when pairs that share a photo
    are dependent, for t = 0..keep_below (the dyadic cluster-robust
    estimator of Fafchamps & Gubert 2007 and Aronow, Samii & Assenova 2015,
    the plug-in form of the U-statistic's Hoeffding variance).

    photo_a, photo_b: the two photos of every negative pair at distance
    <= keep_below (pair_d, in bits or bins); photo_pairs: N_k per photo
    (`photo_pair_counts`); n_pairs: N. With m_k(t) the matching pairs of
    photo k at distance <= t and p = X(t)/N::

        V(t) = [ sum_k (m_k(t) - p N_k)^2  -  N p (1 - p) ] / N^2

    The first sum adds e_q e_r over every two pairs q, r that share a photo
    (e = match - p), counting each pair with itself twice; the second term
    takes one of those back. With independent pairs its expectation is
    p(1-p)/N, the binomial variance; when some photos match far more often
    than others (Caltech-101's Motorbikes) it is several times larger. In
    the symmetric case (N_k = n - 1) it is 4/n times the variance of the
    photos' own match rates m_k/N_k, minus p(1-p)/N: the leading term of
    Hoeffding's decomposition of a degree-2 U-statistic. Two pairs that
    share both photos (variant of i vs original of j, and variant of j vs
    original of i) are counted twice, which can only widen the interval.
    Returns V(t) for t = 0..keep_below, never below 0.
    """
    if keep_below < 0:
        return np.zeros(0)
    n_k = np.asarray(photo_pairs, dtype=np.float64)
    m = len(n_k)
    n_t = keep_below + 1
    n = float(n_pairs)
    if n <= 0:
        return np.full(n_t, np.nan)
    d = np.asarray(pair_d, dtype=np.int64)
    photo_a = np.asarray(photo_a, dtype=np.int64)
    photo_b = np.asarray(photo_b, dtype=np.int64)
    order = np.argsort(d, kind="stable")
    ends = np.searchsorted(d[order], np.arange(n_t), side="right")
    # one threshold at a time, m_k(t) updated in place: memory O(photos),
    # not O(photos x thresholds) (a census of 1e6 photos at 100 thresholds)
    m_t = np.zeros(m, dtype=np.int64)
    v = np.empty(n_t)
    start = 0
    for t in range(n_t):
        new = order[start : ends[t]]
        start = ends[t]
        m_t += np.bincount(photo_a[new], minlength=m)[:m]
        m_t += np.bincount(photo_b[new], minlength=m)[:m]
        p = (int(m_t.sum()) // 2) / n
        resid = m_t - n_k * p
        v[t] = ((resid * resid).sum() - n * p * (1 - p)) / (n * n)
    return np.maximum(v, 0.0)


def effective_clopper_pearson(k, n, variance, confidence: float = 0.95):
    """Clopper-Pearson interval at the effective sample size (Korn &
    Graubard 1998): a pair rate p = k/n whose variance is `variance`
    (`dyadic_variance`) carries as much information as

        n_eff = min(n, p (1 - p) / variance)

    independent trials with k_eff = p n_eff successes; the interval is
    Clopper-Pearson's at (k_eff, n_eff) with real-valued counts
    (Beta quantiles). n_eff is never more than n, so the interval is never
    narrower than Clopper-Pearson's over the n pairs; with k = 0 (or a
    variance of 0) there is nothing to estimate the dependence from and
    n_eff = n: the upper bound is 1 - (alpha/2)^(1/n), about 3.7/n. Its
    coverage with clustered matches is measured, not assumed
    (``benchmarks/interval_coverage.py``, docs: "Intervals").

    >>> lo, hi = effective_clopper_pearson(50, 10_000, 5e-6)   # p = 0.005, n_eff = 995
    >>> round(lo, 5), round(hi, 5)
    (0.00162, 0.01165)
    >>> [round(x, 6) for x in effective_clopper_pearson(50, 10_000, 0.0)]  # no excess variance
    [0.003713, 0.006587]
    """
    scalar = np.ndim(k) == 0 and np.ndim(n) == 0 and np.ndim(variance) == 0
    k, n, v = np.broadcast_arrays(
        np.asarray(k, dtype=np.float64), np.asarray(n, dtype=np.float64), np.asarray(variance, dtype=np.float64)
    )
    if not 0.0 < confidence < 1.0:
        raise ConfigError("confidence", f"must be in (0, 1) (got {confidence!r})")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n > 0, k / n, np.nan)
        n_eff = np.where((k > 0) & (k < n) & (v > 0), np.minimum(n, p * (1 - p) / v), n)
        k_eff = p * n_eff
        lo, hi = _beta_bounds(k_eff, n_eff, confidence)
        lo = np.where(k > 0, lo, 0.0)
        hi = np.where(k < n, hi, 1.0)
        bad = ~(n > 0) | ~np.isfinite(v)
        lo = np.where(bad, np.nan, lo)
        hi = np.where(bad, np.nan, hi)
    if scalar:
        return float(lo), float(hi)
    return lo, hi


def dependent_pair_interval(
    img_a, img_b, group_of_image, pair_i, pair_j, pair_d, keep_below: int, confidence: float = 0.95
):
    """The default interval of a pair rate FPR(t) = X(t)/N, t = 0..keep_below:
    `effective_clopper_pearson` with the `dyadic_variance` of the pairs.

    Arguments as `bootstrap_fpr` (pair_i, pair_j: rows of A and B of every
    negative pair at distance <= keep_below). Deterministic: the same pairs
    always give the same interval (no random draw). Returns (lo, hi), each
    of length keep_below + 1.
    """
    if keep_below < 0:
        z = np.zeros(0)
        return z, z
    img_a = np.asarray(img_a, dtype=np.int64)
    img_b_arr = img_a if img_b is None else np.asarray(img_b, dtype=np.int64)
    n_k, n = photo_pair_counts(img_a, img_b, group_of_image)
    pa = img_a[np.asarray(pair_i, np.int64)]
    pb = img_b_arr[np.asarray(pair_j, np.int64)]
    d = np.asarray(pair_d, dtype=np.int64)
    v = dyadic_variance(pa, pb, d, keep_below, n_k, n)
    x = np.cumsum(np.bincount(d, minlength=keep_below + 1)[: keep_below + 1])
    return effective_clopper_pearson(x, n, v, confidence)


def recommend_threshold(upper, target_fpr: float) -> int:
    """Largest integer threshold t such that the FPR upper bound is below
    `target_fpr` at t and at every smaller threshold (upper[t] for t = 0..);
    -1 when even t = 0 fails (then no threshold can be recommended)."""
    upper = np.asarray(upper, dtype=np.float64)
    ok = upper < target_fpr  # NaN compares False
    if not len(ok) or not ok[0]:
        return -1
    bad = np.nonzero(~ok)[0]
    return int(bad[0] - 1) if len(bad) else len(ok) - 1


def rate_statement(k: int, n: int, lo: float, hi: float, confidence: float = 0.95) -> str:
    """Human-readable FPR with its interval; zero observed -> an upper bound."""
    if n <= 0:
        return "no pairs"
    pct = f"{100 * confidence:g}%"
    if k == 0:
        return f"< {hi:.3g} (0 of {n} pairs matched; {pct} upper bound)"
    return f"{k / n:.3g} [{lo:.3g}, {hi:.3g}] ({k} of {n} pairs; {pct})"


def format_upper(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3g}"
