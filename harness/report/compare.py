"""`phash-harness compare DIR_A DIR_B`: two results folders side by side.

Rows of the two metrics.csv are matched on (hasher, transform, negatives).
For every metric a 95% interval is taken, in this order:

1. the interval columns of metrics.csv (``<metric>_lo``/``<metric>_hi``),
   when both folders have them;
2. otherwise, for rates, the exact Clopper-Pearson interval on the counts:
   TPRs on n_pos (k = round(rate * n_pos)), FPRs on n_neg; the EER on
   min(n_pos, n_neg) (conservative: the smaller count gives the wider
   interval);
3. for the AUC, the Hanley-McNeil (1982) normal approximation
   se^2 = (A(1-A) + (n_p-1)(Q1-A^2) + (n_n-1)(Q2-A^2)) / (n_p n_n),
   Q1 = A/(2-A), Q2 = 2A^2/(1+A), interval A -/+ 1.96 se clipped to [0, 1].

A metric is *flagged* when the two intervals do not overlap, or when it is
measurable in one run and not in the other. Integer thresholds have no
interval; a changed threshold is listed as "changed", not flagged.
"""

from __future__ import annotations

import json
import math
import os

import pandas as pd

from ..metrics.intervals import clopper_pearson
from .summary import interval_columns, interval_suffix, recommended_column

KEYS = ["hasher", "transform", "negatives"]
Z95 = 1.959963984540054


def _load(folder: str):
    metrics = pd.read_csv(os.path.join(folder, "metrics.csv"))
    info = {}
    path = os.path.join(folder, "run.json")
    if os.path.isfile(path):
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
    return metrics, info


def hanley_mcneil(auc: float, n_pos: int, n_neg: int) -> tuple[float, float]:
    if any(isinstance(v, float) and math.isnan(v) for v in (auc, n_pos, n_neg)) or n_pos < 1 or n_neg < 1:
        return math.nan, math.nan
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    se = math.sqrt(max(var, 0.0))
    return max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)


def metric_columns(metrics: pd.DataFrame) -> list[str]:
    cols = [c for c in ("auc", "eer") if c in metrics.columns]
    cols += [c for c in metrics.columns if c.startswith("tpr_at_fpr_") and interval_suffix(c) is None]
    cols += [
        c
        for c in ("tpr_at_threshold", "fpr_at_threshold", "threshold_at_target", "tpr_at_recommended")
        if c in metrics.columns
    ]
    rec = recommended_column(metrics)
    if rec:
        cols.append(rec)
    return cols


def _is_threshold(col: str) -> bool:
    return "threshold" in col and not col.startswith(("tpr_", "fpr_"))


def interval(row, col: str, df: pd.DataFrame) -> tuple[float, float, str]:
    """(lo, hi, method) of metric `col` in `row` (see module docstring)."""
    v = row[col]
    if pd.isna(v):
        return math.nan, math.nan, ""
    ic = interval_columns(df, col)
    if ic and pd.notna(row[ic[0]]) and pd.notna(row[ic[1]]):
        return float(row[ic[0]]), float(row[ic[1]]), "metrics.csv"
    n_pos, n_neg = row.get("n_pos", math.nan), row.get("n_neg", math.nan)
    if col == "auc":
        lo, hi = hanley_mcneil(float(v), int(n_pos), int(n_neg))
        return lo, hi, "Hanley-McNeil"
    if col.startswith("tpr_"):
        n = int(n_pos)
    elif col.startswith("fpr_"):
        n = int(n_neg)
    elif col == "eer":
        n = int(min(n_pos, n_neg))
    else:
        return math.nan, math.nan, ""
    if n <= 0:
        return math.nan, math.nan, "Clopper-Pearson"
    lo, hi = clopper_pearson(int(round(float(v) * n)), n)
    return lo, hi, "Clopper-Pearson"


def compare_tables(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, list, list]:
    """Long table of every compared value: keys, metric, a, a_lo, a_hi, b,
    b_lo, b_hi, difference (b - a), method, status ('', 'changed',
    'DIFFERS' or 'measurable in one run only'). Also returns the keys found
    only in A and only in B."""
    keys = [k for k in KEYS if k in a.columns and k in b.columns]
    pa = {tuple(r): i for i, r in enumerate(a[keys].astype(str).itertuples(index=False, name=None))}
    pb = {tuple(r): i for i, r in enumerate(b[keys].astype(str).itertuples(index=False, name=None))}
    common = [k for k in pa if k in pb]
    only_a = [k for k in pa if k not in pb]
    only_b = [k for k in pb if k not in pa]
    cols = [c for c in metric_columns(a) if c in b.columns]
    rows = []
    for key in common:
        ra, rb = a.iloc[pa[key]], b.iloc[pb[key]]
        for col in cols:
            va, vb = ra[col], rb[col]
            lo_a, hi_a, ma = interval(ra, col, a)
            lo_b, hi_b, mb = interval(rb, col, b)
            if pd.isna(va) and pd.isna(vb):
                status = ""
            elif pd.isna(va) or pd.isna(vb):
                status = "measurable in one run only"
            elif _is_threshold(col):
                status = "changed" if va != vb else ""
            elif not any(math.isnan(x) for x in (lo_a, hi_a, lo_b, hi_b)) and (hi_a < lo_b or hi_b < lo_a):
                status = "DIFFERS"
            else:
                status = ""
            diff = vb - va if not (pd.isna(va) or pd.isna(vb)) else math.nan
            rows.append(
                dict(
                    zip(keys, key),
                    metric=col,
                    a=va,
                    a_lo=lo_a,
                    a_hi=hi_a,
                    b=vb,
                    b_lo=lo_b,
                    b_hi=hi_b,
                    difference=diff,
                    method=ma if (ma == mb or not mb) else (f"{ma} / {mb}" if ma else mb),
                    status=status,
                )
            )
    return pd.DataFrame(rows), only_a, only_b


def _fmt(v, lo=math.nan, hi=math.nan) -> str:
    if v is None or pd.isna(v):
        return "not measurable"
    text = f"{v:.4g}"
    if not (pd.isna(lo) or pd.isna(hi)):
        text += f" [{lo:.3g}, {hi:.3g}]"
    return text


def _run_line(label: str, folder: str, info: dict) -> str:
    ds = info.get("dataset", {})
    return (
        f"- **{label}**: `{folder}`: experiment `{info.get('name')}`, dataset `{ds.get('source')}` "
        f"{ds.get('path') or ''} ({ds.get('images_hashed')} images), manifest sha256 "
        f"`{ds.get('manifest_sha256')}`, seed {info.get('seed')}"
    )


def compare_folders(dir_a: str, dir_b: str) -> tuple[str, str, pd.DataFrame]:
    """(compare.md text, short terminal summary, long comparison table)."""
    a, info_a = _load(dir_a)
    b, info_b = _load(dir_b)
    table, only_a, only_b = compare_tables(a, b)
    flagged = table[table["status"].isin(["DIFFERS", "measurable in one run only"])] if len(table) else table
    changed = table[table["status"] == "changed"] if len(table) else table
    va, vb = info_a.get("versions", {}), info_b.get("versions", {})
    vdiff = [(k, va.get(k), vb.get(k)) for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
    lines = ["# phash-harness compare", "", _run_line("A", dir_a, info_a), _run_line("B", dir_b, info_b), ""]
    lines += [
        "Rows matched on hasher, transform and negative set. A value is flagged **DIFFERS** when the",
        "95% intervals of A and B do not overlap (interval columns of metrics.csv when present;",
        "otherwise Clopper-Pearson on the pair counts for rates, Hanley-McNeil for the AUC).",
        "Intervals treat pairs as independent; pairs share photos, so they are optimistic.",
        "",
    ]
    if vdiff:
        lines += ["## Library versions that differ", "", "| library | A | B |", "|---|---|---|"]
        lines += [f"| {k} | {x} | {y} |" for k, x, y in vdiff] + [""]
    else:
        lines += ["Library versions: identical.", ""]
    ma, mb = info_a.get("dataset", {}).get("manifest_sha256"), info_b.get("dataset", {}).get("manifest_sha256")
    lines += [
        f"Datasets: {'same image list (equal manifest sha256)' if ma and ma == mb else 'different image lists'}.",
        "",
    ]
    for label, keys in (("only in A", only_a), ("only in B", only_b)):
        if keys:
            shown = ", ".join("/".join(k) for k in keys[:50]) + (" ..." if len(keys) > 50 else "")
            lines += [f"Rows {label}: " + shown, ""]
    header = [c for c in KEYS if c in table.columns] + ["metric", "A", "B", "B - A", "interval", "status"]

    def md_rows(df):
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for r in df.to_dict("records"):
            cells = [str(r[k]) for k in KEYS if k in r]
            cells += [
                r["metric"],
                _fmt(r["a"], r["a_lo"], r["a_hi"]),
                _fmt(r["b"], r["b_lo"], r["b_hi"]),
                "" if pd.isna(r["difference"]) else f"{r['difference']:+.4g}",
                r["method"],
                r["status"],
            ]
            out.append("| " + " | ".join(cells) + " |")
        return out

    lines += [f"## Flagged: {len(flagged)} of {len(table)} compared values", ""]
    lines += (md_rows(flagged) if len(flagged) else ["No metric differs beyond its interval."]) + [""]
    if len(changed):
        lines += [f"## Thresholds that changed: {len(changed)}", ""] + md_rows(changed) + [""]
    lines += ["## All compared values", ""] + (md_rows(table) if len(table) else ["(no common rows)"]) + [""]
    summary = [
        f"compared {len(table)} values in {table[KEYS[0]].nunique() if len(table) else 0} hasher(s):"
        f" {len(flagged)} flagged (intervals do not overlap or measurable in one run only),"
        f" {len(changed)} threshold(s) changed; {len(only_a)} row(s) only in A, {len(only_b)} only in B"
    ]
    for r in flagged.head(15).to_dict("records"):
        summary.append(
            f"  {r['status']:<10} {r['hasher']:<10} {r.get('transform', ''):<16} "
            f"{r.get('negatives', ''):<13} {r['metric']:<20} A {_fmt(r['a'])}  B {_fmt(r['b'])}"
        )
    if len(flagged) > 15:
        summary.append(f"  ... {len(flagged) - 15} more in compare.md")
    if vdiff:
        summary.append("library versions differ: " + ", ".join(f"{k} {x} -> {y}" for k, x, y in vdiff))
    return "\n".join(lines), "\n".join(summary), table
