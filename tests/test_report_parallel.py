"""Report figures drawn in several forked processes are byte-identical to
figures drawn in one, and a failing figure is still reported."""

from __future__ import annotations

import shutil
import warnings

import pytest

from harness import run_experiment, write_report

CONFIG = {
    "name": "parallel-report",
    "dataset": {"source": "sample", "limit": 6},
    "hashers": ["ahash", "dhash"],
    "transforms": [{"family": "jpeg", "severities": [50, 20]}, {"family": "crop", "severities": [0.8]}],
    "seed": 0,
}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("par") / "run"
    results = run_experiment(dict(CONFIG, output=str(out)), progress=False, workers=2)
    write_report(results, processes=2, svg=True)  # as `phash-harness run --workers 2 --svg` does
    return out


def _fresh(run_dir, dest):
    shutil.copytree(run_dir, dest)
    shutil.rmtree(dest / "figures")
    for p in dest.iterdir():
        if p.suffix in (".md", ".html"):
            p.unlink()
    return dest


def _files(folder):
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.is_file() and "store" not in p.relative_to(folder).parts
    )


def test_parallel_figures_are_byte_identical(run_dir, tmp_path):
    one = _fresh(run_dir, tmp_path / "one")
    two = _fresh(run_dir, tmp_path / "two")
    write_report(str(one), processes=1, svg=True)
    write_report(str(two), processes=2, svg=True)
    names = _files(one)
    assert names == _files(two)
    figures = [n for n in names if n.endswith((".png", ".svg"))]
    assert all(n.startswith("figures/") for n in figures)
    assert len(figures) >= 2 * 8  # robustness, heatmap, roc, roc-/det- per family, histograms
    for n in names:
        assert (one / n).read_bytes() == (two / n).read_bytes(), n
    # and equal to the report written right after the run (drawn with 2 processes)
    for n in figures + ["report.md", "report.html"]:
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
    assert not (two / "figures" / "heatmap.png").exists() and (two / "figures" / "roc.png").exists()
    assert any("report figure heatmap failed" in str(w.message) for w in caught)
