"""Coverage of the pair-rate intervals when false matches cluster on some photos (simulation).

`phash-harness bench coverage` measures, by simulation, how often each
interval for a rate over pairs of photos contains the true rate, when some
photos match far more often than others (as Caltech-101's Motorbikes do).

Model (one replicate). Draw n photos with match propensities a_i:

- ``mixture`` (default): a_i = ``--hot-factor`` (30) with probability
  ``--hot-share`` (0.1), else 1;
- ``lognormal``: a_i = exp(sigma Z - sigma^2/2), Z standard normal,
  sigma = ``--sigma`` (1.5).

Given the propensities, every pair of photos matches independently with
probability ``P(i, j) = 1 - exp(-c a_i a_j)`` (= c a_i a_j to first order:
at rate 1e-2 the largest mixture term c a_i a_j is 0.6),
and c is solved (``scipy.optimize.brentq``) so that the population pair
rate ``E[P(i, j)]`` over independent photos equals the target ``rate``.
That rate is the estimand: every replicate draws new photos, as a study
draws its photos from a population.

Generation without visiting every pair (``--generator poisson``, default):
K ~ Poisson(c S^2 / 2) ordered draws (i, j), each endpoint drawn with
probability a / S (S = sum a); draws with i == j are dropped and repeated
draws of one pair kept once (endpoints: multinomial counts per photo in
random order, the same distribution as independent draws). By Poisson splitting the number of draws of
the pair {i, j} is Poisson(c a_i a_j), independently over pairs, so "drawn
at least once" is exactly Bernoulli(1 - exp(-c a_i a_j)): the fast
generator is the model itself, not an approximation of it. It costs
O(K log K) per replicate instead of O(n^2). ``--generator bernoulli``
draws every pair explicitly (n up to 5,000), as a check of the fast one.

Designs (``--design``):

- ``within``: all n(n-1)/2 pairs of distinct photos (orig-orig);
- ``variant``: the variants of m = ``--variants`` photos (the first m; the
  photos are exchangeable) against all n originals, the pairs (variant of
  s, original of j) with s != j, N = m (n - 1); a variant inherits its
  photo's propensity, and the pair (variant of s, original of j) and
  (variant of j, original of s) are different pairs.

For each cell (propensity x design x n x rate) and each replicate: the
match count k of N pairs, the `dyadic_variance` V, and three 95% intervals
(``--confidence``):

- ``dependent``: `effective_clopper_pearson` at n_eff = min(N, p(1-p)/V),
  the harness default (`dependent_pair_interval`);
- ``cp``: Clopper-Pearson over the N pairs, as if pairs were independent;
- ``wilson_eff``: a Wilson score interval at the same n_eff (comparison).

Reported per cell: coverage of each (share of replicates with lo <= rate
<= hi) with its Monte-Carlo interval (Clopper-Pearson over replicates,
95%); the share of replicates with k = 0 and the coverage among them (the
default and Clopper-Pearson agree there: n_eff = N); the mean of hi/rate
and lo/rate; the share of replicates whose upper bound is below the rate
(``miss high``: the miss that understates a false-positive rate); the
median design effect N/n_eff over replicates with k > 0.
A cell whose expected match count times replicates exceeds
``--match-budget`` runs fewer replicates (at least ``--min-replicates``),
shown in its row. Deterministic: each cell's random stream is a function of
``--seed`` and the cell, so a cell's figures do not depend on the rest of
the grid. ``--output PATH`` writes PATH.csv and PATH.md (the command at
the top).
"""

from __future__ import annotations

import math
import os
import shlex
import sys
import time
import zlib
from dataclasses import dataclass

import numpy as np
from scipy import integrate, optimize
from scipy.stats import norm

from harness.errors import ConfigError
from harness.metrics.intervals import clopper_pearson, dyadic_variance, effective_clopper_pearson, photo_pair_counts

PROPENSITIES = ("mixture", "lognormal")
DESIGNS = ("within", "variant")
GENERATORS = ("poisson", "bernoulli")
DEFAULT_RATES = "1e-2,1e-3,1e-4,1e-5,1e-6"
DEFAULT_NS = "200,2000,20000"
#: the largest n the explicit all-pairs generator accepts
BERNOULLI_MAX_N = 5000
INTERVALS = ("dependent", "cp", "wilson_eff")


@dataclass(frozen=True)
class Propensity:
    """How photo propensities are drawn: ``kind`` in PROPENSITIES."""

    kind: str = "mixture"
    hot_share: float = 0.1
    hot_factor: float = 30.0
    sigma: float = 1.5

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "mixture":
            return np.where(rng.random(n) < self.hot_share, self.hot_factor, 1.0)
        return np.exp(self.sigma * rng.standard_normal(n) - self.sigma**2 / 2)

    def pair_rate(self, c: float) -> float:
        """E[1 - exp(-c a a')] over two independent photos."""
        if self.kind == "mixture":
            v = np.array([1.0, self.hot_factor])
            w = np.array([1 - self.hot_share, self.hot_share])
            return float(w @ -np.expm1(-c * np.outer(v, v)) @ w)
        # log(a a') ~ Normal(-sigma^2, 2 sigma^2)
        mu, s = -(self.sigma**2), math.sqrt(2) * self.sigma
        f = lambda z: -math.expm1(-c * math.exp(mu + s * z)) * norm.pdf(z)  # noqa: E731
        return float(integrate.quad(f, -12, 12, limit=200, epsabs=0, epsrel=1e-10)[0])

    def scale_for(self, rate: float) -> float:
        """The c whose population pair rate is `rate`."""
        return float(optimize.brentq(lambda c: self.pair_rate(c) - rate, 1e-18, 1e6, xtol=1e-300, rtol=1e-13))


def draw_matches(
    rng: np.random.Generator, a: np.ndarray, c: float, m: int | None, generator: str = "poisson"
) -> tuple[np.ndarray, np.ndarray]:
    """One replicate's matching pairs given propensities `a`: (i, j) with
    i < j for the within design (`m` None), (s, j) with s < m, j != s for
    the variant design. Each pair matches with probability
    1 - exp(-c a_i a_j), independently (see the module docstring)."""
    n = len(a)
    a_rows = a if m is None else a[:m]
    if generator == "bernoulli":
        hit = rng.random((len(a_rows), n)) < -np.expm1(-c * np.outer(a_rows, a))
        if m is None:
            hit = np.triu(hit, 1)
        else:
            np.fill_diagonal(hit, False)
        i, j = np.nonzero(hit)
        return i.astype(np.int64), j.astype(np.int64)
    s_rows, s_all = float(a_rows.sum()), float(a.sum())
    lam = c * s_all * s_all / 2 if m is None else c * s_rows * s_all
    k = int(rng.poisson(lam))
    # one side in photo order, the other shuffled: a uniformly random matching
    # of the two multisets, which is what k independent (i, j) draws give
    i = _endpoints(rng, a_rows, k, shuffle=False)
    j = _endpoints(rng, a, k)
    keep = i != j
    i, j = i[keep], j[keep]
    if m is None:
        i, j = np.minimum(i, j), np.maximum(i, j)
    key = i.astype(np.int64) * n + j
    key.sort()  # then keep each pair once (np.unique is ~20x slower here)
    key = key[np.r_[True, key[1:] != key[:-1]]] if len(key) else key
    return key // n, key % n


def _endpoints(rng: np.random.Generator, a: np.ndarray, k: int, shuffle: bool = True) -> np.ndarray:
    """k independent draws of an index with probability a / sum(a): the
    counts per index are Multinomial(k, a / sum(a)) and, given the counts,
    every order is equally likely (faster than inverting the CDF).
    ``shuffle=False`` returns the draws sorted."""
    idx = np.repeat(np.arange(len(a), dtype=np.int64), rng.multinomial(k, a / a.sum()))
    return rng.permutation(idx) if shuffle else idx


def wilson(k, n, confidence: float = 0.95):
    """Wilson score interval for k successes of n trials (real-valued):
    (p + z^2/2n -/+ z sqrt(p(1-p)/n + z^2/4n^2)) / (1 + z^2/n)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = norm.ppf(1 - (1 - confidence) / 2)
    p = k / n
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return np.maximum(mid - half, 0.0), np.minimum(mid + half, 1.0)


@dataclass(frozen=True)
class Cell:
    propensity: Propensity
    design: str
    n: int
    rate: float
    variants: int = 0  # m, variant design only

    @property
    def m(self) -> int | None:
        return None if self.design == "within" else min(self.variants, self.n)

    @property
    def pairs(self) -> int:
        return self.n * (self.n - 1) // 2 if self.m is None else self.m * (self.n - 1)

    def seed_key(self, seed: int) -> list[int]:
        p = self.propensity
        label = f"{p.kind}|{p.hot_share!r}|{p.hot_factor!r}|{p.sigma!r}|{self.design}|{self.n}|{self.m}|{self.rate!r}"
        return [seed, zlib.crc32(label.encode())]


def replicate_stats(cell: Cell, a: np.ndarray, i: np.ndarray, j: np.ndarray) -> tuple[int, int, float]:
    """(k, N, V) of one replicate, through the harness's own functions."""
    n = cell.n
    img_a = np.arange(n) if cell.m is None else np.arange(cell.m)
    img_b = None if cell.m is None else np.arange(n)
    n_k, n_pairs = photo_pair_counts(img_a, img_b, np.arange(n))
    v = dyadic_variance(i, j, np.zeros(len(i), np.int64), 0, n_k, n_pairs)
    return len(i), n_pairs, float(v[0])


def simulate_cell(
    cell: Cell, replicates: int, seed: int = 0, generator: str = "poisson", confidence: float = 0.95
) -> dict:
    """Coverage figures of one cell over `replicates` replicates (see the
    module docstring); deterministic for a given seed."""
    rng = np.random.default_rng(np.random.SeedSequence(cell.seed_key(seed)))
    c = cell.propensity.scale_for(cell.rate)
    t0 = time.process_time()
    k = np.zeros(replicates, np.int64)
    n_pairs = np.zeros(replicates, np.int64)
    v = np.zeros(replicates)
    for r in range(replicates):
        a = cell.propensity.draw(rng, cell.n)
        i, j = draw_matches(rng, a, c, cell.m, generator)
        k[r], n_pairs[r], v[r] = replicate_stats(cell, a, i, j)
    p = k / n_pairs
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = np.where((k > 0) & (v > 0), np.minimum(n_pairs, p * (1 - p) / v), n_pairs)
    bounds = {
        "dependent": effective_clopper_pearson(k, n_pairs, v, confidence),
        "cp": clopper_pearson(k, n_pairs, confidence),
        "wilson_eff": wilson(p * n_eff, n_eff, confidence),
    }
    zero = k == 0
    out = {
        "propensity": cell.propensity.kind,
        "design": cell.design,
        "n": cell.n,
        "m": cell.m if cell.m is not None else "",
        "rate": cell.rate,
        "pairs": int(n_pairs[0]),
        "replicates": replicates,
        "generator": generator,
        "mean_k": float(k.mean()),
        "zero_share": float(zero.mean()),
        "design_effect_median": float(np.median(n_pairs[~zero] / n_eff[~zero])) if (~zero).any() else float("nan"),
    }
    for name, (lo, hi) in bounds.items():
        hit = (lo <= cell.rate) & (cell.rate <= hi)
        mc_lo, mc_hi = clopper_pearson(int(hit.sum()), replicates)
        out[f"{name}_coverage"] = float(hit.mean())
        out[f"{name}_mc_lo"], out[f"{name}_mc_hi"] = mc_lo, mc_hi
        out[f"{name}_miss_high"] = float(np.mean(hi < cell.rate))  # the upper bound is too low
        out[f"{name}_coverage_k0"] = float(hit[zero].mean()) if zero.any() else float("nan")
        out[f"{name}_hi_rel"] = float(np.mean(hi / cell.rate))
        out[f"{name}_lo_rel"] = float(np.mean(lo / cell.rate))
    out["cpu_seconds"] = time.process_time() - t0
    return out


def _floats(text: str, field: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(field, f"must be comma-separated numbers (got {text!r})") from None
    if not vals or not all(0 < x < 1 for x in vals):
        raise ConfigError(field, f"must be rates in (0, 1) (got {text!r})")
    return vals


def _ints(text: str, field: str) -> list[int]:
    try:
        vals = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(field, f"must be comma-separated integers (got {text!r})") from None
    if not vals or not all(x >= 2 for x in vals):
        raise ConfigError(field, f"must be integers >= 2 (got {text!r})")
    return vals


def _choices(text: str, field: str, allowed) -> list[str]:
    vals = [x.strip() for x in text.split(",") if x.strip()]
    if not vals or any(x not in allowed for x in vals):
        raise ConfigError(field, f"must be a comma-separated subset of {', '.join(allowed)} (got {text!r})")
    return vals


def add_arguments(p) -> None:
    p.add_argument("--rates", default=DEFAULT_RATES, help="population pair rates (default: %(default)s)")
    p.add_argument("--n", default=DEFAULT_NS, help="photos per replicate (default: %(default)s)")
    p.add_argument("--propensity", default="mixture", help="mixture, lognormal or both, comma-separated")
    p.add_argument("--design", default="within", help="within (orig-orig), variant (variant-orig) or both")
    p.add_argument("--variants", type=int, default=200, help="variant design: photos with a variant (default 200)")
    p.add_argument("--hot-share", type=float, default=0.1, help="mixture: share of hot photos (default 0.1)")
    p.add_argument("--hot-factor", type=float, default=30.0, help="mixture: hot/cold propensity (default 30)")
    p.add_argument("--sigma", type=float, default=1.5, help="lognormal: sigma of log propensity (default 1.5)")
    p.add_argument("--replicates", type=int, default=1000, help="replicates per cell (default 1000)")
    p.add_argument(
        "--match-budget",
        type=float,
        default=2e8,
        help="a cell runs at most this many expected matches over its replicates (default 2e8)",
    )
    p.add_argument("--min-replicates", type=int, default=200, help="floor of the budget cut (default 200)")
    p.add_argument("--generator", default="poisson", help="poisson (fast, exact) or bernoulli (all pairs, n <= 5000)")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default=None, help="write OUTPUT.csv and OUTPUT.md (no extension)")


def _cells(args) -> list[tuple[Cell, int]]:
    rates = _floats(args.rates, "--rates")
    ns = _ints(args.n, "--n")
    props = _choices(args.propensity, "--propensity", PROPENSITIES)
    designs = _choices(args.design, "--design", DESIGNS)
    if args.generator not in GENERATORS:
        raise ConfigError("--generator", f"must be one of {', '.join(GENERATORS)} (got {args.generator!r})")
    if args.generator == "bernoulli" and max(ns) > BERNOULLI_MAX_N:
        raise ConfigError("--n", f"--generator bernoulli visits every pair: n must be <= {BERNOULLI_MAX_N}")
    if args.replicates < 1 or args.min_replicates < 1:
        raise ConfigError("--replicates", "--replicates and --min-replicates must be >= 1")
    if not 0 < args.hot_share < 1 or args.hot_factor <= 0 or args.sigma <= 0:
        raise ConfigError("--hot-share", "needs 0 < --hot-share < 1, --hot-factor > 0 and --sigma > 0")
    if "variant" in designs and args.variants < 1:
        raise ConfigError("--variants", f"must be >= 1 (got {args.variants})")
    if not 0 < args.confidence < 1:
        raise ConfigError("--confidence", f"must be in (0, 1) (got {args.confidence})")
    out = []
    for kind in props:
        prop = Propensity(kind, args.hot_share, args.hot_factor, args.sigma)
        for design in designs:
            for n in ns:
                for rate in rates:
                    cell = Cell(prop, design, n, rate, args.variants)
                    budget = int(args.match_budget / max(rate * cell.pairs, 1e-300))
                    reps = max(min(args.replicates, args.min_replicates), min(args.replicates, budget))
                    out.append((cell, reps))
    return out


#: the CSV's columns (no timings: the CSV is byte-identical for a given command)
COLUMNS = (
    "propensity design n m rate pairs replicates generator mean_k zero_share "
    "dependent_coverage dependent_mc_lo dependent_mc_hi cp_coverage cp_mc_lo cp_mc_hi "
    "wilson_eff_coverage wilson_eff_mc_lo wilson_eff_mc_hi dependent_coverage_k0 "
    "dependent_miss_high cp_miss_high wilson_eff_miss_high "
    "dependent_hi_rel dependent_lo_rel cp_hi_rel cp_lo_rel wilson_eff_hi_rel wilson_eff_lo_rel "
    "design_effect_median"
).split()


def _pct(x: float) -> str:
    return "" if math.isnan(x) else f"{100 * x:.1f}"


def _cov(row: dict, name: str) -> str:
    x = row[f"{name}_coverage"]
    flag = " *" if name == "dependent" and not 0.93 <= x <= 0.97 else ""
    return f"{_pct(x)} [{_pct(row[f'{name}_mc_lo'])}, {_pct(row[f'{name}_mc_hi'])}]{flag}"


def markdown(rows: list[dict], command: str) -> str:
    lines = [
        "# Interval coverage with clustered false matches",
        "",
        f"Command: `{command}`",
        "",
        "Coverage in % of replicates whose 95% interval contains the population pair rate, with the "
        "Monte-Carlo 95% interval of that coverage in brackets. `dependent` is the harness default "
        "(Clopper-Pearson at the effective sample size from the dyadic variance), `CP` Clopper-Pearson "
        "as if pairs were independent, `Wilson eff` a Wilson interval at the same effective sample size. "
        "`k=0`: share of replicates with no match, and the default's coverage among them. `hi/rate`, "
        "`lo/rate`: mean bounds relative to the true rate. `miss high`: % of replicates whose upper bound is "
        "below the rate (the miss that understates a false-positive rate), default / CP. "
        "`deff`: median N/n_eff (k > 0). "
        "`*`: the default's coverage outside 93-97%. Model and definitions: "
        "benchmarks/interval_coverage.py.",
        "",
        "| propensity | design | n | rate | pairs N | reps | mean k | k=0 % | dependent | CP | Wilson eff "
        "| cov. k=0 | miss high | hi/rate | lo/rate | CP hi/rate | deff | CPU s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        n = f"{r['n']}" if r["design"] == "within" else f"{r['n']} (m={r['m']})"
        lines.append(
            f"| {r['propensity']} | {r['design']} | {n} | {r['rate']:.0e} | {r['pairs']} | {r['replicates']} "
            f"| {r['mean_k']:.3g} | {_pct(r['zero_share'])} | {_cov(r, 'dependent')} | {_cov(r, 'cp')} "
            f"| {_cov(r, 'wilson_eff')} | {_pct(r['dependent_coverage_k0'])} "
            f"| {_pct(r['dependent_miss_high'])} / {_pct(r['cp_miss_high'])} | {r['dependent_hi_rel']:.3g} "
            f"| {r['dependent_lo_rel']:.3g} | {r['cp_hi_rel']:.3g} | {r['design_effect_median']:.3g} "
            f"| {r['cpu_seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _csv_value(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else repr(round(v, 6)) if abs(v) >= 1e-3 else f"{v:.6g}"
    return str(v)


def main(args) -> int:
    cells = _cells(args)  # ConfigError before anything runs or is written
    command = "phash-harness bench coverage " + " ".join(shlex.quote(x) for x in _argv_after("coverage"))
    rows = []
    print(
        f"{'propensity':<10} {'design':<8} {'n':>6} {'rate':>7} {'reps':>5} {'mean k':>9} {'k=0':>6} "
        f"{'dependent':>8} {'CP':>6} {'Wilson':>7} {'hi/rate':>8} {'deff':>6} {'CPU s':>6}"
    )
    for cell, reps in cells:
        r = simulate_cell(cell, reps, args.seed, args.generator, args.confidence)
        rows.append(r)
        print(
            f"{r['propensity']:<10} {r['design']:<8} {r['n']:>6} {r['rate']:>7.0e} {reps:>5} {r['mean_k']:>9.3g} "
            f"{_pct(r['zero_share']):>6} {_pct(r['dependent_coverage']):>8} {_pct(r['cp_coverage']):>6} "
            f"{_pct(r['wilson_eff_coverage']):>7} {r['dependent_hi_rel']:>8.3g} {r['design_effect_median']:>6.3g} "
            f"{r['cpu_seconds']:>6.1f}",
            flush=True,
        )
    if args.output:
        os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
        with open(args.output + ".csv", "w", encoding="utf-8") as fh:
            fh.write(",".join(COLUMNS) + "\n")
            for r in rows:
                fh.write(",".join(_csv_value(r[c]) for c in COLUMNS) + "\n")
        with open(args.output + ".md", "w", encoding="utf-8") as fh:
            fh.write(markdown(rows, command))
        print(f"-> {args.output}.csv, {args.output}.md")
    return 0


def _argv_after(word: str) -> list[str]:
    argv = sys.argv[1:]
    return argv[argv.index(word) + 1 :] if word in argv else argv
