"""Risk model: from a per-comparison false-positive rate to deployment figures.

Pure functions; every assumption is a parameter.
"""
from __future__ import annotations

import math

from scipy import stats

from .errors import ConfigError


def _check_probability(name: str, p: float) -> float:
    if not (isinstance(p, (int, float)) and 0.0 <= float(p) <= 1.0 and not math.isnan(p)):
        raise ConfigError(name, f"must be a probability in [0, 1] (got {p!r})")
    return float(p)


def _check_count(name: str, n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n < 0 or float(n) != int(n):
        raise ConfigError(name, f"must be a non-negative integer (got {n!r})")
    return int(n)


def per_query_probability(p: float, m: int) -> float:
    """P(a benign photo falsely matches at least one of M database hashes),
    assuming independent comparisons: 1 - (1 - p)^M, computed as
    -expm1(M * log1p(-p)) so that tiny values are not lost."""
    p = _check_probability("p", p)
    m = _check_count("database_size", m)
    if p == 1.0:
        return 1.0 if m > 0 else 0.0
    return float(-math.expm1(m * math.log1p(-p)))


def account_flag_probability(p: float, n: int, k: int) -> float:
    """P[at least k of n photos falsely match], each independently with
    probability p: the binomial upper tail sum_{i>=k} C(n,i) p^i (1-p)^(n-i),
    computed with scipy's survival function binom.sf(k - 1, n, p) (never as
    1 - cdf, which rounds to 0 below about 1e-16)."""
    p = _check_probability("p", p)
    n = _check_count("n", n)
    k = _check_count("k", k)
    if k > n:
        raise ConfigError("k", f"match threshold k={k} exceeds the number of photos n={n}")
    if k == 0:
        return 1.0
    return float(stats.binom.sf(k - 1, n, p))
