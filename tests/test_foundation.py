"""End-to-end checks of the walking skeleton (issue: foundation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from harness import get_hasher, hash_image
from harness.datasets import load_rgb, sample_records
from harness.metrics import count_pairs, pair_histogram, paired_distances, roc_from_histograms
from harness.metrics.hamming import distance_histogram
from harness.transforms import TransformSpec, apply_transform
from tests.helpers import run_cli, run_main

FOUNDATION_HASHERS = ["ahash", "phash", "dhash", "whash"]


@pytest.fixture(scope="module")
def sample_pixels():
    return {r.name: load_rgb(r.path) for r in sample_records()}


def test_sample_is_real_photos_and_needs_no_download():
    recs = sample_records()
    names = {r.name for r in recs}
    assert {"astronaut", "coffee", "chelsea", "rocket"} <= names
    assert not names & {"checkerboard", "text", "logo", "horse"}
    assert len({r.image_id for r in recs}) == len(recs)  # all distinct files
    groups = {r.group for r in recs if r.name.startswith("motorcycle")}
    assert len(groups) == 1  # the stereo pair is one group


@pytest.mark.parametrize("name", FOUNDATION_HASHERS)
def test_identity_transform_gives_distance_zero(sample_pixels, name):
    h = get_hasher(name)
    for pixels in sample_pixels.values():
        same, _ = apply_transform(TransformSpec.make("original"), pixels, seed=1)
        a = h.hash(pixels)[None, :]
        b = h.hash(same.copy())[None, :]
        assert paired_distances(a, b)[0] == 0


@pytest.mark.parametrize("name", FOUNDATION_HASHERS)
def test_different_images_give_nonzero_distance(sample_pixels, name):
    h = get_hasher(name)
    packed = h.hash_many(sample_pixels.values())
    hist = pair_histogram(packed)
    assert hist.sum() == count_pairs(len(packed))
    # no two different sample photos share a hash
    assert hist[0] == 0


def test_roc_from_histograms_equals_sklearn_roc_curve(sample_pixels):
    metrics = pytest.importorskip("sklearn.metrics")
    h = get_hasher("phash")
    names = sorted(sample_pixels)
    orig = h.hash_many(sample_pixels[n] for n in names)
    var = h.hash_many(apply_transform(TransformSpec.make("rotate", 5), sample_pixels[n], 3)[0] for n in names)
    # raw pair list: positives (i, i), negatives (variant i, original j != i)
    d = np.bitwise_count(np.bitwise_xor(var[:, None, :], orig[None, :, :])).sum(axis=2).astype(np.int64)
    y_true = np.eye(len(names), dtype=int).ravel()
    score = -d.ravel()
    fpr_sk, tpr_sk, thr_sk = metrics.roc_curve(y_true, score, drop_intermediate=False)
    pos = distance_histogram(np.diag(d), 64)
    neg = distance_histogram(d[~np.eye(len(names), dtype=bool)], 64)
    assert neg.sum() == len(names) * (len(names) - 1)
    assert (pair_histogram(var, orig) == pos + neg).all()
    roc = roc_from_histograms(pos, neg)
    # every sklearn point (a threshold at an observed score) is one of our rows
    ours = {(-t): (f, p) for t, f, p in zip(roc["threshold"], roc["fpr"], roc["tpr"])}
    for f, p, t in zip(fpr_sk, tpr_sk, thr_sk):
        if np.isinf(t):
            continue
        assert ours[int(t)] == pytest.approx((f, p))
    from harness.metrics import auc_from_histograms

    assert auc_from_histograms(pos, neg) == pytest.approx(metrics.roc_auc_score(y_true, score))


def test_negative_histogram_total_is_exact_pair_count(sample_pixels):
    h = get_hasher("dhash")
    packed = h.hash_many(sample_pixels.values())
    n = len(packed)
    assert pair_histogram(packed).sum() == n * (n - 1) // 2
    groups = np.array([f"g{i // 3}" for i in range(n)])
    expected = n * (n - 1) // 2 - sum(c * (c - 1) // 2 for c in np.unique(groups, return_counts=True)[1])
    assert pair_histogram(packed, groups_a=groups).sum() == expected == count_pairs(n, groups)


def test_hash_image_equals_imagehash(sample_pixels):
    import imagehash
    from PIL import Image

    for pixels in list(sample_pixels.values())[:5]:
        img = Image.fromarray(pixels)
        assert hash_image(pixels, "phash") == str(imagehash.phash(img))
        assert hash_image(pixels, "ahash") == str(imagehash.average_hash(img))
        assert hash_image(pixels, "dhash") == str(imagehash.dhash(img))
        assert hash_image(pixels, "whash") == str(imagehash.whash(img))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    out = []
    for i in range(2):
        res = run_cli("run", "--output", base / f"run{i}", "--no-progress")
        assert res.returncode == 0, res.stderr
        # the run ends with the report's first screen in short, one line per hasher
        tail = res.stdout[res.stdout.index("At each hasher's recommended threshold") :].splitlines()
        # then, when any interval there is Clopper-Pearson (marked \u2020), the footnote saying so
        rows = [line for line in tail[1:] if not line.strip().startswith("\u2020")]
        assert [line.split()[0] for line in rows] == sorted(FOUNDATION_HASHERS), tail
        marked = any("\u2020" in line for line in rows)
        assert marked == any(line.strip().startswith("\u2020 Clopper-Pearson") for line in tail), tail
        out.append(base / f"run{i}")
    return out


def test_quickstart_writes_every_result_file(two_runs):
    for name in (
        "hashes.parquet",
        "histograms.parquet",
        "metrics.csv",
        "figures/roc.png",
        "report.md",
        "report.html",
        "run.json",
        "errors.csv",
    ):
        assert (two_runs[0] / name).is_file(), name
    # tables at the top, figures in figures/, PNG only unless --svg is given
    assert not [p.name for p in two_runs[0].iterdir() if p.suffix in (".png", ".svg")]
    assert not list((two_runs[0] / "figures").glob("*.svg"))
    metrics = pd.read_csv(two_runs[0] / "metrics.csv")
    assert set(metrics["hasher"]) == set(FOUNDATION_HASHERS)
    assert set(metrics["family"]) == {"jpeg", "resize", "crop", "rotate", "noise"}
    oo = metrics[metrics["negatives"] == "orig-orig"]
    n = len(sample_records())
    assert (oo["n_neg"] == n * (n - 1) // 2 - 1).all()  # minus the declared stereo pair
    hist = pd.read_parquet(two_runs[0] / "histograms.parquet")
    oo_hist = hist[hist["kind"] == "orig-orig"].groupby("hasher")["count"].sum()
    assert (oo_hist == n * (n - 1) // 2 - 1).all()


def test_two_runs_give_byte_identical_tables(two_runs):
    a, b = two_runs
    assert (a / "metrics.csv").read_bytes() == (b / "metrics.csv").read_bytes()
    ha, hb = pd.read_parquet(a / "hashes.parquet"), pd.read_parquet(b / "hashes.parquet")
    pd.testing.assert_frame_equal(ha, hb)


def _write_config(tmp_path, **overrides):
    cfg = {
        "name": "t",
        "dataset": {"source": "sample"},
        "hashers": ["phash"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "seed": 0,
        "output": str(tmp_path / "out"),
    }
    cfg.update(overrides)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.mark.parametrize(
    "overrides, field, allowed",
    [
        ({"hashers": ["phash", "nohash"]}, "hashers[1].name", "available: "),
        ({"transforms": [{"family": "wobble", "severities": [1]}]}, "transforms[0].family", "available: "),
        ({"transforms": [{"family": "jpeg", "severities": [50, 0]}]}, "transforms[0]", "integer in 1..100"),
        ({"transforms": [{"family": "jpeg", "severities": [101]}]}, "transforms[0]", "integer in 1..100"),
        ({"transforms": [{"family": "crop", "severities": [1.5]}]}, "transforms[0]", "fraction in (0, 1]"),
        ({"transforms": [{"family": "resize", "severities": [-0.5]}]}, "transforms[0]", "scale factor in (0, 8]"),
        ({"dataset": {"source": "folder", "path": "/no/such/folder"}}, "dataset", "folder not found"),
        ({"dataset": {"source": "web"}}, "dataset.source", "'sample', 'folder', 'manifest' or 'catalog'"),
        ({"colour": "red"}, "colour", "allowed: name, dataset"),
        ({"report": {"photos_per_year": 10, "match_threshold": 11}}, "report.match_threshold", "1 to photos_per_year"),
        ({"report": {"rho": 1}}, "report.rho", "less than 1"),
    ],
)
def test_config_errors_exit_2_with_field_and_allowed_values(tmp_path, overrides, field, allowed):
    path = _write_config(tmp_path, **overrides)
    res = run_main("run", "--config", path)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert field in lines[0] and allowed in lines[0], lines[0]
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.yaml"]


def test_missing_config_file_exits_2(tmp_path):
    res = run_main("run", "--config", tmp_path / "nope.yaml")
    assert res.returncode == 2 and "file not found" in res.stderr


def test_hash_command_prints_hex_and_path():
    rec = sample_records()[0]
    res = run_cli("hash", rec.path, "--hasher", "phash")
    assert res.returncode == 0
    hexstr, path = res.stdout.strip().split("  ")
    assert path == rec.path and hexstr == hash_image(rec.path, "phash")
