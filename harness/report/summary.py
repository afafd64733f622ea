"""Numbers the report shows that are not rows of metrics.csv: per-hasher
summaries pooled over the configured edits, exact binomial intervals, the
fixed FPR of the robustness figures, and severity ordering.

Pooled summary of hasher h: the positive histogram is the sum of the
positive histograms of every transform spec of the run, the negative
histogram the sum of their variant-orig histograms. It describes "an edit
drawn uniformly from this run's edit suite", so it depends on the suite.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..metrics.intervals import clopper_pearson
from ..metrics.roc import auc_from_histograms, eer_from_histograms, fpr_measurable, largest_threshold_at_fpr, tpr_at_fpr

#: FPR points always shown in the per-hasher summary (plus the run's own)
SUMMARY_FPRS = (1e-3, 1e-4)
CONFIDENCE = 0.95


def interval_columns(df: pd.DataFrame, col: str) -> tuple[str, str] | None:
    """Names of the (lower, upper) interval columns of `col` if metrics.csv
    has them (``col_lo``/``col_hi``, ``col_ci_lo``/``col_ci_hi`` or
    ``col_low``/``col_high``), else None."""
    for lo, hi in (
        ("_lo", "_hi"),
        ("_cp_lo", "_cp_hi"),
        ("_ci_lo", "_ci_hi"),
        ("_boot_lo", "_boot_hi"),
        ("_low", "_high"),
    ):
        if col + lo in df.columns and col + hi in df.columns:
            return col + lo, col + hi
    return None


def recommended_column(df: pd.DataFrame) -> str | None:
    """The metrics stage's recommended-threshold column, if it wrote one."""
    for c in ("recommended_threshold", "threshold_recommended", "recommended_t"):
        if c in df.columns:
            return c
    cands = [c for c in df.columns if "recommend" in c and not c.endswith(("_lo", "_hi"))]
    return cands[0] if cands else None


def target_fpr(metrics: pd.DataFrame, default: float = 1e-3) -> float:
    if "target_fpr" in metrics.columns and len(metrics) and pd.notna(metrics["target_fpr"].iat[0]):
        return float(metrics["target_fpr"].iat[0])
    return default


def fpr_points(metrics: pd.DataFrame) -> list[float]:
    """FPR points of metrics.csv (from its tpr_at_fpr_<x> columns)."""
    out = []
    for c in metrics.columns:
        if c.startswith("tpr_at_fpr_") and interval_suffix(c) is None:
            try:
                out.append(float(c[len("tpr_at_fpr_") :]))
            except ValueError:
                continue
    return sorted(set(out), reverse=True)


def interval_suffix(col: str) -> str | None:
    for s in ("_lo", "_hi", "_low", "_high", "_upper"):
        if col.endswith(s):
            return s
    return None


def rate_at(hist: np.ndarray, t: int) -> tuple[int, int]:
    """(count of pairs with distance <= t, total pairs)."""
    return (int(hist[: t + 1].sum()) if t >= 0 else 0), int(hist.sum())


def pooled_summary(data, target: float | None = None) -> pd.DataFrame:
    """One row per hasher, pooled over the run's transform specs (see the
    module docstring). Columns: hasher, bits, n_pos, n_neg, auc, eer, for
    each FPR x in SUMMARY_FPRS + the run's points: tpr_at_fpr_<x> with
    _lo/_hi (Clopper-Pearson on the TPR at the chosen threshold; NaN = not
    measurable), then threshold (largest t with pooled FPR(t) <= target, or
    point estimate), tpr/fpr at it with intervals, orig_orig_matches /
    orig_orig_pairs at it, and the metrics stage's recommended_threshold
    (an upper-bound rule, see harness.metrics) when it wrote one."""
    metrics = data.metrics
    target = target_fpr(metrics) if target is None else target
    points = sorted(set(SUMMARY_FPRS) | set(fpr_points(metrics)), reverse=True)
    rec_col = recommended_column(metrics)
    rows = []
    for hasher in data.hashers:
        pos = data.hist(hasher, "positive")
        neg = data.hist(hasher, "variant-orig")
        oo = data.hist(hasher, "orig-orig")
        n_pos, n_neg = int(pos.sum()), int(neg.sum())
        row = {
            "hasher": hasher,
            "bits": data.bits(hasher),
            "n_pos": n_pos,
            "n_neg": n_neg,
            "auc": auc_from_histograms(pos, neg) if n_pos and n_neg else math.nan,
            "eer": eer_from_histograms(pos, neg) if n_pos and n_neg else math.nan,
        }
        for x in points:
            col = f"tpr_at_fpr_{x:g}"
            val = tpr_at_fpr(pos, neg, x) if n_pos and n_neg else math.nan
            row[col] = val
            if math.isnan(val):
                row[col + "_lo"] = row[col + "_hi"] = math.nan
            else:
                t = largest_threshold_at_fpr(neg, x)
                row[col + "_lo"], row[col + "_hi"] = clopper_pearson(*rate_at(pos, t))
        t, source = math.nan, "not measurable"
        if n_neg and fpr_measurable(n_neg, target):
            t, source = float(largest_threshold_at_fpr(neg, target)), f"largest t with pooled FPR <= {target:g}"
        row["recommended_threshold"], row["recommended_from"] = recommended_for(data, hasher, target, rec_col)
        row["target_fpr"] = target
        row["threshold"] = t
        row["threshold_source"] = source
        if math.isnan(t):
            for k in ("tpr", "fpr"):
                row[f"{k}_at_threshold"] = row[f"{k}_at_threshold_lo"] = row[f"{k}_at_threshold_hi"] = math.nan
            row["orig_orig_matches"] = row["orig_orig_pairs"] = math.nan
        else:
            ti = int(t)
            for k, hist in (("tpr", pos), ("fpr", neg)):
                hits, n = rate_at(hist, ti)
                row[f"{k}_at_threshold"] = hits / n if n else math.nan
                row[f"{k}_at_threshold_lo"], row[f"{k}_at_threshold_hi"] = (
                    clopper_pearson(hits, n) if n else (math.nan, math.nan)
                )
            hits, n = rate_at(oo, ti)
            row["orig_orig_matches"], row["orig_orig_pairs"] = hits, n
        rows.append(row)
    return pd.DataFrame(rows)


def recommended_for(data, hasher: str, target: float, rec_col: str | None) -> tuple[float, str]:
    """The metrics stage's recommended threshold for `hasher` at `target`
    (thresholds.csv when present, else a recommended-threshold column of
    metrics.csv that is constant per hasher); (nan, "") when absent."""
    thr = data.extra.get("thresholds.csv") if hasattr(data, "extra") else None
    if thr is not None and {"hasher", "target_fpr", "recommended_threshold"} <= set(thr.columns):
        sub = thr[thr["hasher"] == hasher]
        if len(sub):
            best = (sub["target_fpr"] - target).abs().min()
            sub = sub[(sub["target_fpr"] - target).abs() == best]
            vals = sub["recommended_threshold"].dropna().unique()
            if len(vals) == 1:
                neg = sub["negatives"].iat[0] if "negatives" in sub.columns else ""
                return float(vals[0]), f"thresholds.csv ({neg} negatives, target {sub['target_fpr'].iat[0]:g})"
    if rec_col is not None:
        vals = data.metrics.loc[(data.metrics["hasher"] == hasher) & data.metrics[rec_col].notna(), rec_col].unique()
        if len(vals) == 1:
            return float(vals[0]), "metrics.csv"
    return math.nan, ""


def robustness_fpr(data, preferred: float = 1e-3) -> tuple[float, str]:
    """The fixed FPR of the robustness figure and heatmap: `preferred` when
    some transform's variant-orig negative count measures it, otherwise the
    run's target FPR, otherwise the smallest power of ten every transform
    measures. Returns (fpr, reason)."""
    vo = data.metrics[data.metrics["negatives"] == "variant-orig"] if "negatives" in data.metrics else data.metrics
    n_max = int(vo["n_neg"].max()) if len(vo) else 0
    if n_max and fpr_measurable(n_max, preferred):
        return preferred, f"FPR {preferred:g}"
    target = target_fpr(data.metrics)
    if n_max and fpr_measurable(n_max, target):
        return target, (
            f"FPR {target:g} (the run's target; {preferred:g} is not measurable with "
            f"at most {n_max} negative pairs per edit)"
        )
    if n_max:
        x = 10.0 ** math.ceil(math.log10(1.0 / n_max))
        return x, f"FPR {x:g} (smaller rates are not measurable with {n_max} negative pairs)"
    return preferred, f"FPR {preferred:g}"


def _num(x):
    try:
        v = float(x)
        return v if math.isfinite(v) else None
    except (TypeError, ValueError):
        return None


def severity_order(family: str, severities) -> list:
    """Severities of one family from mildest to most severe: in the order of
    the family's default sweep (listed mild -> severe) when every value is
    on it; otherwise numeric, in the sweep's direction (first vs last
    value) when the registry knows the family, else ascending; text values
    in text order."""
    sev = list(dict.fromkeys(severities))
    try:
        from ..transforms import FAMILIES

        sweep = list(FAMILIES[family].default_sweep)
    except Exception:  # unknown family or registry shape
        sweep = []
    index = {}
    for i, v in enumerate(sweep):
        index.setdefault(str(v), i)
        if _num(v) is not None:
            index.setdefault(_num(v), i)
    pos = [index.get(_num(s), index.get(str(s))) if _num(s) is not None else index.get(str(s)) for s in sev]
    if sev and all(p is not None for p in pos):  # every value is on the default sweep (listed mild first)
        return [s for _, s in sorted(zip(pos, sev), key=lambda p: p[0])]
    nums = [_num(s) for s in sev]
    if all(v is not None for v in nums):
        descending = False
        try:
            from ..transforms import FAMILIES

            sweep = [_num(s) for s in FAMILIES[family].default_sweep]
            sweep = [v for v in sweep if v is not None]
            if len(sweep) >= 2 and sweep[0] != sweep[-1]:
                descending = sweep[-1] < sweep[0]
        except Exception:  # unknown family or registry shape: ascending
            descending = False
        return [s for _, s in sorted(zip(nums, sev), key=lambda p: p[0], reverse=descending)]
    return sorted(sev, key=str)


def severity_meaning(family: str) -> str:
    try:
        from ..transforms import FAMILIES

        return FAMILIES[family].severity_meaning
    except Exception:
        return "severity"


def middle_severity(family: str, severities) -> object:
    """The middle of the family's sweep (mild -> severe); for an even count
    the more severe of the two middle values."""
    order = severity_order(family, severities)
    return order[len(order) // 2] if order else None


def series_of(transform: str, family: str) -> str:
    """The sweep a transform key belongs to: its family, plus its parameters
    when it has any (``crop(0.9,position="off-centre")`` ->
    ``crop (position=off-centre)``), so two sweeps of one family with
    different parameters are never drawn as one line."""
    key = str(transform)
    inner = key[key.find("(") + 1 : key.rfind(")")] if "(" in key and key.endswith(")") else ""
    params = inner.split(",", 1)[1] if "," in inner else ""
    params = params.replace('"', "").strip()
    return f"{family} ({params})" if params else str(family)


def series_list(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(series, family) pairs of a tpr_table, sorted."""
    return sorted(set(zip(table["series"], table["family"])))


def tpr_table(data, fpr: float) -> pd.DataFrame:
    """TPR at `fpr` per hasher x transform (variant-orig negatives of that
    transform), computed from the histograms; NaN = not measurable.
    Columns: hasher, transform, family, series (see series_of), severity,
    n_neg, tpr, threshold.
    Memoised per (data, fpr): the figures ask for the same table."""
    cache = getattr(data, "_tpr_tables", None)
    if cache is None:
        cache = {}
        try:
            data._tpr_tables = cache
        except AttributeError:
            pass
    if fpr in cache:
        return cache[fpr].copy()
    cache[fpr] = _tpr_table(data, fpr)
    return cache[fpr].copy()


def _tpr_table(data, fpr: float) -> pd.DataFrame:
    rows = []
    pos_rows = data.histograms[data.histograms["kind"] == "positive"]
    keys = pos_rows.drop_duplicates(["hasher", "transform"])[["hasher", "transform", "family", "severity"]]
    for hasher, transform, family, severity in keys.itertuples(index=False):
        pos = data.hist(hasher, "positive", transform)
        neg = data.hist(hasher, "variant-orig", transform)
        val = tpr_at_fpr(pos, neg, fpr) if neg.sum() else math.nan
        thr = largest_threshold_at_fpr(neg, fpr) if not math.isnan(val) else math.nan
        rows.append((hasher, transform, family, series_of(transform, family), severity, int(neg.sum()), val, thr))
    return pd.DataFrame(
        rows, columns=["hasher", "transform", "family", "series", "severity", "n_neg", "tpr", "threshold"]
    )
