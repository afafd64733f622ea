"""report.md: what was run and what it measured."""
from __future__ import annotations

import json
import math

import pandas as pd

from ..metrics.roc import format_rate


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
        return "(no metrics)"
    target = m["target_fpr"].iat[0]
    tpr = m.pivot(index="transform", columns="hasher", values="tpr_at_threshold")
    thr = m.groupby("hasher")["threshold_at_target"].median()
    order = sorted(tpr.index, key=lambda k: (k.split("(")[0], _num(k)))
    lines = [f"TPR at the largest threshold with FPR <= {target:g} (variant-orig negatives; n/m = not measurable)"]
    lines.append(f"{'transform':<22}" + "".join(f"{h:>10}" for h in tpr.columns))
    for key in order:
        lines.append(f"{key:<22}" + "".join(f"{_fmt(tpr.at[key, h]):>10}" for h in tpr.columns))
    lines.append(f"{'median threshold (bits)':<22}" + "".join(f"{_fmt(thr[h]):>10}" for h in tpr.columns))
    return "\n".join(lines)


def _num(key: str) -> float:
    try:
        return float(key.split("(", 1)[1].split(")")[0].split(",")[0])
    except (IndexError, ValueError):
        return 0.0


def render_markdown(metrics: pd.DataFrame, run_info: dict) -> str:
    ds = run_info.get("dataset", {})
    versions = run_info.get("versions", {})
    target = metrics["target_fpr"].iat[0] if len(metrics) else float("nan")
    lines = [
        f"# phash-harness report: {run_info.get('name', '')}",
        "",
        "## What was run",
        "",
        f"- dataset: `{ds.get('source')}` {ds.get('path') or ''}; manifest sha256 `{ds.get('manifest_sha256')}`",
        f"- images listed {ds.get('images_listed')}, hashed {ds.get('images_hashed')}, failed {ds.get('images_failed')} (see errors.csv)",
        f"- variants per hasher: {run_info.get('counts', {}).get('variants')}; seed {run_info.get('seed')}",
        f"- hashers: {', '.join(h['name'] + ' (' + str(h['bits']) + ' bits)' for h in run_info.get('hashers', []))}",
        f"- transforms: {', '.join(t['key'] for t in run_info.get('transforms', []))}",
        f"- run time: {run_info.get('timings_seconds', {}).get('total', 'n/a')} s",
        "- library versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v),
        "",
        "## How to read this",
        "",
        "A *positive pair* is an original photo and an edited copy of it; a *negative pair* is two",
        "photos of different content. Two hashes *match* at threshold t when their Hamming distance",
        "(in bits) is at most t. The true-positive rate (TPR) is the share of positive pairs that",
        "match; the false-positive rate (FPR) the share of negative pairs that match. `variant-orig`",
        "negatives compare an edited photo with the originals of other photos (what a scanning",
        "system does); `orig-orig` negatives compare originals with each other (natural collisions).",
        "`n/m` means *not measurable*: there are fewer negative pairs than 1/FPR, so that rate cannot",
        "be observed on this data and no extrapolated number is printed.",
        "",
        f"## Results (variant-orig negatives; target FPR {format_rate(target)})",
        "",
        markdown_table(summary_table(metrics)),
        "",
        "The full table, with orig-orig negatives too, is metrics.csv.",
        "",
        "## Figures",
        "",
        "![ROC per hasher](roc.png)",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(run_info.get("config", {}), indent=2, sort_keys=True),
        "```",
        "",
    ]
    return "\n".join(lines)
