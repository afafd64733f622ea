"""Two-hash matching rules from a joint histogram (harness.metrics.joint).

With J[d1, d2] the pair counts of two hashers over the same pairs:

- AND rule (a match needs d1 <= t1 and d2 <= t2; a second hash re-checks
  the first one's matches): ``AND[t1, t2] = sum_{d1 <= t1, d2 <= t2} J``,
  the 2-D cumulative sum of J;
- OR rule (either hash matches): ``OR[t1, t2] = M1[t1] + M2[t2] - AND[t1, t2]``
  with M1, M2 the cumulative marginals.

Divided by the number of pairs N = J.sum() these are TPR (positives) or
FPR (negatives), exactly, at every (t1, t2). If the two hashes' false
matches were independent, the AND FPR would be p1 * p2 (p1 = M1[t1] / N,
p2 = M2[t2] / N) and the OR FPR p1 + p2 - p1 p2; `independence` reports the
measured rate against that prediction and their ratio.

Examples
--------
>>> import numpy as np
>>> J = np.array([[5, 1], [0, 4]])  # d1 in {0, 1} x d2 in {0, 1}, 10 pairs
>>> and_counts(J).tolist()
[[5, 6], [5, 10]]
>>> cascade_rates(J, 0, 0, "or")
CascadeRate(count=6, total=10, rate=0.6)
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .intervals import clopper_pearson, dependent_pair_interval, photo_pair_counts

RULES = ("and", "or")
#: most pairs `rule_pairs` lists (AND: the matches of the side it starts
#: from; OR: both sides' matches); beyond it no default interval is computed
MAX_RULE_PAIRS = 20_000_000
#: what the ratio interval is (written next to it in cascades.csv)
RATIO_INTERVAL = (
    "Clopper-Pearson interval of the joint count divided by the independence prediction "
    "(marginal rates held fixed; pairs treated as independent, so too narrow)"
)


class CascadeRate(NamedTuple):
    count: int
    total: int
    rate: float


def _joint(joint) -> np.ndarray:
    J = np.asarray(joint)
    if J.ndim != 2 or not np.issubdtype(J.dtype, np.integer) or (J < 0).any():
        raise ValueError("joint must be a 2-D array of non-negative integer counts")
    return J.astype(np.int64, copy=False)


def _rule(rule: str) -> str:
    if rule not in RULES:
        raise ConfigError("rule", f"must be one of: {', '.join(RULES)} (got {rule!r})")
    return rule


def and_counts(joint) -> np.ndarray:
    """AND[t1, t2] = pairs with d1 <= t1 and d2 <= t2 (int64, J's shape)."""
    return _joint(joint).cumsum(axis=0).cumsum(axis=1)


def or_counts(joint) -> np.ndarray:
    """OR[t1, t2] = pairs with d1 <= t1 or d2 <= t2 (int64, J's shape)."""
    J = _joint(joint)
    both = and_counts(J)
    m1 = J.sum(axis=1).cumsum()
    m2 = J.sum(axis=0).cumsum()
    return m1[:, None] + m2[None, :] - both


def rule_counts(joint, rule: str = "and") -> np.ndarray:
    """The AND or OR count grid over every (t1, t2)."""
    return and_counts(joint) if _rule(rule) == "and" else or_counts(joint)


def cascade_rates(joint, t1: int, t2: int, rule: str = "and") -> CascadeRate:
    """Pairs matched by the rule at (t1, t2), the number of pairs, and their
    ratio (TPR for positives, FPR for negatives; NaN without pairs). A
    negative threshold matches nothing on its side."""
    J = _joint(joint)
    _rule(rule)
    n = int(J.sum())
    i1, i2 = min(int(t1), J.shape[0] - 1), min(int(t2), J.shape[1] - 1)
    m1 = int(J[: i1 + 1].sum()) if i1 >= 0 else 0
    m2 = int(J[:, : i2 + 1].sum()) if i2 >= 0 else 0
    both = int(J[: i1 + 1, : i2 + 1].sum()) if i1 >= 0 and i2 >= 0 else 0
    k = both if rule == "and" else m1 + m2 - both
    return CascadeRate(k, n, k / n if n else float("nan"))


def independence(joint, t1: int, t2: int, rule: str = "and", confidence: float = 0.95) -> dict:
    """Measured rule rate against the independence prediction at (t1, t2).

    p1 = M1[t1] / N, p2 = M2[t2] / N (each hasher alone); predicted = p1 p2
    (AND) or p1 + p2 - p1 p2 (OR); ratio = measured / predicted (NaN when
    the prediction is 0). ratio_low, ratio_high: the Clopper-Pearson
    interval of the joint count divided by the prediction (the marginals
    held fixed, the pairs treated as independent: too narrow for pairs that
    share photos; see RATIO_INTERVAL).

    >>> J = np.array([[30, 0], [0, 70]])  # the two hashes always agree
    >>> r = independence(J, 0, 0)
    >>> r["rate"], round(r["predicted"], 2), round(r["ratio"], 2)
    (0.3, 0.09, 3.33)
    """
    J = _joint(joint)
    got = cascade_rates(J, t1, t2, rule)
    n = got.total
    p1 = cascade_rates(J, t1, -1, "or").count / n if n else float("nan")
    p2 = cascade_rates(J, -1, t2, "or").count / n if n else float("nan")
    pred = p1 * p2 if rule == "and" else p1 + p2 - p1 * p2
    lo, hi = clopper_pearson(got.count, n, confidence) if n else (float("nan"), float("nan"))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio, rlo, rhi = (np.float64(x) / pred if pred > 0 else float("nan") for x in (got.rate, lo, hi))
    return {
        "count": got.count,
        "total": n,
        "rate": got.rate,
        "rate_1": p1,
        "rate_2": p2,
        "predicted": pred,
        "ratio": float(ratio),
        "ratio_low": float(rlo),
        "ratio_high": float(rhi),
    }


def best_point(
    pos_joint, neg_joint, target_fpr: float, rule: str = "and", confidence: float = 0.95, upper: bool = True
) -> dict | None:
    """The (t1, t2) with the highest TPR whose FPR stays under `target_fpr`:
    by the Clopper-Pearson upper bound of the negatives' count when `upper`
    (as the single-hasher threshold recommendation), else by the measured
    FPR. Ties: lower FPR, then smaller t1, then smaller t2. None when no
    (t1, t2) qualifies. Returns t1, t2, tp, n_pos, tpr, fp, n_neg, fpr,
    fpr_upper."""
    P, N = _joint(pos_joint), _joint(neg_joint)
    if P.shape != N.shape:
        raise ValueError(f"positive and negative joint histograms differ in shape: {P.shape} vs {N.shape}")
    tp, fp = rule_counts(P, rule), rule_counts(N, rule)
    n_pos, n_neg = int(P.sum()), int(N.sum())
    if n_neg == 0:
        return None
    _, hi = clopper_pearson(fp, np.full(fp.shape, n_neg), confidence)
    fpr = fp / n_neg
    ok = (hi if upper else fpr) < target_fpr
    if not ok.any():
        return None
    t1, t2 = np.nonzero(ok)
    order = np.lexsort((t2, t1, fp[t1, t2], -tp[t1, t2]))
    a, b = int(t1[order[0]]), int(t2[order[0]])
    return {
        "t1": a,
        "t2": b,
        "tp": int(tp[a, b]),
        "n_pos": n_pos,
        "tpr": tp[a, b] / n_pos if n_pos else float("nan"),
        "fp": int(fp[a, b]),
        "n_neg": n_neg,
        "fpr": float(fpr[a, b]),
        "fpr_upper": float(hi[a, b]),
    }


def pareto_front(pos_joint, neg_joint, rule: str = "and") -> pd.DataFrame:
    """The (t1, t2) not beaten by any other: no other point has a lower or
    equal FPR with a higher TPR, or a lower FPR with the same TPR. One row
    per distinct (fpr, tpr) (the smallest t1, then t2, of equal ones),
    sorted by FPR; columns t1, t2, tp, fp, tpr, fpr."""
    P, N = _joint(pos_joint), _joint(neg_joint)
    tp, fp = rule_counts(P, rule).ravel(), rule_counts(N, rule).ravel()
    t1, t2 = np.divmod(np.arange(tp.size), P.shape[1])
    order = np.lexsort((t2, t1, -tp, fp))
    keep, best = [], -1
    for k in order:
        if tp[k] > best:
            keep.append(k)
            best = tp[k]
    keep = np.array(keep, dtype=np.int64)
    n_pos, n_neg = int(P.sum()), int(N.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "t1": t1[keep],
                "t2": t2[keep],
                "tp": tp[keep],
                "fp": fp[keep],
                "tpr": tp[keep] / n_pos if n_pos else np.nan,
                "fpr": fp[keep] / n_neg if n_neg else np.nan,
            }
        )


def rule_pairs(
    metric_1,
    metric_2,
    a1,
    a2,
    t1: int,
    t2: int,
    rule: str = "and",
    *,
    b1=None,
    b2=None,
    groups_a=None,
    groups_b=None,
    first: int = 1,
):
    """Every negative pair the rule matches at (t1, t2), as int64 arrays
    (i, j) sorted by (i, j): i indexes the rows of set A (hashes a1 under
    hasher 1, a2 under hasher 2, same rows), j the rows of set B (b1, b2),
    or of A itself with i < j when B is None; same-group pairs excluded,
    exactly the pairs `joint_pair_histogram` counts. metric_1, metric_2:
    `harness.metrics.distances.metric_for` of each hasher (``close`` and
    ``paired``).

    AND: the pairs within t of side `first` (1 or 2; start from the side
    with fewer matches), kept where the other side's distance is within
    its threshold. OR: the union of both sides' pairs within threshold.
    len(i) equals `cascade_rates(joint, t1, t2, rule).count` of the same
    pairs. A negative threshold matches nothing on its side.

    >>> import numpy as np
    >>> from harness.metrics.distances import HammingMetric
    >>> a1 = np.array([[0b0000], [0b0001], [0b0111]], dtype=np.uint8)   # 8-bit hashes, hasher 1
    >>> a2 = np.array([[0b0000], [0b1111], [0b0001]], dtype=np.uint8)   # hasher 2
    >>> m = HammingMetric(8)
    >>> [x.tolist() for x in rule_pairs(m, m, a1, a2, 1, 1, "and")]   # d1(0,1)=1 but d2(0,1)=4
    [[], []]
    >>> [x.tolist() for x in rule_pairs(m, m, a1, a2, 1, 1, "or")]    # d1(0,1) = 1, d2(0,2) = 1
    [[0, 0], [1, 2]]
    """
    _rule(rule)
    sides = {1: (metric_1, a1, b1, int(t1)), 2: (metric_2, a2, b2, int(t2))}
    empty = np.zeros(0, np.int64)

    def close(side):
        metric, a, b, t = sides[side]
        if t < 0:
            return empty, empty
        i, j, _ = metric.close(a, b, t, groups_a, groups_b)
        return np.asarray(i, np.int64), np.asarray(j, np.int64)

    if rule == "and":
        if first not in (1, 2):
            raise ValueError(f"first must be 1 or 2 (got {first!r})")
        i, j = close(first)
        metric, a, b, t = sides[3 - first]
        if t < 0 or not len(i):
            return empty, empty
        keep = np.asarray(metric.paired(a[i], (a if b is None else b)[j])) <= t
        i, j = i[keep], j[keep]
    else:
        (i1, j1), (i2, j2) = close(1), close(2)
        width = len(a1 if b1 is None else b1)
        key = np.union1d(i1 * width + j1, i2 * width + j2)
        i, j = np.divmod(key.astype(np.int64), width)
    order = np.lexsort((j, i))
    return i[order], j[order]


def rule_interval(img_a, img_b, group_of_image, pair_i, pair_j, confidence: float = 0.95) -> dict:
    """The rate of the matched negative pairs (pair_i, pair_j) among all
    negative pairs, with the default interval of a pair rate
    (`harness.metrics.intervals.dependent_pair_interval`: pairs that share
    a photo are dependent) and Clopper-Pearson's beside it.

    img_a[r], img_b[r]: the photo (0..m-1) of each row of set A and B
    (img_b None: all pairs within A); group_of_image: group code per
    photo; pair_i, pair_j: rows of the matched pairs (`rule_pairs`).
    Returns fp, n_neg, fpr, fpr_lo, fpr_hi, fpr_cp_lo, fpr_cp_hi.

    >>> r = rule_interval([0, 1, 2, 3], None, [0, 1, 2, 3], [0], [1])   # 1 of 6 pairs
    >>> r["fp"], r["n_neg"], round(r["fpr_hi"], 3)
    (1, 6, 0.641)
    """
    i = np.asarray(pair_i, np.int64)
    _, n = photo_pair_counts(img_a, img_b, group_of_image)
    lo, hi = dependent_pair_interval(img_a, img_b, group_of_image, i, pair_j, np.zeros(len(i), np.int64), 0, confidence)
    cp_lo, cp_hi = clopper_pearson(len(i), n, confidence) if n else (float("nan"), float("nan"))
    return {
        "fp": len(i),
        "n_neg": n,
        "fpr": len(i) / n if n else float("nan"),
        "fpr_lo": float(lo[0]),
        "fpr_hi": float(hi[0]),
        "fpr_cp_lo": float(cp_lo),
        "fpr_cp_hi": float(cp_hi),
    }
