"""ROC summaries from two integer-distance histograms.

A pair *matches* at threshold t when its distance d <= t (bits). With
pos_hist[d] positive pairs and neg_hist[d] negative pairs at distance d:

    TPR(t) = sum_{d<=t} pos_hist[d] / sum(pos_hist)
    FPR(t) = sum_{d<=t} neg_hist[d] / sum(neg_hist)

Because distances are integers, the ROC curve is fully determined by the two
histograms; thresholds run from -1 (nothing matches) to bits (everything
matches).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def _check_hists(pos_hist, neg_hist):
    pos = np.asarray(pos_hist, dtype=np.int64)
    neg = np.asarray(neg_hist, dtype=np.int64)
    if pos.ndim != 1 or neg.ndim != 1 or len(pos) != len(neg):
        raise ValueError("pos_hist and neg_hist must be 1-d and of equal length (bits + 1)")
    if (pos < 0).any() or (neg < 0).any():
        raise ValueError("histogram counts must be non-negative")
    return pos, neg


def roc_from_histograms(pos_hist, neg_hist) -> pd.DataFrame:
    """DataFrame with columns threshold (-1..bits), tpr, fpr, tp, fp,
    n_pos, n_neg: one row per integer threshold."""
    pos, neg = _check_hists(pos_hist, neg_hist)
    n_pos, n_neg = int(pos.sum()), int(neg.sum())
    tp = np.concatenate([[0], np.cumsum(pos)])
    fp = np.concatenate([[0], np.cumsum(neg)])
    thresholds = np.arange(-1, len(pos), dtype=np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / n_pos if n_pos else np.full(len(tp), np.nan)
        fpr = fp / n_neg if n_neg else np.full(len(fp), np.nan)
    return pd.DataFrame(
        {"threshold": thresholds, "tpr": tpr, "fpr": fpr, "tp": tp, "fp": fp, "n_pos": n_pos, "n_neg": n_neg}
    )


def auc_from_histograms(pos_hist, neg_hist) -> float:
    """Area under the ROC curve (trapezoids between integer thresholds).
    Equals P(d_neg > d_pos) + 0.5 * P(d_neg == d_pos)."""
    roc = roc_from_histograms(pos_hist, neg_hist)
    if roc["n_pos"].iat[0] == 0 or roc["n_neg"].iat[0] == 0:
        return float("nan")
    return float(np.trapezoid(roc["tpr"].to_numpy(), roc["fpr"].to_numpy()))


def eer_from_histograms(pos_hist, neg_hist) -> float:
    """Equal error rate: where FPR(t) = FNR(t) = 1 - TPR(t), linearly
    interpolated between the two integer thresholds that bracket it."""
    roc = roc_from_histograms(pos_hist, neg_hist)
    fpr, fnr = roc["fpr"].to_numpy(), 1 - roc["tpr"].to_numpy()
    if np.isnan(fpr).any() or np.isnan(fnr).any():
        return float("nan")
    diff = fpr - fnr  # increasing in t: starts at -1 (t=-1), ends at +1
    k = int(np.argmax(diff >= 0))
    if k == 0:
        return float(fpr[0])
    d0, d1 = diff[k - 1], diff[k]
    w = 0.0 if d1 == d0 else -d0 / (d1 - d0)
    return float(fpr[k - 1] + w * (fpr[k] - fpr[k - 1]))


def largest_threshold_at_fpr(neg_hist, target_fpr: float) -> int:
    """Largest integer threshold t with FPR(t) <= target_fpr (point
    estimate); -1 if even t = 0 exceeds it."""
    neg = np.asarray(neg_hist, dtype=np.int64)
    n = neg.sum()
    if n == 0:
        raise ValueError("no negative pairs")
    fpr = np.cumsum(neg) / n
    ok = np.nonzero(fpr <= target_fpr)[0]
    return int(ok[-1]) if len(ok) else -1


def fpr_measurable(n_neg: int, target_fpr: float) -> bool:
    """A target FPR is measurable when it corresponds to at least one
    negative pair (n_neg * target >= 1); otherwise the figure would be an
    extrapolation and is reported as not measurable."""
    return n_neg > 0 and n_neg * target_fpr >= 1


def tpr_at_fpr(pos_hist, neg_hist, target_fpr: float) -> float:
    """TPR at the largest threshold whose FPR <= target_fpr; NaN when the
    target is not measurable with this many negative pairs."""
    pos, neg = _check_hists(pos_hist, neg_hist)
    if not fpr_measurable(int(neg.sum()), target_fpr) or pos.sum() == 0:
        return float("nan")
    t = largest_threshold_at_fpr(neg, target_fpr)
    return 0.0 if t < 0 else float(pos[: t + 1].sum() / pos.sum())


def format_rate(x: float) -> str:
    return "not measurable" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.4g}"
