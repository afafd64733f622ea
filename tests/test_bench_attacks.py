"""`phash-harness bench attacks` runs end to end at a tiny size (not a timing
test): the queries it reports are the queries the attacks made."""

from __future__ import annotations

import json

from tests.helpers import dataset_dir, run_cli, run_main


def test_bench_attacks_small_writes_results(tmp_path):
    folder = dataset_dir("caltech101_tiny") / "images"
    res = run_cli(
        "bench",
        "attacks",
        str(folder),
        "--hashers",
        "dhash,pdq",
        "--algorithms",
        "random,cma",
        "--images",
        "2",
        "--budget",
        "24",
        "--output",
        tmp_path / "attacks",
    )
    assert res.returncode == 0, res.stderr
    out = json.loads((tmp_path / "attacks.json").read_text())
    assert out["photos"] == 2 and out["budget"] == 24
    assert [(r["hasher"], r["algorithm"]) for r in out["rows"]] == [
        ("dhash", "random"),
        ("dhash", "cma"),
        ("pdq", "random"),
        ("pdq", "cma"),
    ]
    for r in out["rows"]:
        assert r["queries"] == 2 * 24 and r["cpu_seconds"] > 0 and r["queries_per_cpu_second"] > 0
    assert "queries/s/core" in (tmp_path / "attacks.md").read_text()


def test_bench_attacks_bad_argument_exits_2_and_writes_nothing(tmp_path):
    for args, field in (
        (["--hashers", "nohash"], "--hashers"),
        (["--algorithms", "nes"], "--algorithms"),
        (["--budget", "0"], "--budget"),
    ):
        res = run_main("bench", "attacks", *args, "--output", tmp_path / "out" / "attacks")
        assert res.returncode == 2 and f"error: {field}" in res.stderr, res.stderr
        assert not (tmp_path / "out").exists()
