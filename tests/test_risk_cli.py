"""`phash-harness risk`: outputs equal the pure functions; bad parameters
exit 2 with one line and write nothing; a real run on caltech101_tiny."""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.cli import main
from harness.risk import (
    account_flag_probability,
    account_flag_probability_betabinom,
    clopper_pearson,
    per_query_probability,
)
from tests.helpers import run_cli, run_main


def _synthetic_results(folder):
    """A results folder with 12 images in 12 groups: 66 orig-orig pairs."""
    rng = np.random.default_rng(0)
    os.makedirs(folder, exist_ok=True)
    packed = rng.integers(0, 256, size=(12, 8), dtype=np.uint8)
    packed[1] = packed[0] ^ np.array([1, 0, 0, 0, 0, 0, 0, 0], np.uint8)  # one close pair (distance 1)
    ids = [f"img{i:02d}" for i in range(12)]
    hashes = pd.DataFrame(
        {
            "image_id": ids,
            "group": ids,
            "transform": "original()",
            "hasher": "phash",
            "hash": [bytes(p) for p in packed],
        }
    )
    hashes.to_parquet(os.path.join(folder, "hashes.parquet"), index=False)
    d = np.bitwise_count(packed[:, None, :] ^ packed[None, :, :]).sum(axis=2)
    iu = np.triu_indices(12, 1)
    counts = np.bincount(d[iu], minlength=65)
    rows = [
        ("phash", 64, "original()", "original", "", "orig-orig", dist, int(c)) for dist, c in enumerate(counts) if c
    ]
    pd.DataFrame(
        rows, columns=["hasher", "bits", "transform", "family", "severity", "kind", "distance", "count"]
    ).to_parquet(os.path.join(folder, "histograms.parquet"), index=False)
    return d[iu]


def test_given_rate_table_and_files_equal_the_pure_functions(tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(
        [
            "risk",
            "--fpr",
            "1e-9",
            "--database-size",
            "1e6",
            "--photos-per-year",
            "2000",
            "--match-threshold",
            "30",
            "--users",
            "1e9",
            "--rho",
            "0.001",
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "per account" in text and "population" in text
    assert {"risk.csv", "risk_sweep.csv", "risk.png"} <= set(os.listdir(out))
    csv = pd.read_csv(out / "risk.csv")
    q = per_query_probability(1e-9, 10**6)
    acc = csv[csv["layer"] == "per account"]["point"].to_numpy()
    assert acc[0] == pytest.approx(account_flag_probability(q, 2000, 30), rel=1e-5)
    assert acc[1] == pytest.approx(account_flag_probability_betabinom(q, 0.001, 2000, 30), rel=1e-5)
    pop = csv[csv["layer"] == "population"]["point"].iat[0]
    assert pop == pytest.approx(1e9 * acc[1], rel=1e-5)
    sweep = pd.read_csv(out / "risk_sweep.csv")
    k = sweep[sweep["axis"] == "k"].sort_values("k")
    assert (np.diff(k["p_flag"]) <= 0).all()  # higher k never raises the risk


def test_results_folder_uses_exact_counts_and_brute_force_split(tmp_path, capsys):
    folder = tmp_path / "res"
    dists = _synthetic_results(folder)
    rc = main(
        [
            "risk",
            "--results",
            str(folder),
            "--hasher",
            "phash",
            "--threshold",
            "1",
            "--database-size",
            "1000",
            "--photos-per-year",
            "100",
            "--match-threshold",
            "3",
        ]
    )
    assert rc == 0
    text = capsys.readouterr().out
    assert "1 of 66 negative pairs" in text and "Clopper-Pearson" in text
    csv = pd.read_csv(folder / "risk.csv")
    first = csv.iloc[0]
    assert first["point"] == pytest.approx((dists <= 1).mean(), rel=1e-5)
    lo, hi = clopper_pearson(1, 66)
    assert (first["low"], first["high"]) == pytest.approx((lo, hi), rel=1e-5)
    acc = csv[csv["layer"] == "per account"].iloc[0]
    for col, p in (("point", 1 / 66), ("low", lo), ("high", hi)):
        assert acc[col] == pytest.approx(account_flag_probability(per_query_probability(p, 1000), 100, 3), rel=1e-5)
    query = pd.read_csv(folder / "risk_query.csv")
    assert query["queries"].iat[0] == 6 and query["database_size"].max() == 6


BAD = [
    (["--fpr", "1.5"], "--fpr"),
    (["--fpr=-1e-3"], "--fpr"),
    (["--fpr", "abc"], "--fpr"),
    (["--fpr", "1e-6", "--photos-per-year", "-5"], "--photos-per-year"),
    (["--fpr", "1e-6", "--photos-per-year", "20.5"], "--photos-per-year"),
    (["--fpr", "1e-6", "--match-threshold", "3000"], "--match-threshold"),
    (["--fpr", "1e-6", "--match-threshold", "0"], "--match-threshold"),
    (["--fpr", "1e-6", "--database-size", "-1"], "--database-size"),
    (["--fpr", "1e-6", "--users=-1e9"], "--users"),
    (["--fpr", "1e-6", "--rho", "1"], "--rho"),
    (["--fpr", "1e-6", "--confidence", "1.2"], "--confidence"),
    (["--image-rate", "2"], "--image-rate"),
    (["--fpr", "1e-6", "--target", "2"], "--target"),
    (["--fpr", "1e-6", "--photos-per-year", "1e7", "--rho", "0.01"], "--photos-per-year"),
]


@pytest.mark.parametrize("extra,field", BAD)
def test_bad_parameters_exit_2_one_line_nothing_written(tmp_path, capsys, extra, field):
    out = tmp_path / "out"
    args = ["risk", "--database-size", "10", "--photos-per-year", "2000", "--output", str(out)]
    # later options override earlier ones in argparse
    rc = main(args + extra)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and field in err
    assert not out.exists()


def test_unknown_hasher_in_results_folder_exits_2_and_writes_nothing(tmp_path):
    folder = tmp_path / "res"
    _synthetic_results(folder)
    before = sorted(os.listdir(folder))
    proc = run_main(
        "risk",
        "--results",
        folder,
        "--hasher",
        "pdq",
        "--threshold",
        "31",
        "--database-size",
        "5e6",
        "--photos-per-year",
        "2000",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "pdq" in proc.stderr and "phash" in proc.stderr
    assert sorted(os.listdir(folder)) == before
    proc = run_main(
        "risk",
        "--results",
        folder,
        "--hasher",
        "phash",
        "--threshold",
        "65",
        "--database-size",
        "5e6",
        "--photos-per-year",
        "2000",
    )
    assert proc.returncode == 2 and "--threshold" in proc.stderr
    assert sorted(os.listdir(folder)) == before


def test_real_run_on_caltech101_tiny(tiny_dir, tmp_path):
    """pHash on 96 real photos: 4,560 orig-orig pairs. At t=10 none match,
    so the point estimate is 0 and only the upper bound is informative."""
    cfg = {
        "name": "risk-tiny",
        "dataset": {"source": "folder", "path": str(tiny_dir / "images")},
        "hashers": ["phash"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "seed": 0,
        "output": str(tmp_path / "run"),
    }
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_cli("run", "--config", path, "--no-progress", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    proc = run_cli(
        "risk",
        "--results",
        tmp_path / "run",
        "--hasher",
        "phash",
        "--threshold",
        "10",
        "--database-size",
        "5e6",
        "--photos-per-year",
        "2000",
        "--match-threshold",
        "30",
        "--users",
        "1e9",
    )
    assert proc.returncode == 0, proc.stderr
    assert "0 of 4560 negative pairs" in proc.stdout
    csv = pd.read_csv(tmp_path / "run" / "risk.csv")
    first = csv.iloc[0]
    assert first["point"] == 0 and first["high"] == pytest.approx(1 - 0.025 ** (1 / 4560), rel=1e-5)
    query = pd.read_csv(tmp_path / "run" / "risk_query.csv")
    assert query["queries"].iat[0] + query["database_size"].max() == 96


def test_empirical_curve_is_subsampled_above_the_cap(tmp_path, capsys, monkeypatch):
    import harness.risk_cli as rc

    folder = tmp_path / "res"
    _synthetic_results(folder)
    monkeypatch.setattr(rc, "MAX_EMPIRICAL_SIDE", 4)
    assert (
        main(
            [
                "risk",
                "--results",
                str(folder),
                "--hasher",
                "phash",
                "--threshold",
                "30",
                "--database-size",
                "10",
                "--photos-per-year",
                "100",
                "--match-threshold",
                "3",
            ]
        )
        == 0
    )
    assert "seeded subsample of 6 queries and 6 database images" in capsys.readouterr().out
    query = pd.read_csv(folder / "risk_query.csv")
    assert query["queries"].iat[0] == 4 and query["database_size"].max() == 4
