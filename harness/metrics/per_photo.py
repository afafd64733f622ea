"""Per-photo false-match rate: the share of photos (queries) that match at
least one photo of another group.

The per-pair FPR answers "how often does one comparison match"; a user
asks "does my photo match anything in the database". With m(q) the
smallest distance from query q to a photo of another group
(`harness.metrics.nearest_other`; -1 when every photo shares q's group),
photo q falsely matches at threshold t exactly when 0 <= m(q) <= t, so

    rate(t) = #{q : 0 <= m(q) <= t} / #{q : m(q) >= 0}

over the photos that have another group to match (``photos``). For
orig-orig the queries are the originals against every other original,
with the pair distance of the orig-orig histogram (for a hasher with an
asymmetric distance, the smaller of the two directions); for
variant-orig each variant (the query) against the originals of other
groups.

Interval: photos are not independent either (in orig-orig a matching
pair makes both of its photos match; a photo that many others match lifts
them all), so where the matching pairs are known (t <= keep_below, the
close pairs) the interval is Clopper-Pearson at the effective sample size
(`effective_clopper_pearson`) of the delete-one-photo jackknife variance
(`per_photo_jackknife_variance`): deterministic, never narrower than
Clopper-Pearson over photos. Above keep_below only Clopper-Pearson over
photos is available, labelled in the ``interval`` column as valid only if
photos were independent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import clopper_pearson, effective_clopper_pearson

PER_PHOTO_COLUMNS = ["threshold", "photos", "photos_matching", "rate", "low", "high", "interval"]
#: the ``interval`` column's values
DEPENDENT = "dependent photos (jackknife)"
INDEPENDENT = "Clopper-Pearson, if photos were independent"


def per_photo_jackknife_variance(query_photo, valid, match_query, match_photo, match_d, keep_below: int, n_photos: int):
    """Delete-one-photo jackknife variance of the per-photo rate
    r(t) = Z(t) / n, t = 0..keep_below.

    query_photo[q]: the photo of query q (0..n_photos-1); valid[q]: q has a
    photo of another group to match (it counts in n). Every match of a
    query at distance <= keep_below is one row of (match_query,
    match_photo, match_d): the query, the photo it matches, the distance
    (orig-orig pairs give two rows, one per direction). Deleting photo k
    removes its own queries and every match with k, so a query whose only
    match at t is with k stops matching::

        r_(k) = (Z - own_k - lost_k) / (n - queries_k)
        V = (P - 1) / P * sum_k (r_(k) - mean_k r_(k))^2

    over the P photos (Efron & Stein 1981; consistent for U-statistics and
    smooth functionals of the photos). Returns V(t), t = 0..keep_below.
    """
    if keep_below < 0:
        return np.zeros(0)
    qp = np.asarray(query_photo, dtype=np.int64)
    ok = np.asarray(valid, dtype=bool)
    mq = np.asarray(match_query, dtype=np.int64)
    mp = np.asarray(match_photo, dtype=np.int64)
    md = np.asarray(match_d, dtype=np.int64)
    nq = len(qp)
    n = int(ok.sum())
    queries_k = np.bincount(qp[ok], minlength=n_photos).astype(np.float64)
    out = np.zeros(keep_below + 1)
    order = np.argsort(md, kind="stable")
    mq, mp, md = mq[order], mp[order], md[order]
    ends = np.searchsorted(md, np.arange(keep_below + 1), side="right")
    for t, end in enumerate(ends):
        m = np.bincount(mq[:end], minlength=nq)
        z = (m > 0) & ok
        big_z = int(z.sum())
        own = np.bincount(qp[z], minlength=n_photos)
        single = m[mq[:end]] == 1
        lost = np.bincount(mp[:end][single], minlength=n_photos)
        # a photo that is its own single partner cannot happen (other groups only)
        with np.errstate(invalid="ignore", divide="ignore"):
            r_k = (big_z - own - lost) / (n - queries_k)
        r_k = r_k[np.isfinite(r_k)]
        p = len(r_k)
        out[t] = (p - 1) / p * float(((r_k - r_k.mean()) ** 2).sum()) if p > 1 else 0.0
    return out


def per_photo_rate(nearest, last: int, confidence: float = 0.95, dependence=None) -> pd.DataFrame:
    """Per-photo false-match rate at every threshold t = 0..last.

    `nearest`: per query, the smallest distance (bits, or bin index) to a
    photo of another group, -1 for none (`nearest_other`'s first output).
    `dependence`: optional (keep_below, V) with V the
    `per_photo_jackknife_variance` for t = 0..keep_below. Returns columns
    threshold, photos (queries with another group), photos_matching
    (queries with 0 <= nearest <= t), rate (their ratio; NaN without
    photos), low, high and interval: Clopper-Pearson at the effective sample
    size of V where it is given ("dependent photos (jackknife)"), else
    Clopper-Pearson over photos ("Clopper-Pearson, if photos were
    independent").

    Examples
    --------
    >>> import numpy as np
    >>> from harness.metrics import nearest_other
    >>> a = np.array([[0b0000], [0b0001], [0b1111], [0b1110]], dtype=np.uint8)
    >>> mins, _ = nearest_other(a, a, [0, 1, 2, 2], [0, 1, 2, 2])  # photos 2, 3: one group
    >>> mins.tolist()
    [1, 1, 3, 3]
    >>> table = per_photo_rate(mins, 4)
    >>> table["photos_matching"].tolist(), table["rate"].tolist()
    ([0, 2, 2, 4, 4], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    m = np.asarray(nearest, dtype=np.int64)
    valid = m[m >= 0]
    n = int(len(valid))
    counts = np.bincount(np.minimum(valid, last + 1), minlength=last + 2)[: last + 1]
    k = np.cumsum(counts).astype(np.int64)
    method = np.full(len(k), INDEPENDENT, dtype=object)
    if n:
        lo, hi = clopper_pearson(k, np.full(len(k), n), confidence)
        rate = k / n
        if dependence is not None and dependence[0] >= 0:
            keep = min(int(dependence[0]), last)
            d_lo, d_hi = effective_clopper_pearson(
                k[: keep + 1], np.full(keep + 1, n), np.asarray(dependence[1])[: keep + 1], confidence
            )
            lo, hi = lo.copy(), hi.copy()
            lo[: keep + 1], hi[: keep + 1] = d_lo, d_hi
            method[: keep + 1] = DEPENDENT
    else:
        lo = hi = rate = np.full(len(k), np.nan)
    return pd.DataFrame(
        {
            "threshold": np.arange(last + 1, dtype=np.int64),
            "photos": n,
            "photos_matching": k,
            "rate": rate,
            "low": lo,
            "high": hi,
            "interval": method,
        }
    )
