"""Report figures drawn in several forked processes are byte-identical to
figures drawn in one, and a failing figure is still reported."""
from __future__ import annotations

import shutil
import warnings

import pytest

from harness import run_experiment
from harness.report import write_report

CONFIG = {"name": "parallel-report", "dataset": {"source": "sample", "limit": 6},
          "hashers": ["ahash", "dhash"],
          "transforms": [{"family": "jpeg", "severities": [50, 20]}, {"family": "crop", "severities": [0.8]}],
          "seed": 0}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("par") / "run"
    run_experiment(dict(CONFIG, output=str(out)), progress=False, workers=2)
    return out


def _fresh(run_dir, dest):
    shutil.copytree(run_dir, dest)
    for p in dest.iterdir():
        if p.suffix in (".png", ".svg", ".md", ".html"):
            p.unlink()
    return dest


def test_parallel_figures_are_byte_identical(run_dir, tmp_path):
    one = _fresh(run_dir, tmp_path / "one")
    two = _fresh(run_dir, tmp_path / "two")
    write_report(str(one), processes=1)
    write_report(str(two), processes=2)
    names = sorted(p.name for p in one.iterdir() if p.is_file())
    assert names == sorted(p.name for p in two.iterdir() if p.is_file())
    figures = [n for n in names if n.endswith((".png", ".svg"))]
    assert len(figures) >= 2 * 8  # robustness, heatmap, roc, roc-/det- per family, histograms
    for n in names:
        assert (one / n).read_bytes() == (two / n).read_bytes(), n
    # and equal to the report the run itself wrote (drawn with its 2 worker processes)
    for n in figures:  # (report.md lists run.json timings, which the run completes after its report)
        assert (run_dir / n).read_bytes() == (one / n).read_bytes(), n


def test_a_failing_figure_in_a_drawing_process_is_reported(run_dir, tmp_path, monkeypatch):
    from harness.report import figures as F

    def broken(*a, **k):
        raise RuntimeError("no heatmap today")
    monkeypatch.setattr(F, "heatmap", broken)  # forked processes inherit the patch
    two = _fresh(run_dir, tmp_path / "two")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_report(str(two), processes=2)
    md = (two / "report.md").read_text()
    assert "Figure `heatmap` could not be drawn: RuntimeError: no heatmap today" in md
    assert not (two / "heatmap.png").exists() and (two / "roc.png").exists()
    assert any("report figure heatmap failed" in str(w.message) for w in caught)
