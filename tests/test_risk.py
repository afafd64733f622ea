"""Risk model (issue 7): tails against scipy.stats, numerics in the far tail,
monotonicity, exact intervals, the empirical per-query curve against brute
force, and the Apple worked example."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.errors import ConfigError
from harness.risk import (
    Scenario,
    account_flag_probability,
    account_flag_probability_betabinom,
    account_probability,
    betabinom_params,
    bootstrap_rate_from_metrics,
    clopper_pearson,
    comparison_rate_for_query_rate,
    empirical_query_curve,
    fit_query_scaling,
    fpr_table,
    given_rate,
    per_query_probability,
    photos_for_flag_probability,
    population_flags,
    rate_at_threshold,
    rate_for_flag_probability,
    risk_chain,
)

P_GRID = [0.0, 1e-12, 1e-9, 1e-6, 1e-3, 0.05, 0.5, 0.99, 1.0]
NK_GRID = [(1, 1), (10, 1), (10, 10), (100, 3), (2000, 30), (2000, 2000), (10**6, 30)]


# ------------------------------------------------------------------ binomial
@pytest.mark.parametrize("p", P_GRID)
@pytest.mark.parametrize("n,k", NK_GRID)
def test_binomial_tail_equals_scipy_pmf_sum(p, n, k):
    ours = account_flag_probability(p, n, k)
    if n <= 5000:  # independent oracle: sum of scipy pmf terms, smallest first
        oracle = math.fsum(sorted(stats.binom.pmf(np.arange(k, n + 1), n, p)))
    else:
        oracle = float(stats.binom.sf(k - 1, n, p))
    assert ours == pytest.approx(oracle, rel=1e-9, abs=1e-300)
    assert 0.0 <= ours <= 1.0


def test_naive_one_minus_cdf_returns_zero_where_ours_does_not():
    # Apple-style numbers: 30 of 2000 photos at 1e-6 per photo
    naive = 1 - stats.binom.cdf(29, 2000, 1e-6)
    ours = account_flag_probability(1e-6, 2000, 30)
    assert naive == 0.0
    oracle = math.fsum(stats.binom.pmf(np.arange(30, 2001), 2000, 1e-6))
    assert 1e-120 < ours == pytest.approx(oracle, rel=1e-9)
    # the naive per-query formula: 1 - (1-p)^M is 0 at p=1e-20, ours ~ M*p
    assert 1 - (1 - 1e-20) ** 1000 == 0.0
    assert per_query_probability(1e-20, 1000) == pytest.approx(1e-17, rel=1e-12)


def test_betabinom_scipy_sf_is_one_minus_cdf_and_ours_is_not():
    a, b = betabinom_params(1e-6, 1e-4)
    assert stats.betabinom.sf(29, 2000, a, b) == 0.0  # naive: underflows
    ours = account_flag_probability_betabinom(1e-6, 1e-4, 2000, 30)
    oracle = math.fsum(sorted(stats.betabinom.pmf(np.arange(30, 2001), 2000, a, b)))
    assert ours == pytest.approx(oracle, rel=1e-9)
    assert 1e-30 < ours < 1e-20


# -------------------------------------------------------------- beta-binomial
@pytest.mark.parametrize("p", [1e-9, 1e-6, 1e-3, 0.05, 0.5, 0.99])
@pytest.mark.parametrize("rho", [1e-6, 1e-4, 0.01, 0.2, 0.9])
@pytest.mark.parametrize("n,k", [(1, 1), (10, 1), (10, 10), (100, 3), (2000, 30), (2000, 1999)])
def test_betabinom_tail_equals_scipy_pmf_sum(p, rho, n, k):
    a, b = betabinom_params(p, rho)
    oracle = math.fsum(sorted(stats.betabinom.pmf(np.arange(k, n + 1), n, a, b)))
    ours = account_flag_probability_betabinom(p, rho, n, k)
    assert ours == pytest.approx(oracle, rel=1e-7, abs=1e-300)


@pytest.mark.parametrize("rho", [1e-12, 1e-8, 1e-3, 0.5])
def test_betabinom_single_photo_is_exactly_the_mean(rho):
    # P[X >= 1] for n = 1 is E[rate] = p whatever rho is
    for p in (1e-9, 0.3, 0.99):
        assert account_flag_probability_betabinom(p, rho, 1, 1) == pytest.approx(p, rel=1e-12)


def test_betabinom_parameterisation_mean_and_correlation():
    p, rho, n = 0.01, 0.05, 50
    a, b = betabinom_params(p, rho)
    assert a / (a + b) == pytest.approx(p)
    assert 1 / (a + b + 1) == pytest.approx(rho)
    mean, var = stats.betabinom.stats(n, a, b, moments="mv")
    assert mean == pytest.approx(n * p)
    assert var == pytest.approx(n * p * (1 - p) * (1 + (n - 1) * rho))


def test_betabinom_tends_to_binomial_and_correlation_raises_rare_tails():
    binom = account_flag_probability(1e-3, 2000, 30)
    assert account_flag_probability_betabinom(1e-3, 1e-12, 2000, 30) == pytest.approx(binom, rel=1e-3)
    assert account_probability(1e-3, 2000, 30, rho=0.0) == binom
    prev = binom
    for rho in (1e-6, 1e-4, 1e-2):
        cur = account_flag_probability_betabinom(1e-3, rho, 2000, 30)
        assert cur > prev
        prev = cur


# ----------------------------------------------------------------- monotone
def test_monotonicity_more_photos_lower_k_larger_database():
    for rho in (0.0, 0.01):
        # more photos never lower the risk
        vals = [account_probability(1e-3, n, 5, rho) for n in (5, 10, 100, 1000, 5000)]
        assert all(b >= a for a, b in zip(vals, vals[1:])) and vals[-1] > vals[0]
        # lower k never lowers the risk
        vals = [account_probability(1e-3, 1000, k, rho) for k in (30, 10, 5, 2, 1)]
        assert all(b >= a for a, b in zip(vals, vals[1:])) and vals[-1] > vals[0]
    # larger database never lowers the per-query or the account risk
    q = [per_query_probability(1e-9, m) for m in (1, 10, 10**4, 10**7, 10**10)]
    assert all(b >= a for a, b in zip(q, q[1:])) and q[-1] > q[0]
    acc = [account_flag_probability(x, 2000, 30) for x in q]
    assert all(b >= a for a, b in zip(acc, acc[1:]))


def test_chain_maps_interval_bounds_to_bounds():
    rate = rate_at_threshold(
        pd.DataFrame(
            {
                "threshold": [0],
                "fp": [3],
                "n_neg": [10**6],
                "fpr": [3e-6],
                "fpr_low": [6e-7],
                "fpr_high": [9e-6],
                "method": ["cp"],
            }
        ),
        0,
    )
    out = risk_chain(rate, Scenario(database_size=1000, photos=2000, match_threshold=30, users=10**9))
    assert (out["low"] <= out["point"]).all() and (out["point"] <= out["high"]).all()
    assert out["low"].iloc[-1] < out["high"].iloc[-1]
    acc = out[out["layer"] == "per account"].iloc[0]
    assert acc["point"] == pytest.approx(account_flag_probability(per_query_probability(3e-6, 1000), 2000, 30))
    pop = out[out["layer"] == "population"].iloc[0]
    assert pop["point"] == pytest.approx(1e9 * acc["point"])


# ------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "call",
    [
        lambda: account_flag_probability(-0.1, 10, 1),
        lambda: account_flag_probability(1.5, 10, 1),
        lambda: account_flag_probability(float("nan"), 10, 1),
        lambda: account_flag_probability(0.1, -1, 0),
        lambda: account_flag_probability(0.1, 10, 11),
        lambda: account_flag_probability(0.1, 10.5, 1),
        lambda: account_flag_probability_betabinom(0.1, 1.0, 10, 1),
        lambda: account_flag_probability_betabinom(0.1, -0.1, 10, 1),
        lambda: per_query_probability(0.1, -5),
        lambda: population_flags(0.1, -1),
        lambda: clopper_pearson(5, 4),
        lambda: Scenario(10, 5, 6, 100).validate(),
    ],
)
def test_bad_parameters_raise_config_error(call):
    with pytest.raises(ConfigError) as info:
        call()
    assert "\n" not in str(info.value)


# -------------------------------------------------------- layer 1: intervals
def test_clopper_pearson_known_values_and_coverage_properties():
    lo, hi = clopper_pearson(0, 4560)
    assert lo == 0.0
    assert hi == pytest.approx(1 - 0.025 ** (1 / 4560), rel=1e-9)  # closed form at x = 0
    lo, hi = clopper_pearson(4560, 4560)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 4560), rel=1e-9)
    lo, hi = clopper_pearson(7, 100)
    # the bounds are where the binomial tails equal alpha/2
    assert stats.binom.sf(6, 100, lo) == pytest.approx(0.025, rel=1e-6)
    assert stats.binom.cdf(7, 100, hi) == pytest.approx(0.025, rel=1e-6)


def _hist_table():
    rows = [("phash", 64, "original()", "original", "", "orig-orig", d, c) for d, c in [(3, 1), (10, 4), (30, 95)]]
    rows += [("phash", 64, "jpeg(50)", "jpeg", "50", "variant-orig", d, c) for d, c in [(5, 2), (30, 198)]]
    return pd.DataFrame(
        rows, columns=["hasher", "bits", "transform", "family", "severity", "kind", "distance", "count"]
    )


def test_fpr_table_counts_and_errors():
    tab = fpr_table(_hist_table(), "phash")
    assert len(tab) == 65 and (tab["n_neg"] == 100).all()
    assert tab.loc[2, "fp"] == 0 and tab.loc[3, "fp"] == 1 and tab.loc[10, "fp"] == 5 and tab.loc[64, "fp"] == 100
    r = rate_at_threshold(tab, 10)
    assert (r.point, r.x, r.n) == (0.05, 5, 100)
    assert (r.low, r.high) == pytest.approx(clopper_pearson(5, 100))
    assert "Clopper-Pearson" in r.method
    v = fpr_table(_hist_table(), "phash", negatives="variant-orig")
    assert v.loc[5, "fp"] == 2 and v["n_neg"].iat[0] == 200
    with pytest.raises(ConfigError, match="hasher.*pdq.*available: phash"):
        fpr_table(_hist_table(), "pdq")
    with pytest.raises(ConfigError):
        fpr_table(_hist_table(), "phash", negatives="positive")


def test_bootstrap_interval_used_only_when_metrics_has_it():
    metrics = pd.DataFrame(
        {
            "hasher": ["phash"],
            "negatives": ["orig-orig"],
            "threshold_at_target": [10],
            "fpr_at_threshold": [0.05],
            "n_neg": [100],
        }
    )
    assert bootstrap_rate_from_metrics(metrics, "phash", 10) is None
    metrics["fpr_at_threshold_ci_low"] = 0.02
    metrics["fpr_at_threshold_ci_high"] = 0.09
    r = bootstrap_rate_from_metrics(metrics, "phash", 10)
    assert (r.point, r.low, r.high) == (0.05, 0.02, 0.09) and "bootstrap" in r.method
    assert bootstrap_rate_from_metrics(metrics, "phash", 11) is None


# ------------------------------------------------------ layer 2: per query
def test_empirical_query_curve_equals_brute_force_nearest_neighbours():
    rng = np.random.default_rng(5)
    # clustered 16-bit hashes so that the curve is far from independence
    centres = rng.integers(0, 256, size=(4, 2), dtype=np.uint8)

    def draw(n):
        c = centres[rng.integers(0, 4, n)]
        flips = np.packbits(rng.random((n, 16)) < 0.1, axis=1)
        return c ^ flips

    query, db = draw(25), draw(40)
    thresholds = [0, 2, 4, 8]
    sizes = [1, 3, 10, 40]
    curve = empirical_query_curve(query, db, thresholds, sizes, repeats=7, seed=3)
    # brute force with the same orderings
    rng2 = np.random.default_rng(3)
    hits = {(m, t): 0 for m in sizes for t in thresholds}
    bits = np.unpackbits(query, axis=1).astype(int), np.unpackbits(db, axis=1).astype(int)
    for _ in range(7):
        order = rng2.permutation(len(db))
        for qi in range(len(query)):
            for m in sizes:
                best = min(int((bits[0][qi] != bits[1][j]).sum()) for j in order[:m])
                for t in thresholds:
                    hits[(m, t)] += best <= t
    for row in curve.itertuples():
        assert row.share == pytest.approx(hits[(row.database_size, row.threshold)] / (7 * 25))
        all_d = [(bits[0][i] != bits[1][j]).sum() for i in range(25) for j in range(40)]
        assert row.pair_rate == pytest.approx(np.mean(np.array(all_d) <= row.threshold))
        assert row.independent == pytest.approx(1 - (1 - row.pair_rate) ** row.database_size)
    # the full database: every ordering gives the same nearest neighbour
    full = curve[curve["database_size"] == 40]
    for row in full.itertuples():
        d = np.array(all_d).reshape(25, 40)
        assert row.share == pytest.approx(np.mean(d.min(axis=1) <= row.threshold))
    # non-decreasing in M for every t
    for _t, g in curve.groupby("threshold"):
        assert (np.diff(g.sort_values("database_size")["share"]) >= 0).all()


def test_empirical_curve_excludes_same_group_pairs():
    q = np.array([[0b00000000], [0b11111111]], dtype=np.uint8)
    db = np.array([[0b00000000], [0b11110000]], dtype=np.uint8)
    curve = empirical_query_curve(q, db, [0], [2], groups_query=["a", "b"], groups_database=["a", "c"], repeats=2)
    assert curve["share"].iat[0] == 0.0  # the identical pair is in one group


def test_fit_query_scaling_recovers_independence_and_heavy_tails():
    m = np.array([1, 2, 4, 8, 16, 32, 64])
    p = 1e-3
    fit = fit_query_scaling(m, 1 - (1 - p) ** m)
    assert fit["b"] == pytest.approx(1.0, abs=1e-9) and fit["c"] == pytest.approx(-math.log1p(-p), rel=1e-6)
    fit = fit_query_scaling(m, 1 - np.exp(-0.01 * m**0.5))
    assert fit["b"] == pytest.approx(0.5, abs=1e-9)
    assert math.isnan(fit_query_scaling([1, 2], [0.0, 0.0])["b"])


# ------------------------------------------------------------ population
def test_population_interval_contains_expectation_and_is_binomial():
    out = population_flags(1e-6, 10**9)
    assert out["expected"] == pytest.approx(1000)
    assert out["low"] < 1000 < out["high"]
    assert out["low"] == stats.binom.ppf(0.025, 10**9, 1e-6)
    assert population_flags(0.0, 10**9) == {"expected": 0.0, "low": 0.0, "high": 0.0}


# -------------------------------------------- worked example: Apple (2021)
def test_apple_arithmetic_order_of_magnitude():
    """Assumptions (see docs/guides/false-positive-risk.md): per-image false-match rate
    1e-6 (labelled assumption), match threshold k = 30, target 1e-12 per
    account per year. The library size at which the binomial tail reaches
    one in a trillion is a few million photos; with 10x or 100x the
    per-image rate it falls to a few hundred thousand / tens of thousands."""
    n1 = photos_for_flag_probability(1e-6, 30, 1e-12)
    assert 1e6 < n1 < 1e7
    assert account_flag_probability(1e-6, n1, 30) >= 1e-12 > account_flag_probability(1e-6, n1 - 1, 30)
    n10 = photos_for_flag_probability(1e-5, 30, 1e-12)
    n100 = photos_for_flag_probability(1e-4, 30, 1e-12)
    assert n10 == pytest.approx(n1 / 10, rel=0.01) and n100 == pytest.approx(n1 / 100, rel=0.01)
    # a typical year (2000 photos): far below 1e-12 under independence ...
    assert account_flag_probability(1e-6, 2000, 30) < 1e-100
    # ... but within-account correlation moves it by orders of magnitude
    assert account_flag_probability_betabinom(1e-6, 0.01, 2000, 30) > 1e-6
    assert given_rate(1e-6).point == 1e-6


@pytest.mark.parametrize("rho", [0.0, 1e-3])
def test_required_rate_inverts_the_account_layer(rho):
    q = rate_for_flag_probability(2000, 30, 1e-12, rho)
    assert account_probability(q, 2000, 30, rho) <= 1e-12
    assert account_probability(q * (1 + 1e-9), 2000, 30, rho) > 1e-12 * (1 - 1e-6)
    p = comparison_rate_for_query_rate(q, 5_000_000)
    assert per_query_probability(p, 5_000_000) == pytest.approx(q, rel=1e-9)
    assert rate_for_flag_probability(10, 10, 0.5) == pytest.approx(0.5**0.1, rel=1e-9)


def test_sweeps_are_monotone_in_t_and_k():
    from harness.risk import sweep_match_threshold, sweep_thresholds

    scen = Scenario(database_size=100, photos=500, match_threshold=5, users=10**6, rho=0.01)
    sw = sweep_thresholds(fpr_table(_hist_table(), "phash"), scen)
    for col in ("p_flag", "p_flag_low", "p_flag_high"):
        assert (np.diff(sw[col]) >= 0).all()  # a larger hash threshold never lowers the risk
    assert (sw["p_flag_low"] <= sw["p_flag"]).all() and (sw["p_flag"] <= sw["p_flag_high"]).all()
    scen1 = Scenario(database_size=1, photos=500, match_threshold=5, users=10**6, rho=0.01)
    sk = sweep_match_threshold(rate_at_threshold(fpr_table(_hist_table(), "phash"), 3), scen1, range(1, 50))
    assert (np.diff(sk["p_flag"]) <= 0).all() and sk["p_flag"].iat[0] > sk["p_flag"].iat[-1]


# ------------------------------------------------ the whole chain, plain arguments
def test_risk_assessment_is_pure_and_names_its_parameters():
    from harness.risk import risk_assessment

    res = risk_assessment(fpr=1e-9, database_size=10**6, photos=2000, match_threshold=30, users=10**9)
    q = per_query_probability(1e-9, 10**6)
    acc = res["chain"][res["chain"]["layer"] == "per account"]["point"].iat[0]
    assert acc == pytest.approx(account_flag_probability(q, 2000, 30), rel=1e-12)
    assert res["source"] == "given per-comparison rate" and res["table_t"] is None
    for kwargs, field in [
        ({"fpr": 1e-6, "photos": 10, "match_threshold": 11, "database_size": 5}, "match_threshold"),
        ({"fpr": 1e-6, "photos": 10, "match_threshold": 1}, "database_size"),
        ({"photos": 10, "database_size": 5}, "fpr"),
        ({"fpr": 2.0, "photos": 10, "match_threshold": 1, "database_size": 5}, "fpr"),
        ({"fpr": 1e-6, "photos": 10**7, "match_threshold": 1, "database_size": 5, "rho": 0.1}, "photos"),
    ]:
        with pytest.raises(ConfigError) as info:
            risk_assessment(**kwargs)
        assert info.value.field == field
