"""Risk model: from a per-comparison false-positive rate to deployment figures.

Pure functions (arrays and DataFrames in, numbers and DataFrames out; no file
or network I/O). Every assumption is a named parameter. The model has four
layers; each maps a probability to a larger-scale probability and is
non-decreasing in its input, so an interval for the per-comparison rate maps
to an interval at every layer (lower bound to lower bound, upper to upper).

1. Per comparison. ``p = FPR(t)``: the probability that a benign photo and an
   unrelated database entry are within distance ``t`` (bits for Hamming
   hashers; bin index for other distances). Estimated from exact integer
   counts ``x`` of ``n`` negative pairs (`fpr_table`, `clopper_pearson`).
   For a two-hash cascade (a match needs ``d1 <= t1`` AND ``d2 <= t2``:
   a second hash re-checks the first one's matches, as in Apple's design)
   ``p`` is the measured joint rate of the pairs both hashes match
   (`cascade_rate`), never the product of the two rates.
2. Per query against ``M`` database hashes.
   (a) independence: ``q = 1 - (1 - p)^M`` (`per_query_probability`);
   (b) empirical: the share of held-out query images whose nearest of ``M``
   database hashes is within ``t`` (`empirical_query_curve`), with a
   power-law fit of its cumulative hazard ``-ln(1 - q(M)) = c * M^b``
   (`fit_query_scaling`; independence means ``b = 1``, ``c = -ln(1-p)``).
3. Per account. A user uploads ``n`` photos per period; the account is
   flagged when at least ``k`` of them falsely match.
   Independent photos: ``P = sum_{i>=k} C(n,i) q^i (1-q)^(n-i)``
   (`account_flag_probability`). Heterogeneous users (beta-binomial,
   `account_flag_probability_betabinom`): each user's per-photo rate is drawn
   from Beta(a, b) with mean ``q`` and intra-account correlation
   ``rho = 1 / (a + b + 1)``, i.e. ``a = q (1 - rho) / rho``,
   ``b = (1 - q)(1 - rho) / rho``; ``rho = 0`` is the binomial.
4. Population. ``U`` users: expected innocent accounts flagged per period
   ``U * P``; every flagged account costs one manual review
   (`population_flags`).

Numerics: upper tails are computed with scipy's binomial survival function
(``binom.sf``, an incomplete-beta complement) or as a log-space sum of the
pmf (``logsumexp``), never as ``1 - cdf``, which rounds to 0 below ~1e-16 and
to 1 near the top. Note that ``scipy.stats.betabinom.sf`` is ``1 - cdf`` and
is therefore NOT used.

Examples
--------
>>> from harness import risk
>>> f"{risk.per_query_probability(1e-6, 1000):.4g}"  # 1 - (1 - p)^M
'0.0009995'
>>> f"{risk.account_flag_probability(1e-3, 1000, 3):.4g}"  # P[>= 3 of 1000 match]
'0.08021'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

from .errors import ConfigError
from .metrics.cascade import rule_interval, rule_pairs
from .metrics.distances import HammingMetric
from .metrics.hamming import hamming_matrix
from .metrics.intervals import clopper_pearson  # noqa: F401  (public here too: harness.risk.clopper_pearson)

# --------------------------------------------------------------- validation


def _check_probability(name: str, p) -> float:
    if (
        isinstance(p, bool)
        or not isinstance(p, (int, float, np.floating, np.integer))
        or math.isnan(float(p))
        or not 0.0 <= float(p) <= 1.0
    ):
        raise ConfigError(name, f"must be a probability in [0, 1] (got {p!r})")
    return float(p)


def _check_count(name: str, n) -> int:
    if (
        isinstance(n, bool)
        or not isinstance(n, (int, float, np.floating, np.integer))
        or not math.isfinite(float(n))
        or n < 0
        or float(n) != int(n)
    ):
        raise ConfigError(name, f"must be a non-negative integer (got {n!r})")
    return int(n)


def _check_rho(rho) -> float:
    if (
        isinstance(rho, bool)
        or not isinstance(rho, (int, float, np.floating, np.integer))
        or math.isnan(float(rho))
        or not 0.0 <= float(rho) < 1.0
    ):
        raise ConfigError("rho", f"intra-account correlation must be in [0, 1) (got {rho!r})")
    return float(rho)


def _check_n_k(n, k) -> tuple[int, int]:
    n = _check_count("n", n)
    k = _check_count("k", k)
    if k > n:
        raise ConfigError("k", f"match threshold k={k} exceeds the number of photos n={n}")
    return n, k


# ------------------------------------------------------- layer 1: comparison


@dataclass(frozen=True)
class Rate:
    """A probability with its interval and how the interval was obtained."""

    point: float
    low: float
    high: float
    method: str
    x: int | None = None  # matching negative pairs, when counted
    n: int | None = None  # negative pairs

    def map(self, fn) -> Rate:
        """Apply a non-decreasing function to point and bounds."""
        return Rate(fn(self.point), fn(self.low), fn(self.high), self.method, self.x, self.n)


def given_rate(p: float) -> Rate:
    """A per-comparison rate supplied by the user (no interval)."""
    p = _check_probability("fpr", p)
    return Rate(p, p, p, "given")


def fpr_table(
    histograms: pd.DataFrame,
    hasher: str,
    negatives: str = "orig-orig",
    transform: str | None = None,
    confidence: float = 0.95,
) -> pd.DataFrame:
    """FPR(t) for every threshold t with an exact interval, from the long
    histogram table (columns hasher, bits, transform, kind, distance, count).

    ``fp(t) = sum_{d <= t} count[d]`` over negative pairs of kind
    `negatives` ("orig-orig" or "variant-orig"; with "variant-orig" the
    histograms of all transforms are pooled unless `transform` is given),
    ``FPR(t) = fp(t) / n_neg``, interval = `clopper_pearson(fp(t), n_neg)`.
    Columns: threshold (0..bits), fp, n_neg, fpr, fpr_low, fpr_high, method.
    Raises ConfigError when the hasher or negative set is absent."""
    if negatives not in ("orig-orig", "variant-orig"):
        raise ConfigError("negatives", f"must be orig-orig or variant-orig (got {negatives!r})")
    hashers = sorted(histograms["hasher"].unique())
    if hasher not in hashers:
        raise ConfigError("hasher", f"{hasher!r} not in this results folder; available: {', '.join(hashers) or 'none'}")
    sel = (histograms["hasher"] == hasher) & (histograms["kind"] == negatives)
    if transform is not None:
        sel &= histograms["transform"] == transform
    rows = histograms[sel]
    if not len(rows):
        what = negatives + (f" for transform {transform}" if transform else "")
        raise ConfigError("negatives", f"no {what} negative pairs for {hasher} in this results folder")
    bits = int(histograms.loc[histograms["hasher"] == hasher, "bits"].iat[0])
    size = max(bits, int(rows["distance"].max())) + 1
    hist = np.zeros(size, dtype=np.int64)
    np.add.at(hist, rows["distance"].to_numpy(np.int64), rows["count"].to_numpy(np.int64))
    fp = np.cumsum(hist)
    n = int(hist.sum())
    low, high = clopper_pearson(fp, n, confidence)
    return pd.DataFrame(
        {
            "threshold": np.arange(size),
            "fp": fp,
            "n_neg": n,
            "fpr": fp / n,
            "fpr_low": low,
            "fpr_high": high,
            "method": f"Clopper-Pearson {confidence:.0%} (pairs treated as independent)",
        }
    )


def rate_at_threshold(table: pd.DataFrame, threshold: int) -> Rate:
    """The row of `fpr_table` at `threshold` as a Rate (t < 0: nothing
    matches, rate 0; t beyond the last distance: everything matches)."""
    threshold = int(threshold)
    if threshold < 0:
        n = int(table["n_neg"].iat[0])
        return Rate(0.0, 0.0, 0.0, "t < 0: nothing matches", 0, n)
    row = table.iloc[min(threshold, len(table) - 1)]
    return Rate(
        float(row["fpr"]),
        float(row["fpr_low"]),
        float(row["fpr_high"]),
        str(row["method"]),
        int(row["fp"]),
        int(row["n_neg"]),
    )


#: the table holding each negative set's default interval (pairs that share
#: a photo dependent), per threshold: orig-orig, and variant-orig pooled
#: over every transform
DEFAULT_INTERVAL_TABLE = {"orig-orig": "fpr.csv", "variant-orig": "fpr_variant.csv"}

#: how a rate from fpr.csv's default interval is labelled
DEPENDENT_METHOD = "95% interval for dependent pairs (deterministic; fpr.csv)"


def dependent_rate(fpr: pd.DataFrame | None, hasher: str, threshold: int) -> Rate | None:
    """The orig-orig FPR at `threshold` with the metrics stage's default
    interval, from fpr.csv (columns hasher, threshold, fp, n_neg, fpr,
    fpr_lo, fpr_hi: harness.metrics.intervals.dependent_pair_interval,
    which treats pairs that share a photo as dependent). None when the
    table has no row for this hasher and threshold (t above keep_below).

    >>> import pandas as pd
    >>> table = pd.DataFrame({"hasher": ["phash"], "threshold": [8], "fp": [3], "n_neg": [1000],
    ...                       "fpr": [0.003], "fpr_lo": [0.0004], "fpr_hi": [0.011]})
    >>> dependent_rate(table, "phash", 8).high
    0.011
    >>> dependent_rate(table, "phash", 9) is None
    True
    """
    if fpr is None or not len(fpr) or not {"hasher", "threshold", "fpr_lo", "fpr_hi"} <= set(fpr.columns):
        return None
    rows = fpr[(fpr["hasher"] == hasher) & (fpr["threshold"] == int(threshold))]
    if not len(rows) or rows[["fpr_lo", "fpr_hi"]].isna().any(axis=None):
        return None
    row = rows.iloc[0]
    return Rate(
        float(row["fpr"]),
        float(row["fpr_lo"]),
        float(row["fpr_hi"]),
        DEPENDENT_METHOD,
        int(row["fp"]),
        int(row["n_neg"]),
    )


#: how a cascade's rate is labelled
CASCADE_METHOD = "95% interval for dependent pairs (deterministic; both hashes' pairs listed)"


def cascade_rate(
    hashes: pd.DataFrame | None,
    hasher: str,
    threshold: int,
    hasher_2: str,
    threshold_2: int,
    bits: tuple[int, int],
    negatives: str = "orig-orig",
    transform: str | None = None,
    confidence: float = 0.95,
) -> Rate:
    """The per-comparison rate of a two-hash AND rule (``d1 <= threshold``
    under `hasher` and ``d2 <= threshold_2`` under `hasher_2`, Hamming
    distances in bits; `bits` of each), measured on a run's own hashes
    (hashes.parquet: columns hasher, image_id, group, transform, hash):
    the negative pairs both hashes match, counted exactly
    (`harness.metrics.cascade.rule_pairs`), over the negative pairs of the
    photos both hashers hashed (orig-orig: distinct originals; variant-orig:
    the variants of one `transform`, or all pooled, against the originals of
    other groups), with the default interval for pairs that share a photo
    (`harness.metrics.cascade.rule_interval`). The count equals the joint
    histogram's (joint_histograms.parquet) at (t1, t2).

    >>> import numpy as np, pandas as pd
    >>> h = [0b0000, 0b0001, 0b0111, 0b1111]
    >>> hashes = pd.DataFrame({"hasher": ["a"] * 4 + ["b"] * 4, "image_id": list("wxyz") * 2,
    ...                        "group": list("wxyz") * 2, "transform": ORIGINAL_KEY,
    ...                        "hash": [bytes([v]) for v in h + h[::-1]]})
    >>> r = cascade_rate(hashes, "a", 1, "b", 1, (8, 8))   # pairs (w,x) and (y,z) pass both
    >>> r.x, r.n, r.point
    (2, 6, 0.3333333333333333)
    """
    if hashes is None:
        raise ConfigError("hashes", "a cascade is counted from the run's hashes (hashes.parquet), absent here")
    if negatives not in ("orig-orig", "variant-orig"):
        raise ConfigError("negatives", f"must be orig-orig or variant-orig (got {negatives!r})")
    sides = {}
    for name in (hasher, hasher_2):
        hh = hashes[hashes["hasher"] == name]
        if not len(hh):
            present = ", ".join(sorted(hashes["hasher"].unique()))
            raise ConfigError("hasher", f"{name!r} has no hashes in this results folder; available: {present}")
        sides[name] = {k: v.drop_duplicates("image_id").set_index("image_id") for k, v in hh.groupby("transform")}
    s1, s2 = sides[hasher], sides[hasher_2]
    if ORIGINAL_KEY not in s1 or ORIGINAL_KEY not in s2:
        raise ConfigError("hasher", "a cascade needs the originals hashed by both hashers")
    orig = s1[ORIGINAL_KEY].index.intersection(s2[ORIGINAL_KEY].index).sort_values()
    group_codes = pd.factorize(s1[ORIGINAL_KEY].loc[orig, "group"])[0]
    b1, b2 = (_packed(s[ORIGINAL_KEY].loc[orig]) for s in (s1, s2))
    if negatives == "orig-orig":
        a1, a2, img_a, img_b, b1, b2 = b1, b2, np.arange(len(orig)), None, None, None
    else:
        keys = sorted(set(s1) & set(s2) - {ORIGINAL_KEY}) if transform is None else [transform]
        if not keys or keys[0] not in s1 or keys[0] not in s2:
            raise ConfigError("transform", f"no variants hashed by both hashers for {transform or 'any transform'}")
        ids = [s1[k].index.intersection(s2[k].index).intersection(orig).sort_values() for k in keys]
        a1 = np.concatenate([_packed(s1[k].loc[i]) for k, i in zip(keys, ids)])
        a2 = np.concatenate([_packed(s2[k].loc[i]) for k, i in zip(keys, ids)])
        img_a, img_b = np.concatenate([orig.get_indexer(i) for i in ids]), np.arange(len(orig))
    i, j = rule_pairs(
        HammingMetric(bits[0]),
        HammingMetric(bits[1]),
        a1,
        a2,
        threshold,
        threshold_2,
        "and",
        b1=b1,
        b2=b2,
        groups_a=group_codes[img_a],
        groups_b=None if img_b is None else group_codes,
    )
    r = rule_interval(img_a, img_b, group_codes, i, j, confidence)
    method = CASCADE_METHOD if confidence == 0.95 else f"{confidence:.0%} interval for dependent pairs"
    return Rate(r["fpr"], r["fpr_lo"], r["fpr_hi"], method, r["fp"], r["n_neg"])


def bootstrap_rate_from_metrics(
    metrics: pd.DataFrame, hasher: str, threshold: int, negatives: str = "orig-orig"
) -> Rate | None:
    """Use a bootstrap interval from metrics.csv when the metrics stage wrote
    one for this hasher, negative set and threshold: a row with
    threshold_at_target == threshold and columns fpr_at_threshold plus a pair
    of columns named like ``fpr_at_threshold_{low,high}`` /
    ``..._{lo,hi}`` / ``..._{lower,upper}`` (any column containing "fpr",
    one of those suffixes, and "boot" or "ci"). Returns None otherwise.
    The metrics stage's own default interval is `dependent_rate`'s."""
    if metrics is None or not len(metrics) or "threshold_at_target" not in metrics:
        return None
    cols = [
        c
        for c in metrics.columns
        if "fpr" in c.lower()
        and ("boot" in c.lower() or "ci" in c.lower() or c.lower().startswith("fpr_at_threshold_"))
    ]
    if any("boot" in c.lower() for c in cols):  # the harness's own metrics.csv: its bootstrap columns
        cols = [c for c in cols if "boot" in c.lower()]
    lows = [c for c in cols if c.lower().endswith(("_low", "_lo", "_lower"))]
    highs = [c for c in cols if c.lower().endswith(("_high", "_hi", "_upper"))]
    if not lows or not highs:
        return None
    sel = (metrics["hasher"] == hasher) & (metrics["threshold_at_target"] == threshold)
    if "negatives" in metrics:
        sel &= metrics["negatives"] == negatives
    rows = metrics[sel]
    if negatives == "variant-orig" and len(rows) > 1:
        return None  # one row per transform: no single pooled bootstrap interval
    if not len(rows) or rows[[lows[0], highs[0]]].isna().any(axis=None):
        return None
    row = rows.iloc[0]
    return Rate(
        float(row["fpr_at_threshold"]),
        float(row[lows[0]]),
        float(row[highs[0]]),
        f"bootstrap (metrics.csv {lows[0]}/{highs[0]})",
        None,
        int(row["n_neg"]) if "n_neg" in row else None,
    )


# ---------------------------------------------------------- layer 2: query


def per_query_probability(p: float, m: int) -> float:
    """P(a benign photo falsely matches at least one of M database hashes),
    assuming independent comparisons: q = 1 - (1 - p)^M, computed as
    -expm1(M * log1p(-p)) so that tiny values are not lost (the naive form
    returns 0 for p * M below ~1e-16)."""
    p = _check_probability("p", p)
    m = _check_count("database_size", m)
    if p == 1.0:
        return 1.0 if m > 0 else 0.0
    return float(-math.expm1(m * math.log1p(-p)))


def _min_distances(query: np.ndarray, database: np.ndarray, groups_q=None, groups_db=None) -> np.ndarray:
    """(len(query), len(database)) Hamming distances; pairs in the same group
    get distance +inf (never negatives)."""
    # small integers: exact in float32, which also holds the +inf marks
    dist = hamming_matrix(np.asarray(query, dtype=np.uint8), np.asarray(database, dtype=np.uint8), np.float32)
    if groups_q is not None:
        same = np.asarray(groups_q)[:, None] == np.asarray(groups_db)[None, :]
        dist[same] = np.inf
    return dist


def empirical_query_curve(
    query: np.ndarray,
    database: np.ndarray,
    thresholds,
    sizes=None,
    groups_query=None,
    groups_database=None,
    repeats: int = 20,
    seed: int = 0,
    distances: np.ndarray | None = None,
) -> pd.DataFrame:
    """Empirical per-query false-match rate against databases of growing size.

    `query` (nq, nbytes) and `database` (nd, nbytes) are packed hashes of
    disjoint sets of benign images (or give `distances`, an (nq, nd) matrix,
    for non-Hamming hashers). For each repeat r, the database is put in a
    random order (seeded) and the database of size M is its first M
    entries, so databases are nested. Then, for each M in `sizes` (default:
    1, 2, 4, ... up to nd, and nd) and each t in `thresholds`:

        share(M, t) = mean over repeats and queries of 1[min_{j<M} d(q, db_j) <= t]

    Also returned, per (M, t): the pair rate p(t) over all query x database
    pairs, the independence prediction 1 - (1 - p)^M, the number of query
    trials and a Clopper-Pearson interval of the share treating the nq
    queries of one ordering as trials (share_low/share_high, computed on
    round(share * nq) of nq), and `disagree`: the prediction lies outside
    that interval. Pairs in the same group are skipped."""
    if distances is None:
        dist = _min_distances(query, database, groups_query, groups_database)
    else:
        dist = np.asarray(distances, dtype=np.float32)
    nq, nd = dist.shape
    if nq == 0 or nd == 0:
        raise ConfigError("database", "need at least one query and one database image")
    thresholds = np.atleast_1d(np.asarray(thresholds))
    if sizes is None:
        sizes = sorted({min(2**i, nd) for i in range(int(math.log2(nd)) + 2)})
    sizes = [int(m) for m in sizes]
    if any(m < 1 or m > nd for m in sizes):
        raise ConfigError("sizes", f"database sizes must be in 1..{nd}")
    rng = np.random.default_rng(seed)
    hits = np.zeros((len(sizes), len(thresholds)), dtype=np.int64)
    size_idx = np.array(sizes) - 1
    for _ in range(repeats):
        order = rng.permutation(nd)
        running = np.minimum.accumulate(dist[:, order], axis=1)[:, size_idx]  # (nq, len(sizes))
        hits += (running[:, :, None] <= thresholds[None, None, :]).sum(axis=0)
    finite = np.sort(dist[np.isfinite(dist)], axis=None)
    n_pairs = len(finite)
    pair_rate = (
        np.searchsorted(finite, thresholds, side="right") / n_pairs if n_pairs else np.full(len(thresholds), np.nan)
    )
    rows = []
    for i, m in enumerate(sizes):
        for j, t in enumerate(thresholds):
            share = hits[i, j] / (repeats * nq)
            p = float(pair_rate[j])
            pred = per_query_probability(p, m)
            lo, hi = clopper_pearson(int(round(share * nq)), nq)
            rows.append(
                {
                    "database_size": m,
                    "threshold": t,
                    "queries": nq,
                    "repeats": repeats,
                    "share": share,
                    "share_low": lo,
                    "share_high": hi,
                    "pair_rate": p,
                    "independent": pred,
                    "disagree": not lo <= pred <= hi,
                }
            )
    return pd.DataFrame(rows)


def fit_query_scaling(sizes, shares) -> dict:
    """Least-squares fit of the cumulative hazard of the per-query curve,

        -ln(1 - q(M)) = c * M^b      i.e.  ln H(M) = ln c + b ln M,

    over the points with 0 < q < 1. Under independence b = 1 and
    c = -ln(1 - p) ~ p; b < 1 means false matches concentrate on a few
    collision-prone queries (each database entry adds less than the last),
    b > 1 the opposite. Returns {"b", "c", "points"}; NaN when fewer than
    two usable points."""
    m = np.asarray(sizes, dtype=float)
    q = np.asarray(shares, dtype=float)
    ok = (q > 0) & (q < 1) & (m > 0)
    if ok.sum() < 2 or len(np.unique(m[ok])) < 2:
        return {"b": float("nan"), "c": float("nan"), "points": int(ok.sum())}
    h = -np.log1p(-q[ok])
    b, ln_c = np.polyfit(np.log(m[ok]), np.log(h), 1)
    return {"b": float(b), "c": float(math.exp(ln_c)), "points": int(ok.sum())}


# -------------------------------------------------------- layer 3: account


def account_flag_probability(p: float, n: int, k: int) -> float:
    """P[at least k of n photos falsely match], each independently with
    probability p: the binomial upper tail sum_{i>=k} C(n,i) p^i (1-p)^(n-i),
    computed with scipy's survival function binom.sf(k - 1, n, p) (never as
    1 - cdf, which rounds to 0 below about 1e-16)."""
    p = _check_probability("p", p)
    n, k = _check_n_k(n, k)
    if k == 0:
        return 1.0
    return float(stats.binom.sf(k - 1, n, p))


def betabinom_params(p: float, rho: float) -> tuple[float, float]:
    """Beta(a, b) with mean p and intra-account correlation rho:
    a = p (1 - rho) / rho, b = (1 - p)(1 - rho) / rho (so rho = 1/(a+b+1)).

    Examples
    --------
    >>> a, b = betabinom_params(0.01, 0.5)
    >>> round(a, 6), round(b, 6), round(1 / (a + b + 1), 6)
    (0.01, 0.99, 0.5)
    """
    s = (1.0 - rho) / rho
    return p * s, (1.0 - p) * s


def log_betabinom_tail(p: float, rho: float, n: int, k: int) -> float:
    """ln P[X >= k] for X ~ BetaBinomial(n, a, b) with a, b from
    `betabinom_params(p, rho)`. Computed as logsumexp over i = k..n of

        ln pmf(i) = ln C(n, i) + ln (a)_i + ln (b)_(n-i) - ln (a+b)_n

    where (x)_j = x (x+1) ... (x+j-1) is the rising factorial, i.e.
    B(i + a, n - i + b) / B(a, b), summed as cumulative sums of logs (this
    stays accurate when a, b are huge, i.e. rho tiny, where differences of
    betaln values lose digits). When the upper tail exceeds 1/2 it is
    computed as log1p(-lower tail). Tails far below 1e-300 keep their
    logarithm."""
    a, b = betabinom_params(p, rho)
    j = np.arange(n, dtype=np.float64)
    log_rise_a = np.concatenate([[0.0], np.cumsum(np.log(a + j))])
    log_rise_b = np.concatenate([[0.0], np.cumsum(np.log(b + j))])
    log_rise_ab = float(np.sum(np.log(a + b + j)))
    i = np.arange(n + 1)
    log_choose = special.gammaln(n + 1) - special.gammaln(i + 1.0) - special.gammaln(n - i + 1.0)
    logpmf = log_choose + log_rise_a[i] + log_rise_b[n - i] - log_rise_ab
    upper = special.logsumexp(logpmf[k:])
    if upper > math.log(0.5) and k > 0:
        lower = special.logsumexp(logpmf[:k])
        return float(np.log1p(-min(math.exp(lower), 1.0)))
    return float(upper)


def account_flag_probability_betabinom(p: float, rho: float, n: int, k: int) -> float:
    """P[at least k of n photos falsely match] when photos of one account are
    correlated: X ~ BetaBinomial(n, a, b), mean per-photo rate p, intra-account
    correlation rho = 1/(a+b+1), so Var X = n p (1-p) (1 + (n-1) rho).
    rho = 0 is exactly `account_flag_probability`. Computed in log space
    (`log_betabinom_tail`); scipy.stats.betabinom.sf is 1 - cdf and underflows."""
    p = _check_probability("p", p)
    rho = _check_rho(rho)
    n, k = _check_n_k(n, k)
    if k == 0:
        return 1.0
    if rho == 0.0 or p in (0.0, 1.0):
        return account_flag_probability(p, n, k)
    return float(math.exp(log_betabinom_tail(p, rho, n, k)))


def account_probability(p: float, n: int, k: int, rho: float = 0.0) -> float:
    """`account_flag_probability` (rho = 0) or the beta-binomial version."""
    if rho == 0:
        return account_flag_probability(p, n, k)
    return account_flag_probability_betabinom(p, rho, n, k)


def photos_for_flag_probability(p: float, k: int, target: float, rho: float = 0.0, n_max: int | None = None) -> int:
    """Smallest number of photos n with P[>= k of n match] >= target (the
    tail is non-decreasing in n); bisection. Returns -1 if even n_max photos
    (default 1e12, or 1e7 with rho > 0 where each evaluation sums n terms)
    stay below target."""
    if n_max is None:
        n_max = 10**12 if rho == 0 else 10**7
    p = _check_probability("p", p)
    target = _check_probability("target", target)
    k = _check_count("k", k)
    if account_probability(p, max(k, 1) if k else 0, k, rho) >= target:
        return k
    if account_probability(p, n_max, k, rho) < target:
        return -1
    lo, hi = k, n_max  # P(lo) < target <= P(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if account_probability(p, mid, k, rho) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def rate_for_flag_probability(n: int, k: int, target: float, rho: float = 0.0) -> float:
    """Largest per-photo rate q with P[>= k of n match] <= target (the
    inverse of the account layer; the tail is increasing in q). Bisection on
    log q over [1e-300, 1]; returns 1.0 if even q = 1 stays below target.
    Divide by the database size (p = -expm1(log1p(-q) / M)) to get the
    per-comparison rate a hasher must achieve."""
    n, k = _check_n_k(n, k)
    target = _check_probability("target", target)
    if k == 0:
        return 0.0
    if account_probability(1.0, n, k, 0.0) <= target:
        return 1.0
    lo, hi = -300.0, 0.0  # log10 q: P(10**lo) <= target < P(10**hi)
    if account_probability(10.0**lo, n, k, rho) > target:
        return 0.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if account_probability(10.0**mid, n, k, rho) <= target:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return float(10.0**lo)


def comparison_rate_for_query_rate(q: float, m: int) -> float:
    """Inverse of `per_query_probability`: p = 1 - (1 - q)^(1/M) =
    -expm1(log1p(-q) / M)."""
    q = _check_probability("q", q)
    m = _check_count("database_size", m)
    if m == 0:
        return 1.0
    if q == 1.0:
        return 1.0
    return float(-math.expm1(math.log1p(-q) / m))


# ----------------------------------------------------- layer 4: population


def population_flags(p_flag: float, users: int, confidence: float = 0.95) -> dict:
    """Innocent accounts flagged per period among `users` accounts, each
    flagged independently with probability p_flag: expected U * p_flag, and
    the central `confidence` prediction interval of Binomial(U, p_flag)
    (chance variation of the count for a known p_flag; uncertainty in
    p_flag itself is carried separately by mapping its bounds). Every
    flagged account is one manual review."""
    p_flag = _check_probability("p_flag", p_flag)
    users = _check_count("users", users)
    alpha = 1 - confidence
    return {
        "expected": users * p_flag,
        "low": float(stats.binom.ppf(alpha / 2, users, p_flag)),
        "high": float(stats.binom.ppf(1 - alpha / 2, users, p_flag)),
    }


# ------------------------------------------------------------ the chain


@dataclass(frozen=True)
class Scenario:
    """Deployment assumptions (all named, all user-supplied)."""

    database_size: int  # M: hashes in the database each photo is compared with
    photos: int  # n: photos a user uploads per period
    match_threshold: int  # k: matches that flag an account
    users: int  # U: accounts
    rho: float = 0.0  # intra-account correlation (0 = independent photos)

    def validate(self) -> Scenario:
        _check_count("database_size", self.database_size)
        _check_count("users", self.users)
        n, k = _check_n_k(self.photos, self.match_threshold)
        if k < 1:
            raise ConfigError("match_threshold", "must be >= 1")
        _check_rho(self.rho)
        return self


def risk_chain(rate: Rate, scenario: Scenario) -> pd.DataFrame:
    """Every layer for one per-comparison rate: rows (layer, quantity, point,
    low, high, method). Bounds come from mapping the rate's bounds through
    the monotone chain p -> q(p, M) -> P(flag; q, n, k, rho) -> U * P."""
    s = scenario.validate()
    q = rate.map(lambda p: per_query_probability(p, s.database_size))
    acc = q.map(lambda x: account_probability(x, s.photos, s.match_threshold, s.rho))
    acc_ind = q.map(lambda x: account_flag_probability(x, s.photos, s.match_threshold))
    pop = acc.map(lambda x: s.users * x)
    rows = [
        ("per comparison", "P(one benign pair within t)", rate),
        ("per query", f"P(photo matches any of M={s.database_size:g}), independence", q),
        ("per account", f"P(>= {s.match_threshold} of {s.photos} photos match), independent photos", acc_ind),
    ]
    if s.rho > 0:
        rows.append(("per account", f"same, beta-binomial rho={s.rho:g}", acc))
    rows.append(("population", f"expected innocent accounts flagged (= manual reviews) of U={s.users:g}", pop))
    return pd.DataFrame(
        [
            {"layer": layer, "quantity": what, "point": r.point, "low": r.low, "high": r.high, "interval": r.method}
            for layer, what, r in rows
        ]
    )


# ------------------------------------------------------------- sweeps


def sweep_thresholds(table: pd.DataFrame, scenario: Scenario) -> pd.DataFrame:
    """P(flag) for every hash threshold t of an `fpr_table`: columns
    threshold, fpr, fpr_low, fpr_high, p_flag, p_flag_low, p_flag_high
    (bounds mapped through the monotone chain)."""
    s = scenario.validate()
    rows = []
    for t in table["threshold"]:
        r = rate_at_threshold(table, int(t))
        acc = r.map(
            lambda p: account_probability(per_query_probability(p, s.database_size), s.photos, s.match_threshold, s.rho)
        )
        rows.append(
            {
                "threshold": int(t),
                "fpr": r.point,
                "fpr_low": r.low,
                "fpr_high": r.high,
                "p_flag": acc.point,
                "p_flag_low": acc.low,
                "p_flag_high": acc.high,
            }
        )
    return pd.DataFrame(rows)


def sweep_match_threshold(rate: Rate, scenario: Scenario, ks) -> pd.DataFrame:
    """P(flag) as a function of the account match threshold k (other
    assumptions fixed): columns k, p_flag, p_flag_low, p_flag_high."""
    s = scenario.validate()
    q = rate.map(lambda p: per_query_probability(p, s.database_size))
    rows = []
    for k in ks:
        acc = q.map(lambda x: account_probability(x, s.photos, int(k), s.rho))
        rows.append({"k": int(k), "p_flag": acc.point, "p_flag_low": acc.low, "p_flag_high": acc.high})
    return pd.DataFrame(rows)


def split_by_group(groups, fraction: float = 0.5, seed: int = 0) -> np.ndarray:
    """Boolean mask (True = query, False = database) that puts whole groups
    on one side, so no query has a duplicate of itself in the database. A
    seeded random permutation of the distinct groups; the first
    round(fraction * groups) are queries."""
    g = np.asarray(groups)
    uniq = np.unique(g)
    order = np.random.default_rng(seed).permutation(len(uniq))
    chosen = set(uniq[order[: int(round(fraction * len(uniq)))]].tolist())
    return np.array([x in chosen for x in g.tolist()], dtype=bool)


# ------------------------------------------------ the whole chain from plain inputs

#: transform key of the originals in hashes.parquet (`harness.transforms.ORIGINAL.key`)
ORIGINAL_KEY = "original()"
#: queries and database entries used by the empirical per-query curve (a seeded subsample above)
MAX_EMPIRICAL_SIDE = 5000
#: the beta-binomial tail sums n terms: at most this many photos with rho > 0
MAX_PHOTOS_BETABINOM = 10**6


def _packed(df: pd.DataFrame) -> np.ndarray:
    return np.stack([np.frombuffer(b, np.uint8) for b in df["hash"]])


def empirical_curve_from_hashes(
    hashes: pd.DataFrame | None,
    hasher: str,
    negatives: str = "orig-orig",
    transform: str | None = None,
    thresholds=None,
    seed: int = 0,
    repeats: int = 20,
    max_side: int = MAX_EMPIRICAL_SIDE,
    pair_distances=None,
) -> pd.DataFrame | None:
    """`empirical_query_curve` on a run's own hashes (the hashes.parquet table:
    columns hasher, image_id, group, transform, hash).

    The originals of `hasher` are split by whole groups into queries and a
    database (half each, `split_by_group` with `seed`). Queries are those
    originals (``negatives="orig-orig"``) or the variants of the query images
    (``"variant-orig"``; one `transform` key, or all pooled). Each side is
    cut to a seeded subsample of `max_side` rows when larger (bounded memory
    and time). Distances are Hamming (bits) unless `pair_distances` is given:
    a function ``(query_packed, database_packed) -> (nq, nd) array`` in the
    hasher's threshold units (bin index for non-Hamming hashers). Pairs in
    the same group never count. `thresholds` default: 0..bits (Hamming).
    Returns None when there is nothing to
    measure (no hashes, fewer than two groups, an empty side); otherwise the
    curve, with ``attrs["available"] = (queries, database entries)`` before
    subsampling.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> hashes = pd.DataFrame({"hasher": "phash", "image_id": [f"i{k}" for k in range(40)],
    ...                        "group": [f"g{k}" for k in range(40)], "transform": ORIGINAL_KEY,
    ...                        "hash": [rng.integers(0, 256, 8, dtype=np.uint8).tobytes() for _ in range(40)]})
    >>> curve = empirical_curve_from_hashes(hashes, "phash", thresholds=[20, 64])
    >>> curve.attrs["available"]
    (20, 20)
    >>> float(curve[(curve.threshold == 64) & (curve.database_size == 20)].share.iat[0])
    1.0
    """
    if hashes is None:
        return None
    if negatives not in ("orig-orig", "variant-orig"):
        raise ConfigError("negatives", f"must be orig-orig or variant-orig (got {negatives!r})")
    hh = hashes[hashes["hasher"] == hasher]
    orig = hh[hh["transform"] == ORIGINAL_KEY].sort_values("image_id").drop_duplicates("image_id")
    if orig["group"].nunique() < 2:
        return None
    is_query = split_by_group(orig["group"].to_numpy(), 0.5, seed)
    q_orig, db = orig[is_query], orig[~is_query]
    if negatives == "orig-orig":
        queries = q_orig
    else:
        var = hh[(hh["transform"] != ORIGINAL_KEY) & hh["image_id"].isin(set(q_orig["image_id"]))]
        if transform is not None:
            var = var[var["transform"] == transform]
        queries = var.sort_values(["image_id", "transform"])
    if not len(queries) or not len(db):
        return None
    totals = (len(queries), len(db))
    rng = np.random.default_rng(seed)
    if len(queries) > max_side:
        queries = queries.iloc[np.sort(rng.choice(len(queries), max_side, replace=False))]
    if len(db) > max_side:
        db = db.iloc[np.sort(rng.choice(len(db), max_side, replace=False))]
    qa, da = _packed(queries), _packed(db)
    if pair_distances is None:
        dist = hamming_matrix(qa, da, np.float32)
    else:
        dist = np.asarray(pair_distances(qa, da), dtype=np.float32)
    same = queries["group"].to_numpy()[:, None] == db["group"].to_numpy()[None, :]
    dist[same] = np.inf
    if thresholds is None:
        if pair_distances is not None:
            raise ConfigError("thresholds", "required with pair_distances (thresholds in the hasher's units)")
        thresholds = list(range(8 * qa.shape[1] + 1))
    curve = empirical_query_curve(None, None, thresholds, repeats=repeats, seed=seed, distances=dist)
    curve.attrs["available"] = totals
    return curve


def risk_assessment(
    *,
    photos: int,
    database_size: int | None = None,
    match_threshold: int = 30,
    users: int = 10**9,
    rho: float = 0.0,
    target: float = 1e-12,
    confidence: float = 0.95,
    seed: int = 0,
    fpr: float | None = None,
    image_rate: float | None = None,
    histograms: pd.DataFrame | None = None,
    hasher: str | None = None,
    threshold: int | None = None,
    negatives: str = "orig-orig",
    transform: str | None = None,
    metrics: pd.DataFrame | None = None,
    hashes: pd.DataFrame | None = None,
    fpr_rates: pd.DataFrame | None = None,
    fpr_variant_rates: pd.DataFrame | None = None,
    pair_distances=None,
    empirical: bool = True,
    source: str = "results",
    max_side: int = MAX_EMPIRICAL_SIDE,
    cascade: tuple[str, int] | None = None,
) -> dict:
    """Every figure of `phash-harness risk`, from plain numbers and tables.

    The per-comparison rate comes from exactly one of: `fpr` (given),
    `image_rate` (a per-image rate against the whole database, which skips
    the per-query layer) or `histograms` (a run's histograms.parquet table,
    with `hasher` and `threshold`; `fpr_rates` (fpr.csv) supplies the
    default orig-orig interval (pairs sharing a photo dependent,
    `dependent_rate`) and `fpr_variant_rates` (fpr_variant.csv) the same
    for variant-orig pooled over every transform, else `metrics` (metrics.csv) the image-level
    bootstrap interval when it has one for that threshold, else the
    Clopper-Pearson interval as if pairs were independent; with `cascade`
    = (hasher_2, threshold_2) the rate is the measured AND rule of the two
    hashers (`cascade_rate`, from `hashes`; no threshold sweep, no
    empirical curve); and
    `hashes` (hashes.parquet) the empirical per-query curve, see
    `empirical_curve_from_hashes`). Then `risk_chain` maps the rate through
    the four layers for the `Scenario` (database_size M, photos n,
    match_threshold k, users U, rho), adds the requirement rows (the largest
    per-image and per-comparison rates with P(flag) <= `target`, by
    `rate_for_flag_probability` and `comparison_rate_for_query_rate`), the
    population count's binomial interval (`population_flags`) and the
    sweeps over k and over t (or over rate factors 0.01x..100x when no
    threshold axis exists).

    Returns a dict: rate (Rate), scenario, chain (DataFrame), source (str),
    cascade (None, or the two hashers' own rates rate_1, rate_2 at their
    thresholds, whose product is what independence would predict),
    population_chance, confidence, sweep (DataFrame), table_t (`fpr_table`
    or None), threshold, query (the empirical curve or None) and fit
    (`fit_query_scaling` at the threshold or None). No file is read or
    written; a bad argument raises ConfigError naming the parameter.

    Examples
    --------
    >>> res = risk_assessment(fpr=1e-9, database_size=10**6, photos=2000, match_threshold=30)
    >>> res["chain"]["layer"].tolist()[:3]
    ['per comparison', 'per query', 'per account']
    >>> f"{res['chain']['point'].iat[1]:.3g}"
    '0.001'
    """
    if sum(x is not None for x in (fpr, image_rate, histograms)) != 1:
        raise ConfigError("fpr", "give exactly one of fpr, image_rate or histograms")
    photos = _check_count("photos", photos)
    k = _check_count("match_threshold", match_threshold)
    if k < 1:
        raise ConfigError("match_threshold", f"must be an integer >= 1 (got {k})")
    users = _check_count("users", users)
    rho = _check_rho(rho)
    if not 0 < confidence < 1:
        raise ConfigError("confidence", f"must be in (0, 1) (got {confidence})")
    seed = _check_count("seed", seed)
    target = _check_probability("target", target)
    if k > photos:
        raise ConfigError("match_threshold", f"k={k} exceeds photos={photos}")
    if rho > 0 and photos > MAX_PHOTOS_BETABINOM:
        raise ConfigError(
            "photos",
            f"with rho > 0 at most {MAX_PHOTOS_BETABINOM:g} (the beta-binomial tail sums n terms; got {photos})",
        )
    out = {"table_t": None, "query": None, "fit": None, "cascade": None}
    if image_rate is not None:
        m = 1  # the given rate already covers the whole database
        if database_size is not None:
            _check_count("database_size", database_size)
        rate = given_rate(_check_probability("image_rate", image_rate))
        source = "given per-image rate"
    else:
        if database_size is None:
            raise ConfigError("database_size", "required unless a per-image rate is given (hashes in the database)")
        m = _check_count("database_size", database_size)
        if fpr is not None:
            rate = given_rate(_check_probability("fpr", fpr))
            source = "given per-comparison rate"
    scenario = Scenario(database_size=m, photos=photos, match_threshold=k, users=users, rho=rho).validate()
    if histograms is not None:
        if not hasher:
            raise ConfigError("hasher", "required with histograms")
        if threshold is None:
            raise ConfigError("threshold", "required with histograms")
        t = _check_count("threshold", threshold)
        table = fpr_table(histograms, hasher, negatives, transform, confidence)
        if t >= len(table):
            raise ConfigError("threshold", f"must be in 0..{len(table) - 1} for {hasher} (got {t})")
        if cascade is not None:
            hasher_2, t2 = cascade[0], _check_count("cascade threshold", cascade[1])
            table_2 = fpr_table(histograms, hasher_2, negatives, transform, confidence)
            if t2 >= len(table_2):
                raise ConfigError("cascade", f"threshold must be in 0..{len(table_2) - 1} for {hasher_2} (got {t2})")
            rate = cascade_rate(
                hashes, hasher, t, hasher_2, t2, (len(table) - 1, len(table_2) - 1), negatives, transform, confidence
            )
            out["threshold"] = t
            out["cascade"] = {
                "rate_1": rate_at_threshold(table, t).point,
                "rate_2": rate_at_threshold(table_2, t2).point,
            }
            source = f"{source}: {hasher} t={t} AND {hasher_2} t={t2} {negatives}" + (
                f" {transform}" if transform else ""
            )
        else:
            rate = None
            if confidence == 0.95 and (negatives == "orig-orig" or transform is None):
                default = fpr_rates if negatives == "orig-orig" else fpr_variant_rates
                rate = dependent_rate(default, hasher, t)
            if rate is None and transform is None and confidence == 0.95:
                rate = bootstrap_rate_from_metrics(metrics, hasher, t, negatives)
            if rate is None:
                rate = rate_at_threshold(table, t)
            source = f"{source}: {hasher} t={t} {negatives}" + (f" {transform}" if transform else "")
            out["table_t"] = table
            out["threshold"] = t
            query = None
            if empirical:
                query = empirical_curve_from_hashes(
                    hashes,
                    hasher,
                    negatives,
                    transform,
                    list(range(len(table))),
                    seed=seed,
                    max_side=max_side,
                    pair_distances=pair_distances,
                )
            if query is not None:
                out["query"] = query
                at_t = query[query["threshold"] == t]
                out["fit"] = fit_query_scaling(at_t["database_size"], at_t["share"])
    chain = risk_chain(rate, scenario)
    if image_rate is not None:
        first = chain["layer"] == "per comparison"
        chain.loc[first, "quantity"] = "P(one photo matches the database) (given)"
        chain.loc[first, "layer"] = "per image"
        chain = chain[chain["layer"] != "per query"].reset_index(drop=True)
    q_req = rate_for_flag_probability(photos, k, target, rho)
    req = [
        {
            "layer": "requirement",
            "quantity": f"largest per-image rate with P(flag) <= {target:g}",
            "point": q_req,
            "low": q_req,
            "high": q_req,
            "interval": "model inverse",
        }
    ]
    if image_rate is None:
        p_req = comparison_rate_for_query_rate(q_req, m)
        req.append(
            {
                "layer": "requirement",
                "quantity": f"largest per-comparison rate with P(flag) <= {target:g} at M={m:g}",
                "point": p_req,
                "low": p_req,
                "high": p_req,
                "interval": "model inverse",
            }
        )
    chain = pd.concat([chain, pd.DataFrame(req)], ignore_index=True)
    p_flag = float(chain.loc[chain["layer"] == "per account", "point"].iat[-1])  # beta-binomial if rho > 0
    pop = population_flags(p_flag, users, confidence)
    out.update(rate=rate, scenario=scenario, chain=chain, source=source, population_chance=pop, confidence=confidence)
    # sweeps for the figure and risk_sweep.csv
    ks = sorted({x for x in list(range(1, min(photos, 60) + 1)) + [k] if 1 <= x <= photos})
    sw_k = sweep_match_threshold(rate, scenario, ks)
    sw_k.insert(0, "axis", "k")
    frames = [sw_k]
    if out["table_t"] is not None:
        sw_t = sweep_thresholds(out["table_t"], scenario)
        sw_t.insert(0, "axis", "threshold")
        frames.append(sw_t)
    else:  # no threshold axis: sweep the given rate by factors 0.01x..100x
        rows = []
        for f in np.logspace(-2, 2, 17):
            r = given_rate(min(1.0, rate.point * f))
            q = r.point if image_rate is not None else per_query_probability(r.point, m)
            rows.append(
                {"axis": "rate_factor", "factor": f, "fpr": r.point, "p_flag": account_probability(q, photos, k, rho)}
            )
        frames.append(pd.DataFrame(rows))
    out["sweep"] = pd.concat(frames, ignore_index=True)
    return out


# ------------------------------------------------------ attack cost (framing)


def framing_cost(success, queries, cpu_seconds, k: int, confidence: float = 0.95) -> dict:
    """The cost of getting an innocent account flagged under the k-of-n rule
    by framing: k crafted images, each an innocent-looking photo whose hash
    an attacker pulled within t of a database entry (see
    ``harness.attacks``), must reach the account.

    Inputs are per framing attempt (one photo, one attack): `success`
    (bool), `queries` (hasher calls it made) and `cpu_seconds`. With s
    successes in n attempts:

    - success probability per attempt p = s / n, with its exact
      Clopper-Pearson interval [p_lo, p_hi] (`confidence`);
    - attempts per crafted image 1 / p, interval [1 / p_hi, 1 / p_lo]
      (inf when p = 0 or p_lo = 0); attempts for k images k / p, interval
      [k / p_hi, k / p_lo]: with s = 0 the data still say at least
      k / p_hi attempts;
    - queries (CPU seconds) per crafted image: median and mean over the
      successful attempts (the cost of an attack that worked), and the
      expected cost including failed attempts,
      sum over all attempts / s (= mean per attempt / p; inf when s = 0);
      for k images, k times that, and its lower bound k / p_hi times the
      mean per attempt (``*_for_k_low``; finite even when s = 0).

    Assumes attempts are independent and the attacker keeps drawing photos
    until k succeed; a lower bound on what an attacker can do (a better
    attack or a larger budget only lowers the cost). Returns a dict of
    floats and ints (keys as above; see the example). Pure function; a bad
    argument raises ConfigError naming it.

    Examples
    --------
    >>> c = framing_cost([True, False, True, False], [100, 500, 300, 500], [1.0, 5.0, 3.0, 5.0], k=30)
    >>> c["p"], c["attempts_for_k"], c["queries_median"], c["queries_per_crafted"]
    (0.5, 60.0, 200.0, 700.0)
    >>> c["queries_for_k"], round(c["attempts_for_k_low"], 1)
    (21000.0, 32.2)
    """
    s_arr = np.asarray(success, dtype=bool).ravel()
    q_arr = np.asarray(queries, dtype=np.float64).ravel()
    c_arr = np.asarray(cpu_seconds, dtype=np.float64).ravel()
    if not (len(s_arr) == len(q_arr) == len(c_arr)):
        raise ConfigError(
            "success", f"success, queries and cpu_seconds differ in length ({len(s_arr)}, {len(q_arr)}, {len(c_arr)})"
        )
    if (q_arr < 0).any() or (c_arr < 0).any() or not np.isfinite(np.r_[q_arr, c_arr]).all():
        raise ConfigError("queries", "queries and cpu_seconds must be finite and >= 0")
    k = _check_count("k", k)
    if k < 1:
        raise ConfigError("k", f"must be an integer >= 1 (got {k})")
    if not 0 < confidence < 1:
        raise ConfigError("confidence", f"must be in (0, 1) (got {confidence})")
    n, s = len(s_arr), int(s_arr.sum())
    p = s / n if n else float("nan")
    lo, hi = clopper_pearson(s, n, confidence) if n else (0.0, 1.0)

    def inv(x):
        return math.inf if x == 0 else 1.0 / x

    out = {
        "k": k,
        "attempts": n,
        "successes": s,
        "p": p,
        "p_low": float(lo),
        "p_high": float(hi),
        "attempts_per_crafted": inv(p) if n else float("nan"),
        "attempts_per_crafted_low": inv(hi),
        "attempts_per_crafted_high": inv(lo),
    }
    out["attempts_for_k"] = k * out["attempts_per_crafted"]
    out["attempts_for_k_low"] = k * out["attempts_per_crafted_low"]
    out["attempts_for_k_high"] = k * out["attempts_per_crafted_high"]
    for name, arr in (("queries", q_arr), ("cpu_seconds", c_arr)):
        ok = arr[s_arr]
        out[f"{name}_median"] = float(np.median(ok)) if s else float("nan")
        out[f"{name}_mean"] = float(np.mean(ok)) if s else float("nan")
        out[f"{name}_per_crafted"] = float(arr.sum()) / s if s else math.inf
        out[f"{name}_for_k"] = k * out[f"{name}_per_crafted"]
        out[f"{name}_for_k_low"] = out["attempts_for_k_low"] * float(arr.mean()) if n else float("nan")
    return out
