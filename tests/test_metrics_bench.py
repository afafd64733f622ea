"""`phash-harness bench pairs` runs end to end at a tiny size (not a timing test)."""

from __future__ import annotations

import json

from tests.helpers import run_cli, run_main


def test_bench_pairs_small_writes_results(tmp_path):
    res = run_cli(
        "bench", "pairs", "--n", "3000", "--bits", "144", "--scipy-n", "400", "--count-n", "2000", "--output", tmp_path
    )
    assert res.returncode == 0, res.stderr
    entry = json.loads((tmp_path / "pairs.json").read_text())[-1]
    assert entry["pairs"] == 3000 * 2999 // 2 and entry["bits"] == 144
    assert entry["scipy"]["histograms_equal"] is True
    counts = entry["threshold_count"]
    try:
        import faiss  # noqa: F401  (a [dev] dependency: the oracle for the counting path)
    except ImportError:
        assert "faiss" in json.dumps(counts)  # the report says faiss was not there
    else:
        assert counts["faiss_agrees"] is True
    assert "extrapolated" in (tmp_path / "pairs.md").read_text()


def test_bench_pairs_bad_argument_exits_2_and_writes_nothing(tmp_path):
    res = run_main("bench", "pairs", "--n", "1", "--output", tmp_path / "out")
    assert res.returncode == 2 and "--n" in res.stderr
    assert not (tmp_path / "out").exists()
