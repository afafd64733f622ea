"""The report computes its model once (harness.report.model.build_model),
then only formats it (harness.report.build) and renders it
(harness.report.document)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import harness.report.build as build
import harness.report.model as model_module
from harness import Results, write_report
from harness.report.model import ReportModel, build_model

CONFIG = {
    "name": "model-test",
    "dataset": {"source": "sample"},
    "hashers": ["phash", "dhash"],
    "transforms": [{"family": "jpeg", "severities": [30, 70]}],
    "seed": 0,
    "metrics": {"target_fpr": 0.01, "fpr_points": [0.01]},
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from harness import run_experiment

    out = tmp_path_factory.mktemp("model") / "run"
    run_experiment(dict(CONFIG, output=str(out)), progress=False)
    return out


def test_model_numbers_equal_a_direct_count(run_dir):
    m = build_model(Results.load(str(run_dir)))
    assert isinstance(m, ReportModel) and m.has_positives and m.target == 0.01
    h = pd.read_parquet(run_dir / "histograms.parquet")
    for kind in ("positive", "variant-orig", "orig-orig"):
        assert m.pair_counts[kind] == int(h[h["kind"] == kind].groupby("hasher")["count"].sum().max())
    for hasher in ("phash", "dhash"):
        neg = h[(h["hasher"] == hasher) & (h["kind"] == "variant-orig")].groupby("distance")["count"].sum()
        hist = np.zeros(65, np.int64)
        hist[neg.index.to_numpy()] = neg.to_numpy()
        fpr = np.cumsum(hist) / hist.sum()
        ok = np.nonzero(fpr <= 0.01)[0]
        want = float(ok.max()) if len(ok) and hist.sum() * 0.01 >= 1 else math.nan
        got = m.thresholds[hasher]
        assert (math.isnan(want) and math.isnan(got)) or got == want
    # per-transform rows: variant-orig only, mild (quality 70) before severe (30) within each hasher
    assert set(m.per_transform["negatives"]) == {"variant-orig"}
    for _, rows in m.per_transform.groupby("hasher", sort=False):
        assert [str(s) for s in rows["severity"]] == ["70", "30"]


def test_write_report_builds_the_model_once(run_dir, monkeypatch):
    calls = {"build_model": 0, "pooled_summary": 0}

    def counting(name, fn):
        def wrapper(*a, **k):
            calls[name] += 1
            return fn(*a, **k)

        return wrapper

    monkeypatch.setattr(build, "build_model", counting("build_model", build.build_model))
    monkeypatch.setattr(model_module, "pooled_summary", counting("pooled_summary", model_module.pooled_summary))
    write_report(str(run_dir))
    assert calls == {"build_model": 1, "pooled_summary": 1}


def test_the_layout_module_computes_no_rate():
    """build.py formats the model: it imports no metric and none of the
    summary functions that compute rates or thresholds."""
    tree = ast.parse(Path(build.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert "metrics" not in (node.module or ""), node.module
            imported |= {a.name for a in node.names}
    assert not imported & {
        "pooled_summary",
        "robustness_fpr",
        "target_fpr",
        "tpr_table",
        "recommended_column",
        "clopper_pearson",
        "tpr_at_fpr",
        "largest_threshold_at_fpr",
    }
