"""Matching rules as deployed, from a results folder (issue 21): two-hash
cascades, dihedral matching and per-photo rates, as a markdown page
(results/caltech101/matching_rules.md, written by ``python tools/study.py``).

Every figure is read from the run's own tables, never typed by hand:

- cascades.csv (orig-orig, ``own`` point: each hasher at its own
  recommended threshold for FPR <= 1e-4, the deployed case of a second
  hash re-checking the first): the AND rule's false matches with their
  default interval (pairs sharing a photo dependent), each hasher's own
  FPR over the same pairs, the product independence predicts, and the
  ratio measured / predicted with the interval's bounds divided by the
  prediction; the AND rule's TPR on the headline transforms beside each
  hasher's own.
- thresholds.csv: dihedral hashers (``phash[dihedral]``) against the plain
  ones, at each one's own recommended threshold: orig-orig FPR with its
  default interval (fpr.csv) and TPR on flips and quarter turns; and the
  per-photo false-match rate next to the per-pair FPR for every hasher.
- close_pairs.parquet: NeuralHash's pairs of different photos at distance
  0, drawn on a contact sheet (figures/collisions-neuralhash.png).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd

TARGET_FPR = 1e-4
#: transforms whose TPR the cascade and dihedral tables show
CASCADE_TPR = ["jpeg(40)", "resize(0.5)", "crop(0.8)", 'chain("social")']
#: thresholds in common use (results/caltech101/LITERATURE.md), also shown for dihedral matching
USUAL = {"pdq": 31}
DIHEDRAL_TPR = ['flip("horizontal")', 'flip("vertical")', "rotate(90)", "rotate(180)", "jpeg(40)", "crop(0.8)"]


def _read(folder: str, name: str) -> pd.DataFrame | None:
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        return None
    return pd.read_parquet(path) if name.endswith(".parquet") else pd.read_csv(path, dtype={"severity": str})


def _e(x: float) -> str:
    return "-" if x != x else ("0" if x == 0 else f"{x:.2e}")


def _own_rows(thresholds: pd.DataFrame) -> pd.DataFrame:
    sel = thresholds[(thresholds["negatives"] == "orig-orig") & np.isclose(thresholds["target_fpr"], TARGET_FPR)]
    return sel


def cascades_section(folder: str) -> str:
    cascades = _read(folder, "cascades.csv")
    if cascades is None or not len(cascades):
        return ""
    thr = _own_rows(_read(folder, "thresholds.csv"))
    own = cascades[(cascades["point"] == "own") & (cascades["rule"] == "and")]
    oo = own[own["negatives"] == "orig-orig"].drop_duplicates(["hasher_1", "hasher_2"])
    lines = [
        "## Two-hash cascades: does a second hash cut false matches as independence predicts?",
        "",
        "Each hasher at its own recommended threshold for FPR <= 1e-4; a pair of different photos "
        "is a false match of the cascade when both hashes match (AND). Orig-orig pairs, duplicate "
        "groups excluded. 'FPR' has the default 95% interval (pairs sharing a photo dependent); "
        "'predicted' is the product of the two hashers' own rates over the same pairs; the ratio's "
        "interval is the FPR interval divided by the prediction.",
        "",
        "| hasher 1 (t1) | hasher 2 (t2) | false matches of both | FPR [95%] | hasher 1 alone | hasher 2 alone "
        "| predicted if independent | measured / predicted [95%] |",
        "|---|---|---:|---|---:|---:|---:|---|",
    ]
    for r in oo.itertuples():
        if r.t1 < 0 or r.t2 < 0:
            continue
        pred = r.fpr_independent
        ratio = (
            f"{r.fpr / pred:.3g} [{r.fpr_lo / pred:.3g}, {r.fpr_hi / pred:.3g}]"
            if pred > 0 and r.fpr_hi == r.fpr_hi
            else "-"
        )
        lines.append(
            f"| {r.hasher_1} ({r.t1}) | {r.hasher_2} ({r.t2}) | {r.fp:,} of {r.n_neg:,} | "
            f"{_e(r.fpr)} [{_e(r.fpr_lo)}, {_e(r.fpr_hi)}] | {_e(r.fpr_1)} | {_e(r.fpr_2)} | {_e(pred)} | {ratio} |"
        )
    lines += [
        "",
        "TPR of the cascade (both hashes match the variant) beside each hasher alone, same thresholds "
        "(n = the sampled photos with a variant):",
        "",
        "| hasher 1 (t1) | hasher 2 (t2) | " + " | ".join(CASCADE_TPR) + " |",
        "|---|---|" + "---|" * len(CASCADE_TPR),
    ]
    tpr_alone = thr.set_index(["hasher", "transform"])["tpr"] if len(thr) else pd.Series(dtype=float)
    for r in oo.itertuples():
        if r.t1 < 0 or r.t2 < 0:
            continue
        cells = []
        for key in CASCADE_TPR:
            row = own[(own["hasher_1"] == r.hasher_1) & (own["hasher_2"] == r.hasher_2) & (own["transform"] == key)]
            both = row["tpr"].iloc[0] if len(row) else float("nan")
            a = tpr_alone.get((r.hasher_1, key), float("nan"))
            b = tpr_alone.get((r.hasher_2, key), float("nan"))
            cells.append(f"{both:.3f} ({a:.3f} / {b:.3f})")
        lines.append(f"| {r.hasher_1} ({r.t1}) | {r.hasher_2} ({r.t2}) | " + " | ".join(cells) + " |")
    lines += ["", "Cells: cascade (hasher 1 alone / hasher 2 alone).", ""]
    return "\n".join(lines)


def dihedral_section(folder: str) -> str:
    thr = _read(folder, "thresholds.csv")
    if thr is None:
        return ""
    sel = _own_rows(thr)
    dihedral = sorted(h for h in sel["hasher"].unique() if h.endswith("[dihedral]"))
    if not dihedral:
        return ""
    fpr = _read(folder, "fpr.csv")
    lines = [
        "## Dihedral matching: what matching through 8 rotations and flips buys and costs",
        "",
        "A dihedral hasher matches a query by the smallest distance over its 8 dihedral versions "
        "(rotations by 0/90/180/270 degrees, two flips, two transposes) against the reference's "
        "plain hash. Each at its own recommended threshold for FPR <= 1e-4, the dihedral one "
        "also at the plain one's threshold (the FPR paid for the same t), and PDQ also at 31, the "
        "threshold in common use.",
        "",
        "| hasher | t | orig-orig FPR [95%] | " + " | ".join(DIHEDRAL_TPR) + " |",
        "|---|---:|---|" + "---:|" * len(DIHEDRAL_TPR),
    ]

    def fpr_at(h, t):
        if fpr is None:
            return "-"
        row = fpr[(fpr["hasher"] == h) & (fpr["threshold"] == t)]
        if not len(row):
            return "-"
        r = row.iloc[0]
        return f"{_e(r['fpr'])} [{_e(r['fpr_lo'])}, {_e(r['fpr_hi'])}] ({int(r['fp']):,} pairs)"

    hist = _read(folder, "histograms.parquet")

    def tpr_at(h, key, t):
        rows = hist[(hist["hasher"] == h) & (hist["kind"] == "positive") & (hist["transform"] == key)]
        n = rows["count"].sum()
        return rows.loc[rows["distance"] <= t, "count"].sum() / n if n else float("nan")

    for d in dihedral:
        plain = d[: -len("[dihedral]")]
        if plain not in set(sel["hasher"]):
            continue
        t_plain = int(sel[sel["hasher"] == plain]["recommended_threshold"].iloc[0])
        t_dihedral = int(sel[sel["hasher"] == d]["recommended_threshold"].iloc[0])
        usual = [(h, USUAL[plain]) for h in (plain, d)] if plain in USUAL else []
        for h, t in dict.fromkeys(((plain, t_plain), (d, t_dihedral), (d, t_plain), *usual)):
            if t < 0:
                continue
            cells = " | ".join(f"{tpr_at(h, key, t):.3f}" for key in DIHEDRAL_TPR)
            lines.append(f"| {h} | {t} | {fpr_at(h, t)} | {cells} |")
    lines.append("")
    return "\n".join(lines)


def per_photo_section(folder: str) -> str:
    thr = _read(folder, "thresholds.csv")
    per_photo = _read(folder, "per_photo_rate.csv")
    if thr is None or per_photo is None:
        return ""
    sel = _own_rows(thr).drop_duplicates("hasher")
    per_photo = per_photo[per_photo["negatives"] == "orig-orig"].set_index(["hasher", "threshold"])
    lines = [
        "## Per photo versus per pair",
        "",
        "At each hasher's recommended threshold for FPR <= 1e-4: the per-pair FPR (a pair of different "
        "photos matches) and the per-photo rate (the share of photos that match at least one photo of "
        "another group in this set of originals), each with its 95% interval. 'If pairs were "
        "independent' is 1 - (1 - FPR)^(n - 1), the per-photo rate the per-pair FPR would imply.",
        "",
        "| hasher | t | per-pair FPR [95%] | per-photo rate [95%] | photos matching | if pairs were independent |",
        "|---|---:|---|---|---:|---:|",
    ]
    for r in sel.itertuples():
        t = int(r.recommended_threshold)
        if t < 0 or (r.hasher, t) not in per_photo.index:
            continue
        pp = per_photo.loc[(r.hasher, t)]
        pp = pp.iloc[0] if isinstance(pp, pd.DataFrame) else pp
        indep = 1 - (1 - r.fpr) ** (int(pp["photos"]) - 1)
        lines.append(
            f"| {r.hasher} | {t} | {_e(r.fpr)} [{_e(r.fpr_lo)}, {_e(r.fpr_upper)}] | "
            f"{pp['rate']:.4f} [{pp['low']:.4f}, {pp['high']:.4f}] | "
            f"{int(pp['photos_matching']):,} of {int(pp['photos']):,} | {indep:.4f} |"
        )
    lines.append("")
    return "\n".join(lines)


def neuralhash_section(folder: str) -> str:
    close = _read(folder, "close_pairs.parquet")
    if close is None or "neuralhash" not in set(close["hasher"]):
        return ""
    from harness.report.gallery import collision_sheet

    nh = close[(close["hasher"] == "neuralhash") & (close["kind"] == "orig-orig")]
    zero, within_1 = nh[nh["distance"] == 0], nh[nh["distance"] <= 1]
    images = _read(folder, "images.csv")
    sheet = os.path.join(folder, "figures", "collisions-neuralhash.png")
    written = collision_sheet(within_1, images, sheet, k=len(within_1)) if len(within_1) else None
    fpr = _read(folder, "fpr.csv")
    row = fpr[(fpr["hasher"] == "neuralhash") & (fpr["threshold"] == 0)].iloc[0]
    lines = [
        "## NeuralHash: natural collisions",
        "",
        f"Pairs of different photos (duplicate groups excluded) with identical NeuralHash (distance 0): "
        f"**{len(zero)}** of {int(row['n_neg']):,}, FPR(0) = {_e(row['fpr'])} [{_e(row['fpr_lo'])}, "
        f"{_e(row['fpr_hi'])}]; {int(row['fp_no_exclusion'])} without duplicate exclusion (the others are "
        f"pairs inside the duplicate screen's groups). Within 1 bit: {len(within_1)}; within 4 bits: "
        f"{int((nh['distance'] <= 4).sum())}.",
    ]
    if written:
        lines.append(
            "Every pair within 1 bit is on the contact sheet "
            "[collisions-neuralhash.png](figures/collisions-neuralhash.png): look before reading a "
            "distance-0 pair as a collision of different content."
        )
    lines.append("")
    return "\n".join(lines)


def matching_rules(folder: str) -> str:
    parts = [
        "# Matching rules as deployed",
        "",
        f"From `{folder}`; generated by `python tools/study.py --no-run` (tools/matching_rules.py).",
        "",
        cascades_section(folder),
        dihedral_section(folder),
        per_photo_section(folder),
        neuralhash_section(folder),
    ]
    return "\n".join(p for p in parts if p is not None)
