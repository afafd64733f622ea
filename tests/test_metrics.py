"""Metrics stage (issue 5): kernels against brute force, statistics against
independent computations (scikit-learn, scipy root finding, double loops),
bootstrap coverage on synthetic data with a known truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize
from scipy.stats import binom

from harness.metrics import hamming
from harness.metrics.diagnostics import binomial_tail, daugman_dof, flip_rates, unpack_bits
from harness.metrics.hamming import close_pairs, count_within, nearest_other, pair_histogram
from harness.metrics.intervals import (
    bootstrap_fpr,
    clopper_pearson,
    rate_statement,
    recommend_threshold,
    weighted_pair_total,
)
from harness.metrics.retrieval import micro_average_precision, recall_at_1
from harness.metrics.roc import auc_from_histograms, eer_from_histograms, roc_from_histograms
from harness.metrics.tables import choose_keep_below


@pytest.fixture(params=["numba", "numpy"])
def path(request, monkeypatch):
    """Run a test through the numba kernels (forced even for small inputs)
    and through the numpy fallback."""
    if request.param == "numba":
        monkeypatch.setattr(hamming, "SMALL_PAIRS", 0)
        monkeypatch.delenv("HARNESS_NO_NUMBA", raising=False)
    else:
        monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    return request.param


def _random_hashes(rng, n, bits):
    """Packed hashes of `bits` bits (zero padding in the last byte)."""
    b = rng.integers(0, 2, (n, bits), dtype=np.uint8)
    return np.packbits(b, axis=1)


def _brute_distances(a, b):
    return np.bitwise_count(np.bitwise_xor(a[:, None, :], b[None, :, :])).sum(axis=2).astype(np.int64)


def _brute_pairs(a, b=None, ga=None, gb=None):
    """(i, j, d) of every counted pair, by an explicit double loop."""
    within = b is None
    b2 = a if within else b
    gb2 = ga if within else gb
    out = []
    for i in range(len(a)):
        for j in range(i + 1 if within else 0, len(b2)):
            if ga is not None and ga[i] == gb2[j]:
                continue
            out.append((i, j, int(np.unpackbits(a[i] ^ b2[j]).sum())))
    return out


@pytest.mark.parametrize("bits", [7, 20, 64, 72, 144, 200, 256])
def test_histogram_equals_brute_force(path, bits):
    rng = np.random.default_rng(bits)
    a = _random_hashes(rng, 301, bits)
    b = _random_hashes(rng, 157, bits)
    a[10] = a[11]  # a duplicate
    d = _brute_distances(a, a)
    expect = np.bincount(d[np.triu_indices(len(a), 1)], minlength=bits + 1)
    got = pair_histogram(a, bits=bits)
    assert got.dtype == np.int64 and len(got) == bits + 1
    assert (got == expect).all()
    assert (pair_histogram(a, b, bits=bits) == np.bincount(_brute_distances(a, b).ravel(), minlength=bits + 1)).all()
    # without `bits`, the histogram covers every stored bit (8 * nbytes)
    assert len(pair_histogram(a)) == 8 * a.shape[1] + 1


def test_padding_bits_must_be_zero_in_some_known_layout():
    from harness.metrics.hamming import padding_positions

    rng = np.random.default_rng(0)
    raw = rng.integers(0, 2, (50, 20), dtype=np.uint8)
    left = np.packbits(raw, axis=1)  # MSB first, padding = low bits of the last byte
    right = np.packbits(np.concatenate([np.zeros((50, 4), np.uint8), raw], axis=1), axis=1)  # imagehash
    lsb = np.packbits(raw, axis=1, bitorder="little")  # OpenCV-style: top bits of the last byte
    for packed in (left, right, lsb):
        assert (pair_histogram(packed, bits=20) == pair_histogram(left, bits=20)).all()
        assert len(padding_positions(packed, 20)) == 4
        assert (unpack_bits(packed, 20).sum(axis=1) == raw.sum(axis=1)).all()
    assert (padding_positions(right, 20) == np.arange(4)).all()
    bad = left.copy()
    bad[3, -1] |= 1  # a padding bit set, and every layout has a one somewhere
    bad[4, 0] |= 0xF0
    bad[5, -1] |= 0xF0
    with pytest.raises(ValueError, match="padding"):
        pair_histogram(bad, bits=20)


@pytest.mark.parametrize("bits", [64, 144])
def test_group_exclusion_removes_exactly_the_declared_pairs(path, bits):
    rng = np.random.default_rng(5)
    n = 240
    a = _random_hashes(rng, n, bits)
    groups = rng.integers(0, 60, n)  # many groups of ~4
    full = pair_histogram(a, bits=bits)
    excl = pair_histogram(a, groups_a=groups, bits=bits)
    same = [(i, j) for i in range(n) for j in range(i + 1, n) if groups[i] == groups[j]]
    removed = np.bincount([int(np.unpackbits(a[i] ^ a[j]).sum()) for i, j in same], minlength=bits + 1)
    assert (full - excl == removed).all()
    assert excl.sum() == n * (n - 1) // 2 - len(same)
    # cross sets: variant of i vs original of j, groups on both sides
    b = _random_hashes(rng, 90, bits)
    gb = rng.integers(0, 60, 90)
    cross_full = pair_histogram(a, b, bits=bits)
    cross = pair_histogram(a, b, groups, gb, bits=bits)
    same_ab = [(i, j) for i in range(n) for j in range(90) if groups[i] == gb[j]]
    removed_ab = np.bincount([int(np.unpackbits(a[i] ^ b[j]).sum()) for i, j in same_ab], minlength=bits + 1)
    assert (cross_full - cross == removed_ab).all()


def test_close_pairs_and_count_equal_brute_force(path):
    rng = np.random.default_rng(9)
    bits = 24
    a = _random_hashes(rng, 150, bits)
    b = _random_hashes(rng, 80, bits)
    ga, gb = rng.integers(0, 40, 150), rng.integers(0, 40, 80)
    for t in (0, 6, 9):
        for args, brute in (
            ((a, None, t, ga, None), _brute_pairs(a, None, ga)),
            ((a, b, t, ga, gb), _brute_pairs(a, b, ga, gb)),
        ):
            want = sorted((d, i, j) for i, j, d in brute if d <= t)
            I, J, D = close_pairs(*args)
            assert list(zip(D.tolist(), I.tolist(), J.tolist())) == want
            x, y, _, g1, g2 = args
            assert count_within(x, y, t, g1, g2) == len(want)


def test_nearest_other_equals_brute_force(path):
    rng = np.random.default_rng(2)
    a, b = _random_hashes(rng, 60, 16), _random_hashes(rng, 70, 16)
    ga, gb = rng.integers(0, 30, 60), rng.integers(0, 30, 70)
    mins, counts = nearest_other(a, b, ga, gb)
    d = _brute_distances(a, b).astype(float)
    d[ga[:, None] == gb[None, :]] = np.inf
    for i in range(60):
        m = d[i].min()
        assert mins[i] == (m if np.isfinite(m) else -1)
        assert counts[i] == ((d[i] == m).sum() if np.isfinite(m) else 0)


def test_roc_auc_eer_equal_sklearn_on_raw_pairs():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    pos_d = rng.binomial(64, 0.15, 400)
    neg_d = rng.binomial(64, 0.45, 5000)
    pos = np.bincount(pos_d, minlength=65)
    neg = np.bincount(neg_d, minlength=65)
    y = np.r_[np.ones(len(pos_d)), np.zeros(len(neg_d))]
    score = -np.r_[pos_d, neg_d]
    assert auc_from_histograms(pos, neg) == pytest.approx(metrics.roc_auc_score(y, score), rel=1e-12)
    fpr, tpr, thr = metrics.roc_curve(y, score, drop_intermediate=False)
    roc = roc_from_histograms(pos, neg).set_index("threshold")
    for f, p, t in zip(fpr[1:], tpr[1:], thr[1:]):
        assert roc.loc[int(-t), "fpr"] == pytest.approx(f) and roc.loc[int(-t), "tpr"] == pytest.approx(p)
    # EER lies between FPR and FNR crossing points of the raw curve
    eer = eer_from_histograms(pos, neg)
    fnr = 1 - tpr
    k = np.argmax(fpr >= fnr)
    assert min(fpr[k - 1], fnr[k]) - 1e-12 <= eer <= max(fpr[k], fnr[k - 1]) + 1e-12


def test_micro_ap_and_recall_at_1_equal_brute_force():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(4)
    bits, n = 16, 120
    orig = _random_hashes(rng, n, bits)
    flips = (rng.random((n, bits)) < 0.2).astype(np.uint8)
    var = np.packbits(np.unpackbits(orig, axis=1)[:, :bits] ^ flips, axis=1)
    groups = np.arange(n)
    groups[5] = groups[6] = 1000  # a declared duplicate pair: ignored in each other's ranking
    d = _brute_distances(var, orig)
    pos_d = np.diag(d).copy()
    ignore = (groups[:, None] == groups[None, :]) & ~np.eye(n, dtype=bool)
    neg = ~np.eye(n, dtype=bool) & ~ignore
    y = np.r_[np.ones(n), np.zeros(neg.sum())]
    score = -np.r_[pos_d, d[neg]]
    want_ap = metrics.average_precision_score(y, score)
    got_ap = micro_average_precision(np.bincount(pos_d, minlength=bits + 1), np.bincount(d[neg], minlength=bits + 1))
    assert got_ap == pytest.approx(want_ap, rel=1e-12)
    # recall@1, brute force: rank the database for each query, split ties
    want, want_strict = [], []
    for i in range(n):
        others = d[i][neg[i]]
        m = others.min()
        want_strict.append(float(pos_d[i] < m))
        want.append(1.0 if pos_d[i] < m else (1 / (1 + (others == m).sum()) if pos_d[i] == m else 0.0))
    mins, ties = nearest_other(var, orig, groups, groups)
    assert recall_at_1(pos_d, mins, ties) == pytest.approx((np.mean(want), np.mean(want_strict)))


def _cp_reference(k, n, confidence):
    """Clopper-Pearson by root finding on the binomial CDF (no beta function)."""
    a = 1 - confidence
    lo = 0.0 if k == 0 else optimize.brentq(lambda p: binom.sf(k - 1, n, p) - a / 2, 1e-15, 1 - 1e-15, xtol=1e-15)
    hi = 1.0 if k == n else optimize.brentq(lambda p: binom.cdf(k, n, p) - a / 2, 1e-15, 1 - 1e-15, xtol=1e-15)
    return lo, hi


@pytest.mark.parametrize("k, n", [(0, 10), (0, 119), (1, 119), (7, 50), (50, 50), (3, 10**9), (0, 5 * 10**11)])
def test_clopper_pearson_equals_root_finding(k, n):
    lo, hi = clopper_pearson(k, n, 0.95)
    rlo, rhi = _cp_reference(k, n, 0.95)
    assert float(lo) == pytest.approx(rlo, rel=1e-6, abs=1e-300)
    assert float(hi) == pytest.approx(rhi, rel=1e-6)
    if k == 0:  # closed form: 1 - (a/2)^(1/n), about -ln(0.025)/n for large n
        assert float(hi) == pytest.approx(-np.expm1(np.log(0.025) / n), rel=1e-9)


def test_zero_false_positives_are_an_upper_bound_never_zero():
    lo, hi = clopper_pearson(0, 119)
    text = rate_statement(0, 119, float(lo), float(hi))
    assert text.startswith("< ") and "upper bound" in text
    assert float(hi) > 0.02


def test_weighted_pair_total_equals_double_loop():
    rng = np.random.default_rng(8)
    n, m = 30, 25
    wa = rng.poisson(1.0, (3, n)).astype(float)
    wb = rng.poisson(1.0, (3, m)).astype(float)
    ga, gb = rng.integers(0, 12, n), rng.integers(0, 12, m)
    within = weighted_pair_total(wa, None, ga, None, 12, True)
    cross = weighted_pair_total(wa, wb, ga, gb, 12, False)
    for r in range(3):
        w_in = sum(wa[r, i] * wa[r, j] for i in range(n) for j in range(i + 1, n) if ga[i] != ga[j])
        w_x = sum(wa[r, i] * wb[r, j] for i in range(n) for j in range(m) if ga[i] != gb[j])
        assert within[r] == pytest.approx(w_in) and cross[r] == pytest.approx(w_x)


def _cluster_truth(bits, centres, q, t):
    """P(d <= t) for two independent images (each a random centre XOR
    Bernoulli(q) noise): d = X + Y, X ~ Bin(bits-h, r), Y ~ Bin(h, 1-r)."""
    r = 2 * q * (1 - q)
    out = []
    for a in range(len(centres)):
        for b in range(len(centres)):
            h = int((centres[a] != centres[b]).sum())
            pmf = np.convolve(binom.pmf(np.arange(bits - h + 1), bits - h, r), binom.pmf(np.arange(h + 1), h, 1 - r))
            out.append(pmf[: t + 1].sum())
    return float(np.mean(out))


def test_bootstrap_interval_covers_true_fpr_at_nominal_rate():
    """200 synthetic datasets where pairs sharing an image are strongly
    dependent (images cluster around 4 centres); the truth is exact. The
    image-level bootstrap 95% interval must cover it in 90-99% of them,
    while Clopper-Pearson (which assumes independent pairs) does not."""
    bits, K, q, n, t, sims = 16, 4, 0.12, 100, 3, 200
    centres = np.random.default_rng(123).integers(0, 2, (K, bits))
    truth = _cluster_truth(bits, centres, q, t)
    cover = cover_cp = 0
    for s in range(sims):
        rng = np.random.default_rng(1000 + s)
        raw = centres[rng.integers(0, K, n)] ^ (rng.random((n, bits)) < q)
        packed = np.packbits(raw.astype(bool), axis=1)
        hist = pair_histogram(packed, bits=bits)
        I, J, D = close_pairs(packed, None, t)
        lo, hi, reps = bootstrap_fpr(np.arange(n), None, np.arange(n), I, J, D, t, 500, seed=s)
        assert reps.shape == (500, t + 1)
        cover += lo[t] <= truth <= hi[t]
        cl, ch = clopper_pearson(hist[: t + 1].sum(), hist.sum())
        cover_cp += cl <= truth <= ch
    assert 0.90 <= cover / sims <= 0.99, cover / sims
    assert cover_cp / sims < 0.85  # independence is wrong here, and the test can tell


def test_bootstrap_is_deterministic_and_exact_at_unit_weights():
    rng = np.random.default_rng(1)
    packed = _random_hashes(rng, 80, 12)
    I, J, D = close_pairs(packed, None, 4)
    a = bootstrap_fpr(np.arange(80), None, np.arange(80), I, J, D, 4, 50, seed=7)
    b = bootstrap_fpr(np.arange(80), None, np.arange(80), I, J, D, 4, 50, seed=7)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    hist = pair_histogram(packed, bits=12)
    fpr = np.cumsum(hist)[:5] / hist.sum()
    assert np.all(a[0] <= fpr + 0.02) and np.all(a[1] >= fpr - 0.02)


def test_recommend_threshold_and_keep_below():
    upper = np.array([1e-6, 5e-5, 2e-4, 9e-4, 2e-3, 5e-4])
    assert recommend_threshold(upper, 1e-3) == 3  # stops at the first crossing
    assert recommend_threshold(upper, 1e-7) == -1
    assert recommend_threshold(np.array([1e-6, np.nan]), 1e-3) == 0
    neg = np.array([0, 1, 9, 90, 900, 9000])  # cumulative 0, 1, 10, 100, 1000, 10000
    assert choose_keep_below(neg, 1e-4, 1e-2, 10**9) == 3
    assert choose_keep_below(neg, 1e-4, 1e-2, 50) == 2
    assert choose_keep_below(neg, 1e-4, 1e-4, 10**9, min_pairs=25) == 3


def test_daugman_dof_of_ideal_random_hashes_is_the_bit_count():
    rng = np.random.default_rng(11)
    bits = 64
    packed = _random_hashes(rng, 1500, bits)
    hist = pair_histogram(packed, bits=bits)
    N, p, _ = daugman_dof(hist, bits)
    assert N == pytest.approx(bits, rel=0.1) and p == pytest.approx(0.5, abs=0.01)
    t = np.arange(bits + 1)
    assert binomial_tail(t, bits, bits, 0.5) == pytest.approx(binom.cdf(t, bits, 0.5), rel=1e-9)
    # flip rates: brute force
    o = unpack_bits(packed[:50], bits)
    v = unpack_bits(packed[50:100], bits)
    assert (flip_rates(o, v) == np.array([np.mean(o[:, k] != v[:, k]) for k in range(bits)])).all()


# ---------------------------------------------------------------- analyse()
class _FakeHasher:
    """A Hamming hasher with no image code (hashes are made up)."""

    distance = "hamming"

    def __init__(self, name, bits):
        self.name, self.bits = name, bits

    @property
    def nbytes(self):
        return (self.bits + 7) // 8


class _L1Hasher(_FakeHasher):
    """A non-Hamming, asymmetric hasher: distance = sum of positive parts of
    query - reference over the bytes, binned by 8 (bin_edges[t] = 8t + 7)."""

    distance = "l1"
    n_bins = 20
    bin_edges = np.r_[np.arange(7, 8 * 19, 8), np.inf]

    def pair_distances(self, a, b):
        return np.clip(a[:, None, :].astype(float) - b[None, :, :].astype(float), 0, None).sum(axis=2)

    def quantise(self, d):
        return np.minimum(np.asarray(d) // 8, self.n_bins - 1).astype(np.int64)


class _Spec:
    def __init__(self, family, severity):
        self.family, self.severity, self.key = family, severity, f"{family}({severity})"


def _hash_table(rng, hashers, n, specs, flip=0.1):
    rows = []
    ids = [f"{i:064x}" for i in range(n)]
    groups = [f"g{i}" for i in range(n)]
    groups[1] = groups[0]  # declared duplicate
    for h in hashers:
        base = (
            _random_hashes(rng, n, 8 * h.nbytes)
            if h.distance == "hamming"
            else rng.integers(0, 6, (n, h.nbytes)).astype(np.uint8)
        )
        if h.distance == "hamming" and h.bits % 8:
            base = np.packbits(np.unpackbits(base, axis=1)[:, : h.bits], axis=1)
        for key, fam, sev, arr in [("original()", "original", "", base)] + [
            (s.key, s.family, str(s.severity), _perturb(rng, base, h, flip)) for s in specs
        ]:
            for i in range(n):
                rows.append((ids[i], f"img{i}", groups[i], key, fam, sev, h.name, arr[i].tobytes()))
    return pd.DataFrame(
        rows, columns=["image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hash"]
    )


def _perturb(rng, base, h, flip):
    if h.distance != "hamming":
        return np.clip(base.astype(int) + rng.integers(-1, 2, base.shape), 0, 255).astype(np.uint8)
    bits = np.unpackbits(base, axis=1)[:, : h.bits]
    return np.packbits(bits ^ (rng.random(bits.shape) < flip), axis=1)


def test_analyse_tables_are_consistent(monkeypatch):
    from harness.config import MetricsConfig
    from harness.metrics.tables import analyse

    rng = np.random.default_rng(0)
    hashers = [_FakeHasher("h20", 20), _L1Hasher("l1", 48)]
    specs = [_Spec("jpeg", 50), _Spec("crop", 0.5)]
    n = 60
    df = _hash_table(rng, hashers, n, specs)
    cfg = MetricsConfig(bootstrap_replicates=200, target_fpr=1e-2, collision_k=5)
    t = analyse(df, hashers, specs, cfg)
    m = t["metrics.csv"]
    expected_oo = n * (n - 1) // 2 - 1  # minus the declared duplicate
    assert (m.loc[m["negatives"] == "orig-orig", "n_neg"] == expected_oo).all()
    assert (m.loc[m["negatives"] == "variant-orig", "n_neg"] == n * (n - 1) - 2).all()
    for col in (
        "fpr_at_threshold_cp_hi",
        "fpr_at_threshold_boot_hi",
        "recommended_threshold",
        "fpr_at_threshold_text",
        "tpr_at_fpr_1e-6",
        "keep_below",
    ):
        assert col in m.columns
    assert m["tpr_at_fpr_1e-6"].isna().all()  # 3540 pairs cannot measure 1e-6
    # the generic (non-Hamming) path: orig-orig histogram equals brute force
    h = t["histograms.parquet"]
    l1 = h[(h["hasher"] == "l1") & (h["kind"] == "orig-orig")]
    orig = np.stack(
        df[(df["hasher"] == "l1") & (df["transform"] == "original()")]
        .sort_values("image_id")["hash"]
        .map(lambda b: np.frombuffer(b, np.uint8))
    )
    hl = _L1Hasher("l1", 48)
    q = np.minimum(hl.quantise(hl.pair_distances(orig, orig)), hl.quantise(hl.pair_distances(orig, orig)).T)
    iu = np.triu_indices(n, 1)
    keep = ~((iu[0] == 0) & (iu[1] == 1))
    want = np.bincount(q[iu][keep], minlength=20)
    got = np.zeros(20, np.int64)
    got[l1["distance"].to_numpy()] = l1["count"].to_numpy()
    assert (got == want).all()
    # positives of an asymmetric distance: the variant is the query
    var = np.stack(
        df[(df["hasher"] == "l1") & (df["transform"] == "jpeg(50)")]
        .sort_values("image_id")["hash"]
        .map(lambda b: np.frombuffer(b, np.uint8))
    )
    want_pos = np.bincount(np.diag(hl.quantise(hl.pair_distances(var, orig))), minlength=20)
    pos = h[(h["hasher"] == "l1") & (h["kind"] == "positive") & (h["transform"] == "jpeg(50)")]
    got_pos = np.zeros(20, np.int64)
    got_pos[pos["distance"].to_numpy()] = pos["count"].to_numpy()
    assert (got_pos == want_pos).all()
    # close pairs: exactly the pairs at or under keep_below, never a same-group pair
    cp = t["close_pairs.parquet"]
    for hasher in ("h20", "l1"):
        row = m[(m["hasher"] == hasher) & (m["negatives"] == "orig-orig")].iloc[0]
        mine = cp[(cp["hasher"] == hasher) & (cp["kind"] == "orig-orig")]
        hist = h[(h["hasher"] == hasher) & (h["kind"] == "orig-orig")]
        assert len(mine) == hist.loc[hist["distance"] <= row["keep_below"], "count"].sum()
        assert not ((mine["image_a"] == f"{0:064x}") & (mine["image_b"] == f"{1:064x}")).any()
    # roc.csv agrees with metrics.csv's point estimate
    roc = t["roc.csv"]
    r = m[(m["hasher"] == "h20") & (m["negatives"] == "variant-orig")].iloc[0]
    rr = roc[
        (roc["hasher"] == "h20")
        & (roc["transform"] == r["transform"])
        & (roc["negatives"] == "variant-orig")
        & (roc["threshold"] == r["threshold_at_target"])
    ].iloc[0]
    assert rr["fpr"] == pytest.approx(r["fpr_at_threshold"]) and rr["tpr"] == pytest.approx(r["tpr_at_threshold"])
    assert (roc["fpr_upper"].dropna() >= roc.loc[roc["fpr_upper"].notna(), "fpr"] - 1e-15).all()
    # diagnostics and flips exist for the Hamming hasher only
    assert set(t["diagnostics.csv"]["hasher"]) == {"h20", "l1"}
    assert set(t["bit_flips.parquet"]["hasher"]) == {"h20"}
    flips = t["bit_flips.parquet"]
    assert flips.loc[flips["transform"] == "jpeg(50)", "flip_rate"].mean() == pytest.approx(0.1, abs=0.03)
    assert set(t["retrieval.csv"]["transform"]) == {"jpeg(50)", "crop(0.5)"}
    # same input, same tables
    t2 = analyse(df, hashers, specs, cfg)
    for name in t:
        pd.testing.assert_frame_equal(t[name], t2[name])


def test_bootstrap_numba_and_numpy_paths_agree(monkeypatch):
    rng = np.random.default_rng(12)
    packed = _random_hashes(rng, 90, 12)
    I, J, D = close_pairs(packed, None, 4)
    assert len(D) * 2000 >= 1_000_000  # large enough for the compiled numerator
    fast = bootstrap_fpr(np.arange(90), None, np.arange(90), I, J, D, 4, 2000, seed=3)
    monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    slow = bootstrap_fpr(np.arange(90), None, np.arange(90), I, J, D, 4, 2000, seed=3)
    # integer weights: both paths sum integers exactly, so they agree bit for bit
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(fast, slow))


@pytest.mark.parametrize("within", [True, False])
def test_bootstrap_integer_kernels_equal_float_path_with_groups_and_repeats(monkeypatch, within):
    """Groups of several images, images that are rows of A more than once
    (several variants of one photo), replicate counts that cross the
    kernels' 256-replicate blocks and the weight-block size: the compiled
    integer path and the numpy float path give identical replicate FPRs."""
    rng = np.random.default_rng(21)
    m = 120
    groups = rng.integers(0, 40, m)
    img_a = np.arange(m) if within else rng.integers(0, m, 300)
    img_b = None if within else np.arange(m)
    n_pairs = 4000
    I = rng.integers(0, len(img_a), n_pairs)
    J = rng.integers(0, m, n_pairs)
    D = rng.integers(0, 9, n_pairs)
    fast = bootstrap_fpr(img_a, img_b, groups, I, J, D, 8, 700, seed=5)
    monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    slow = bootstrap_fpr(img_a, img_b, groups, I, J, D, 8, 700, seed=5)
    assert fast[2].shape == (700, 9)
    assert all(np.array_equal(x, y, equal_nan=True) for x, y in zip(fast, slow))


def test_bit_correlation_summary_equals_numpy_corrcoef():
    from harness.metrics.diagnostics import correlation_summary

    rng = np.random.default_rng(21)
    x = (rng.random((500, 24)) < 0.4).astype(np.uint8)
    x[:, 5] = x[:, 3]  # a copied bit: |r| = 1
    x[:, 7] = 0  # a constant bit
    got = correlation_summary(x, chunk=77)
    live = x.std(axis=0) > 0
    r = np.corrcoef(x[:, live].astype(float), rowvar=False)
    a = np.abs(r[np.triu_indices(r.shape[0], 1)])
    assert got["n_constant_bits"] == 1
    assert got["corr_max_abs"] == pytest.approx(1.0)
    assert got["corr_mean_abs"] == pytest.approx(a.mean(), rel=1e-9)
    assert got["corr_share_above_0.3"] == pytest.approx((a > 0.3).mean())


@pytest.mark.parametrize("bits", [64, 144, 256])
def test_kernels_equal_numpy_across_row_and_column_blocks(bits):
    """Sizes that cross the kernels' row groups (32 / 8 rows), row blocks
    (256) and column blocks (4096), with a ragged tail: the numba histogram
    (every loop variant) and threshold counts equal numpy's bitwise_count
    histogram, within one set and across two sets."""
    from harness.metrics import hamming
    from harness.metrics.hamming import pair_histogram_numpy

    if hamming._kernel(10**9) is None:
        pytest.skip("numba kernels unavailable (HARNESS_NO_NUMBA or no numba)")
    from harness.metrics import kernel as K

    rng = np.random.default_rng(bits + 1)
    a = _random_hashes(rng, 4100 + 37, bits)
    a[:600, : bits // 16] = 0  # pull part of the set together: small distances occur
    b = _random_hashes(rng, 300 + 5, bits)
    want = pair_histogram_numpy(a)
    want_ab = pair_histogram_numpy(a, b)
    assert (pair_histogram(a) == want).all()
    assert (pair_histogram(a, b) == want_ab).all()
    X = hamming._words_for_histogram(K, a)
    if X.shape[1] > 1:
        for variant in (1, 2, 3):
            assert (K.hist_kernel(X, X, True, 64 * X.shape[1] + 1, variant)[: len(want)] == want).all()
    for t in (0, bits // 8, bits // 3, bits // 2, bits):
        assert count_within(a, None, t) == want[: t + 1].sum()
        assert count_within(a, b, t) == want_ab[: t + 1].sum()


@pytest.mark.parametrize("bits", [64, 144, 256])
def test_close_pair_kernels_equal_numpy_across_blocks_and_both_paths(bits, monkeypatch):
    """The numba close-pair kernels, on sizes that cross row groups, row
    blocks and column blocks: every pair at distance <= t, within one set
    and across two, with groups, equals numpy's full distance matrix, on
    the two-pass path (no `expected`), the one-pass path (`expected` from
    the histogram) and the one-pass path forced to overflow (expected=0
    with clustered pairs: it falls back to two passes)."""
    from harness.metrics import hamming
    from harness.metrics.hamming import pair_histogram_numpy

    if hamming._kernel(10**9) is None:
        pytest.skip("numba kernels unavailable (HARNESS_NO_NUMBA or no numba)")
    from harness.metrics import kernel as K

    two_pass = []
    count_kernel = K.count_kernel
    monkeypatch.setattr(K, "count_kernel", lambda *args: two_pass.append(1) or count_kernel(*args))
    rng = np.random.default_rng(bits + 2)
    a = _random_hashes(rng, 4100 + 37, bits)
    a[:600, : bits // 16] = 0  # pull part of the set together: small distances occur
    b = _random_hashes(rng, 300 + 5, bits)
    b[:100, : bits // 16] = 0
    ga, gb = rng.integers(0, 2000, len(a)), rng.integers(0, 2000, len(b))

    def numpy_pairs(x, y, gx, gy, t):
        from harness.metrics.kernel import to_words

        wx, wy = to_words(x), to_words(x if y is None else y)
        d = sum(np.bitwise_count(wx[:, None, w] ^ wy[None, :, w]).astype(np.int64) for w in range(wx.shape[1]))
        ok = (d <= t) & (gx[:, None] != (gx if y is None else gy)[None, :])
        if y is None:
            ok &= np.triu(np.ones_like(ok), 1).astype(bool)
        i, j = np.nonzero(ok)
        order = np.lexsort((j, i, d[i, j]))
        return i[order], j[order], d[i, j][order]

    for t in (bits // 4, bits // 3):
        for y, gy in ((None, None), (b, gb)):
            want = numpy_pairs(a, y, ga, gy, t)
            n_want = len(want[0])
            assert n_want > 0
            tasks = K.tasks(len(a), y is None)
            # None: two passes; tasks * n_want: room for all in every task (one pass);
            # 0: room for 64 a task, fewer than there are (one pass, overflow, two passes)
            assert n_want > 64 * tasks
            for expected, passes in ((None, 2), (n_want, None), (tasks * n_want, 1), (0, 2)):
                two_pass.clear()
                got = close_pairs(a, y, t, ga, gy, expected=expected)
                for g, w in zip(got, want):
                    assert g.tolist() == w.tolist()
                if passes is not None:
                    assert len(two_pass) == (passes == 2)
            # the same pairs (and the histogram) from the histogram pass: with room,
            # out of room (collected again), and out of room without fallback
            hist_want = pair_histogram_numpy(a, y, ga, gy)
            for room in (n_want, 0):
                hist, got = hamming.histogram_and_close_pairs(a, y, t, ga, gy, room=room)
                assert (hist == hist_want).all()
                for g, w in zip(got, want):
                    assert g.tolist() == w.tolist()
            assert hamming.histogram_and_close_pairs(a, y, t, ga, gy, room=0, fallback=False)[1] is None
            # every histogram loop collects the same pairs (no groups here)
            X = hamming._words_for_histogram(K, a)
            Yw = X if y is None else hamming._words_for_histogram(K, y)
            all_want = numpy_pairs(a, y, np.arange(len(a)), None if y is None else -1 - np.arange(len(y)), t)
            for variant in (1, 2, 3) if X.shape[1] > 1 else (0,):
                h, I, J, D, counts = K.hist_close_kernel(
                    X, Yw, y is None, 64 * X.shape[1] + 1, t, len(a) * 300, variant
                )
                assert (h[: bits + 1] == pair_histogram_numpy(a, y)).all()
                I, J, D = hamming._filled_slots(I, J, D, counts, len(a) * 300)
                order = np.lexsort((J, I, D))
                for g, w in zip((I[order], J[order], D[order]), all_want):
                    assert g.tolist() == w.tolist()


def test_close_pair_tables_stay_categorical_and_files_hold_plain_strings():
    """Per-hasher close-pair tables with different image sets concatenate
    into categorical columns (codes, not one string per row) whose values
    equal a plain string concatenation; plain_strings gives back the str
    columns the files hold."""
    from harness.metrics.tables import concat_tables, plain_strings

    def part(hasher, ids, a, b):
        dtype = pd.CategoricalDtype(sorted(ids))
        return pd.DataFrame(
            {
                "hasher": pd.Categorical([hasher] * len(a)),
                "image_a": pd.Categorical(a, dtype=dtype),
                "image_b": pd.Categorical(b, dtype=dtype),
                "distance": np.arange(len(a)),
            }
        )

    p1 = part("phash", ["a", "b", "c"], ["a", "b"], ["c", "c"])
    p2 = part("dhash", ["b", "c", "d"], ["d", "b", "c"], ["b", "d", "d"])
    both = concat_tables([p1, p2])
    assert all(isinstance(both[c].dtype, pd.CategoricalDtype) for c in ("hasher", "image_a", "image_b"))
    plain = pd.concat([plain_strings(p1), plain_strings(p2)], ignore_index=True)
    pd.testing.assert_frame_equal(plain_strings(both), plain)
    assert plain_strings(both)["image_a"].tolist() == ["a", "b", "d", "b", "c"]
    assert str(plain_strings(both)["image_a"].dtype) == "str"


class _CountingL1(_L1Hasher):
    """_L1Hasher that counts the pairs whose distance it computes."""

    pairs = 0

    def pair_distances(self, a, b):
        type(self).pairs += len(a) * len(b)
        return super().pair_distances(a, b)


def test_generic_metric_keeps_bins_between_passes_and_gives_identical_results(monkeypatch):
    """HasherMetric computes each distance of a negative set once for
    hist, close and nearest (the bins are kept between passes), with
    results equal to recomputing them and to brute force, across ragged
    blocks; an interrupted pass keeps nothing."""
    from harness.metrics import distances

    monkeypatch.setattr(distances, "GENERIC_BLOCK", 16)
    rng = np.random.default_rng(5)
    a = rng.integers(0, 6, (45, 6)).astype(np.uint8)
    b = rng.integers(0, 6, (37, 6)).astype(np.uint8)
    ga, gb = np.array([f"g{i % 30}" for i in range(45)]), np.array([f"g{i}" for i in range(37)])

    def passes(cache_pairs):
        monkeypatch.setattr(distances, "CACHE_PAIRS", cache_pairs)
        m = distances.HasherMetric(_CountingL1("l1", 48))
        _CountingL1.pairs = 0
        out = (
            m.hist(a, None, ga),
            m.close(a, None, 6, ga),
            m.hist(a, b, ga, gb),
            m.close(a, b, 5, ga, gb),
            m.nearest(a, b, ga, gb),
        )
        return out, _CountingL1.pairs

    cached, n_cached = passes(1 << 26)
    fresh, n_fresh = passes(0)
    # within a: both directions of every block pair i0 <= j0 (blocks of 16,
    # 16 and 13 rows) = 45^2 + 16^2 + 16^2 + 13^2; across: 45 x 37
    within, across = 45**2 + 16**2 + 16**2 + 13**2, 45 * 37
    assert n_cached == within + across  # once per set
    assert n_fresh == 2 * within + 3 * across  # once per pass
    for x, y in zip(cached, fresh):
        for u, v in zip(x if isinstance(x, tuple) else (x,), y if isinstance(y, tuple) else (y,)):
            assert np.array_equal(u, v)
    # brute force
    h = _L1Hasher("l1", 48)
    q = h.quantise(h.pair_distances(a, b))
    other = ga[:, None] != gb[None, :]
    assert np.array_equal(cached[2], np.bincount(q[other], minlength=20))
    mins = np.where(other, q, 99).min(axis=1)
    assert np.array_equal(cached[4][0], mins)
    ii, jj = np.nonzero(other & (q <= 5))
    assert sorted(zip(cached[3][0], cached[3][1])) == sorted(zip(ii, jj))
    # a pass stopped early leaves no partial cache behind
    monkeypatch.setattr(distances, "CACHE_PAIRS", 1 << 26)
    m = distances.HasherMetric(_L1Hasher("l1", 48))
    next(m._blocks(a, b, ga, gb))
    assert m._cached is None
    assert np.array_equal(m.hist(a, b, ga, gb), cached[2])


def test_analyse_tables_do_not_depend_on_the_generic_bin_cache(monkeypatch):
    from harness.config import MetricsConfig
    from harness.metrics import distances
    from harness.metrics.tables import analyse

    monkeypatch.setattr(distances, "GENERIC_BLOCK", 16)
    rng = np.random.default_rng(1)
    hashers = [_L1Hasher("l1", 48)]
    specs = [_Spec("jpeg", 50), _Spec("crop", 0.5)]
    df = _hash_table(rng, hashers, 40, specs)
    cfg = MetricsConfig(bootstrap_replicates=50, target_fpr=1e-2, collision_k=5)
    with_cache = analyse(df, hashers, specs, cfg)
    monkeypatch.setattr(distances, "CACHE_PAIRS", 0)
    without = analyse(df, hashers, specs, cfg)
    assert set(with_cache) == set(without)
    for name in with_cache:
        pd.testing.assert_frame_equal(with_cache[name], without[name])
