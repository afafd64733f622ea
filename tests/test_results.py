"""harness.Results (one object for a results folder) and harness.distance,
checked against brute force on the hash table and the reference libraries."""

from __future__ import annotations

import os

import imagehash
import numpy as np
import pandas as pd
import pytest

import harness
from harness import Results
from harness.hashers.radial_pcc import compare_error_bound

CONFIG = {
    "name": "results-api",
    "dataset": {"source": "sample", "limit": 8},
    "hashers": ["phash", "dhash", "cv_colormoment", "cv_radialvariance", "crop_resistant"],
    "transforms": [{"family": "jpeg", "severities": [30]}, {"family": "rotate", "severities": [5]}],
    "seed": 0,
}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results") / "run"
    return harness.run_experiment(dict(CONFIG, output=str(out)), progress=False, scheduler="inline")


def _popcount_pairs(hashes, hasher, kind, transform=None):
    """Hamming distances of every pair of `kind`, from hash_hex (Python ints)."""
    h = hashes[hashes["hasher"] == hasher]
    orig = h[h["transform"] == "original()"]
    if kind == "orig-orig":
        rows = list(orig.itertuples())
        return [
            bin(int(a.hash_hex, 16) ^ int(b.hash_hex, 16)).count("1")
            for i, a in enumerate(rows)
            for b in rows[i + 1 :]
            if a.group != b.group
        ]
    var = h[h["transform"] != "original()"]
    if transform is not None:
        var = var[var["transform"] == transform]
    out = []
    for v in var.itertuples():
        for o in orig.itertuples():
            same = o.image_id == v.image_id
            if (kind == "positive" and same) or (kind == "variant-orig" and not same and o.group != v.group):
                out.append(bin(int(v.hash_hex, 16) ^ int(o.hash_hex, 16)).count("1"))
    return out


def test_run_returns_results_and_load_reads_the_same(run):
    assert isinstance(run, Results) and run.n_errors == 0 and run.config.name == "results-api"
    assert not os.path.exists(run.path("report.md")) and not os.path.exists(run.path("figures"))
    loaded = Results.load(run.output)
    assert loaded.hashers == run.hashers == sorted(CONFIG["hashers"])
    assert loaded.run_info == run.run_info and loaded.config == run.config
    assert {"metrics.csv", "histograms.parquet", "hashes.parquet", "thresholds.csv", "roc.csv"} <= set(loaded.tables)
    pd.testing.assert_frame_equal(
        loaded.metrics[["hasher", "transform", "n_pos", "n_neg"]],
        run.metrics[["hasher", "transform", "n_pos", "n_neg"]],
    )
    for hasher in loaded.hashers:
        for kind in ("positive", "variant-orig", "orig-orig"):
            assert np.array_equal(loaded.hist(hasher, kind), run.hist(hasher, kind))
    assert loaded.close_pairs_of("orig-orig")["kind"].eq("orig-orig").all()
    with pytest.raises(FileNotFoundError, match="no metrics.csv"):
        Results.load(os.path.dirname(run.output))


@pytest.mark.parametrize("hasher", ["phash", "dhash"])
def test_hist_roc_and_threshold_equal_brute_force(run, hasher):
    hashes = run.hashes
    for kind in ("positive", "variant-orig", "orig-orig"):
        d = _popcount_pairs(hashes, hasher, kind)
        assert run.hist(hasher, kind).tolist() == np.bincount(d, minlength=65).tolist(), kind
    pos = np.array(_popcount_pairs(hashes, hasher, "positive", "rotate(5)"))
    neg = np.array(_popcount_pairs(hashes, hasher, "variant-orig", "rotate(5)"))
    roc = run.roc(hasher, "rotate(5)")
    for t in (-1, 0, 5, 12, 30, 64):
        row = roc[roc["threshold"] == t].iloc[0]
        assert row["tpr"] == pytest.approx((pos <= t).mean()) and row["fpr"] == pytest.approx((neg <= t).mean())
    allneg = np.array(_popcount_pairs(hashes, hasher, "variant-orig"))
    t = run.threshold_for(0.02, hasher)
    assert t == max(x for x in range(-1, 65) if (allneg <= x).mean() <= 0.02)
    with pytest.raises(ValueError, match="not measurable"):
        run.threshold_for(1e-4, hasher)


def test_risk_uses_the_measured_rate(run):
    oo = np.array(_popcount_pairs(run.hashes, "phash", "orig-orig"))
    chain = run.risk("phash", 20, database_size=1000, photos=50, match_threshold=2, users=10**6)
    p = (oo <= 20).mean()
    assert chain["point"].iat[0] == pytest.approx(p)
    assert chain["point"].iat[1] == pytest.approx(1 - (1 - p) ** 1000)
    assert (chain["low"] <= chain["point"]).all() and (chain["point"] <= chain["high"]).all()


def test_bad_arguments_are_clear_errors(run):
    with pytest.raises(ValueError, match="kind must be one of"):
        run.hist("phash", "negative")
    with pytest.raises(ValueError, match="not in this results folder"):
        run.hist("nohash", "positive")
    with pytest.raises(ValueError, match="negative set"):
        run.roc("phash", kind="positive")


def test_distance_equals_the_reference_libraries(run):
    h = run.hashes
    orig = h[h["transform"] == "original()"]
    pairs = lambda name: orig[orig["hasher"] == name]["hash_hex"].tolist()[:4]  # noqa: E731
    for name in ("phash", "dhash"):
        a, b, c, _ = pairs(name)
        ref = imagehash.hex_to_hash(a) - imagehash.hex_to_hash(b)
        assert harness.distance(a, b) == harness.distance(a, b, hasher=name) == ref
        assert harness.distance(a, a) == 0 and isinstance(harness.distance(a, c), int)
    import cv2

    cm = harness.get_hasher("cv_colormoment")
    a, b, *_ = pairs("cv_colormoment")
    to = lambda x: np.frombuffer(bytes.fromhex(x), np.float64).reshape(1, -1)  # noqa: E731
    assert harness.distance(a, b, "cv_colormoment") == pytest.approx(cm._algo.compare(to(a), to(b)), rel=1e-12)
    rv = harness.get_hasher("cv_radialvariance")
    a, b, *_ = pairs("cv_radialvariance")
    to8 = lambda x: np.frombuffer(bytes.fromhex(x), np.uint8).reshape(1, -1)  # noqa: E731
    bound = float(compare_error_bound(to8(a), to8(b))[0, 0])  # OpenCV's SIMD path may differ by this much
    assert harness.distance(a, b, rv) == pytest.approx(1 - rv._algo.compare(to8(a), to8(b)), abs=bound)
    assert cv2 is not None
    a, b, *_ = pairs("crop_resistant")
    ref = imagehash.hex_to_multihash(a) - imagehash.hex_to_multihash(b)
    assert harness.distance(a, b, "crop_resistant") == pytest.approx(ref, abs=1e-12)
    with pytest.raises(ValueError, match="crop_resistant"):
        harness.distance(a, b)
    with pytest.raises(ValueError, match="different lengths"):
        harness.distance("ff", "ffff")
    with pytest.raises(ValueError, match="16 hex digits"):
        harness.distance("ff", "ff", hasher="phash")
    with pytest.raises(ValueError, match="not a hex string"):
        harness.distance("zz", "ff")


def test_a_new_run_removes_the_report_of_older_tables(run, tmp_path):
    out = tmp_path / "again"
    first = harness.run_experiment(dict(CONFIG, hashers=["dhash"], output=str(out)), progress=False, scheduler="inline")
    harness.write_report(first)
    assert (out / "report.md").is_file() and (out / "figures" / "roc.png").is_file()
    harness.run_experiment(dict(CONFIG, hashers=["dhash"], output=str(out)), progress=False, scheduler="inline")
    assert not (out / "report.md").exists() and not (out / "report.html").exists()
