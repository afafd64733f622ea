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

Interval: Clopper-Pearson over photos (`clopper_pearson`), treating the
photos as the independent units. That is closer to the truth than for pair
rates (each photo counts once), but not exact: in orig-orig a matching pair
makes both of its photos match, so the interval is somewhat too narrow
when matches come in such pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import clopper_pearson

PER_PHOTO_COLUMNS = ["threshold", "photos", "photos_matching", "rate", "low", "high"]


def per_photo_rate(nearest, last: int, confidence: float = 0.95) -> pd.DataFrame:
    """Per-photo false-match rate at every threshold t = 0..last.

    `nearest`: per query, the smallest distance (bits, or bin index) to a
    photo of another group, -1 for none (`nearest_other`'s first output).
    Returns columns threshold, photos (queries with another group),
    photos_matching (queries with 0 <= nearest <= t), rate (their ratio;
    NaN without photos) and low, high (Clopper-Pearson over photos).

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
    if n:
        lo, hi = clopper_pearson(k, np.full(len(k), n), confidence)
        rate = k / n
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
        }
    )
