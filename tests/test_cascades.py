"""Two-hash rules (issue 21): joint histograms against brute force, their
marginals against each hasher's own histogram, AND/OR rates against
explicit pair lists, and a real run's joint_histograms.parquet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.metrics import hamming
from harness.metrics.cascade import (
    and_counts,
    best_point,
    cascade_rates,
    independence,
    or_counts,
    pareto_front,
    rule_interval,
    rule_pairs,
)
from harness.metrics.distances import HammingMetric
from harness.metrics.joint import joint_pair_histogram


@pytest.fixture(params=["numba", "numpy"])
def path(request, monkeypatch):
    """Through the numba joint kernel (forced even for small inputs) and
    through the numpy pass."""
    if request.param == "numba":
        monkeypatch.setattr(hamming, "SMALL_PAIRS", 0)
        monkeypatch.delenv("HARNESS_NO_NUMBA", raising=False)
    else:
        monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    return request.param


def _hashes(rng, n, bits):
    return np.packbits(rng.integers(0, 2, (n, bits), dtype=np.uint8), axis=1)


def _dist(x, y):
    return int(np.unpackbits(x ^ y).sum())


def _pairs(n_a, n_b, ga, gb):
    """Explicit pair list: i < j within a (n_b None), else a x b; groups differ."""
    if n_b is None:
        return [(i, j) for i in range(n_a) for j in range(i + 1, n_a) if ga is None or ga[i] != ga[j]]
    return [(i, j) for i in range(n_a) for j in range(n_b) if ga is None or ga[i] != gb[j]]


def _brute_joint(a1, a2, b1, b2, ga, gb, n1, n2):
    within = b1 is None
    b1, b2 = (a1, a2) if within else (b1, b2)
    gb = ga if within else gb
    J = np.zeros((n1 + 1, n2 + 1), np.int64)
    for i, j in _pairs(len(a1), None if within else len(b1), ga, gb):
        J[_dist(a1[i], b1[j]), _dist(a2[i], b2[j])] += 1
    return J


@pytest.mark.parametrize("bits1,bits2", [(20, 36), (64, 256), (7, 144), (96, 256), (256, 64), (256, 96)])
@pytest.mark.parametrize("grouped", [False, True])
def test_joint_histogram_equals_brute_force(path, bits1, bits2, grouped):
    rng = np.random.default_rng(bits1 * 1000 + bits2)
    n, m = 130, 70
    a1, a2 = _hashes(rng, n, bits1), _hashes(rng, n, bits2)
    b1, b2 = _hashes(rng, m, bits1), _hashes(rng, m, bits2)
    a1[5], a2[5] = a1[6], a2[6]  # a duplicate under both hashers
    b1[3] = a1[0]  # a variant that one hasher maps onto an original
    ga = rng.integers(0, 40, n) if grouped else None
    gb = rng.integers(0, 40, m) if grouped else None
    J = joint_pair_histogram(a1, a2, groups_a=ga, bits1=bits1, bits2=bits2)
    assert J.dtype == np.int64 and J.shape == (bits1 + 1, bits2 + 1)
    assert (J == _brute_joint(a1, a2, None, None, ga, None, bits1, bits2)).all()
    Jab = joint_pair_histogram(a1, a2, b1, b2, ga, gb, bits1=bits1, bits2=bits2)
    assert (Jab == _brute_joint(a1, a2, b1, b2, ga, gb, bits1, bits2)).all()
    # marginals are each hasher's own histogram, exactly
    assert (J.sum(axis=1) == hamming.pair_histogram(a1, groups_a=ga, bits=bits1)).all()
    assert (J.sum(axis=0) == hamming.pair_histogram(a2, groups_a=ga, bits=bits2)).all()
    assert (Jab.sum(axis=1) == hamming.pair_histogram(a1, b1, ga, gb, bits=bits1)).all()
    assert (Jab.sum(axis=0) == hamming.pair_histogram(a2, b2, ga, gb, bits=bits2)).all()


def test_joint_kernel_crosses_row_and_column_blocks(monkeypatch):
    """More rows than one task's row block (256), so the within-set task
    balancing (blocks t and nb-1-t) is exercised; numba against numpy."""
    from harness.metrics.joint import joint_pair_histogram_numpy

    if hamming._kernel(10**9) is None:
        pytest.skip("numba kernels unavailable (HARNESS_NO_NUMBA or no numba)")
    monkeypatch.setattr(hamming, "SMALL_PAIRS", 0)
    rng = np.random.default_rng(3)
    a1, a2 = _hashes(rng, 1100, 64), _hashes(rng, 1100, 72)
    g = rng.integers(0, 300, 1100)
    assert (joint_pair_histogram(a1, a2, groups_a=g) == joint_pair_histogram_numpy(a1, a2, groups_a=g)).all()


def test_binned_hasher_joins_through_its_bins(path):
    """A non-Hamming hasher (here: an asymmetric toy distance on 1-byte
    'hashes', binned in 5 bins) joined with a Hamming one; the binned side
    takes the smaller bin of the two directions within one set."""
    rng = np.random.default_rng(11)
    n, m = 60, 25
    a1, b1 = _hashes(rng, n, 16), _hashes(rng, m, 16)
    a2 = rng.integers(0, 50, (n, 1)).astype(np.uint8)
    b2 = rng.integers(0, 50, (m, 1)).astype(np.uint8)
    ga, gb = rng.integers(0, 20, n), rng.integers(0, 20, m)

    def bins(x, y):  # query x, reference y; bins of width 10, capped at 4
        d = np.maximum(x[:, None, 0].astype(int) - y[None, :, 0].astype(int), 0)
        return np.minimum(d // 10, 4)

    J = joint_pair_histogram(a1, a2, groups_a=ga, bins2=bins, bits1=16, bits2=4)
    want = np.zeros((17, 5), np.int64)
    for i, j in _pairs(n, None, ga, None):
        want[
            _dist(a1[i], a1[j]), min(bins(a2[i : i + 1], a2[j : j + 1])[0, 0], bins(a2[j : j + 1], a2[i : i + 1])[0, 0])
        ] += 1
    assert (J == want).all()
    Jab = joint_pair_histogram(a1, a2, b1, b2, ga, gb, bins2=bins, bits1=16, bits2=4)
    want = np.zeros((17, 5), np.int64)
    for i, j in _pairs(n, m, ga, gb):
        want[_dist(a1[i], b1[j]), bins(a2[i : i + 1], b2[j : j + 1])[0, 0]] += 1
    assert (Jab == want).all()


def test_and_or_rates_equal_counts_from_explicit_pair_lists():
    rng = np.random.default_rng(7)
    n = 120
    a1, a2 = _hashes(rng, n, 20), _hashes(rng, n, 36)
    # correlated second hash: the first 20 bits of a2 copy a1 for half the photos
    a2_bits = np.unpackbits(a2, axis=1)[:, :36]
    a2_bits[: n // 2, :20] = np.unpackbits(a1, axis=1)[: n // 2, :20]
    a2 = np.packbits(a2_bits, axis=1)
    g = rng.integers(0, 30, n)
    J = joint_pair_histogram(a1, a2, groups_a=g, bits1=20, bits2=36)
    pairs = _pairs(n, None, g, None)
    d = np.array([(_dist(a1[i], a1[j]), _dist(a2[i], a2[j])) for i, j in pairs])
    A, Or = and_counts(J), or_counts(J)
    for t1 in range(0, 21, 3):
        for t2 in range(0, 37, 5):
            k_and = int(((d[:, 0] <= t1) & (d[:, 1] <= t2)).sum())
            k_or = int(((d[:, 0] <= t1) | (d[:, 1] <= t2)).sum())
            assert A[t1, t2] == k_and and Or[t1, t2] == k_or
            assert cascade_rates(J, t1, t2, "and") == (k_and, len(pairs), k_and / len(pairs))
            assert cascade_rates(J, t1, t2, "or").count == k_or
            ind = independence(J, t1, t2, "and")
            p1, p2 = (d[:, 0] <= t1).mean(), (d[:, 1] <= t2).mean()
            assert np.isclose(ind["predicted"], p1 * p2)
            if p1 * p2 > 0:
                assert np.isclose(ind["ratio"], (k_and / len(pairs)) / (p1 * p2))
                assert ind["ratio_low"] <= ind["ratio"] <= ind["ratio_high"]


def test_best_point_and_pareto_front_by_enumeration():
    rng = np.random.default_rng(4)
    P = rng.integers(0, 20, (9, 7))
    N = rng.integers(0, 200, (9, 7))
    N[0, 0] = 0
    tp, fp = and_counts(P), and_counts(N)
    target = 0.05
    best = best_point(P, N, target, upper=False)
    ok = [(tp[a, b], -fp[a, b], -a, -b) for a in range(9) for b in range(7) if fp[a, b] / N.sum() < target]
    top = max(ok)
    assert (best["tp"], -best["fp"], -best["t1"], -best["t2"]) == top
    upper = best_point(P, N, target, upper=True)
    assert upper is None or (upper["fpr_upper"] < target and upper["tp"] <= best["tp"])
    front = pareto_front(P, N)
    pts = [(fp[a, b], tp[a, b]) for a in range(9) for b in range(7)]
    for f, t in zip(front["fp"], front["tp"]):
        assert not any((f2 <= f and t2 > t) or (f2 < f and t2 >= t) for f2, t2 in pts)
    undominated = {(f, t) for f, t in pts if not any((f2 <= f and t2 > t) or (f2 < f and t2 >= t) for f2, t2 in pts)}
    assert set(zip(front["fp"], front["tp"])) == undominated


@pytest.mark.parametrize("within", [True, False])
@pytest.mark.parametrize("rule", ["and", "or"])
def test_rule_pairs_are_the_pairs_the_joint_histogram_counts(path, within, rule):
    """rule_pairs lists exactly the brute-force pairs the rule matches
    (either starting side), and as many as cascade_rates counts."""
    rng = np.random.default_rng(7)
    n_a, n_b, bits1, bits2 = 40, 30, 12, 20
    a1, a2 = _hashes(rng, n_a, bits1), _hashes(rng, n_a, bits2)
    b1, b2 = (None, None) if within else (_hashes(rng, n_b, bits1), _hashes(rng, n_b, bits2))
    ga = rng.integers(0, 15, n_a)
    gb = None if within else rng.integers(0, 15, n_b)
    J = joint_pair_histogram(a1, a2, b1, b2, ga, gb, bits1=bits1, bits2=bits2)
    x1, x2 = (a1, a2) if within else (b1, b2)
    for t1, t2 in [(3, 7), (5, 5), (-1, 8), (12, 20), (0, 0)]:
        want = [
            (i, j)
            for i, j in _pairs(n_a, None if within else n_b, ga, ga if within else gb)
            if (_dist(a1[i], x1[j]) <= t1 and _dist(a2[i], x2[j]) <= t2)
            or (rule == "or" and (_dist(a1[i], x1[j]) <= t1 or _dist(a2[i], x2[j]) <= t2))
        ]
        for first in (1, 2):
            i, j = rule_pairs(
                HammingMetric(bits1),
                HammingMetric(bits2),
                a1,
                a2,
                t1,
                t2,
                rule,
                b1=b1,
                b2=b2,
                groups_a=ga,
                groups_b=gb,
                first=first,
            )
            assert list(zip(i.tolist(), j.tolist())) == want, (t1, t2, first)
        assert len(want) == cascade_rates(J, t1, t2, rule).count


def test_rule_interval_is_the_dyadic_effective_clopper_pearson_by_hand():
    """The interval recomputed from its definition: N_k and m_k counted pair
    by pair, V = [sum_k (m_k - p N_k)^2 - N p (1 - p)] / N^2, n_eff =
    min(N, p(1-p)/V), Clopper-Pearson Beta quantiles at (p n_eff, n_eff)."""
    from scipy import stats

    rng = np.random.default_rng(3)
    n_photos = 30
    group = rng.integers(0, 20, n_photos)
    img_a = rng.integers(0, n_photos, 25)  # variants of some photos
    img_b = np.arange(n_photos)  # against every original
    pairs = [(i, j) for i in range(len(img_a)) for j in range(n_photos) if group[img_a[i]] != group[j]]
    hot = {3, 4, 5}  # photos whose pairs match far more often
    matched = [(i, j) for i, j in pairs if rng.random() < (0.5 if img_a[i] in hot else 0.02)]
    mi = np.array([i for i, _ in matched])
    mj = np.array([j for _, j in matched])
    got = rule_interval(img_a, img_b, group, mi, mj)
    n = len(pairs)
    n_k = np.zeros(n_photos)
    m_k = np.zeros(n_photos)
    for i, j in pairs:
        n_k[img_a[i]] += 1
        n_k[j] += 1
    for i, j in matched:
        m_k[img_a[i]] += 1
        m_k[j] += 1
    p = len(matched) / n
    v = (((m_k - p * n_k) ** 2).sum() - n * p * (1 - p)) / n**2
    n_eff = min(n, p * (1 - p) / v)
    assert n_eff < n / 2  # the hot photos make the pairs strongly dependent
    lo = stats.beta.ppf(0.025, p * n_eff, n_eff - p * n_eff + 1)
    hi = stats.beta.ppf(0.975, p * n_eff + 1, n_eff - p * n_eff)
    assert got["fp"] == len(matched) and got["n_neg"] == n
    np.testing.assert_allclose([got["fpr_lo"], got["fpr_hi"]], [lo, hi], rtol=1e-9)
    assert got["fpr_lo"] <= got["fpr_cp_lo"] and got["fpr_hi"] >= got["fpr_cp_hi"]


def _marginal(joint: pd.DataFrame, axis: str, kind: str, transform: str) -> dict:
    sel = joint[(joint["kind"] == kind) & (joint["transform"] == transform)]
    return {int(d): int(c) for d, c in sel.groupby(axis)["count"].sum().items() if c}


def _hist(hist: pd.DataFrame, hasher: str, kind: str, transform: str) -> dict:
    sel = hist[(hist["hasher"] == hasher) & (hist["kind"] == kind) & (hist["transform"] == transform)]
    return {int(d): int(c) for d, c in zip(sel["distance"], sel["count"])}


def test_real_run_writes_joint_histograms_whose_marginals_are_the_histograms(tiny_dir, tmp_path):
    """caltech101_tiny (32 photos, four of them declared as two groups),
    phash x pdq and pdq x cv_radialvariance (binned), jpeg 50."""
    import harness
    from harness.errors import ConfigError

    names = sorted(p.name for p in (tiny_dir / "images").iterdir())[:4]
    groups = tmp_path / "groups.csv"
    groups.write_text("image,group\n" + "".join(f"{n},g{i // 2}\n" for i, n in enumerate(names)))
    cfg = {
        "dataset": {"source": "folder", "path": str(tiny_dir / "images"), "limit": 32, "groups": str(groups)},
        "hashers": ["phash", "pdq", "cv_radialvariance"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "metrics": {
            "hasher_pairs": [["phash", "pdq"], ["pdq", "cv_radialvariance"]],
            "bootstrap_replicates": 0,
            "target_fpr": 0.01,
        },
        "output": str(tmp_path / "run"),
    }
    res = harness.run_experiment(cfg, progress=False, scheduler="inline")
    joint = pd.read_parquet(tmp_path / "run" / "joint_histograms.parquet")
    hist = pd.read_parquet(tmp_path / "run" / "histograms.parquet")
    key = "jpeg(50)"
    assert set(joint["transform"]) == {"original()", key}
    for (h1, h2), sel in joint.groupby(["hasher_1", "hasher_2"]):
        for kind, transform in (("orig-orig", "original()"), ("positive", key), ("variant-orig", key)):
            m1 = _marginal(sel, "d1", kind, transform)
            m2 = _marginal(sel, "d2", kind, transform)
            assert m1 and m1 == _hist(hist, h1, kind, transform), (h1, h2, kind)
            assert m2 == _hist(hist, h2, kind, transform), (h1, h2, kind)
        oo = sel[sel["kind"] == "orig-orig"]["count"].sum()
        assert oo == 32 * 31 // 2 - 2  # two declared groups of two photos
    cascades = pd.read_csv(tmp_path / "run" / "cascades.csv")
    assert len(cascades) == 2 * 2 * 2 * 2  # pairs x negative sets x rules x points (one transform)
    assert set(cascades["rule"]) == {"and", "or"} and set(cascades["point"]) == {"best", "own"}
    # own: each hasher's recommended threshold from thresholds.csv; the rule's FPR recounted from the cells
    thr = pd.read_csv(tmp_path / "run" / "thresholds.csv")
    rec = {
        h: int(t)
        for h, t in thr[np.isclose(thr["target_fpr"], 0.01)].groupby("hasher")["recommended_threshold"].first().items()
    }
    checked = 0
    for r in cascades[cascades["point"] == "own"].itertuples():
        assert (r.t1, r.t2) == (rec[r.hasher_1], rec[r.hasher_2])
        if r.t1 < 0 or r.t2 < 0:
            continue
        checked += 1
        cells = joint[
            (joint["hasher_1"] == r.hasher_1)
            & (joint["hasher_2"] == r.hasher_2)
            & (joint["kind"] == r.negatives)
            & (joint["transform"] == ("original()" if r.negatives == "orig-orig" else key))
        ]
        hit = (
            (cells["d1"] <= r.t1) & (cells["d2"] <= r.t2)
            if r.rule == "and"
            else (cells["d1"] <= r.t1) | (cells["d2"] <= r.t2)
        )
        assert r.fp == cells.loc[hit, "count"].sum() and r.n_neg == cells["count"].sum()
    assert checked >= 4
    ok = cascades[(cascades["t1"] >= 0) & (cascades["point"] == "best")]
    assert (ok["fpr_upper"] < cascades["target_fpr"].iloc[0]).all()
    assert ((ok["ratio_low"] <= ok["ratio"]) | ok["ratio"].isna()).all()
    # the default interval: present when both hashers are Hamming, never narrower than Clopper-Pearson
    hamming_rows = cascades[(cascades["hasher_2"] == "pdq") & (cascades["t1"] >= 0)]
    assert len(hamming_rows) and hamming_rows["fpr_hi"].notna().all()
    assert (hamming_rows["fpr_lo"] <= hamming_rows["fpr"]).all() and (
        hamming_rows["fpr"] <= hamming_rows["fpr_hi"]
    ).all()
    assert (hamming_rows["fpr_hi"] >= hamming_rows["fpr_upper"] - 1e-12).all()
    assert cascades[cascades["hasher_2"] == "cv_radialvariance"]["fpr_hi"].isna().all()
    # the risk model counts the AND rule from the hashes: the same count, pairs and interval as cascades.csv
    from harness import risk
    from tests.helpers import run_main

    hashes = pd.read_parquet(tmp_path / "run" / "hashes.parquet")
    for r in hamming_rows[hamming_rows["rule"] == "and"].itertuples():
        transform = None if r.negatives == "orig-orig" else r.transform
        got = risk.cascade_rate(hashes, r.hasher_1, r.t1, r.hasher_2, r.t2, (64, 256), r.negatives, transform)
        assert (got.x, got.n) == (r.fp, r.n_neg)
        np.testing.assert_allclose([got.low, got.high], [r.fpr_lo, r.fpr_hi], rtol=1e-5)  # csv: 6 digits
    row = hamming_rows[(hamming_rows["rule"] == "and") & (hamming_rows["negatives"] == "orig-orig")].iloc[0]
    args = ["risk", "--results", tmp_path / "run", "--hasher", "phash", "--threshold", row.t1]
    args += ["--database-size", "1000", "--photos-per-year", "100", "--match-threshold", "1"]
    done = run_main(*args, "--cascade", f"pdq:{row.t2}", "--output", tmp_path / "risk")
    assert done.returncode == 0, done.stderr
    assert "AND pdq" in done.stdout and "independence would predict" in done.stdout
    chain = pd.read_csv(tmp_path / "risk" / "risk.csv")
    first = chain[chain["layer"] == "per comparison"].iloc[0]
    assert abs(first["point"] - row.fp / row.n_neg) <= 1e-6 * max(row.fp / row.n_neg, 1e-300)
    for bad, field in [("pdq", "HASHER:T"), ("cv_radialvariance:2", "not Hamming"), ("phash:3", "must differ")]:
        done = run_main(*args, "--cascade", bad, "--output", tmp_path / "bad-risk")
        assert done.returncode == 2 and "--cascade" in done.stderr and field in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "bad-risk").exists()
    assert res.table("cascades.csv") is not None
    # the report draws one AND-rule figure per pair, measured beside the independence prediction
    harness.write_report(res)
    figures = sorted(p.name for p in (tmp_path / "run" / "figures").glob("cascade-*.png"))
    assert figures == ["cascade-pdq-cv_radialvariance.png", "cascade-phash-pdq.png"]
    assert "Two-hash rules" in (tmp_path / "run" / "report.md").read_text()
    with pytest.raises(ConfigError, match="metrics.hasher_pairs"):
        harness.run_experiment(
            {**cfg, "metrics": {"hasher_pairs": [["phash", "dhash"]]}, "output": str(tmp_path / "bad")},
            progress=False,
            scheduler="inline",
        )
    assert not (tmp_path / "bad").exists()
