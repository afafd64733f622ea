"""Metrics stage: pure functions over packed hash arrays and histograms (no
file or network I/O)."""
from .hamming import count_pairs, distance_histogram, paired_distances, pair_histogram
from .roc import (auc_from_histograms, eer_from_histograms, fpr_measurable, largest_threshold_at_fpr,
                  roc_from_histograms, tpr_at_fpr)
from .summary import summarise

__all__ = [
    "auc_from_histograms", "count_pairs", "distance_histogram", "eer_from_histograms",
    "fpr_measurable", "largest_threshold_at_fpr", "pair_histogram", "paired_distances",
    "roc_from_histograms", "summarise", "tpr_at_fpr",
]
