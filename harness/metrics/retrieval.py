"""Retrieval view, for comparison with copy-detection benchmarks.

Each variant (query) searches the database of originals; the correct
answer is the original of the same image. Originals in the query's own
group other than its original are neither correct nor wrong (ignored), as
everywhere in the harness. Written from the definitions of Meta's Image
Similarity Challenge (DISC21, Douze et al. 2021), not from its code:

- **micro-average precision (muAP)**: all (query, reference, score)
  predictions of all queries are pooled and sorted by decreasing score
  (here: increasing distance); with P_k, R_k the precision and recall
  after the k-th distinct score, muAP = sum_k (R_k - R_{k-1}) P_k, where
  recall is over all queries that have a match in the database (all of
  them here). Every query-reference pair is a prediction (as if a
  participant submitted all of them), so muAP follows exactly from the
  positive and variant-orig histograms. Tied distances form one step
  (as scikit-learn's average_precision_score does).
- **recall@1**: share of queries whose nearest original is the correct
  one. With integer distances ties are common: a query whose correct
  original ties with m wrong ones at the smallest distance counts
  1/(m+1) (the expectation under random tie-breaking); `recall_at_1_strict`
  counts only queries whose correct original is strictly nearest.
"""

from __future__ import annotations

import numpy as np


def micro_average_precision(pos_hist, neg_hist) -> float:
    """muAP from the histograms of positive and negative pair distances
    (one bin per integer distance or distance bin)."""
    pos = np.asarray(pos_hist, dtype=np.float64)
    neg = np.asarray(neg_hist, dtype=np.float64)
    n_pos = pos.sum()
    if n_pos == 0:
        return float("nan")
    tp, fp = np.cumsum(pos), np.cumsum(neg)
    step = pos > 0  # recall changes only where positives are added
    precision = tp[step] / (tp[step] + fp[step])
    return float((pos[step] / n_pos * precision).sum())


def recall_at_1(pos_distance, nearest_wrong, n_tied):
    """(tie-split recall@1, strict recall@1) from each query's distance to
    its correct original, the smallest distance to a wrong original (-1 if
    none) and how many wrong originals are at that distance."""
    d = np.asarray(pos_distance, dtype=np.int64)
    m = np.asarray(nearest_wrong, dtype=np.int64)
    c = np.asarray(n_tied, dtype=np.int64)
    if not len(d):
        return float("nan"), float("nan")
    none = m < 0
    strict = none | (d < m)
    tie = ~none & (d == m)
    score = strict.astype(np.float64) + np.where(tie, 1.0 / (1 + c), 0.0)
    return float(score.mean()), float(strict.mean())
