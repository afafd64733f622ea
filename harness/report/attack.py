"""The report of an attack folder: ``attack_report.md`` and a self-contained
``attack_report.html`` (figures embedded once, as in report.html).

Drawn from the folder's files only (attack_run.json, attack_summary.csv,
attack_transfer.csv, attack_tradeoff.csv, figures/), after
`harness.attacks.run.write_attack_outputs` has rewritten the last three:

- **Settings**: dataset, images, hashers, goals, algorithms, query budget,
  L-infinity cap (grey levels), basis, batch, seed, PSNR budgets, and every
  attacked threshold (bits, or bin) with its source and benign FPR;
- **Success**: per hasher, threshold, goal and algorithm, at each PSNR
  budget b (dB) and "any": successes/images [95% Clopper-Pearson interval],
  median queries, median queries to the first success, and the share of
  the successes (budget "any") whose attacked image still meets the goal
  after JPEG q75 — the numbers of attack_summary.csv, formatted;
- **Transfer and second-hash veto**: attack_transfer.csv (for framing,
  veto = 1 - share);
- **Threshold trade-off**: attack_tradeoff.csv at budget "any" and the
  strictest PSNR budget, for thresholds from two below the smallest to two
  above the largest attacked one (the whole table is in the CSV);
- **Figures**: success vs PSNR budget, threshold trade-off, gallery.

Rates are printed with two decimals; "-" stands for no value (no success).
"""

from __future__ import annotations

import json
import math
import os

import pandas as pd

from ..attacks.tradeoff import attacked_thresholds
from .document import render_html, render_markdown

MD, HTML = "attack_report.md", "attack_report.html"
FIGURES = (
    ("success_vs_psnr", "Success rate against the PSNR budget, per hasher (colour) and algorithm (line style)."),
    (
        "threshold_tradeoff",
        "Threshold trade-off: benign FPR (left, log) and attack success (right) against the threshold.",
    ),
    ("gallery", "Saved attacks: original, attacked image, amplified difference."),
)


def rate(k, n, lo, hi) -> str:
    """'k/n [lo, hi]' with the interval to two decimals.

    >>> rate(3, 10, 0.0667395, 0.652453)
    '3/10 [0.07, 0.65]'
    """
    return f"{int(k)}/{int(n)} [{lo:.2f}, {hi:.2f}]"


def _num(x, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    x = float(x)
    return str(int(x)) if x.is_integer() else f"{x:.{digits}f}"


def _fpr(x) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{float(x):.3g}"


def settings_blocks(info: dict) -> list:
    cfg = info.get("config") or {}
    th = cfg.get("thresholds") or {}
    algs = cfg.get("algorithms") or []
    basis = f"{cfg.get('basis')} {cfg.get('basis_size')} x {cfg.get('basis_size')} (cma, random)"
    if "greedy" in algs:
        basis += f"; greedy: sign blocks up to {cfg.get('greedy_grid')} x {cfg.get('greedy_grid')}"
    data = cfg.get("dataset") or {}
    items = [
        f"dataset: {data.get('source', '')} `{data.get('path') or data.get('name') or ''}`, "
        f"{len(info.get('images') or [])} images",
        f"hashers: {', '.join(h['name'] if isinstance(h, dict) else str(h) for h in cfg.get('hashers') or [])}",
        f"goals: {', '.join(cfg.get('goals') or [])}; algorithms: {', '.join(algs)}",
        f"budget: {cfg.get('budget')} queries per attack; L-infinity cap: {cfg.get('linf_cap')} grey levels",
        f"basis: {basis}; batch: {cfg.get('batch')}; seed: {cfg.get('seed')}",
        f"PSNR budgets: {', '.join(_num(b) for b in cfg.get('psnr_budgets') or [])} dB",
    ]
    if th.get("benign"):
        fprs = th["target_fpr"] if isinstance(th["target_fpr"], list) else [th["target_fpr"]]
        items.append(
            f"thresholds from `{th['benign']}` ({th.get('negatives')} negatives) at FPR <= "
            + ", ".join(f"{f:g}" for f in fprs)
        )
    lists = info.get("threshold_lists") or {k: [v] for k, v in (info.get("thresholds") or {}).items()}
    rows = [
        [h, str(e["threshold"]), e["threshold_source"], _fpr(e["benign_fpr"]), _fpr(e["benign_fpr_upper"])]
        for h, entries in sorted(lists.items())
        for e in entries
    ]
    return [
        ("h", 2, "Settings"),
        ("ul", items),
        ("table", ["hasher", "threshold", "source", "benign FPR", "benign FPR upper 95%"], rows),
    ]


def success_blocks(summary: pd.DataFrame) -> list:
    budgets = list(dict.fromkeys(summary["psnr_min"]))
    header = (
        ["hasher (t)", "goal", "algorithm"]
        + [f"PSNR >= {b} dB" if b != "any" else "any (L-inf <= cap)" for b in budgets]
        + ["median queries", "median queries to success", "survives JPEG q75 (of successes, any)"]
    )
    rows = []
    for (hasher, t, goal, alg), g in summary.groupby(["hasher", "threshold", "goal", "algorithm"], sort=True):
        by = {r.psnr_min: r for r in g.itertuples()}
        last = by["any"]
        rows.append(
            [f"{hasher} ({int(t)})", goal, alg]
            + [rate(by[b].successes, by[b].images, by[b].ci_lo, by[b].ci_hi) for b in budgets]
            + [_num(last.median_queries), _num(last.median_queries_to_success), _num(last.survival_jpeg_75)]
        )
    return [
        ("h", 2, "Success"),
        (
            "p",
            "successes/images [95% Clopper-Pearson interval over images]: attacks that met the goal with the "
            "attacked photo's PSNR at or above the budget (attack_summary.csv).",
        ),
        ("table", header, rows),
    ]


def transfer_blocks(transfer: pd.DataFrame) -> list:
    out = [("h", 2, "Transfer and second-hash veto")]
    if transfer.empty:
        return out + [("p", "No successful attack, so nothing to transfer or veto.")]
    extra = ["threshold"] if "threshold" in transfer.columns else []
    header = ["from", "to", "goal", "algorithm"] + extra + ["transferred/successes [95% CI]", "veto (framing)"]
    rows = []
    for r in transfer.to_dict("records"):  # "from" is a Python keyword: no attribute access
        veto = _num(1 - r["share"]) if r["goal"] == "framing" else "-"
        rows.append(
            [r["from"], r["to"], r["goal"], r["algorithm"]]
            + [str(int(r[c])) for c in extra]
            + [rate(r["transferred"], r["successes"], r["ci_lo"], r["ci_hi"]), veto]
        )
    text = (
        "For each success against `from`: does the attacked image also meet the goal under `to` at its threshold "
        "(evasion: also evades; framing: the match survives a second hash, else `to` vetoes it)?"
    )
    return out + [("p", text), ("table", header, rows)]


def tradeoff_blocks(tradeoff: pd.DataFrame, attacked: dict) -> list:
    out = [("h", 2, "Threshold trade-off")]
    if tradeoff.empty:
        return out
    budgets = [b for b in dict.fromkeys(tradeoff["psnr_min"]) if b != "any"]
    show = (["any"] + budgets[:1]) if budgets else ["any"]
    header = ["hasher", "goal", "PSNR >=", "threshold", "attacked here", "success [95% CI]", "benign FPR"]
    rows = []
    for r in tradeoff.itertuples():
        ts = attacked.get(r.hasher, [])
        if r.psnr_min not in show or not ts or not (min(ts) - 2 <= r.threshold <= max(ts) + 2):
            continue
        rows.append(
            [
                r.hasher,
                r.goal,
                r.psnr_min,
                str(int(r.threshold)),
                "yes" if r.threshold in ts else "",
                rate(r.successes, r.images, r.ci_lo, r.ci_hi),
                _fpr(r.benign_fpr),
            ]
        )
    text = (
        "Success at threshold t' from the best distance every search reached (attack_tradeoff.csv, which has "
        "every t'); away from the attacked thresholds it is a lower bound (a search aimed at t' could do better)."
    )
    return out + [("p", text), ("table", header, rows)]


def attack_report_blocks(folder: str) -> list:
    with open(os.path.join(folder, "attack_run.json"), encoding="utf-8") as fh:
        info = json.load(fh)
    summary = pd.read_csv(os.path.join(folder, "attack_summary.csv"), dtype={"psnr_min": str})
    transfer = pd.read_csv(os.path.join(folder, "attack_transfer.csv"))
    tradeoff = pd.read_csv(os.path.join(folder, "attack_tradeoff.csv"), dtype={"psnr_min": str})
    attacked = attacked_thresholds(summary)
    name = (info.get("config") or {}).get("name", os.path.basename(os.path.abspath(folder)))
    blocks = [("h", 1, f"Attack report: {name}")]
    blocks += settings_blocks(info)
    blocks += success_blocks(summary) if not summary.empty else [("h", 2, "Success"), ("p", "No attack.")]
    blocks += transfer_blocks(transfer)
    blocks += tradeoff_blocks(tradeoff, attacked)
    figs = [(f"figures/{n}", cap) for n, cap in FIGURES if os.path.isfile(os.path.join(folder, "figures", n + ".png"))]
    if figs:
        blocks.append(("h", 2, "Figures"))
        blocks += [("figure", base, cap) for base, cap in figs]
    return blocks


def write_attack_report(folder: str) -> list[str]:
    """Write attack_report.md and attack_report.html of an attack folder
    (see module doc); returns their paths."""
    folder = os.fspath(folder)
    blocks = attack_report_blocks(folder)
    paths = [os.path.join(folder, MD), os.path.join(folder, HTML)]
    with open(paths[0], "w", encoding="utf-8") as fh:
        fh.write(render_markdown(blocks))
    with open(paths[1], "w", encoding="utf-8") as fh:
        fh.write(render_html(blocks, folder, blocks[0][2]))
    return paths
