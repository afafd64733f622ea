"""`phash-harness bench census` runs end to end at a tiny size (not a timing
test): the census it times counted every pair of the random hashes it drew,
the histogram equals numpy's, and a 2-process pool counts the same."""

from __future__ import annotations

import json

import numpy as np

from benchmarks.pairs import random_hashes
from tests.helpers import run_cli


def test_bench_census_small_counts_every_pair(tmp_path):
    n = 1500
    for extra in ([], ["--workers", "2"]):
        res = run_cli("bench", "census", "--n", n, "--bits", "64", "--bootstrap", "0", "--output", tmp_path, *extra)
        assert res.returncode == 0, res.stderr
    runs = json.loads((tmp_path / "census.json").read_text())["runs"]
    assert [(r["executor"], r["workers"]) for r in runs] == [("inline", 1), ("process", 2)]
    for r in runs:
        assert r["pairs"] == n * (n - 1) // 2 and r["peak_rss_mib"] > 0 and r["wall_s"] > 0
    assert runs[0]["histogram_sha256"] == runs[1]["histogram_sha256"]
    # the close pairs the census kept: every pair at or under keep_below, counted by numpy
    packed = random_hashes(n, 64, 0)
    words = packed.view("<u8").ravel()
    d = np.bitwise_count(words[:, None] ^ words[None, :])[np.triu_indices(n, 1)]
    assert runs[0]["close_pairs"] == int((d <= runs[0]["keep_below"]).sum())
    assert "| 1,500 | 64 | inline | 1 |" in (tmp_path / "census.md").read_text()
