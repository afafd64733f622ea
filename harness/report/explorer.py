"""The interactive threshold and risk explorer of report.html.

`explorer_data(data, model)` gathers, per hasher, the pair counts per
distance from histograms.parquet (orig-orig and variant-orig negatives;
positives pooled over all edits and per transform family) and the 95%
Clopper-Pearson interval of FPR(t) at every t (`harness.metrics.
clopper_pearson` on the cumulative counts; "if pairs were independent").
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

``window.explorer.set({hasher, threshold, negatives, database_size,
photos_per_year, match_threshold, rho})`` sets the controls and
``window.explorer.read()`` returns the numbers on display as JSON.
Without JavaScript the section stays hidden and the report reads as before.
"""

from __future__ import annotations

import html
import json
from importlib import resources

import numpy as np

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
            entry["neg"][neg] = {"counts": _counts(hist), "low": [_sig(v) for v in lo], "high": [_sig(v) for v in hi]}
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
    return {
        "hashers": hashers,
        "assumptions": {
            "database_size": a.database_size,
            "photos_per_year": a.photos_per_year,
            "match_threshold": a.match_threshold,
            "rho": a.rho,
        },
    }


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
    return (
        "<noscript><p>The interactive explorer needs JavaScript; the tables below give the same numbers "
        "at fixed thresholds.</p></noscript>\n"
        f"<style>{_asset('explorer.css')}</style>\n{body}\n"
        f'<script type="application/json" id="explorer-data">{blob}</script>\n'
        f"<script>{_asset('explorer.js')}</script>"
    )
