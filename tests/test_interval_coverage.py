"""The deterministic pair-rate interval (harness.metrics.intervals) against
an independent brute force, and its coverage in the clustered simulation
of benchmarks/interval_coverage.py (`phash-harness bench coverage`).
Every random draw has a fixed seed."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from benchmarks.interval_coverage import Cell, Propensity, draw_matches, replicate_stats, simulate_cell
from harness.cli import main
from harness.metrics.intervals import (
    dependent_pair_interval,
    dyadic_variance,
    effective_clopper_pearson,
    photo_pair_counts,
)


def _brute_dyadic(photo_of_a, photo_of_b, group, dist, t):
    """V(t) written out from its definition: e_q = 1{d_q <= t} - p over
    EVERY negative pair q (rows of different groups; within one set each
    unordered pair of rows once), and V = (1/N^2) sum over ordered pairs
    (q, r) of s(q, r) e_q e_r, where s(q, r) counts the photos q and r
    share, except that a pair with itself counts once (sum e_q^2). Two
    different pairs that share both photos count twice (as documented)."""
    within = photo_of_b is None
    rows_b = photo_of_a if within else photo_of_b
    pairs = []  # (photo set, distance)
    for ra, rb in itertools.product(range(len(photo_of_a)), range(len(rows_b))):
        if within and rb <= ra:
            continue
        ka, kb = photo_of_a[ra], rows_b[rb]
        if group[ka] == group[kb]:
            continue
        pairs.append(((ka, kb), dist[ra, rb]))
    n = len(pairs)
    y = np.array([d <= t for _, d in pairs], float)
    e = y - y.mean()
    total = 0.0
    for q in range(n):
        for r in range(n):
            if q == r:
                total += e[q] * e[q]
                continue
            shared = sum(1 for k in pairs[q][0] if k in pairs[r][0])
            total += shared * e[q] * e[r]
    return total / n / n, n


@pytest.mark.parametrize("design", ["within", "across"])
def test_dyadic_variance_equals_the_brute_force_definition(design):
    rng = np.random.default_rng(7)
    group = np.array([0, 0, 1, 2, 3, 3, 4, 5, 6, 7, 8, 9])  # two groups of two photos
    m = len(group)
    if design == "within":
        photo_a, photo_b = np.arange(m), None
        rows_b = m
    else:  # variants (some photos twice, some not at all) x all originals
        photo_a, photo_b = np.array([0, 0, 2, 3, 5, 5, 7, 9, 11]), np.arange(m)
        rows_b = m
    dist = rng.integers(0, 8, size=(len(photo_a), rows_b))
    # a photo that matches more than the rest, so the dependence term matters
    dist[photo_a == 5] = np.maximum(dist[photo_a == 5] - 3, 0)
    keep_below = 4
    img_b = photo_a if photo_b is None else photo_b
    ii, jj = np.nonzero(dist <= keep_below)
    keep = group[photo_a[ii]] != group[img_b[jj]]
    if photo_b is None:
        keep &= jj > ii
    ii, jj = ii[keep], jj[keep]
    n_k, n = photo_pair_counts(photo_a, photo_b, group)
    v = dyadic_variance(photo_a[ii], img_b[jj], dist[ii, jj], keep_below, n_k, n)
    assert len(v) == keep_below + 1
    for t in range(keep_below + 1):
        want, n_brute = _brute_dyadic(photo_a, photo_b, group, dist, t)
        assert n_brute == n
        assert v[t] == pytest.approx(max(want, 0.0), rel=1e-9, abs=1e-15)
    assert v.max() > 0


def test_with_independent_pairs_the_variance_is_binomial_on_average():
    """No clustering (every propensity 1), every pair drawn explicitly:
    the mean V over replicates is p(1-p)/N, the binomial variance."""
    cell = Cell(Propensity("mixture", hot_share=0.5, hot_factor=1.0), "within", 100, 0.02)
    c = cell.propensity.scale_for(cell.rate)
    rng = np.random.default_rng(3)
    vs, ps = [], []
    for _ in range(400):
        a = cell.propensity.draw(rng, cell.n)
        assert np.all(a == 1.0)
        i, j = draw_matches(rng, a, c, None, "bernoulli")
        k, n, v = replicate_stats(cell, a, i, j)
        vs.append(v)
        ps.append(k / n)
    vs = np.array(vs)
    binomial = cell.rate * (1 - cell.rate) / cell.pairs
    se = vs.std() / np.sqrt(len(vs))
    assert se < 0.02 * binomial  # the check below is not at the mercy of the draw
    assert vs.mean() == pytest.approx(binomial, rel=0.08)
    # and it is the variance the estimates actually have
    assert np.var(ps) == pytest.approx(binomial, rel=0.2)


def test_clustered_matches_the_default_covers_and_clopper_pearson_does_not():
    """Mixture of 10% photos 30x hotter, n = 200, expected count ~20."""
    cell = Cell(Propensity(), "within", 200, 1e-3)
    r = simulate_cell(cell, 300, seed=0)
    assert 15 < r["mean_k"] < 25
    assert r["dependent_coverage"] >= 0.90
    assert r["cp_coverage"] <= 0.85
    assert r["dependent_hi_rel"] > r["cp_hi_rel"]
    assert r["design_effect_median"] > 1.5


def test_the_fast_generator_draws_the_bernoulli_model():
    """Poisson draws kept once per pair vs every pair drawn: same mean count
    (the estimand rate x N) within Monte-Carlo error, for both designs."""
    for design in ("within", "variant"):
        cell = Cell(Propensity(), design, 120, 1e-2, variants=60)
        c = cell.propensity.scale_for(cell.rate)
        for gen in ("poisson", "bernoulli"):
            rng = np.random.default_rng(11)
            ks = []
            for _ in range(300):
                a = cell.propensity.draw(rng, cell.n)
                i, j = draw_matches(rng, a, c, cell.m, gen)
                if design == "within":
                    assert np.all(i < j)
                else:
                    assert np.all(i < cell.m) and np.all(i != j)
                assert len(set(zip(i.tolist(), j.tolist()))) == len(i)  # every pair once
                ks.append(len(i))
            ks = np.array(ks, float)
            assert abs(ks.mean() - cell.rate * cell.pairs) < 4 * ks.std() / np.sqrt(len(ks))


def test_the_simulation_uses_the_default_interval():
    cell = Cell(Propensity(), "variant", 150, 1e-2, variants=40)
    rng = np.random.default_rng(5)
    a = cell.propensity.draw(rng, cell.n)
    i, j = draw_matches(rng, a, cell.propensity.scale_for(cell.rate), cell.m)
    k, n, v = replicate_stats(cell, a, i, j)
    lo, hi = dependent_pair_interval(np.arange(cell.m), np.arange(cell.n), np.arange(cell.n), i, j, np.zeros(k, int), 0)
    assert (lo[0], hi[0]) == effective_clopper_pearson(k, n, v)


@pytest.mark.parametrize("n", [1, 19_900, 30_470_634])
def test_zero_count_upper_bound_is_exact(n):
    want = 1 - 0.025 ** (1 / n)
    for v in (0.0, 1e-9, 1.0):
        lo, hi = effective_clopper_pearson(0, n, v)
        assert lo == 0.0
        assert hi == pytest.approx(want, rel=1e-10)
    lo, hi = dependent_pair_interval(np.arange(3), None, [0, 1, 1], [], [], [], 0)  # 2 pairs, none close
    assert hi[0] == pytest.approx(1 - 0.025**0.5, rel=1e-10)


def test_bench_coverage_command(tmp_path, capsys):
    out = tmp_path / "cov"
    args = ["bench", "coverage", "--n", "60", "--rates", "1e-2", "--replicates", "20", "--design", "within,variant"]
    assert main([*args, "--output", str(out)]) == 0
    first = (tmp_path / "cov.csv").read_bytes()
    assert first.count(b"\n") == 3 and b"mixture,variant,60,60" in first
    assert main([*args, "--output", str(out)]) == 0
    assert (tmp_path / "cov.csv").read_bytes() == first  # byte-identical
    assert "Command: `phash-harness bench coverage" in (tmp_path / "cov.md").read_text()
    capsys.readouterr()
    assert main(["bench", "coverage", "--rates", "2", "--output", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--rates" in err
    assert not (tmp_path / "bad.csv").exists()
