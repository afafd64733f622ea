"""The threshold trade-off: attack success and benign false-positive rate
on one threshold scale.

For a hasher, a goal and a PSNR budget b, an image counts as attacked at
threshold t' when some algorithm's search reached, with PSNR >= b,

- evasion: a candidate at distance > t' from h(x) (``best_distance_* > t'``);
- framing: a candidate within t' of the target hash (``best_distance_* <= t'``).

(The best distances are recorded per PSNR budget by the search, see
`harness.attacks.search`; at the configured t this is the success of the
summary, at other t' a lower bound, since a search aimed at t' could do
better.) success_rate(t') = attacked images / images, with a 95%
Clopper-Pearson interval over images. The benign FPR(t') = negative pairs
within t' / all negative pairs, from a benign results folder's exact
histograms (``harness.Results.hist``), with the upper bound of the benign
run's default interval (pairs that share a photo dependent: fpr.csv,
fpr_variant.csv) where it covers t', else Clopper-Pearson's (valid only if
pairs were independent); ``benign_fpr_interval`` says which.
Thresholds are in bits (bin index for non-Hamming hashers).

When a hasher was attacked at several thresholds (config
``thresholds.target_fpr`` or ``values`` lists), the best distances are taken
over every cell (all thresholds and algorithms: the attacker runs them all),
and a ``measured`` column marks the thresholds attacked directly: there the
success rate includes the searches aimed at that threshold, so it is at
least the summary's success there (any algorithm); between them it
interpolates from the measured searches (still a lower bound).

Example::

    >>> import pandas as pd, numpy as np
    >>> t = pd.DataFrame({"image_id": ["a", "b"], "hasher": ["phash"] * 2, "bits": [64, 64],
    ...                   "goal": ["evasion"] * 2, "algorithm": ["cma"] * 2,
    ...                   "best_distance_psnr_40": pd.array([12, 5], dtype="Int64"),
    ...                   "best_distance_any": pd.array([20, 9], dtype="Int64")})
    >>> hist = np.array([0, 1, 1] + [2] * 62)     # 126 benign pairs
    >>> out = tradeoff_table(t, [40], {"phash": hist})
    >>> r = out[(out.psnr_min == "40") & (out.threshold == 8)].iloc[0]
    >>> int(r.successes), int(r.images), round(float(r.benign_fpr), 4)   # 12 > 8; 14 of 126 pairs <= 8
    (1, 2, 0.1111)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = [
    "hasher",
    "goal",
    "psnr_min",
    "threshold",
    "successes",
    "images",
    "success_rate",
    "ci_lo",
    "ci_hi",
    "benign_fpr",
    "benign_fpr_hi",
    "benign_fpr_interval",
    "benign_pairs",
]

#: benign_fpr_interval values
DEPENDENT, CLOPPER_PEARSON = "dependent pairs", "Clopper-Pearson (if pairs were independent)"


def attacked_thresholds(table: pd.DataFrame) -> dict:
    """{hasher: the thresholds it was attacked at, ascending} of an
    attacks.parquet (or attack_summary.csv) table."""
    return {h: sorted(int(t) for t in g["threshold"].unique()) for h, g in table.groupby("hasher")}


def several_thresholds(table: pd.DataFrame) -> bool:
    """Whether some hasher of the table was attacked at more than one threshold."""
    return "threshold" in table.columns and any(len(t) > 1 for t in attacked_thresholds(table).values())


def _budgets(table: pd.DataFrame, psnr_budgets) -> list[tuple[str, str]]:
    out = []
    for b in sorted(set(float(x) for x in psnr_budgets), reverse=True):
        col = f"best_distance_psnr_{b:g}"
        if col in table.columns:
            out.append((f"{b:g}", col))
    if "best_distance_any" in table.columns:
        out.append(("any", "best_distance_any"))
    return out


def tradeoff_table(
    table: pd.DataFrame,
    psnr_budgets,
    benign_hists: dict | None = None,
    confidence: float = 0.95,
    benign_upper: dict | None = None,
) -> pd.DataFrame:
    """Success rate and benign FPR at every threshold t' (see module doc).

    table: attacks.parquet; psnr_budgets: dB; benign_hists: {hasher: counts
    per distance of the benign negative pairs} (None or a missing hasher:
    FPR columns NaN); benign_upper: {hasher: the default interval's upper
    bound per threshold, NaN where it has none}. Thresholds run
    0 .. len(hist) - 1, else 0 .. bits."""
    from ..metrics.intervals import clopper_pearson

    benign_hists = benign_hists or {}
    benign_upper = benign_upper or {}
    budgets = _budgets(table, psnr_budgets)
    rows = []
    for (hasher, goal), g in table.groupby(["hasher", "goal"], sort=True):
        hist = benign_hists.get(hasher)
        if hist is not None:
            hist = np.asarray(hist, dtype=np.int64)
            n_t = len(hist)
            cum, total = np.cumsum(hist), int(hist.sum())
            dep = np.full(n_t, np.nan)
            given = np.asarray(benign_upper.get(hasher, []), dtype=np.float64)[:n_t]
            dep[: len(given)] = given
        else:
            n_t = int(g["bits"].iloc[0]) + 1
        for label, col in budgets:
            # the attacker uses every algorithm: best distance per image
            best = g.groupby("image_id")[col].agg("max" if goal == "evasion" else "min")
            n = len(best)
            reached = best.dropna().to_numpy(dtype=np.int64)
            for t in range(n_t):
                k = int((reached > t).sum() if goal == "evasion" else (reached <= t).sum())
                lo, hi = clopper_pearson(k, n, confidence)
                fpr = fpr_hi = float("nan")
                how = ""
                if hist is not None and total:
                    fpr = float(cum[t]) / total
                    if np.isfinite(dep[t]):
                        fpr_hi, how = float(dep[t]), DEPENDENT
                    else:
                        fpr_hi, how = float(clopper_pearson(int(cum[t]), total, confidence)[1]), CLOPPER_PEARSON
                rows.append(
                    {
                        "hasher": hasher,
                        "goal": goal,
                        "psnr_min": label,
                        "threshold": t,
                        "successes": k,
                        "images": n,
                        "success_rate": k / n if n else float("nan"),
                        "ci_lo": float(lo),
                        "ci_hi": float(hi),
                        "benign_fpr": fpr,
                        "benign_fpr_hi": fpr_hi,
                        "benign_fpr_interval": how,
                        "benign_pairs": int(total) if hist is not None else 0,
                    }
                )
    out = pd.DataFrame(rows, columns=COLUMNS)
    if several_thresholds(table):
        attacked = {(h, int(t)) for h, t in table[["hasher", "threshold"]].drop_duplicates().itertuples(index=False)}
        out["measured"] = [(h, int(t)) in attacked for h, t in zip(out["hasher"], out["threshold"])]
    return out
