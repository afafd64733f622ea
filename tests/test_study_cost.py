"""bench study_cost: the extrapolation counts the evaluations the metrics
stage really makes, and the command writes its figures."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.study_cost import within_evaluations
from harness.hashers import get_hasher
from harness.metrics.distances import HasherMetric
from tests.helpers import run_cli


class _Counting:
    """cv_radialvariance with a counter of (query, reference) evaluations."""

    def __init__(self):
        self.inner = get_hasher("cv_radialvariance")
        self.name, self.distance = self.inner.name, self.inner.distance
        self.n_bins, self.bin_edges, self.quantise = self.inner.n_bins, self.inner.bin_edges, self.inner.quantise
        self.evaluations = 0

    def pair_distances(self, a, b):
        self.evaluations += len(a) * len(b)
        return self.inner.pair_distances(a, b)


def test_within_evaluations_counts_the_metric_stage_work():
    rng = np.random.default_rng(0)
    for n in (5, 1024, 1100):
        h = _Counting()
        HasherMetric(h).hist(rng.integers(0, 256, (n, 40), dtype=np.uint8))
        assert h.evaluations == within_evaluations(n), n


def test_bench_study_cost_writes_measured_and_extrapolated_figures(tmp_path, tiny_dir):
    out = tmp_path / "cost"
    res = run_cli(
        "bench",
        "study_cost",
        "--dataset",
        tiny_dir / "images",
        "--hash-images",
        "30",
        "--slow-images",
        "3",
        "--rows",
        "10",
        "--output",
        out,
    )
    assert res.returncode == 0, res.stderr
    assert "EXTRAPOLATED" in res.stdout
    data = json.loads((tmp_path / "cost.json").read_text())
    by = {e["hasher"]: e for e in data["entries"]}
    assert set(by) == {"cv_radialvariance", "crop_resistant"}
    rv = by["cv_radialvariance"]
    assert rv["images_listed"] == 96 and rv["images_hashed"] == 30 and rv["hash_errors"] == 0
    assert rv["distance_block"].startswith("10 x 96")
    assert rv["specs"] > 0 and rv["pairs_per_cpu_second"] > 0
    assert by["crop_resistant"]["images_hashed"] == 3
    assert "EXTRAPOLATED" in (tmp_path / "cost.md").read_text()


def test_passes_count_the_metric_stage_work_with_and_without_the_bin_cache(monkeypatch):
    """hist then close over one set cost `passes` x within_evaluations."""
    from benchmarks.study_cost import passes
    from harness.metrics import distances

    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (50, 40), dtype=np.uint8)
    for cache_pairs in (1 << 26, 0):
        monkeypatch.setattr(distances, "CACHE_PAIRS", cache_pairs)
        h = _Counting()
        m = HasherMetric(h)
        m.close(a, None, int(m.hist(a).nonzero()[0][0]))
        assert h.evaluations == passes(50, 50, 2) * within_evaluations(50)
    assert passes(50, 50, 2) == 2  # (the last setting: no cache)
