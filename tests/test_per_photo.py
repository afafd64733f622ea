"""Per-photo false-match rates (issue 21): against a brute-force nearest
neighbour, on random hashes and on a real run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.metrics import hamming, nearest_other
from harness.metrics.intervals import clopper_pearson
from harness.metrics.per_photo import per_photo_rate


@pytest.fixture(params=["numba", "numpy"])
def path(request, monkeypatch):
    if request.param == "numba":
        monkeypatch.setattr(hamming, "SMALL_PAIRS", 0)
        monkeypatch.delenv("HARNESS_NO_NUMBA", raising=False)
    else:
        monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    return request.param


def _brute_matching(D, ga, gb, t):
    """Queries (rows) with at least one column of another group at <= t,
    and queries with any column of another group at all."""
    other = ga[:, None] != gb[None, :]
    return int(((D <= t) & other).any(axis=1).sum()), int(other.any(axis=1).sum())


@pytest.mark.parametrize("bits", [20, 64, 256])
def test_per_photo_rate_equals_brute_force_nearest_neighbour(path, bits):
    rng = np.random.default_rng(bits)
    n, m = 150, 90
    a = np.packbits(rng.integers(0, 2, (n, bits), dtype=np.uint8), axis=1)
    b = np.packbits(rng.integers(0, 2, (m, bits), dtype=np.uint8), axis=1)
    b[:10] = a[:10]  # variants identical to their originals (same group: must not count)
    b[10] = a[20]  # one identical to another group's original (must count at t = 0)
    ga = rng.integers(0, 50, n)
    ga[:3] = 999  # one group holds photos 0..2
    gb = ga[:m].copy()
    for A, B, g1, g2 in ((a, a, ga, ga), (b, a, gb, ga)):
        D = np.unpackbits(A[:, None, :] ^ B[None, :, :], axis=2).sum(axis=2)
        mins, _ = nearest_other(A, B, g1, g2)
        table = per_photo_rate(mins, bits)
        assert len(table) == bits + 1
        for t in sorted({0, 1, bits // 4, bits // 3, bits // 2, bits}):
            k, photos = _brute_matching(D, g1, g2, t)
            row = table.iloc[t]
            assert (row["threshold"], row["photos"], row["photos_matching"]) == (t, photos, k)
            assert row["rate"] == k / photos
            lo, hi = clopper_pearson(k, photos)
            assert (row["low"], row["high"]) == (lo, hi)


def test_per_photo_rate_without_other_groups_is_nan():
    table = per_photo_rate(np.array([-1, -1]), 4)
    assert (table["photos"] == 0).all() and table["rate"].isna().all()


def test_real_run_per_photo_rates_and_threshold_columns(tiny_dir, tmp_path):
    """caltech101_tiny, 32 photos (two declared groups of two), phash and a
    binned hasher: per_photo_rate.csv equals brute force over
    hashes.parquet; thresholds.csv keeps its columns and appends three."""
    import harness
    from harness.hashers import get_hasher
    from harness.metrics.tables import THRESHOLD_COLUMNS

    names = sorted(p.name for p in (tiny_dir / "images").iterdir())[:4]
    groups = tmp_path / "groups.csv"
    groups.write_text("image,group\n" + "".join(f"{n},g{i // 2}\n" for i, n in enumerate(names)))
    cfg = {
        "dataset": {"source": "folder", "path": str(tiny_dir / "images"), "limit": 32, "groups": str(groups)},
        "hashers": ["phash", "cv_radialvariance"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "metrics": {"bootstrap_replicates": 0, "target_fpr": 0.01},
        "output": str(tmp_path / "run"),
    }
    res = harness.run_experiment(cfg, progress=False, scheduler="inline")
    hashes = pd.read_parquet(tmp_path / "run" / "hashes.parquet")
    pp = pd.read_csv(tmp_path / "run" / "per_photo_rate.csv")
    for name in ("phash", "cv_radialvariance"):
        h = get_hasher(name)
        hh = hashes[hashes["hasher"] == name]
        orig = hh[hh["transform"] == "original()"].sort_values("image_id")
        var = hh[hh["transform"] == "jpeg(50)"].sort_values("image_id")
        packed = {
            k: np.stack([np.frombuffer(x, np.uint8) for x in df["hash"]]) for k, df in (("orig", orig), ("var", var))
        }
        if name == "phash":
            dist = lambda x, y: np.unpackbits(x[:, None, :] ^ y[None, :, :], axis=2).sum(axis=2)  # noqa: E731
            last = 64
        else:
            dist = lambda x, y, h=h: np.asarray(h.quantise(h.pair_distances(x, y)))  # noqa: E731
            last = h.n_bins - 1
        for negatives, q, gq in (
            ("orig-orig", packed["orig"], orig["group"].to_numpy()),
            ("variant-orig", packed["var"], var["group"].to_numpy()),
        ):
            D = dist(q, packed["orig"])
            if negatives == "orig-orig":  # an unordered pair: the smaller of the two directions
                D = np.minimum(D, D.T)
            sel = pp[(pp["hasher"] == name) & (pp["negatives"] == negatives)].reset_index(drop=True)
            assert len(sel) == last + 1
            for t in range(0, last + 1, max(1, last // 16)):
                k, photos = _brute_matching(D, gq, orig["group"].to_numpy(), t)
                assert (sel["photos"][t], sel["photos_matching"][t]) == (photos, k), (name, negatives, t)
                r = res.per_photo_rate(name, t, negatives, None if negatives == "orig-orig" else "jpeg(50)")
                assert r["photos_matching"] == k
        assert sel["photos"].iat[0] == 32
    thr = pd.read_csv(tmp_path / "run" / "thresholds.csv")
    assert list(thr.columns) == THRESHOLD_COLUMNS
    # the columns before this change, unchanged and in order; the new ones appended
    assert THRESHOLD_COLUMNS == [
        "hasher",
        "bits",
        "negatives",
        "target_fpr",
        "recommended_threshold",
        "fp",
        "n_neg",
        "fpr",
        "fpr_upper",
        "transform",
        "family",
        "severity",
        "tpr",
        "tpr_cp_lo",
        "tpr_cp_hi",
        "per_photo_rate",
        "per_photo_low",
        "per_photo_high",
        "fpr_lo",
        "fpr_cp_upper",
        "fpr_boot_upper",
    ]
    for r in thr.itertuples():
        t = r.recommended_threshold
        want = res.per_photo_rate(r.hasher, t)
        assert np.isclose(r.per_photo_rate, want["rate"], rtol=1e-5)
        assert np.isclose(r.per_photo_high, want["high"], rtol=1e-5)


def test_binned_within_set_uses_the_smaller_direction(monkeypatch):
    """HasherMetric.nearest_within on an asymmetric toy distance, across
    several blocks, against brute force over min(d(i, j), d(j, i))."""
    from harness.metrics import distances

    class Toy:
        name, distance, n_bins, nbytes = "toy", "toy", 6, 1

        def pair_distances(self, x, y):  # asymmetric: how far x lies above y
            return np.maximum(x[:, None, 0].astype(float) - y[None, :, 0].astype(float), 0.0)

        def quantise(self, d):
            return np.minimum(d // 10, 5).astype(np.int64)

    monkeypatch.setattr(distances, "GENERIC_BLOCK", 16)
    rng = np.random.default_rng(2)
    n = 70
    a = rng.integers(0, 60, (n, 1)).astype(np.uint8)
    g = rng.integers(0, 25, n)
    metric = distances.HasherMetric(Toy())
    hist = metric.hist(a, None, g)  # fills the cache that nearest_within then reads
    got = metric.nearest_within(a, g)
    q = Toy().quantise(Toy().pair_distances(a, a))
    sym = np.minimum(q, q.T).astype(float)
    sym[g[:, None] == g[None, :]] = np.inf
    want = np.where(np.isfinite(sym.min(axis=1)), sym.min(axis=1), -1).astype(np.int64)
    assert (got == want).all()
    metric._cached = None  # and without the cache
    assert (metric.nearest_within(a, g) == want).all()
    assert hist.sum() == sum(1 for i in range(n) for j in range(i + 1, n) if g[i] != g[j])
