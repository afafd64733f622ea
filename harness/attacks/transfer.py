"""Transfer matrix and second-hasher veto, from the attacks table.

For every successful attack made against hasher A (``from``) and every
other attacked hasher B (``to``), the run hashes the attacked image x' with
B (the defender's hashes, not A's queries) and records ``transfer_<B>``:

- evasion: the attack transfers when d_B(x', x) > t_B (x' also evades B);
- framing: the match survives a second check when d_B(x', y) <= t_B; when it
  does not, B **vetoes** the match (a server re-checking matches with a
  second, independent hash, as in Apple's 2021 design).

`transfer_table` counts them: successes = successful attacks on A with a
transfer_<B> value, transferred = those also meeting the goal under B,
share = transferred / successes with a 95% Clopper-Pearson interval over
those attacks (`harness.metrics.intervals.clopper_pearson`); for framing,
1 - share is the veto rate.

Example::

    >>> import pandas as pd
    >>> t = pd.DataFrame({"hasher": ["phash"] * 3, "goal": ["evasion"] * 3, "algorithm": ["cma"] * 3,
    ...                   "success": [True, True, False],
    ...                   "transfer_dhash": pd.array([True, False, None], dtype="boolean")})
    >>> row = transfer_table(t).iloc[0]
    >>> row["from"], row["to"], int(row["successes"]), int(row["transferred"]), float(row["share"])
    ('phash', 'dhash', 2, 1, 0.5)
"""

from __future__ import annotations

import pandas as pd

from .tradeoff import several_thresholds

COLUMNS = ["from", "to", "goal", "algorithm", "successes", "transferred", "share", "ci_lo", "ci_hi"]
PREFIX = "transfer_"


def transfer_table(table: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """One row per (from, to, goal, algorithm) with at least one success (see
    module doc); per (from, to, goal, algorithm, threshold), with a ``threshold``
    column (of `from`) after ``algorithm``, when a hasher was attacked at several thresholds."""
    from ..metrics.intervals import clopper_pearson

    rows = []
    targets = sorted(c[len(PREFIX) :] for c in table.columns if c.startswith(PREFIX))
    multi = several_thresholds(table)
    keys = ["hasher", "goal", "algorithm"] + (["threshold"] if multi else [])
    for key, g in table[table["success"]].groupby(keys, sort=True):
        src, goal, alg = key[:3]
        for dst in targets:
            if dst == src:
                continue
            values = g[PREFIX + dst].dropna().astype(bool)
            n, k = len(values), int(values.sum())
            if n == 0:
                continue
            lo, hi = clopper_pearson(k, n, confidence)
            rows.append(
                {
                    "from": src,
                    "to": dst,
                    "goal": goal,
                    "algorithm": alg,
                    **({"threshold": int(key[3])} if multi else {}),
                    "successes": n,
                    "transferred": k,
                    "share": k / n,
                    "ci_lo": float(lo),
                    "ci_hi": float(hi),
                }
            )
    columns = COLUMNS[:4] + ["threshold"] + COLUMNS[4:] if multi else COLUMNS
    return pd.DataFrame(rows, columns=columns)
