"""Plain-text tables: the terminal summary printed by `phash-harness run`."""

from __future__ import annotations

import math

import pandas as pd


def _fmt(x) -> str:
    if isinstance(x, float):
        if math.isnan(x):
            return "n/m"
        return f"{x:.4g}"
    return str(x)


def markdown_table(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in df.iterrows():
        lines.append("| " + " | ".join(_fmt(row[c]) for c in cols) + " |")
    return "\n".join(lines)


def summary_table(metrics: pd.DataFrame) -> pd.DataFrame:
    """The deployment view: variant-orig negatives, one row per hasher x transform."""
    m = metrics[metrics["negatives"] == "variant-orig"]
    cols = ["hasher", "transform", "n_pos", "n_neg", "auc", "eer"]
    cols += [c for c in m.columns if c.startswith("tpr_at_fpr_")]
    cols += ["threshold_at_target", "tpr_at_threshold"]
    return m[cols]


def summary_pivot(metrics: pd.DataFrame) -> str:
    """Short text table for the terminal: TPR at the target-FPR threshold,
    one row per transform, one column per hasher (variant-orig negatives)."""
    m = metrics[metrics["negatives"] == "variant-orig"]
    if m.empty:
        return false_positive_lines(metrics) or "(no metrics)"
    target = m["target_fpr"].iat[0]
    tpr = m.pivot(index="transform", columns="hasher", values="tpr_at_threshold")
    thr = m.groupby("hasher")["threshold_at_target"].median()
    order = sorted(tpr.index, key=lambda k: (k.split("(")[0], _num(k)))
    lines = [f"TPR at the largest threshold with FPR <= {target:g} (variant-orig negatives; n/m = not measurable)"]
    w = {h: max(10, len(str(h)) + 2) for h in tpr.columns}  # long labels (phash[dihedral]) stay apart
    lines.append(f"{'transform':<22}" + "".join(f"{h:>{w[h]}}" for h in tpr.columns))
    for key in order:
        lines.append(f"{key:<22}" + "".join(f"{_fmt(tpr.at[key, h]):>{w[h]}}" for h in tpr.columns))
    lines.append(f"{'median threshold (bits)':<22}" + "".join(f"{_fmt(thr[h]):>{w[h]}}" for h in tpr.columns))
    return "\n".join(lines)


def false_positive_lines(metrics: pd.DataFrame) -> str:
    """Terminal text for a run without transforms (no positive pairs): per
    hasher the orig-orig false-positive figures; "" if there are none."""
    if "negatives" not in metrics.columns:
        return ""
    m = metrics[(metrics["negatives"] == "orig-orig") & (metrics["n_pos"] == 0)]
    if m.empty:
        return ""
    target = m["target_fpr"].iat[0]
    lines = [f"no transforms: no positive pairs, so no TPR/AUC; orig-orig false positives (target FPR {target:g}):"]
    for r in m.to_dict("records"):
        rec = r.get("recommended_threshold")
        lines.append(
            f"  {r['hasher']:<16} {int(r['n_neg'])} pairs; largest t with FPR <= {target:g}: "
            f"{_fmt(r['threshold_at_target'])}; recommended t (upper bound < target): "
            + ("none" if rec is None or pd.isna(rec) or rec < 0 else str(int(rec)))
        )
    return "\n".join(lines)


def _num(key: str) -> float:
    try:
        return float(key.split("(", 1)[1].split(")")[0].split(",")[0])
    except (IndexError, ValueError):
        return 0.0
