"""Metrics stage: pure functions over packed hash arrays and histograms (no
file or network I/O).

- hamming: exact pair histograms (numba kernels, numpy fallback), threshold
  counts, close pairs, nearest other-group neighbour;
- distances: the same interface for hashers with a non-Hamming distance;
- roc, summary: ROC/AUC/EER/TPR@FPR and metrics.csv;
- granularity: distances that are always even (pHash, PDQ) and the
  effective threshold ("31 (= 30, distances are even)");
- intervals: Clopper-Pearson, image-level Poisson bootstrap, threshold
  recommendation;
- retrieval: recall@1 and micro-average precision (DISC21 definitions);
- diagnostics: bit bias, bit correlation, Daugman degrees of freedom and the
  binomial model, bit flip rates;
- joint, cascade: joint histograms of two hashers over the same pairs, and
  the AND/OR rules, independence ratio, best point and Pareto front from
  them; cascade_tables: the two-hash tables of a run;
- per_photo: the share of photos that match a photo of another group;
- dihedral: matching by the smallest distance over a query's versions;
- tables.analyse: every result table of a run.

Examples
--------
>>> import numpy as np
>>> from harness.metrics import pair_histogram, roc_from_histograms
>>> a = np.array([[0b00000000], [0b00000001], [0b11111111]], dtype=np.uint8)
>>> neg = pair_histogram(a)  # the 3 pairs are 1, 8 and 7 bits apart
>>> neg.tolist()
[0, 1, 0, 0, 0, 0, 0, 1, 1]
>>> pos = np.array([2, 1, 0, 0, 0, 0, 0, 0, 0])
>>> roc = roc_from_histograms(pos, neg)
>>> roc.loc[roc["threshold"] == 1, ["tpr", "fpr"]].round(3).values.tolist()
[[1.0, 0.333]]
"""

from .cascade import and_counts, best_point, cascade_rates, independence, or_counts, pareto_front
from .granularity import distance_granularity, effective_threshold, granularity_at, threshold_text
from .hamming import (
    close_pairs,
    count_pairs,
    count_within,
    distance_histogram,
    hamming_matrix,
    histogram_and_close_pairs,
    nearest_other,
    pair_histogram,
    pair_histogram_numpy,
    paired_distances,
)
from .intervals import bootstrap_fpr, clopper_pearson, recommend_threshold
from .joint import joint_pair_histogram
from .per_photo import per_photo_rate
from .retrieval import micro_average_precision, recall_at_1
from .roc import (
    auc_from_histograms,
    eer_from_histograms,
    fpr_measurable,
    largest_threshold_at_fpr,
    roc_from_histograms,
    tpr_at_fpr,
)
from .summary import summarise

__all__ = [
    "and_counts",
    "best_point",
    "cascade_rates",
    "independence",
    "joint_pair_histogram",
    "or_counts",
    "pareto_front",
    "per_photo_rate",
    "auc_from_histograms",
    "bootstrap_fpr",
    "clopper_pearson",
    "close_pairs",
    "count_pairs",
    "count_within",
    "distance_granularity",
    "distance_histogram",
    "eer_from_histograms",
    "effective_threshold",
    "fpr_measurable",
    "granularity_at",
    "hamming_matrix",
    "histogram_and_close_pairs",
    "largest_threshold_at_fpr",
    "micro_average_precision",
    "nearest_other",
    "pair_histogram",
    "pair_histogram_numpy",
    "paired_distances",
    "recall_at_1",
    "recommend_threshold",
    "roc_from_histograms",
    "summarise",
    "threshold_text",
    "tpr_at_fpr",
]
