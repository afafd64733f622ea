"""The interactive threshold and risk explorer of report.html.

`explorer_data(data, model)` gathers, per hasher, the pair counts per
distance from histograms.parquet (orig-orig and variant-orig negatives;
positives pooled over all edits and per transform family) and the 95%
interval of FPR(t) at every t: the run's default interval (pairs sharing a
photo dependent; fpr.csv, fpr_variant.csv) up to the last t it covers
(``dependent_upto``), above it the Clopper-Pearson interval of the
cumulative counts (`harness.metrics.clopper_pearson`, "if pairs were
independent"), labelled so in the page.
`explorer_html` embeds them as JSON with an inline script (explorer.js
next to this module): no network, no library, works from ``file://``.

In the page, for the chosen hasher and threshold t (bits):

- FPR(t) = negative pairs with distance <= t / negative pairs, per
  negative set, with the embedded interval;
- TPR(t) per family = positive pairs of the family within t / its positive
  pairs;
- per photo q = 1 - (1 - p)^M = -expm1(M log1p(-p)), p = the FPR of the
  chosen negative set (`harness.risk.per_query_probability`);
- per account P[>= k of n photos match] (`harness.risk.account_probability`):
  the binomial tail for rho = 0, the beta-binomial tail for rho > 0, both
  summed in log space (log-gamma by Lanczos, log-sum-exp; the complement
  log1p(-lower tail) when the upper tail exceeds 1/2), so tails far below
  1e-100 keep 4 significant digits;
- every bound is mapped through the same non-decreasing chain.

Two hashes (when the folder has joint histograms, metrics.hasher_pairs):
for a second hasher and threshold t2 the AND rule (a pair matches when
d1 <= t (first hasher) and d2 <= t2; `harness.metrics.cascade`) gives,
from the joint counts J[d1, d2] embedded as (d1, d2, count) triples of the
non-zero cells:

- joint FPR = pairs with d1 <= t and d2 <= t2 / pairs, per negative set,
  with the 95% Clopper-Pearson interval of that count (as cascades.csv;
  computed in the page: regularized incomplete beta by its continued
  fraction, Beta quantile by bisection on log x);
- the independence prediction p1 * p2 (each hasher's own FPR over the same
  pairs) and ratio = joint FPR / p1 p2 (`harness.metrics.cascade.
  independence`);
- TPR per family of the AND rule, and the per-photo and per-account risk
  from the joint FPR (the same formulas as above).

``window.explorer.set({hasher, threshold, hasher2, threshold2, negatives,
database_size, photos_per_year, match_threshold, rho})`` sets the controls
(``hasher2: null`` drops the second hash) and ``window.explorer.read()``
returns the numbers on display as JSON (the two-hash numbers under
``cascade``).
Without JavaScript the section stays hidden and the report reads as before.
"""

from __future__ import annotations

import html
import json
import re
from importlib import resources

import numpy as np

from .. import risk
from ..metrics.intervals import clopper_pearson
from .firstscreen import assumptions, chosen_threshold
from .model import ReportModel

NEGATIVES = ("orig-orig", "variant-orig")


def _sig(x: float) -> float:
    """A bound rounded to 10 significant digits (keeps the page small and
    byte-identical; far below the 4 digits shown)."""
    return float(f"{float(x):.10g}")


def _counts(hist: np.ndarray) -> list:
    return [int(v) for v in hist]


def _default_interval(data, hasher: str, neg: str, lo: np.ndarray, hi: np.ndarray) -> int:
    """Put the run's default interval (pairs sharing a photo dependent:
    fpr.csv for orig-orig, fpr_variant.csv for variant-orig pooled) into lo
    and hi where it exists, t = 0..K; returns K (-1: none, Clopper-Pearson
    everywhere)."""
    table = data.table(risk.DEFAULT_INTERVAL_TABLE[neg])
    if table is None or not len(table) or not {"hasher", "threshold", "fpr_lo", "fpr_hi"} <= set(table.columns):
        return -1
    rows = table[table["hasher"] == hasher].dropna(subset=["fpr_lo", "fpr_hi"]).sort_values("threshold")
    t = rows["threshold"].to_numpy(np.int64)
    upto = -1
    while upto + 1 < len(t) and t[upto + 1] == upto + 1 and upto + 1 < len(lo):
        upto += 1
    lo[: upto + 1] = rows["fpr_lo"].to_numpy(np.float64)[: upto + 1]
    hi[: upto + 1] = rows["fpr_hi"].to_numpy(np.float64)[: upto + 1]
    return upto


def explorer_data(data, model: ReportModel) -> dict:
    """{"hashers": [...], "assumptions": {...}}; see the module docstring."""
    a = assumptions(data)
    hashers = []
    for hasher in data.hashers:
        entry = {"name": hasher, "bits": int(data.bits(hasher)), "neg": {}, "families": {}}
        for neg in NEGATIVES:
            if not ((data.histograms["hasher"] == hasher) & (data.histograms["kind"] == neg)).any():
                continue
            hist = data.hist(hasher, neg)
            n = int(hist.sum())
            if not n:
                continue
            lo, hi = clopper_pearson(np.cumsum(hist), n)
            upto = _default_interval(data, hasher, neg, lo, hi)
            entry["neg"][neg] = {
                "counts": _counts(hist),
                "low": [_sig(v) for v in lo],
                "high": [_sig(v) for v in hi],
                "dependent_upto": upto,
            }
        if not entry["neg"]:
            continue
        if data.families and ((data.histograms["hasher"] == hasher) & (data.histograms["kind"] == "positive")).any():
            entry["positive"] = _counts(data.hist(hasher, "positive"))
            for family in data.families:
                hist = data.hist(hasher, "positive", transforms=data.transforms_of(family))
                if hist.sum():
                    entry["families"][family] = _counts(hist)
        t, _ = chosen_threshold(model, hasher)
        entry["threshold"] = int(t) if t is not None else int(data.bits(hasher)) // 4
        hashers.append(entry)
    out = {
        "hashers": hashers,
        "assumptions": {
            "database_size": a.database_size,
            "photos_per_year": a.photos_per_year,
            "match_threshold": a.match_threshold,
            "rho": a.rho,
        },
    }
    pairs = joint_data(data, [h["name"] for h in hashers])
    if pairs:
        out["pairs"] = pairs
    return out


def _cells(J: np.ndarray) -> list:
    """The non-zero cells of a joint histogram as a flat [d1, d2, count, ...]."""
    d1, d2 = np.nonzero(J)
    return np.column_stack([d1, d2, J[d1, d2]]).astype(np.int64).ravel().tolist()


def joint_data(data, hashers: list) -> list:
    """Per pair of hashers with joint histograms (both in `hashers`): their
    names and last distances (bits1, bits2), and the joint counts as
    non-zero cells, per negative set (variant-orig summed over every
    transform) and per family of positives."""
    table = data.table("joint_histograms.parquet")
    if table is None or not len(table):
        return []
    out = []
    for h1, h2 in sorted(set(zip(table["hasher_1"], table["hasher_2"]))):
        if h1 not in hashers or h2 not in hashers or h1 == h2:
            continue
        entry = {"hasher_1": h1, "hasher_2": h2, "bits1": int(data.n_bins(h1)) - 1, "bits2": int(data.n_bins(h2)) - 1}
        entry["neg"] = {}
        for neg in NEGATIVES:
            J = data.joint_hist(h1, h2, neg)
            if J.sum():
                entry["neg"][neg] = _cells(J)
        if not entry["neg"]:
            continue
        entry["families"] = {}
        for family in data.families:
            J = data.joint_hist(h1, h2, "positive", transforms=data.transforms_of(family))
            if J.sum():
                entry["families"][family] = _cells(J)
        out.append(entry)
    return out


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def explorer_html(data, model: ReportModel) -> str:
    """The explorer section's HTML (hidden until its script runs), or ""
    when no hasher has negative pairs."""
    payload = explorer_data(data, model)
    if not payload["hashers"]:
        return ""
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":")).replace("</", "<\\/")
    options = "".join(
        f'<option value="{html.escape(h["name"])}">{html.escape(h["name"])}</option>' for h in payload["hashers"]
    )
    body = _asset("explorer.html").replace("<!--HASHER_OPTIONS-->", options)
    if "pairs" not in payload:  # no joint histograms: no second-hash controls
        body = re.sub(r"<!--CASCADE-->.*?<!--/CASCADE-->", "", body, flags=re.S)
    return (
        "<noscript><p>The interactive explorer needs JavaScript; the tables below give the same numbers "
        "at fixed thresholds.</p></noscript>\n"
        f"<style>{_asset('explorer.css')}</style>\n{body}\n"
        f'<script type="application/json" id="explorer-data">{blob}</script>\n'
        f"<script>{_asset('explorer.js')}</script>"
    )
