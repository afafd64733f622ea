"""The default interval of pair rates (pairs that share a photo are
dependent) in the metrics stage: deterministic recommendations, fpr.csv
with and without the duplicate exclusion, all against brute force."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.config import MetricsConfig
from harness.metrics.intervals import (
    clopper_pearson,
    dependent_pair_interval,
    effective_clopper_pearson,
    photo_pair_counts,
)
from harness.metrics.tables import analyse, same_group_pairs
from tests.test_metrics import _FakeHasher, _hash_table, _L1Hasher, _Spec


def _tables(seed: int, **cfg):
    rng = np.random.default_rng(5)
    hashers = [_FakeHasher("h12", 12), _L1Hasher("l1", 16)]
    specs = [_Spec("jpeg", 50)]
    df = _hash_table(rng, hashers, 70, specs)
    config = MetricsConfig(
        bootstrap_replicates=200,
        bootstrap_seed=seed,
        target_fpr=1e-2,
        fpr_points=[1e-1, 1e-2],
        collision_k=5,
        **cfg,
    )
    return df, analyse(df, hashers, specs, config)


@pytest.fixture(scope="module")
def two_seeds():
    return _tables(0), _tables(12345)


def test_recommendations_do_not_depend_on_the_bootstrap_seed(two_seeds):
    (_, a), (_, b) = two_seeds
    # the seed did matter for the bootstrap columns ...
    boot_a = a["fpr.csv"]["fpr_boot_hi"].to_numpy()
    boot_b = b["fpr.csv"]["fpr_boot_hi"].to_numpy()
    assert not np.allclose(boot_a, boot_b, equal_nan=True)
    # ... and for nothing a decision rests on
    pd.testing.assert_frame_equal(
        a["thresholds.csv"].drop(columns="fpr_boot_upper"), b["thresholds.csv"].drop(columns="fpr_boot_upper")
    )
    keep = [c for c in a["metrics.csv"].columns if "boot" not in c]
    pd.testing.assert_frame_equal(a["metrics.csv"][keep], b["metrics.csv"][keep])
    rec = a["thresholds.csv"]
    assert (rec["recommended_threshold"] >= 0).any()  # the comparison is not vacuous


def _orig(df, hasher):
    o = df[(df["hasher"] == hasher) & (df["transform"] == "original()")].sort_values("image_id")
    return np.stack(o["hash"].map(lambda b: np.frombuffer(b, np.uint8))), o["group"].to_numpy()


def _brute_distances(df, hasher):
    x, groups = _orig(df, hasher)
    if hasher == "h12":
        d = np.unpackbits(x[:, None, :] ^ x[None, :, :], axis=2).sum(axis=2)
    else:
        h = _L1Hasher("l1", 16)
        q = h.quantise(h.pair_distances(x, x))
        d = np.minimum(q, q.T)
    i, j = np.triu_indices(len(x), 1)
    return i, j, d[i, j], groups


@pytest.mark.parametrize("hasher", ["h12", "l1"])
def test_fpr_table_with_and_without_exclusion_equals_brute_force(two_seeds, hasher):
    (df, t), _ = two_seeds
    f = t["fpr.csv"][lambda x: x["hasher"] == hasher]
    i, j, d, groups = _brute_distances(df, hasher)
    same = groups[i] == groups[j]
    assert same.sum() == 1  # the declared duplicate
    for r in f.itertuples():
        neg = d[~same] <= r.threshold
        assert (r.fp, r.n_neg) == (neg.sum(), (~same).sum())
        assert (r.fp_no_exclusion, r.n_no_exclusion) == ((d <= r.threshold).sum(), len(d))
        assert r.fp_same_group == (d[same] <= r.threshold).sum()
        cp = clopper_pearson(int(r.fp), int(r.n_neg))
        assert (r.fpr_cp_lo, r.fpr_cp_hi) == pytest.approx(cp)
        # the default interval is never narrower than Clopper-Pearson's
        assert r.fpr_hi >= r.fpr_cp_hi - 1e-12 and r.fpr_lo <= r.fpr_cp_lo + 1e-12
    # the default interval, recomputed from the brute-force pairs
    n = len(groups)
    img = np.arange(n)
    _, code = np.unique(groups, return_inverse=True)
    keep = int(f["threshold"].max())
    sel = (~same) & (d <= keep)
    lo, hi = dependent_pair_interval(img, None, code, i[sel], j[sel], d[sel], keep)
    np.testing.assert_allclose(f["fpr_lo"], lo, rtol=1e-12)
    np.testing.assert_allclose(f["fpr_hi"], hi, rtol=1e-12)
    # and without the exclusion: every photo its own group, all pairs
    sel = d <= keep
    lo, hi = dependent_pair_interval(img, None, img, i[sel], j[sel], d[sel], keep)
    np.testing.assert_allclose(f["fpr_no_exclusion_hi"], hi, rtol=1e-12)


def test_thresholds_use_the_default_upper_bound(two_seeds):
    (_, t), _ = two_seeds
    f = t["fpr.csv"]
    for r in t["thresholds.csv"].drop_duplicates(["hasher", "target_fpr"]).itertuples():
        ups = f.loc[f["hasher"] == r.hasher, "fpr_hi"].to_numpy()
        ok = ups < r.target_fpr
        want = -1 if not ok[0] else (int(np.argmin(ok)) - 1 if not ok.all() else len(ok) - 1)
        assert r.recommended_threshold == want, r
        if want >= 0:
            assert r.fpr_upper == pytest.approx(ups[want])


def test_same_group_pairs_equal_brute_force():
    rng = np.random.default_rng(3)
    groups = rng.integers(0, 9, 40).astype(str)
    i, j = same_group_pairs(groups)
    want = {(a, b) for a in range(40) for b in range(a + 1, 40) if groups[a] == groups[b]}
    assert set(zip(i.tolist(), j.tolist())) == want and len(i) == len(want)


def test_photo_pair_counts_equal_brute_force_within_and_across():
    rng = np.random.default_rng(4)
    m = 25
    groups = rng.integers(0, 15, m)
    a = rng.integers(0, m, 30)
    b = rng.integers(0, m, 18)
    n_k, n = photo_pair_counts(a, None, groups)
    want = np.zeros(m, int)
    pairs = 0
    for x in range(len(a)):
        for y in range(x + 1, len(a)):
            if groups[a[x]] != groups[a[y]]:
                want[a[x]] += 1
                want[a[y]] += 1
                pairs += 1
    assert n == pairs and (n_k == want).all()
    n_k, n = photo_pair_counts(a, b, groups)
    want[:] = 0
    pairs = 0
    for x in a:
        for y in b:
            if groups[x] != groups[y]:
                want[x] += 1
                want[y] += 1
                pairs += 1
    assert n == pairs and (n_k == want).all()


def test_effective_clopper_pearson_limits():
    # no dependence: Clopper-Pearson over the pairs
    assert effective_clopper_pearson(7, 1000, 0.0) == pytest.approx(clopper_pearson(7, 1000))
    # zero matches: the upper bound of n independent pairs
    assert effective_clopper_pearson(0, 10**6, 0.0)[1] == pytest.approx(1 - 0.025 ** (1 / 10**6))
    # more variance, wider interval; never narrower than Clopper-Pearson
    a = effective_clopper_pearson(50, 10**5, 1e-9)
    b = effective_clopper_pearson(50, 10**5, 1e-8)
    cp = clopper_pearson(50, 10**5)
    assert b[0] < a[0] <= cp[0] and cp[1] <= a[1] < b[1]


def _rate_without(d, groups, photos_of_queries, t, drop=None):
    """Per-photo rate at t by brute force over a query x photo distance
    matrix, with photo `drop` deleted (as a query and as a match)."""
    hits, n = 0, 0
    for q in range(d.shape[0]):
        if photos_of_queries[q] == drop:
            continue
        others = [p for p in range(d.shape[1]) if p != drop and groups[p] != groups[photos_of_queries[q]]]
        if not others:
            continue
        n += 1
        hits += bool((d[q, others] <= t).any())
    return hits / n if n else np.nan


@pytest.mark.parametrize("within", [True, False])
def test_per_photo_jackknife_equals_deleting_each_photo(within):
    from harness.metrics.per_photo import per_photo_jackknife_variance

    rng = np.random.default_rng(11 if within else 12)
    n = 30
    groups = rng.integers(0, 26, n)
    orig = rng.integers(0, 2, (n, 10))
    if within:
        queries, photo_of_q = orig, np.arange(n)
    else:
        photo_of_q = rng.choice(n, 12, replace=False)
        queries = orig[photo_of_q] ^ (rng.random((12, 10)) < 0.1)
    d = (queries[:, None, :] != orig[None, :, :]).sum(axis=2)
    keep = 3
    mq, mp, md = [], [], []
    for q in range(len(queries)):
        for p in range(n):
            if groups[p] != groups[photo_of_q[q]] and d[q, p] <= keep:
                mq.append(q)
                mp.append(p)
                md.append(d[q, p])
    valid = np.array([any(groups[p] != groups[photo_of_q[q]] for p in range(n)) for q in range(len(queries))])
    v = per_photo_jackknife_variance(photo_of_q, valid, mq, mp, md, keep, n)
    for t in range(keep + 1):
        r = np.array([_rate_without(d, groups, photo_of_q, t, drop=k) for k in range(n)])
        want = (n - 1) / n * ((r - r.mean()) ** 2).sum()
        assert v[t] == pytest.approx(want, rel=1e-9, abs=1e-15), t
    assert v.max() > 0  # not vacuous: some photo's deletion changes the rate
