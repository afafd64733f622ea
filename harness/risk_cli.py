"""Front end of the risk model (`phash-harness risk`): parses the options,
reads a results folder, calls `harness.risk.risk_assessment` (pure), prints
the table and writes risk.csv, risk_sweep.csv, risk_query.csv and risk.png.
With ``--attack FOLDER`` (an attack folder of `phash-harness attack`) it
prints the cost of getting an innocent account flagged by framing
(`harness.risk.framing_cost`, per hasher and algorithm) and writes
framing_cost.csv.

Everything is validated before anything is written; a bad parameter raises
a one-line ConfigError (exit status 2).
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile

import numpy as np
import pandas as pd
import yaml

from . import risk
from .errors import ConfigError
from .hashers import get_hasher

MAX_EMPIRICAL_SIDE = risk.MAX_EMPIRICAL_SIDE  # queries and database entries of the empirical per-query curve
FLOOR = 1e-40  # figure only: smaller probabilities are drawn at this floor


def add_arguments(p) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--results", metavar="DIR", help="results folder of `phash-harness run` (histograms.parquet)")
    src.add_argument("--fpr", metavar="P", help="per-comparison false-positive rate, given instead of --results")
    src.add_argument(
        "--image-rate",
        metavar="Q",
        help="per-image false-match rate against the whole database "
        "(skips the per-query layer; e.g. a vendor's stated figure)",
    )
    src.add_argument(
        "--attack",
        metavar="DIR",
        help="attack folder of `phash-harness attack`: the cost of "
        "getting an innocent account flagged by framing (k crafted images)",
    )
    p.add_argument("--hasher", help="hasher in the results folder (required with --results)")
    p.add_argument(
        "--threshold",
        metavar="T",
        help="hash threshold t: a pair matches when distance <= t "
        "(bits; bin index for non-Hamming hashers; required with --results)",
    )
    p.add_argument(
        "--cascade",
        metavar="HASHER:T",
        help="with --results: a second hash re-checks every match (AND rule: the pair must also be within T "
        "under HASHER); the rate is the measured joint rate of the two hashes, not a product",
    )
    p.add_argument(
        "--negatives",
        default="orig-orig",
        choices=["orig-orig", "variant-orig"],
        help="negative pairs to measure FPR on (default orig-orig: distinct originals)",
    )
    p.add_argument(
        "--transform",
        help="with --negatives variant-orig: one transform key, e.g. 'jpeg(50)' (default: all transforms pooled)",
    )
    p.add_argument("--database-size", metavar="M", help="hashes in the database each photo is compared with")
    p.add_argument(
        "--photos-per-year", metavar="N", help="photos one user uploads per year (required except with --attack)"
    )
    p.add_argument("--match-threshold", metavar="K", default="30", help="matches that flag an account (default 30)")
    p.add_argument("--users", metavar="U", default="1e9", help="accounts (default 1e9)")
    p.add_argument(
        "--rho",
        metavar="R",
        default="0",
        help="intra-account correlation in [0, 1) for the beta-binomial version (default 0: independent photos)",
    )
    p.add_argument(
        "--target",
        metavar="P",
        default="1e-12",
        help="per-account flag probability to meet; the "
        "table shows the per-image and per-comparison rates that meet it (default 1e-12)",
    )
    p.add_argument("--confidence", metavar="C", default="0.95", help="interval level (default 0.95)")
    p.add_argument("--seed", metavar="S", default="0", help="seed of the query/database split (default 0)")
    p.add_argument(
        "--psnr-min",
        metavar="DB",
        help="with --attack: count a framing success only when the "
        "crafted image has PSNR >= DB (default: any success within the attack's L-inf cap)",
    )
    p.add_argument("--algorithm", metavar="NAME", help="with --attack: only this attack algorithm (default: each)")
    # --output (and the deprecated --out) are added by harness.cli, which spells output options for every command


# ----------------------------------------------------------- parsing


def _number(field: str, text: str) -> float:
    try:
        x = float(text)
    except (TypeError, ValueError):
        raise ConfigError(field, f"must be a number (got {text!r})") from None
    if not math.isfinite(x):
        raise ConfigError(field, f"must be finite (got {text!r})")
    return x


def parse_count(field: str, text: str, minimum: int = 0) -> int:
    """'5e6' -> 5000000; negative or fractional values are errors."""
    x = _number(field, text)
    if x < minimum or x != int(x):
        raise ConfigError(field, f"must be an integer >= {minimum} (got {text})")
    return int(x)


def parse_probability(field: str, text: str, upper_open: bool = False) -> float:
    x = _number(field, text)
    if not 0.0 <= x <= 1.0 or (upper_open and x == 1.0):
        raise ConfigError(field, f"must be a probability in [0, 1{')' if upper_open else ']'} (got {text})")
    return x


# --------------------------------------------------------- computation

#: parameter of `risk.risk_assessment` -> the option that sets it
FLAG = {
    "photos": "--photos-per-year",
    "match_threshold": "--match-threshold",
    "users": "--users",
    "rho": "--rho",
    "confidence": "--confidence",
    "seed": "--seed",
    "target": "--target",
    "database_size": "--database-size",
    "fpr": "--fpr",
    "image_rate": "--image-rate",
    "histograms": "--results",
    "hasher": "--hasher",
    "threshold": "--threshold",
    "negatives": "--negatives",
    "transform": "--transform",
    "cascade": "--cascade",
    "cascade threshold": "--cascade",
}


def _read_results(folder: str):
    """The tables of a results folder the risk model uses (file I/O lives here, not in harness.risk)."""
    if not os.path.isdir(folder):
        raise ConfigError("--results", f"folder not found: {folder}")
    path = os.path.join(folder, "histograms.parquet")
    if not os.path.isfile(path):
        raise ConfigError("--results", f"not a results folder (no histograms.parquet): {folder}")
    hist = pd.read_parquet(path)
    metrics_path = os.path.join(folder, "metrics.csv")
    metrics = pd.read_csv(metrics_path) if os.path.isfile(metrics_path) else None
    hashes_path = os.path.join(folder, "hashes.parquet")
    hashes = pd.read_parquet(hashes_path) if os.path.isfile(hashes_path) else None
    fpr, pooled = (
        pd.read_csv(path) if os.path.isfile(path) else None
        for path in (os.path.join(folder, risk.DEFAULT_INTERVAL_TABLE[kind]) for kind in ("orig-orig", "variant-orig"))
    )
    return hist, metrics, hashes, fpr, pooled


def _hasher_of_label(label: str):
    """The hasher a table label names: ``phash``, or a registry name with
    its non-default parameters, ``phash[dihedral,hash_size=16]`` (a bare
    name in the brackets is a true flag; values read as YAML scalars)."""
    name, _, rest = label.partition("[")
    params = {}
    for item in filter(None, rest.rstrip("]").split(",")):
        key, eq, value = item.partition("=")
        params[key] = yaml.safe_load(value) if eq else True
    return get_hasher(name, **params)


def hasher_pair_distances(name: str):
    """How to measure query-database distances for the empirical curve:
    (True, None) for Hamming (also when the hasher is not registered on this
    install: Hamming on the stored bytes), (True, fn) for a registered
    non-Hamming hasher with ``pair_distances`` and ``quantise`` (fn gives the
    bin index), (False, None) when the hasher's distance cannot be computed."""
    try:
        hasher = _hasher_of_label(name)
    except Exception:  # hasher not registered here: Hamming on the stored bytes
        return True, None
    if hasher.distance == "hamming":
        return True, None
    if hasattr(hasher, "pair_distances") and hasattr(hasher, "quantise"):
        return True, lambda q, d: hasher.quantise(hasher.pair_distances(q, d))
    return False, None


def parse_cascade(text: str, hasher: str) -> tuple[str, int]:
    """'pdq:31' -> ('pdq', 31); both hashers must have Hamming distances."""
    name, sep, t = text.rpartition(":")
    if not sep or not name:
        raise ConfigError("--cascade", f"must be HASHER:T, e.g. pdq:31 (got {text!r})")
    threshold = parse_count("--cascade", t)
    for h in (hasher, name):
        usable, distances = hasher_pair_distances(h)
        if not usable or distances is not None:
            raise ConfigError("--cascade", f"needs two Hamming hashers; {h}'s distance is not Hamming")
    if name == hasher:
        raise ConfigError("--cascade", f"the second hasher must differ from --hasher (got {name} twice)")
    return name, threshold


def compute(args) -> dict:
    """Parse every option, read the results folder (if any) and call
    `harness.risk.risk_assessment` (writes nothing)."""
    if args.photos_per_year is None:
        raise ConfigError("--photos-per-year", "required (photos one user uploads per year), except with --attack")
    photos = parse_count("--photos-per-year", args.photos_per_year)
    k = parse_count("--match-threshold", args.match_threshold, minimum=1)
    users = parse_count("--users", args.users)
    rho = parse_probability("--rho", args.rho, upper_open=True)
    confidence = _number("--confidence", args.confidence)
    if not 0 < confidence < 1:
        raise ConfigError("--confidence", f"must be in (0, 1) (got {args.confidence})")
    seed = parse_count("--seed", args.seed)
    target = parse_probability("--target", args.target)
    kwargs = dict(
        photos=photos,
        match_threshold=k,
        users=users,
        rho=rho,
        confidence=confidence,
        seed=seed,
        target=target,
        max_side=MAX_EMPIRICAL_SIDE,
    )
    if args.database_size is not None:
        kwargs["database_size"] = parse_count("--database-size", args.database_size)
    if args.image_rate is not None:
        kwargs["image_rate"] = parse_probability("--image-rate", args.image_rate)
    elif args.fpr is not None:
        kwargs["fpr"] = parse_probability("--fpr", args.fpr)
    if args.results is None and args.output is None:
        raise ConfigError("--output", "required with --fpr / --image-rate (no results folder to write into)")
    try:
        if args.results is not None:
            if not args.hasher:
                raise ConfigError("--hasher", "required with --results")
            if args.threshold is None:
                raise ConfigError("--threshold", "required with --results")
            threshold = parse_count("--threshold", args.threshold)
            cascade = parse_cascade(args.cascade, args.hasher) if args.cascade else None
            hist, metrics, hashes, fpr, fpr_variant = _read_results(args.results)
            usable, pair_distances = hasher_pair_distances(args.hasher)
            kwargs.update(
                histograms=hist,
                metrics=metrics,
                hashes=hashes,
                fpr_rates=fpr,
                fpr_variant_rates=fpr_variant,
                hasher=args.hasher,
                threshold=threshold,
                negatives=args.negatives,
                transform=args.transform,
                pair_distances=pair_distances,
                empirical=usable,
                source=args.results,
                cascade=cascade,
            )
        elif args.cascade:
            raise ConfigError("--cascade", "needs --results (the joint rate is counted from a run's hashes)")
        return risk.risk_assessment(**kwargs)
    except ConfigError as exc:  # name the option, not the Python parameter
        if exc.field in FLAG:
            raise ConfigError(FLAG[exc.field], exc.message) from None
        raise


# ------------------------------------------------------------- output


def format_table(res: dict) -> str:
    chain = res["chain"]
    lines = [f"source: {res['source']}; interval: {res['rate'].method}"]
    if res["rate"].x is not None:
        lines[0] += f" ({res['rate'].x} of {res['rate'].n} negative pairs within t)"
    s = res["scenario"]
    db = "n/a (per-image rate given)" if res["source"] == "given per-image rate" else f"{s.database_size:g}"
    lines.append(
        f"assumptions: database M={db}, photos/year n={s.photos}, "
        f"match threshold k={s.match_threshold}, users U={s.users:g}, rho={s.rho:g}"
    )
    lines.append(f"{'layer':<15} {'point':>11} {'low':>11} {'high':>11}  quantity")
    pop = res["population_chance"]
    for row in chain.itertuples():
        lines.append(f"{row.layer:<15} {row.point:>11.3g} {row.low:>11.3g} {row.high:>11.3g}  {row.quantity}")
        if row.layer == "population" and pop is not None:
            lines.append(
                f"{'':<15} chance variation of the count at the point estimate: "
                f"{pop['low']:.0f}..{pop['high']:.0f} ({res['confidence']:.0%} binomial)"
            )
    q = res.get("query")
    if q is not None:
        t = res["threshold"]
        at = q[q["threshold"] == t].sort_values("database_size")
        last = at.iloc[-1]
        fit = res["fit"]
        lines.append(
            f"empirical per query (held-out split, {int(last.queries)} queries): at M={int(last.database_size)} "
            f"share {last.share:.3g} [{last.share_low:.3g}, {last.share_high:.3g}] vs independence "
            f"{last.independent:.3g}; "
            + ("disagree" if last.disagree else "consistent")
            + (
                f"; fit -ln(1-q) = {fit['c']:.3g} * M^{fit['b']:.3g}"
                if not math.isnan(fit["b"])
                else "; too few non-zero points to fit the scaling"
            )
        )
        if at["disagree"].any():
            first = at[at["disagree"]].iloc[0]
            lines.append(
                f"  first disagreement at M={int(first.database_size)}: empirical {first.share:.3g} "
                f"[{first.share_low:.3g}, {first.share_high:.3g}] vs independence {first.independent:.3g}"
            )
        lines.append(
            f"  (largest database this data allows: M={int(last.database_size)}; "
            f"rates below ~1/{int(last.queries)} per query cannot be seen)"
        )
        avail = q.attrs.get("available")
        if avail and (avail[0] > last.queries or avail[1] > last.database_size):
            lines.append(
                f"  (seeded subsample of {avail[0]} queries and {avail[1]} database images, "
                f"at most {MAX_EMPIRICAL_SIDE} each)"
            )
    c = res.get("cascade")
    if c is not None:
        predicted = c["rate_1"] * c["rate_2"]
        ratio = f"{res['rate'].point / predicted:.3g}x" if predicted > 0 else "n/a"
        lines.append(
            f"cascade: the two hashes alone match {c['rate_1']:.3g} and {c['rate_2']:.3g} of the pairs; "
            f"independence would predict {predicted:.3g} for both, measured {res['rate'].point:.3g} ({ratio})"
        )
    if res["rate"].x == 0:
        lines.append(
            "note: no negative pair matched at this threshold; the point estimate 0 is not evidence "
            "of safety, the upper bound is what this data supports"
        )
    return "\n".join(lines)


def results_csv(res: dict) -> pd.DataFrame:
    chain = res["chain"].copy()
    s = res["scenario"]
    for name, value in [
        ("source", res["source"]),
        ("database_size", s.database_size),
        ("photos", s.photos),
        ("match_threshold", s.match_threshold),
        ("users", s.users),
        ("rho", s.rho),
    ]:
        chain[name] = value
    return chain


def figure(res: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = res["sweep"]
    s = res["scenario"]
    has_query = res.get("query") is not None
    fig, axes = plt.subplots(1, 3 if has_query else 2, figsize=(15 if has_query else 10.5, 4.2))
    ax = axes[0]
    if (sweep["axis"] == "threshold").any():
        sw = sweep[sweep["axis"] == "threshold"]
        ax.fill_between(
            sw["threshold"],
            np.clip(sw["p_flag_low"], FLOOR, 1),
            np.clip(sw["p_flag_high"], FLOOR, 1),
            alpha=0.3,
            label="interval",
        )
        ax.plot(sw["threshold"], np.clip(sw["p_flag"], FLOOR, 1), marker=".", label="point")
        ax.axvline(res["threshold"], color="grey", ls=":")
        ax.set_xlabel("hash threshold t")
    else:
        sw = sweep[sweep["axis"] == "rate_factor"]
        ax.plot(sw["factor"], np.clip(sw["p_flag"], FLOOR, 1), marker=".")
        ax.set_xscale("log")
        ax.set_xlabel("rate multiplied by")
    ax.set_yscale("log")
    ax.set_ylabel("P(account flagged per year)")
    ax.set_title(f"n={s.photos}, k={s.match_threshold}, M={s.database_size:g}, rho={s.rho:g}")
    ax.legend(loc="lower right", fontsize=8) if ax.get_legend_handles_labels()[0] else None
    ax = axes[1]
    sw = sweep[sweep["axis"] == "k"]
    ax.fill_between(sw["k"], np.clip(sw["p_flag_low"], FLOOR, 1), np.clip(sw["p_flag_high"], FLOOR, 1), alpha=0.3)
    ax.plot(sw["k"], np.clip(sw["p_flag"], FLOOR, 1), marker=".")
    ax.axvline(s.match_threshold, color="grey", ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("match threshold k")
    ax.set_title("P(flag) vs k")
    if has_query:
        ax = axes[2]
        q = res["query"]
        at = q[q["threshold"] == res["threshold"]].sort_values("database_size")
        ax.errorbar(
            at["database_size"],
            at["share"],
            yerr=[at["share"] - at["share_low"], at["share_high"] - at["share"]],
            marker="o",
            label="empirical (held-out)",
        )
        ax.plot(at["database_size"], at["independent"], marker="x", label="independence 1-(1-p)^M")
        ax.set_xscale("log")
        ax.set_xlabel("database size M")
        ax.set_ylabel("P(query matches)")
        ax.set_title(f"per query at t={res['threshold']}")
        ax.legend(fontsize=8)
    fig.text(0.01, 0.01, f"values below {FLOOR:g} drawn at {FLOOR:g}", fontsize=7, color="grey")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(res: dict, folder: str) -> list[str]:
    """Write into a temporary folder next to `folder`, then move each file."""
    os.makedirs(folder, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-risk-", dir=folder)
    names = ["risk.csv", "risk_sweep.csv", "risk.png"]
    try:
        results_csv(res).to_csv(os.path.join(tmp, "risk.csv"), index=False, float_format="%.6g")
        res["sweep"].to_csv(os.path.join(tmp, "risk_sweep.csv"), index=False, float_format="%.6g")
        if res.get("query") is not None:
            res["query"].to_csv(os.path.join(tmp, "risk_query.csv"), index=False, float_format="%.6g")
            names.append("risk_query.csv")
        figure(res, os.path.join(tmp, "risk.png"))
        for name in names:
            os.replace(os.path.join(tmp, name), os.path.join(folder, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [os.path.join(folder, n) for n in names]


# ------------------------------------------------------ --attack (framing cost)

COST_COLUMNS = [
    "hasher",
    "algorithm",
    "threshold",
    "psnr_min",
    "k",
    "attempts",
    "successes",
    "p",
    "p_low",
    "p_high",
    "attempts_for_k",
    "attempts_for_k_low",
    "attempts_for_k_high",
    "queries_median",
    "queries_mean",
    "queries_per_crafted",
    "queries_for_k",
    "queries_for_k_low",
    "cpu_seconds_median",
    "cpu_seconds_mean",
    "cpu_seconds_per_crafted",
    "cpu_seconds_for_k",
    "cpu_seconds_for_k_low",
]


def read_framing(folder: str) -> pd.DataFrame:
    """The framing rows of an attack folder's attacks.parquet (file I/O lives here)."""
    if not os.path.isdir(folder):
        raise ConfigError("--attack", f"folder not found: {folder}")
    path = os.path.join(folder, "attacks.parquet")
    if not os.path.isfile(path):
        raise ConfigError("--attack", f"not an attack folder (no attacks.parquet): {folder}")
    table = pd.read_parquet(path)
    framing = table[table["goal"] == "framing"]
    if framing.empty:
        raise ConfigError(
            "--attack", f"no framing attacks in {folder} (goals: {', '.join(sorted(table['goal'].unique())) or 'none'})"
        )
    return framing


def attack_cost(args) -> pd.DataFrame:
    """Parse the --attack options, read the folder and call
    `harness.risk.framing_cost` per hasher, threshold and algorithm (writes nothing)."""
    k = parse_count("--match-threshold", args.match_threshold, minimum=1)
    confidence = _number("--confidence", args.confidence)
    if not 0 < confidence < 1:
        raise ConfigError("--confidence", f"must be in (0, 1) (got {args.confidence})")
    psnr_min = None
    if args.psnr_min is not None:
        psnr_min = _number("--psnr-min", args.psnr_min)
        if not 0 < psnr_min <= 100:
            raise ConfigError("--psnr-min", f"must be in (0, 100] dB (got {args.psnr_min})")
    framing = read_framing(args.attack)
    for option, column, value in (("--hasher", "hasher", args.hasher), ("--algorithm", "algorithm", args.algorithm)):
        if value is not None:
            present = sorted(framing[column].unique())
            if value not in present:
                raise ConfigError(option, f"{value!r} not in {args.attack}; allowed: {', '.join(present)}")
            framing = framing[framing[column] == value]
    rows = []
    # one row per attacked threshold too (an attack run may attack a hasher at several)
    for (hasher, _, alg), g in framing.groupby(["hasher", "threshold", "algorithm"], sort=True):
        ok = g["success"].to_numpy(dtype=bool).copy()
        if psnr_min is not None:
            ok &= g["psnr"].to_numpy(dtype=float) >= psnr_min
        cost = risk.framing_cost(ok, g["queries"], g["cpu_seconds"], k, confidence)
        rows.append(
            {
                "hasher": hasher,
                "algorithm": alg,
                "threshold": int(g["threshold"].iloc[0]),
                "psnr_min": "any" if psnr_min is None else f"{psnr_min:g}",
                **cost,
            }
        )
    return pd.DataFrame(rows, columns=COST_COLUMNS)


def format_cost(table: pd.DataFrame, folder: str, confidence: str) -> str:
    k = int(table["k"].iloc[0])
    b = table["psnr_min"].iloc[0]
    counted = "any success within the L-inf cap" if b == "any" else f"successes with PSNR >= {b} dB"
    lines = [
        f"framing cost from {folder}: an innocent account is flagged once k={k} crafted images match "
        f"({counted}); {float(confidence):.0%} Clopper-Pearson intervals over attempts; a better attack "
        f"costs less, so these are upper bounds on the attacker's cost",
        f"{'hasher (t)':<22} {'alg':<6} {'success':>8} {'p [low, high]':>24} {'attempts for k':>26} "
        f"{'queries/crafted med|mean|all':>30} {'queries for k (>=)':>20} {'CPU s/crafted med|all':>22}",
    ]

    def num(x):
        return "inf" if math.isinf(x) else ("-" if math.isnan(x) else f"{x:.3g}")

    for r in table.itertuples():
        lines.append(
            f"{r.hasher + f' ({r.threshold})':<22} {r.algorithm:<6} {f'{r.successes}/{r.attempts}':>8} "
            f"{f'{r.p:.3g} [{r.p_low:.3g}, {r.p_high:.3g}]':>24} "
            f"{f'{num(r.attempts_for_k)} [{num(r.attempts_for_k_low)}, {num(r.attempts_for_k_high)}]':>26} "
            f"{f'{num(r.queries_median)} | {num(r.queries_mean)} | {num(r.queries_per_crafted)}':>30} "
            f"{f'{num(r.queries_for_k)} ({num(r.queries_for_k_low)})':>20} "
            f"{f'{num(r.cpu_seconds_median)} | {num(r.cpu_seconds_per_crafted)}':>22}"
        )
    lines.append(
        "queries/crafted: median and mean over successful attempts, and all queries spent / successes "
        "(failed attempts included); queries for k: k x that, (>=) its lower bound k / p_high x mean "
        "queries per attempt"
    )
    return "\n".join(lines)


def attack_main(args) -> int:
    table = attack_cost(args)
    out = args.output or args.attack
    print(format_cost(table, args.attack, args.confidence))
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "framing_cost.csv")
    tmp = path + ".tmp"
    table.to_csv(tmp, index=False, float_format="%.6g")
    os.replace(tmp, path)
    print(f"written: {path}")
    return 0


def main(args) -> int:
    if args.attack is not None:
        return attack_main(args)
    res = compute(args)
    print(format_table(res))
    written = write_outputs(res, args.output or args.results)
    print("written: " + ", ".join(written))
    return 0
