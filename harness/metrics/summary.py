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
collision rate and the deployment rate are never mixed.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .roc import (auc_from_histograms, eer_from_histograms, fpr_measurable, largest_threshold_at_fpr,
                  tpr_at_fpr)

KINDS = ("positive", "variant-orig", "orig-orig")


def histogram_vector(df: pd.DataFrame, bits: int) -> np.ndarray:
    """Counts for distances 0..bits from rows with columns distance, count."""
    out = np.zeros(bits + 1, dtype=np.int64)
    np.add.at(out, df["distance"].to_numpy(dtype=np.int64), df["count"].to_numpy(dtype=np.int64))
    return out


def fpr_column(x: float) -> str:
    return f"tpr_at_fpr_{x:.0e}".replace("e-0", "e-")


def summarise(histograms: pd.DataFrame, target_fpr: float = 1e-3,
              fpr_points=(1e-2, 1e-3)) -> pd.DataFrame:
    """Metrics per hasher x transform x negative set.

    Columns: hasher, bits, transform, family, severity, negatives, n_pos,
    n_neg, auc, eer, tpr_at_fpr_<x> for each x in `fpr_points` (NaN = not
    measurable: fewer than 1/x negative pairs), target_fpr,
    threshold_at_target (largest t with FPR(t) <= target, bits; -1 = none;
    NaN when not measurable), tpr_at_threshold, fpr_at_threshold.
    """
    rows = []
    pos_all = histograms[histograms["kind"] == "positive"]
    for (hasher, transform), pos_df in pos_all.groupby(["hasher", "transform"], sort=True):
        bits = int(pos_df["bits"].iat[0])
        pos = histogram_vector(pos_df, bits)
        family, severity = pos_df["family"].iat[0], pos_df["severity"].iat[0]
        for negatives in ("variant-orig", "orig-orig"):
            sel = (histograms["hasher"] == hasher) & (histograms["kind"] == negatives)
            if negatives == "variant-orig":
                sel &= histograms["transform"] == transform
            neg = histogram_vector(histograms[sel], bits)
            n_neg = int(neg.sum())
            row = {"hasher": hasher, "bits": bits, "transform": transform, "family": family,
                   "severity": severity, "negatives": negatives, "n_pos": int(pos.sum()),
                   "n_neg": n_neg, "auc": auc_from_histograms(pos, neg),
                   "eer": eer_from_histograms(pos, neg)}
            for x in fpr_points:
                row[fpr_column(x)] = tpr_at_fpr(pos, neg, x)
            row["target_fpr"] = target_fpr
            if fpr_measurable(n_neg, target_fpr) and pos.sum():
                t = largest_threshold_at_fpr(neg, target_fpr)
                row["threshold_at_target"] = t
                row["tpr_at_threshold"] = float(pos[: t + 1].sum() / pos.sum()) if t >= 0 else 0.0
                row["fpr_at_threshold"] = float(neg[: t + 1].sum() / n_neg) if t >= 0 else 0.0
            else:
                row["threshold_at_target"] = np.nan
                row["tpr_at_threshold"] = np.nan
                row["fpr_at_threshold"] = np.nan
            rows.append(row)
    return pd.DataFrame(rows)
