"""The metrics table: one row per hasher x transform x severity x negative set.

Input is the long histogram table written to histograms.parquet, with
columns hasher, bits, transform, family, severity, kind, distance, count,
where kind is one of:

- ``positive``: (original of image i, variant of image i);
- ``variant-orig``: variant of i against original of j, different groups
  (the deployment case, one histogram per transform spec);
- ``orig-orig``: all pairs of distinct originals in different groups
  (natural collisions; transform ``original``).

Each transform spec gets two rows, one per negative set, so the natural
collision rate and the deployment rate are never mixed. A hasher with no
positive pairs at all (a run with ``transforms: []``, a pure false-positive
study of the originals) gets one orig-orig row for transform
``original()``: n_pos = 0, AUC, EER and every TPR NaN; thresholds and FPRs
from the orig-orig negatives.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .roc import auc_from_histograms, eer_from_histograms, fpr_measurable, largest_threshold_at_fpr, tpr_at_fpr

KINDS = ("positive", "variant-orig", "orig-orig")


def histogram_vector(df: pd.DataFrame, bits: int) -> np.ndarray:
    """Counts for distances 0..bits from rows with columns distance, count."""
    out = np.zeros(bits + 1, dtype=np.int64)
    np.add.at(out, df["distance"].to_numpy(dtype=np.int64), df["count"].to_numpy(dtype=np.int64))
    return out


def fpr_column(x: float) -> str:
    return f"tpr_at_fpr_{x:.0e}".replace("e-0", "e-")


def summarise(
    histograms: pd.DataFrame,
    target_fpr: float = 1e-3,
    fpr_points=(1e-2, 1e-3),
    neg_sets: dict | None = None,
    confidence: float = 0.95,
    replicates: int = 0,
) -> pd.DataFrame:
    """Metrics per hasher x transform x negative set (metrics.csv).

    Columns (rates are fractions of pairs, thresholds in bits, or in bins
    for non-Hamming hashers):

    - hasher, bits, transform, family, severity, negatives
      ("variant-orig" or "orig-orig"), n_pos, n_neg (exact pair counts);
    - auc (trapezoids between integer thresholds), eer;
    - tpr_at_fpr_<x> for each x in `fpr_points`: TPR at the largest
      threshold with FPR <= x; NaN = not measurable (n_neg * x < 1);
    - target_fpr, threshold_at_target (largest t with point FPR(t) <=
      target; -1 = none; NaN when not measurable), tpr_at_threshold,
      fpr_at_threshold (point estimates).

    With `neg_sets` ({(hasher, transform, negatives): NegativeSet}) also:

    - fp_at_threshold: matching negative pairs at threshold_at_target;
    - fpr_at_threshold_lo/_hi: the default interval, deterministic, for
      pairs that share a photo being dependent
      (harness.metrics.intervals.dependent_pair_interval; NaN above
      keep_below); fpr_at_threshold_upper = fpr_at_threshold_hi, the bound
      decisions use; cross-checks: fpr_at_threshold_cp_lo/_cp_hi,
      Clopper-Pearson IF PAIRS WERE INDEPENDENT, and
      fpr_at_threshold_boot_lo/_boot_hi, the image-level Poisson bootstrap
      (seeded); fpr_at_threshold_text: the figure in words (zero matches ->
      "< upper bound", never "0");
    - recommended_threshold: largest t whose FPR upper bound (and that of
      every smaller t) is below target_fpr (-1 = none);
      fpr_at_recommended, fpr_upper_at_recommended, tpr_at_recommended and
      its Clopper-Pearson interval tpr_at_recommended_cp_lo/_cp_hi;
    - keep_below (close pairs kept at or under it), confidence,
      bootstrap_replicates.
    """
    from .intervals import clopper_pearson, rate_statement, recommend_threshold

    rows = []
    vectors, info = {}, {}
    for (hasher, kind, transform), df in histograms.groupby(["hasher", "kind", "transform"], sort=True):
        bits = int(df["bits"].iat[0])
        vectors[hasher, kind, transform] = histogram_vector(df, bits)
        info[hasher, kind, transform] = (bits, df["family"].iat[0], df["severity"].iat[0])
    with_positives = {h for (h, k, _t) in vectors if k == "positive"}
    for (hasher, kind, transform), neg_hist in list(vectors.items()):
        if kind == "orig-orig" and hasher not in with_positives:
            # a run without transforms: a pure false-positive study of the originals
            vectors[hasher, "positive", transform] = np.zeros(len(neg_hist), dtype=np.int64)
            info[hasher, "positive", transform] = info[hasher, kind, transform]
    for (hasher, kind, transform), pos in vectors.items():
        if kind != "positive":
            continue
        bits, family, severity = info[hasher, kind, transform]
        no_positives = hasher not in with_positives
        for negatives in ("orig-orig",) if no_positives else ("variant-orig", "orig-orig"):
            neg_key = (hasher, negatives, transform if negatives == "variant-orig" else "original()")
            neg_set = (neg_sets or {}).get((hasher, transform, negatives))
            if neg_sets is not None and neg_set is None:
                continue  # this negative set was not computed
            neg = vectors.get(neg_key, np.zeros(bits + 1, dtype=np.int64))
            n_neg = int(neg.sum())
            n_pos = int(pos.sum())
            row = {
                "hasher": hasher,
                "bits": bits,
                "transform": transform,
                "family": family,
                "severity": severity,
                "negatives": negatives,
                "n_pos": n_pos,
                "n_neg": n_neg,
                "auc": auc_from_histograms(pos, neg),
                "eer": eer_from_histograms(pos, neg),
            }
            for x in fpr_points:
                row[fpr_column(x)] = tpr_at_fpr(pos, neg, x)
            row["target_fpr"] = target_fpr
            t = None
            if fpr_measurable(n_neg, target_fpr) and (n_pos or no_positives):
                t = largest_threshold_at_fpr(neg, target_fpr)
                row["threshold_at_target"] = t
                row["tpr_at_threshold"] = (float(pos[: t + 1].sum() / n_pos) if t >= 0 else 0.0) if n_pos else np.nan
                row["fpr_at_threshold"] = float(neg[: t + 1].sum() / n_neg) if t >= 0 else 0.0
            else:
                row["threshold_at_target"] = np.nan
                row["tpr_at_threshold"] = np.nan
                row["fpr_at_threshold"] = np.nan
            if neg_set is not None:
                if t is None:
                    row |= {
                        "fp_at_threshold": np.nan,
                        "fpr_at_threshold_lo": np.nan,
                        "fpr_at_threshold_hi": np.nan,
                        "fpr_at_threshold_cp_lo": np.nan,
                        "fpr_at_threshold_cp_hi": np.nan,
                        "fpr_at_threshold_boot_lo": np.nan,
                        "fpr_at_threshold_boot_hi": np.nan,
                        "fpr_at_threshold_upper": np.nan,
                        "fpr_at_threshold_text": "not measurable",
                    }
                elif t < 0:
                    row |= {
                        "fp_at_threshold": 0,
                        "fpr_at_threshold_lo": 0.0,
                        "fpr_at_threshold_hi": 0.0,
                        "fpr_at_threshold_cp_lo": 0.0,
                        "fpr_at_threshold_cp_hi": 0.0,
                        "fpr_at_threshold_boot_lo": 0.0,
                        "fpr_at_threshold_boot_hi": 0.0,
                        "fpr_at_threshold_upper": 0.0,
                        "fpr_at_threshold_text": "no threshold (nothing matches)",
                    }
                else:
                    k = int(neg_set.fp[t])
                    row |= {
                        "fp_at_threshold": k,
                        "fpr_at_threshold_lo": float(neg_set.lo[t]),
                        "fpr_at_threshold_hi": float(neg_set.hi[t]),
                        "fpr_at_threshold_cp_lo": float(neg_set.cp_lo[t]),
                        "fpr_at_threshold_cp_hi": float(neg_set.cp_hi[t]),
                        "fpr_at_threshold_boot_lo": float(neg_set.boot_lo[t]),
                        "fpr_at_threshold_boot_hi": float(neg_set.boot_hi[t]),
                        "fpr_at_threshold_upper": float(neg_set.upper[t]),
                        "fpr_at_threshold_text": rate_statement(
                            k, n_neg, float(neg_set.lo[t]), float(neg_set.upper[t]), confidence
                        ),
                    }
                r = recommend_threshold(neg_set.upper, target_fpr) if n_neg else -1
                tp = int(pos[: r + 1].sum()) if r >= 0 else 0
                lo, hi = clopper_pearson(tp, n_pos, confidence) if n_pos else (np.nan, np.nan)
                row |= {
                    "recommended_threshold": r,
                    "fpr_at_recommended": float(neg_set.fpr[r]) if r >= 0 else 0.0,
                    "fpr_upper_at_recommended": float(neg_set.upper[r]) if r >= 0 else 0.0,
                    "tpr_at_recommended": tp / n_pos if n_pos else np.nan,
                    "tpr_at_recommended_cp_lo": float(lo),
                    "tpr_at_recommended_cp_hi": float(hi),
                    "keep_below": neg_set.keep_below,
                    "confidence": confidence,
                    "bootstrap_replicates": replicates,
                }
            rows.append(row)
    return pd.DataFrame(rows)
