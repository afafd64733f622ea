"""The report's first screen: the answer a policy reader came for, per
hasher at its recommended threshold, in plain language.

For each hasher at threshold t (the metrics stage's recommended t when it
wrote one, else the largest t whose pooled variant-orig FPR is at most the
target; in bits):

- false matches per pair: FPR(t) = matching negative pairs / negative pairs,
  for orig-orig and variant-orig negatives (pooled over every transform);
  the run's default interval (fpr.csv and fpr_variant.csv: pairs sharing a
  photo dependent, `harness.risk.dependent_rate`), else the image-level bootstrap interval
  of metrics.csv when it has one at t (`harness.risk.
  bootstrap_rate_from_metrics`), else the Clopper-Pearson interval labelled
  "if pairs were independent";
- what survives: TPR(t) per transform family (positive pairs of every
  severity of the family pooled), Clopper-Pearson interval;
- what it means: with the assumptions of the config section ``report``
  (database size M, photos per year n, match rule k, within-account
  correlation rho), the per-photo probability q = 1 - (1 - p)^M
  (`harness.risk.per_query_probability`, p = the orig-orig FPR) and the
  per-account probability P[>= k of n photos match]
  (`harness.risk.account_probability`), intervals mapped through the same
  monotone chain.

`first_screen(data, model)` computes it (`Headline` per hasher);
`first_screen_blocks` formats it for the report, `first_screen_text` for the
end of ``phash-harness run``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

from .. import risk
from ..config import ReportConfig
from ..errors import ConfigError
from ..metrics.intervals import clopper_pearson
from .model import ReportModel

CP_LABEL = "Clopper-Pearson 95%, if pairs were independent"
BOOT_LABEL = "image-level bootstrap 95%"
DEPENDENT_LABEL = "95%, pairs sharing a photo treated as dependent"


@dataclass(frozen=True)
class Headline:
    """One hasher at its threshold. rates: negative set -> risk.Rate
    (absent sets are missing); tpr: (family, matching positive pairs, positive
    pairs, low, high) per family; query, account: risk.Rate of the per-photo
    and per-account false-match probabilities (None without orig-orig or
    variant-orig negatives); risk_negatives: the negative set they use."""

    hasher: str
    bits: int
    threshold: int
    threshold_source: str
    rates: dict
    tpr: list
    query: risk.Rate | None
    account: risk.Rate | None
    risk_negatives: str | None


def assumptions(data) -> ReportConfig:
    """The config section ``report`` of the run (defaults when the run
    predates it or it does not validate)."""
    section = (data.run_info.get("config") or {}).get("report") or {}
    try:
        return ReportConfig(**section)
    except Exception:  # noqa: BLE001 - an old or hand-edited run.json: fall back to the defaults
        return ReportConfig()


def chosen_threshold(model: ReportModel, hasher: str) -> tuple[int | None, str]:
    """(t, why) for one hasher: the recommended t of the metrics stage, else
    the summary's pooled t; (None, why) when neither exists."""
    summary = model.summary
    row = summary[summary["hasher"] == hasher].to_dict("records") if len(summary) else []
    if row:
        r = row[0]
        rec = r.get("recommended_threshold")
        if rec is not None and not (isinstance(rec, float) and math.isnan(rec)) and rec >= 0:
            return int(rec), (
                f"recommended by the metrics stage: the largest t whose 95% upper bound on the "
                f"FPR stays below the target {model.target:g}"
            )
        t = r.get("threshold")
        if t is not None and not math.isnan(t) and t >= 0:
            return int(t), f"the largest t whose pooled variant-orig FPR is at most the target {model.target:g}"
    rec = model.recommended
    if rec is not None:
        sub = rec[(rec["hasher"] == hasher) & (rec["recommended_threshold"] >= 0)]
        if len(sub):
            return int(sub["recommended_threshold"].iat[0]), (
                f"recommended by the metrics stage for the target FPR {model.target:g}"
            )
    return None, f"no threshold meets the target FPR {model.target:g} with this many pairs"


def fpr_rate(data, hasher: str, threshold: int, negatives: str) -> risk.Rate | None:
    """FPR at t from the histograms (`harness.risk.fpr_table`) with the
    run's default interval when it has one at t (pairs sharing a photo
    dependent: fpr.csv for orig-orig, fpr_variant.csv for variant-orig
    pooled over every transform); else, for orig-orig, the image-level bootstrap
    interval of metrics.csv when it has one at t (columns fpr_at_threshold_boot_lo/hi of a row with
    threshold_at_target == t; the orig-orig set is the same on every row).
    None when the run has no such negative pairs."""
    try:
        table = risk.fpr_table(data.histograms, hasher, negatives)
    except ConfigError:
        return None
    r = risk.rate_at_threshold(table, threshold)
    default = data.table(risk.DEFAULT_INTERVAL_TABLE[negatives])
    dep = risk.dependent_rate(default, hasher, threshold)
    if dep is not None:
        return risk.Rate(dep.point, dep.low, dep.high, DEPENDENT_LABEL, dep.x, dep.n)
    m = data.metrics
    cols = ("fpr_at_threshold_boot_lo", "fpr_at_threshold_boot_hi")
    if negatives == "orig-orig" and set(cols) | {"threshold_at_target", "negatives"} <= set(m.columns):
        rows = m[(m["hasher"] == hasher) & (m["negatives"] == negatives) & (m["threshold_at_target"] == threshold)]
        rows = rows.dropna(subset=list(cols))
        if len(rows):
            return risk.Rate(r.point, float(rows[cols[0]].iat[0]), float(rows[cols[1]].iat[0]), BOOT_LABEL, r.x, r.n)
    return risk.Rate(r.point, r.low, r.high, CP_LABEL, r.x, r.n)


def family_tpr(data, hasher: str, threshold: int) -> list:
    """(family, tp, n, low, high) per family: positive pairs of every
    severity of the family within t, Clopper-Pearson interval."""
    out = []
    for family in data.families:
        pos = data.hist(hasher, "positive", transforms=data.transforms_of(family))
        n = int(pos.sum())
        if not n:
            continue
        tp = int(pos[: threshold + 1].sum())
        lo, hi = clopper_pearson(tp, n)
        out.append((family, tp, n, float(lo), float(hi)))
    return out


def first_screen(data, model: ReportModel) -> list[Headline]:
    """A `Headline` per hasher that has a threshold (see the module docstring)."""
    a = assumptions(data)
    out = []
    for hasher in data.hashers:
        t, why = chosen_threshold(model, hasher)
        if t is None:
            continue
        rates = {}
        for neg in ("orig-orig", "variant-orig"):
            r = fpr_rate(data, hasher, t, neg)
            if r is not None:
                rates[neg] = r
        basis = "orig-orig" if "orig-orig" in rates else ("variant-orig" if rates else None)
        query = account = None
        if basis:
            query = rates[basis].map(lambda p: risk.per_query_probability(p, a.database_size))
            account = query.map(lambda q: risk.account_probability(q, a.photos_per_year, a.match_threshold, a.rho))
        out.append(
            Headline(hasher, data.bits(hasher), t, why, rates, family_tpr(data, hasher, t), query, account, basis)
        )
    return out


# ----------------------------------------------------------------- formatting
def num(x: float) -> str:
    """3 significant digits; exact 0 and 1 as such."""
    if x == 0 or x == 1:
        return str(int(x))
    if 1e3 <= abs(x) < 1e9:
        return f"{x:,.0f}"
    if 1e-3 <= abs(x) < 1e3:
        return f"{x:.3g}"
    return f"{x:.3g}".replace("e-0", "e-").replace("e+0", "e+")


def rate_text(r: risk.Rate) -> str:
    return f"{num(r.point)} [{num(r.low)}, {num(r.high)}]"


def one_in(p: float) -> str:
    """'about 1 in N' for a small probability (empty otherwise)."""
    if not 0 < p < 0.5:
        return ""
    n = 1 / p
    return f" (about 1 in {n:,.0f})" if n < 1e7 else f" (about 1 in {n:.2g})"


def assumption_text(a: ReportConfig) -> str:
    corr = (
        "photos of one account match independently of each other (rho = 0)"
        if a.rho == 0
        else f"false matches within one account are correlated with rho = {a.rho:g} (beta-binomial model)"
    )
    return (
        f"Assumptions (config section `report`, change them there or in the explorer): a database of "
        f"M = {a.database_size:,} hashes; an account uploads n = {a.photos_per_year:,} photos a year; an "
        f"account is flagged when k = {a.match_threshold} of them falsely match within the year; {corr}; "
        "each photo's M comparisons are independent."
    )


TERMS = [
    "*threshold t*: two hashes *match* when they differ in at most t bits (Hamming distance).",
    "*false match rate (FPR)*: the share of pairs of different photos that match at t; `orig-orig`: two "
    "unedited photos, `variant-orig`: an edited photo against the original of another photo.",
    "*survives (TPR)*: the share of edited copies that still match their own original at t.",
    "*[low, high]*: a 95% interval for the rate; unmarked intervals treat pairs that share a photo as "
    "dependent, intervals marked *if pairs were independent* do not and are too narrow.",
    "*per photo*: the probability that one innocent photo matches at least one of the M database hashes; "
    "*per account*: the probability that an innocent account is flagged in a year.",
]


def hasher_sentences(h: Headline, a: ReportConfig) -> list[str]:
    """Plain-language lines for one hasher (markdown inline markup)."""
    lines = [f"**{h.hasher}** ({h.bits} bits) at t = {h.threshold} bits ({h.threshold_source})."]
    for neg, what in (
        ("orig-orig", "two unrelated unedited photos match"),
        ("variant-orig", "an edited photo matches the original of an unrelated photo"),
    ):
        r = h.rates.get(neg)
        if r is not None:
            lines.append(
                f"False matches per pair, {neg}: {what} with probability {rate_text(r)}"
                f"{one_in(r.point)}; {r.x:,} of {r.n:,} pairs "
                f"({r.method})."
            )
    if h.query is not None:
        lines.append(
            f"Per photo (from the {h.risk_negatives} rate): an innocent photo falsely matches at least "
            f"one of M = {a.database_size:,} hashes with probability {rate_text(h.query)}; that is "
            f"about {num(h.query.point * a.photos_per_year)} false matches a year for an account with "
            f"{a.photos_per_year:,} photos."
        )
        lines.append(
            f"Per account: P(at least {a.match_threshold} of {a.photos_per_year:,} photos match in a "
            f"year) = {rate_text(h.account)}{one_in(h.account.point)}."
        )
    return lines


def _colour(x: float) -> str:
    """Background for a TPR cell: red (0) through yellow to green (1)."""
    hue = int(round(120 * max(0.0, min(1.0, x))))
    return f"hsl({hue},70%,82%)"


def tpr_table(heads: list[Headline]) -> tuple[list, list, list]:
    """(header, rows of (text, tpr or None), families)."""
    families = list(dict.fromkeys(f for h in heads for f, *_ in h.tpr))
    header = ["hasher", "t (bits)"] + families
    rows = []
    for h in heads:
        cells = {f: (tp / n, lo, hi) for f, tp, n, lo, hi in h.tpr}
        row = [(h.hasher, None), (str(h.threshold), None)]
        for f in families:
            if f in cells:
                v, lo, hi = cells[f]
                row.append((f"{v:.2f}", v, f"{num(v)} [{num(lo)}, {num(hi)}]"))
            else:
                row.append(("", None))
        rows.append(row)
    return header, rows, families


def glance(heads: list[Headline], a: ReportConfig) -> tuple[list, list]:
    """The at-a-glance table: one row per hasher (t, FPR per negative set,
    per photo, per account), values with [95% interval]."""
    header = [
        "hasher",
        "t (bits)",
        "false matches per pair, orig-orig",
        "per pair, variant-orig",
        f"per photo (M = {a.database_size:,})",
        f"per account (>= {a.match_threshold} of {a.photos_per_year:,} a year)",
    ]
    rows = []
    for h in heads:
        row = [h.hasher, str(h.threshold)]
        for neg in ("orig-orig", "variant-orig"):
            r = h.rates.get(neg)
            row.append(rate_text(r) + (" \u2020" if r.method == CP_LABEL else "") if r else "")
        row += [rate_text(h.query) if h.query else "", rate_text(h.account) if h.account else ""]
        rows.append(row)
    return header, rows


GLANCE_NOTE = (
    "\u2020 Clopper-Pearson interval, as if pairs were independent (too narrow: pairs share photos); "
    "unmarked: an interval that treats pairs sharing a photo as dependent (fpr.csv's default, or the "
    "image-level bootstrap)."
)


def _md(heads: list[Headline], a: ReportConfig, caveats: list[str]) -> str:
    header, rows = glance(heads, a)
    out = ["Terms:", ""] + [f"- {t}" for t in TERMS] + ["", assumption_text(a), ""]
    out += [
        "At a glance (each hasher at its threshold t; [95% interval]):",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", GLANCE_NOTE, ""]
    header, rows, _ = tpr_table(heads)
    if len(header) > 2:
        out += [
            "What survives: TPR at each hasher's t, per transform family (all severities pooled; "
            "[95% Clopper-Pearson]):",
            "",
        ]
        out.append("| " + " | ".join(header) + " |")
        out.append("|" + "---|" * len(header))
        for row in rows:
            out.append("| " + " | ".join(c[2] if len(c) > 2 else c[0] for c in row) + " |")
        out.append("")
    out += ["In words:", ""]
    for h in heads:
        out += [" ".join(hasher_sentences(h, a)), ""]
    out += ["Caveats: " + " ".join(caveats), ""]
    return "\n".join(out)


def _inline(text: str) -> str:
    import re

    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", out)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"(?<![\w*])\*([^*\s][^*]*?)\*(?![\w*])", r"<em>\1</em>", out)


def _html(heads: list[Headline], a: ReportConfig, caveats: list[str]) -> str:
    gh, gr = glance(heads, a)
    out = ['<div class="first">', '<dl class="terms">']
    out += [f"<dd>{_inline(t)}</dd>" for t in TERMS]
    out += ["</dl>", f"<p>{_inline(assumption_text(a))}</p>"]
    out += [
        "<p>At a glance (each hasher at its threshold t; [95% interval]):</p>",
        '<div class="scroll"><table class="glance"><thead><tr>'
        + "".join(f"<th>{html.escape(x)}</th>" for x in gh)
        + "</tr></thead><tbody>"
        + "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in gr)
        + f'</tbody></table></div><p class="note">{html.escape(GLANCE_NOTE)}</p>',
    ]
    header, rows, _ = tpr_table(heads)
    if len(header) > 2:
        out.append(
            "<p>What survives: TPR at each hasher's t, per transform family (all severities pooled; "
            "hover a cell for its 95% Clopper-Pearson interval).</p>"
        )
        head = "".join(f"<th>{html.escape(x)}</th>" for x in header)
        body = []
        for row in rows:
            cells = []
            for c in row:
                if c[1] is None:
                    cells.append(f"<td>{html.escape(c[0])}</td>")
                else:
                    cells.append(
                        f'<td style="background:{_colour(c[1])}" title="{html.escape(c[2])}">{html.escape(c[0])}</td>'
                    )
            body.append("<tr>" + "".join(cells) + "</tr>")
        out.append(
            f'<div class="scroll"><table class="tpr"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(body)
            + "</tbody></table></div>"
        )
    out.append("<p>In words:</p>")
    for h in heads:
        lines = hasher_sentences(h, a)
        out.append(f"<p>{_inline(lines[0])}</p><ul>" + "".join(f"<li>{_inline(x)}</li>" for x in lines[1:]) + "</ul>")
    out.append(f"<p><em>Caveats</em>: {_inline(' '.join(caveats))}</p></div>")
    return "\n".join(out)


def caveats(data, model: ReportModel) -> list[str]:
    pc = model.pair_counts
    n_img = (data.run_info.get("dataset") or {}).get("images_hashed")
    return [
        f"Measured on {n_img} photos of one dataset ({pc['orig-orig']:,} orig-orig and "
        f"{pc['variant-orig']:,} variant-orig pairs); other photos may behave differently.",
        "A rate below 1 / (number of pairs) cannot be observed; a zero count gives an upper bound only.",
        "The per-photo and per-account figures assume independent comparisons and are only as good as "
        "these assumptions; a deployment's real database and users will differ.",
    ]


def first_screen_blocks(data, model: ReportModel) -> list:
    """The 'Answer first' section: one heading and one raw block (HTML with
    a coloured TPR table; markdown with the same numbers)."""
    heads = first_screen(data, model)
    a = assumptions(data)
    blocks = [("h", 2, "Answer first: false matches, what survives, what it means")]
    if not heads:
        return blocks + [
            (
                "p",
                f"No hasher has a threshold that meets the target FPR {model.target:g} with this "
                "many pairs; see the tables below.",
            )
        ]
    cav = caveats(data, model)
    return blocks + [("raw", _html(heads, a, cav), _md(heads, a, cav))]


def first_screen_text(data, model: ReportModel) -> str:
    """The short version printed at the end of ``phash-harness run``."""
    heads = first_screen(data, model)
    a = assumptions(data)
    if not heads:
        return f"no hasher has a threshold that meets the target FPR {model.target:g} with this many pairs"
    lines = [
        f"At each hasher's recommended threshold (M = {a.database_size:,} hashes, n = "
        f"{a.photos_per_year:,} photos/year, flag at k = {a.match_threshold}, rho = {a.rho:g}):"
    ]
    width = max([14] + [len(h.hasher) for h in heads])
    for h in heads:
        parts = [f"{h.hasher:<{width}} t={h.threshold}"]
        for neg in ("orig-orig", "variant-orig"):
            if neg in h.rates:
                mark = " \u2020" if h.rates[neg].method == CP_LABEL else ""
                parts.append(f"FPR {neg} {rate_text(h.rates[neg])}{mark}")
        if h.query is not None:
            parts.append(f"per photo {rate_text(h.query)}, per account {rate_text(h.account)}")
        if h.tpr:
            worst = min(h.tpr, key=lambda x: x[1] / x[2])
            parts.append(f"lowest TPR {worst[0]} {num(worst[1] / worst[2])}")
        lines.append("  " + "; ".join(parts))
    if any(r.method == CP_LABEL for h in heads for r in h.rates.values()):
        lines.append("  " + GLANCE_NOTE)
    return "\n".join(lines)
