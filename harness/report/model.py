"""The report's model: every number the report shows, computed once from a
results folder, before anything is formatted or drawn.

`build_model(data)` reads the tables of a results folder (`data`, see
harness.report.data) and returns a `ReportModel` of plain values and
DataFrames. The renderers (harness.report.build lays out document blocks,
harness.report.document writes markdown and HTML) only format it; the
figures draw from the same folder with the model's thresholds and FPR.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..metrics.granularity import granularity_at, threshold_text
from .summary import pooled_summary, recommended_column, robustness_fpr, severity_order, target_fpr


@dataclass(frozen=True)
class ReportModel:
    """What the report says, as numbers and tables.

    target: the run's target FPR. pair_counts: pairs per hasher of each kind
    (positive, variant-orig, orig-orig; the largest over hashers).
    summary: `pooled_summary` (one row per hasher); thresholds: hasher ->
    its pooled threshold t at the target (NaN: not measurable).
    robustness_fpr, robustness_reason: the fixed FPR of the robustness
    figure and heatmap, and why (`robustness_fpr`). per_transform: the
    variant-orig rows of metrics.csv ordered hasher, family, mild to
    severe; recommended_column: its conservative threshold column, if any.
    originals: the orig-orig rows of metrics.csv (what a run without
    transforms reports). recommended: the rows of thresholds.csv at the
    target FPR closest to the run's (None when absent);
    recommended_tpr: those with a threshold and a TPR, ordered as
    per_transform.
    """

    title: str
    target: float
    pair_counts: dict
    summary: pd.DataFrame
    thresholds: dict
    robustness_fpr: float
    robustness_reason: str
    per_transform: pd.DataFrame
    recommended_column: str | None
    originals: pd.DataFrame
    recommended: pd.DataFrame | None
    recommended_tpr: pd.DataFrame | None

    @property
    def has_positives(self) -> bool:
        return self.pair_counts["positive"] > 0


def pair_counts(data) -> dict:
    """Pairs of each kind (positive, variant-orig, orig-orig): the largest
    count over the hashers of the run."""
    h = data.histograms
    out = {}
    for kind in ("positive", "variant-orig", "orig-orig"):
        per = h[h["kind"] == kind].groupby("hasher")["count"].sum()
        out[kind] = int(per.max()) if len(per) else 0
    return out


def sort_mild_to_severe(m: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by hasher, family, then severity from mild to severe."""
    if not {"hasher", "family", "severity"} <= set(m.columns) or not len(m):
        return m
    rank = {}
    for family, sub in m.groupby("family"):
        for i, sev in enumerate(severity_order(family, sub["severity"].astype(str).unique())):
            rank[(family, sev)] = i
    key = [rank.get((f, str(s)), 0) for f, s in zip(m["family"], m["severity"])]
    return m.assign(_rank=key).sort_values(["hasher", "family", "_rank"], kind="stable").drop(columns="_rank")


def _negatives(metrics: pd.DataFrame, kind: str) -> pd.DataFrame:
    return metrics[metrics["negatives"] == kind] if "negatives" in metrics.columns else metrics


def _recommended(data, target: float):
    """thresholds.csv at the target FPR closest to the run's, and its rows
    that have a threshold and a TPR (None, None when the table is absent)."""
    thr = data.extra.get("thresholds.csv")
    need = {"hasher", "target_fpr", "recommended_threshold", "transform", "tpr"}
    if thr is None or not need <= set(thr.columns) or not len(thr):
        return None, None
    best = (thr["target_fpr"] - target).abs().min()
    sub = thr[(thr["target_fpr"] - target).abs() == best]
    ok = sub[(sub["recommended_threshold"] >= 0) & sub["tpr"].notna()]
    if len(ok) and "family" in ok.columns:
        ok = sort_mild_to_severe(ok)
    return sub, ok


def _threshold_cell(t, grain: int, hists) -> str | None:
    """Effective-threshold text of t ("31 (= 30, distances are even)"),
    None for a missing or negative t. The granularity is measured on the
    orig-orig pairs and kept only where no positive or negative pair lies
    between the effective threshold and t (harness.metrics.granularity)."""
    if t is None or (isinstance(t, float) and t != t) or int(t) < 0:
        return None
    return threshold_text(int(t), granularity_at(int(t), grain, *hists))


def threshold_texts(data, summary: pd.DataFrame) -> pd.DataFrame:
    """`summary` with ``threshold_text`` and ``recommended_threshold_text``
    columns (see `_threshold_cell`)."""
    if summary.empty:
        return summary
    texts, rec_texts = [], []
    for r in summary.to_dict("records"):
        grain = data.granularity(r["hasher"])
        hists = [data.hist(r["hasher"], k) for k in ("positive", "variant-orig", "orig-orig")]
        texts.append(_threshold_cell(r["threshold"], grain, hists))
        rec_texts.append(_threshold_cell(r.get("recommended_threshold"), grain, hists))
    return summary.assign(threshold_text=texts, recommended_threshold_text=rec_texts)


def build_model(data) -> ReportModel:
    """Compute every number of the report once (see `ReportModel`)."""
    target = target_fpr(data.metrics)
    counts = pair_counts(data)
    summary = threshold_texts(data, pooled_summary(data, target)) if counts["positive"] else pd.DataFrame()
    thresholds = {r["hasher"]: r["threshold"] for r in summary.to_dict("records")}
    rob_fpr, rob_reason = robustness_fpr(data)
    recommended, recommended_tpr = _recommended(data, target)
    return ReportModel(
        title=f"phash-harness report: {data.run_info.get('name', '')}",
        target=target,
        pair_counts=counts,
        summary=summary,
        thresholds=thresholds,
        robustness_fpr=rob_fpr,
        robustness_reason=rob_reason,
        per_transform=sort_mild_to_severe(_negatives(data.metrics, "variant-orig")),
        recommended_column=recommended_column(_negatives(data.metrics, "variant-orig")),
        originals=_negatives(data.metrics, "orig-orig"),
        recommended=recommended,
        recommended_tpr=recommended_tpr,
    )
