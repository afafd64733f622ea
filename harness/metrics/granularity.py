"""Distance granularity: thresholds that are really a smaller threshold.

A Hamming hash whose bits are "coefficient > median of the coefficients"
has the same number of ones for every image (imagehash pHash: 32 of 64;
PDQ: 128 of 256), so the distance between two hashes,
``|a| + |b| - 2 |a AND b|``, is always even: no pair is at distance 31,
and "distance <= 31" selects exactly the pairs "distance <= 30". The rule
breaks only when coefficients tie at the median (flat or nearly flat
images), which changes the count of ones; so the granularity of a set of
pairs is measured on its histogram, never assumed:

- `distance_granularity(counts)`: the greatest common divisor of the
  distances (in bits) at which at least one pair lies; 2 = every distance
  is even;
- `effective_threshold(t, g)`: the largest multiple of `g` not above `t`
  (the threshold that selects the same pairs);
- `granularity_at(t, g, *hists)`: g, or 1 when some pair of the given
  histograms lies between the effective threshold and t;
- `threshold_text(t, g)`: ``"31 (= 30, distances are even)"``.

Hashers state the granularity their algorithm gives when nothing ties
(``Hasher.distance_granularity``: 2 for phash, pdq, whash and whash_db4, 1
otherwise); tests check it on real photos. Measured: every pHash and PDQ
hash of the 7,807 Caltech-101 photos has exactly 32 / 128 ones (no tie), so
every orig-orig distance is even; whash and whash_db4 hashes tie on some
photos, and a few variants (pHash: brightness 0.3; PDQ: resize 0.125) tie
too, so the rule is a property of the histogram at hand. Only Hamming distances (integer bits) have a
granularity; histogram bins of other distances are reported as they are.
"""

from __future__ import annotations

import numpy as np


def distance_granularity(counts) -> int:
    """gcd of the distances d (bits; the index into `counts`) with
    ``counts[d] > 0``; 1 when no pair lies at a distance above 0.

    >>> distance_granularity([5, 0, 7, 0, 3])   # pairs at 0, 2 and 4 bits
    2
    >>> distance_granularity([5, 1, 7])
    1
    """
    counts = np.asarray(counts)
    occupied = np.flatnonzero(counts > 0)
    g = int(np.gcd.reduce(occupied.astype(np.int64))) if occupied.size else 0
    return g if g > 0 else 1


def effective_threshold(t: int, granularity: int) -> int:
    """The largest multiple of `granularity` that is <= t (t itself when
    t < 0, "no threshold"): "distance <= t" and "distance <= effective"
    select the same pairs when every distance is a multiple of granularity.

    >>> effective_threshold(31, 2), effective_threshold(30, 2), effective_threshold(31, 1)
    (30, 30, 31)
    """
    t, g = int(t), int(granularity)
    if g < 1:
        raise ValueError(f"granularity must be an integer >= 1 (got {granularity!r})")
    return t if t < 0 else t - t % g


def granularity_at(t: int, granularity: int, *hists) -> int:
    """`granularity` when no pair of any histogram in `hists` lies at a
    distance in (effective_threshold(t, granularity), t], else 1: so
    ``threshold_text(t, granularity_at(t, g, *hists))`` claims "t = effective"
    only when the two thresholds select the same pairs of every histogram
    (e.g. the orig-orig pairs give g = 2, and a few tied variants must not
    sit exactly at t).

    >>> granularity_at(31, 2, [0] * 31 + [0, 5]), granularity_at(31, 2, [0] * 31 + [1])
    (2, 1)
    """
    eff = effective_threshold(t, granularity)
    for h in hists:
        h = np.asarray(h)
        if h[eff + 1 : int(t) + 1].sum() > 0:
            return 1
    return int(granularity)


def threshold_text(t: int, granularity: int) -> str:
    """A threshold as a reader should quote it.

    >>> threshold_text(31, 2)
    '31 (= 30, distances are even)'
    >>> threshold_text(30, 2), threshold_text(31, 1)
    ('30', '31')
    >>> threshold_text(7, 3)
    '7 (= 6, distances are multiples of 3)'
    """
    eff = effective_threshold(t, granularity)
    if eff == int(t):
        return str(int(t))
    why = "distances are even" if granularity == 2 else f"distances are multiples of {int(granularity)}"
    return f"{int(t)} (= {eff}, {why})"


__all__ = ["distance_granularity", "effective_threshold", "granularity_at", "threshold_text"]
