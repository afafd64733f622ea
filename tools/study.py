"""The reference study (issue 11): run it, then derive the headline table and
the Kodak24-versus-Caltech-101 comparison from the results folders.

From the repository root, with the datasets under ../shared/datasets::

    python tools/study.py            # run both experiments, then write the tables
    python tools/study.py --no-run   # only (re)write the tables from results/

Writes results/caltech101/headline.md (also copied into README.md between
the study-headline markers) and results/kodak24/comparison.md. Every figure is computed here from
histograms.parquet (exact counts per distance), not copied by hand:

- FPR(t) = (orig-orig pairs at distance <= t) / (all orig-orig pairs), with
  the metrics stage's default 95% interval from fpr.csv (pairs sharing a
  photo are dependent; harness.metrics.intervals.dependent_pair_interval),
  and beside it the Clopper-Pearson upper bound from scipy.stats.beta,
  labelled: it would hold only if pairs were independent. The same rate
  with no duplicate exclusion (fpr.csv's *_no_exclusion columns).
- recommended threshold for FPR <= 1e-4: the largest t whose default upper
  bound (and every smaller t's) is below 1e-4 (the metrics stage's rule);
  Clopper-Pearson's rule for a folder without fpr.csv.
- TPR(t) = (positive pairs, original vs its variant, at distance <= t) / n.
- AUC and EER: pooled positives of every transform spec (each spec has the
  same sampled images) against the orig-orig negatives
  (harness.metrics.auc_from_histograms / eer_from_histograms).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
from scipy.stats import beta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.metrics.intervals import recommend_threshold  # noqa: E402
from harness.metrics.roc import auc_from_histograms, eer_from_histograms  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matching_rules import matching_rules  # noqa: E402

CONFIDENCE = 0.95
TARGET_FPR = 1e-4
#: commonly used thresholds, with the sources in results/caltech101/LITERATURE.md
COMMON_THRESHOLDS = {"pdq": [31], "phash": [8, 10]}
COMMON_64 = [10]  # the generic "10 of 64 bits" rule of thumb, for the other 64-bit hashers
#: the headline transforms (one severity per family, named in the table header)
HEADLINE = [
    ("jpeg", "jpeg(40)"),
    ("resize", "resize(0.5)"),
    ("crop", "crop(0.8)"),
    ("rotate", "rotate(5)"),
    ("social", 'chain("social")'),
]


def clopper_pearson(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    a = 1 - confidence
    lo = 0.0 if k == 0 else float(beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def _hist(df: pd.DataFrame, length: int) -> np.ndarray:
    out = np.zeros(length, np.int64)
    np.add.at(out, df["distance"].to_numpy(), df["count"].to_numpy())
    return out


def hasher_histograms(hist: pd.DataFrame, hasher: str):
    """(bits, orig-orig histogram, {transform: positive histogram})."""
    h = hist[hist["hasher"] == hasher]
    bits = int(h["bits"].iloc[0])
    n = bits + 1
    oo = _hist(h[h["kind"] == "orig-orig"], n)
    pos = {t: _hist(g, n) for t, g in h[h["kind"] == "positive"].groupby("transform", sort=False)}
    return bits, oo, pos


def recommended(oo: np.ndarray, target: float = TARGET_FPR, fpr: pd.DataFrame | None = None, hasher: str = "") -> int:
    """The metrics stage's recommended threshold: the largest t whose upper
    bound of the default interval (fpr.csv's fpr_hi: pairs sharing a photo
    dependent) is below `target`, and that of every smaller t. Without
    fpr.csv (an older results folder): the Clopper-Pearson rule."""
    if fpr is not None and hasher in set(fpr["hasher"]):
        ups = fpr.loc[fpr["hasher"] == hasher].sort_values("threshold")["fpr_hi"].to_numpy()
        return recommend_threshold(ups, target)
    n = int(oo.sum())
    cum = np.cumsum(oo)
    ok = [t for t in range(len(oo)) if clopper_pearson(int(cum[t]), n)[1] <= target]
    return max(ok) if ok else -1


def fmt_interval(k: int, p: float, lo: float, hi: float) -> str:
    return f"{p:.2e} [{lo:.1e}, {hi:.1e}]" if k else f"0 [0, {hi:.1e}]"


def fpr_row(fpr: pd.DataFrame | None, hasher: str, t: int):
    if fpr is None:
        return None
    rows = fpr[(fpr["hasher"] == hasher) & (fpr["threshold"] == t)]
    return rows.iloc[0] if len(rows) else None


def fmt_default(fpr, hasher: str, t: int, k: int, n: int) -> str:
    """FPR at t with the default interval (fpr.csv); Clopper-Pearson,
    labelled, where fpr.csv has no row (t above keep_below)."""
    r = fpr_row(fpr, hasher, t)
    if r is None:
        return fmt_rate(k, n) + " (CP)"
    return fmt_interval(int(r["fp"]), float(r["fpr"]), float(r["fpr_lo"]), float(r["fpr_hi"]))


def fmt_no_exclusion(fpr, hasher: str, t: int) -> str:
    r = fpr_row(fpr, hasher, t)
    if r is None:
        return "-"
    return f"{int(r['fp_no_exclusion'])} pairs: " + fmt_interval(
        int(r["fp_no_exclusion"]),
        float(r["fpr_no_exclusion"]),
        float(r["fpr_no_exclusion_lo"]),
        float(r["fpr_no_exclusion_hi"]),
    )


def tpr(pos: np.ndarray, t: int) -> float:
    n = int(pos.sum())
    return float(pos[: t + 1].sum() / n) if n and t >= 0 else (0.0 if n else float("nan"))


def fmt_rate(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k / n:.2e} [{lo:.1e}, {hi:.1e}]" if k else f"0 [0, {hi:.1e}]"


def label(hasher: str, t: int) -> str:
    """The threshold as text: bits, or the distance value of a bin."""
    from harness.hashers import get_hasher

    h = get_hasher(hasher.split("[")[0])  # a label such as pdq[min_quality=50]: its registry name
    if t < 0:
        return "none (t=0 already above)"
    if getattr(h, "distance", "hamming") == "hamming":
        return str(t)
    # bin t holds the distances in (edges[t-1], edges[t]] (upper edges, see
    # harness.hashers.base.upper_edge_quantise): threshold t is d <= edges[t]
    return f"bin {t} ({h.distance} <= {float(h.bin_edges[t]):g})"


def _read_fpr(folder: str) -> pd.DataFrame | None:
    path = os.path.join(folder, "fpr.csv")
    return pd.read_csv(path) if os.path.exists(path) else None


def _per_photo(per_photo: pd.DataFrame, hasher: str, t: int) -> str:
    """The per-photo false-match rate at the recommended threshold t
    (thresholds.csv): the share of originals that match at least one
    original of another group."""
    if t < 0 or hasher not in per_photo.index or per_photo.at[hasher, "recommended_threshold"] != t:
        return "-"
    r = per_photo.loc[hasher]
    return f"{r['per_photo_rate']:.3f} [{r['per_photo_low']:.3f}, {r['per_photo_high']:.3f}]"


def headline(folder: str) -> tuple[pd.DataFrame, str]:
    from harness.metrics.granularity import distance_granularity, threshold_text

    hist = pd.read_parquet(os.path.join(folder, "histograms.parquet"))
    run = json.load(open(os.path.join(folder, "run.json")))
    fpr = _read_fpr(folder)
    per_photo = pd.DataFrame()
    if os.path.exists(os.path.join(folder, "thresholds.csv")):
        thr = pd.read_csv(os.path.join(folder, "thresholds.csv"), dtype={"severity": str})
        thr = thr[(thr["negatives"] == "orig-orig") & np.isclose(thr["target_fpr"], TARGET_FPR)]
        per_photo = thr.drop_duplicates("hasher").set_index("hasher")
    rows = []
    for hasher in dict.fromkeys(hist["hasher"]):
        bits, oo, pos = hasher_histograms(hist, hasher)
        n_oo = int(oo.sum())
        pooled = np.sum(list(pos.values()), axis=0)
        cum = np.cumsum(oo)
        base = hasher.split("[")[0]
        common = COMMON_THRESHOLDS.get(base, COMMON_64 if bits == 64 and base != "colorhash" else [])
        step = distance_granularity(oo)
        common_txt = (
            "; ".join(f"t={threshold_text(t, step)}: {fmt_default(fpr, hasher, t, int(cum[t]), n_oo)}" for t in common)
            or "none published"
        )
        no_excl = "; ".join(f"t={t}: {fmt_no_exclusion(fpr, hasher, t)}" for t in common) or "-"
        r = recommended(oo, fpr=fpr, hasher=hasher)
        k = int(cum[r]) if r >= 0 else 0
        cp_hi = clopper_pearson(k, n_oo)[1] if r >= 0 else float("nan")
        row = {
            "hasher": hasher,
            "bits": bits,
            "orig-orig pairs": n_oo,
            "AUC": auc_from_histograms(pooled, oo),
            "EER": eer_from_histograms(pooled, oo),
            "FPR at common threshold [95%]": common_txt,
            "same, no duplicate exclusion": no_excl,
            "threshold for FPR<=1e-4": label(hasher, r)
            if r < 0 or "bin" in label(hasher, r)
            else threshold_text(r, step),
            "FPR there [95%]": fmt_default(fpr, hasher, r, k, n_oo) if r >= 0 else "-",
            "CP upper (if pairs were independent)": f"{cp_hi:.1e}" if r >= 0 else "-",
            "photos with a false match there [95%]": _per_photo(per_photo, hasher, r),
        }
        for name, key in HEADLINE:
            p = pos.get(key)
            row[f"TPR {name} {key}"] = tpr(p, r) if p is not None and r >= 0 else float("nan")
        rows.append(row)
    table = pd.DataFrame(rows)
    vs = run.get("variant_sample") or {}
    n_var = vs.get("images", run["dataset"]["images_hashed"])
    lines = [
        f"Caltech-101: {run['dataset']['images_hashed']} images, orig-orig pairs exact; positives: "
        f"{n_var} images x {len(run['transforms'])} transform specs "
        f"(TPR columns: n = {n_var} each). Generated by `python tools/study.py --no-run`.",
        "",
        "Intervals are 95% and treat pairs that share a photo as dependent (fpr.csv's default: "
        "Clopper-Pearson at the effective sample size of the dyadic variance, docs: Intervals); "
        "'(CP)' marks a Clopper-Pearson interval, valid only if pairs were independent. "
        "The threshold is the largest t whose upper bound (and every smaller t's) is below 1e-4: "
        "deterministic, no random draw. 'No duplicate exclusion' counts the pairs inside the "
        "duplicate screen's groups as negatives too. Thresholds of hashers whose distances are "
        "all even read '31 (= 30, distances are even)'. pdq[min_quality=50] is PDQ with Meta's "
        "quality gate (photos under quality 50 are errors, not hashes); pdq is without it. "
        "'Photos with a false match' is per photo, not per pair: the share of the originals that "
        "match at least one original of another group at that threshold (harness.metrics.per_photo).",
        "",
    ]
    cols = list(table.columns)
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for _, row in table.iterrows():
        cells = []
        for c in cols:
            v = row[c]
            if isinstance(v, float):
                cells.append("-" if v != v else f"{v:.3f}" if c in ("AUC", "EER") or c.startswith("TPR") else f"{v:g}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return table, "\n".join(lines) + "\n"


def breaking_severity(pos: dict, specs: list, t: int, level: float = 0.5):
    """Mildest severity (in sweep order) whose TPR at t is below level."""
    for key in specs:
        if key in pos and tpr(pos[key], t) < level:
            return key
    return None


def compare(
    caltech: str, kodak: str, hashers=("phash", "pdq", "dhash", "ahash", "whash", "crop_resistant", "neuralhash")
) -> str:
    """TPR versus severity on Kodak24 against Caltech-101, each at the
    Caltech-101 threshold for FPR <= 1e-4 (Kodak's 276 pairs cannot set one)."""
    hc = pd.read_parquet(os.path.join(caltech, "histograms.parquet"))
    hk = pd.read_parquet(os.path.join(kodak, "histograms.parquet"))
    rk = json.load(open(os.path.join(kodak, "run.json")))
    rc = json.load(open(os.path.join(caltech, "run.json")))
    spec_order = [t["key"] for t in rk["transforms"]]
    fam_of = {
        t["key"]: t["key"].split("(")[0]
        + ("" if not t.get("params") else "[" + ",".join(f"{k}={v}" for k, v in sorted(t["params"].items())) + "]")
        for t in rk["transforms"]
    }
    out = [
        "# Kodak24 (768x512) against Caltech-101 (median ~300x225): does TPR versus severity hold?",
        "",
        "Generated by `python tools/study.py --no-run` from results/caltech101 and results/kodak24.",
        "Both at the **Caltech-101 threshold for FPR <= 1e-4** (Kodak24's 24 images give 276 orig-orig",
        "pairs: the smallest non-zero FPR it can show is 1/276 = 3.6e-3, so it cannot set or check a",
        "1e-4 threshold, and no false-positive rate from it is reported here).",
        f"n = {(rc.get('variant_sample') or {}).get('images', '?')} Caltech images per spec, "
        f"24 Kodak images per spec. 'Differs' = the two 95% Clopper-Pearson intervals do not overlap.",
        "",
    ]
    summary = []
    for hasher in hashers:
        if hasher not in set(hc["hasher"]) or hasher not in set(hk["hasher"]):
            continue
        _, oo, pc = hasher_histograms(hc, hasher)
        _, _, pk = hasher_histograms(hk, hasher)
        t = recommended(oo, fpr=_read_fpr(caltech), hasher=hasher)
        if t < 0:
            out += [
                f"## {hasher}",
                "",
                "No Caltech-101 threshold reaches FPR <= 1e-4 (even distance 0 is "
                "above it), so there is nothing to compare at that threshold.",
                "",
            ]
            continue
        rows, n_diff, n_all = [], 0, 0
        for key in spec_order:
            if key not in pc or key not in pk:
                continue
            n_all += 1
            kc, nc = int(pc[key][: t + 1].sum()), int(pc[key].sum())
            kk, nk = int(pk[key][: t + 1].sum()), int(pk[key].sum())
            lc, uc = clopper_pearson(kc, nc)
            lk, uk = clopper_pearson(kk, nk)
            if uc < lk or uk < lc:
                n_diff += 1
                rows.append(f"| {key} | {kc / nc:.2f} [{lc:.2f}, {uc:.2f}] | {kk / nk:.2f} [{lk:.2f}, {uk:.2f}] |")
        fams = dict.fromkeys(fam_of[k] for k in spec_order)
        brk = []
        for fam in fams:
            keys = [k for k in spec_order if fam_of[k] == fam]
            bc, bk = breaking_severity(pc, keys, t), breaking_severity(pk, keys, t)
            if bc != bk:
                brk.append(f"{fam}: Caltech {bc or 'never'} vs Kodak {bk or 'never'}")
        out += [
            f"## {hasher} (threshold {label(hasher, t)}, from Caltech-101 orig-orig)",
            "",
            f"{n_diff} of {n_all} transform specs differ significantly.",
            "",
        ]
        if rows:
            out += ["| spec | TPR Caltech-101 [95% CP] | TPR Kodak24 [95% CP] |", "|---|---|---|"] + rows + [""]
        out += ["First severity (mildest first) where TPR falls below 0.5, where the two sets disagree:", ""]
        out += [f"- {b}" for b in brk] or ["- none: the same breaking severity in every family"]
        out.append("")
        summary.append((hasher, n_diff, n_all, len(brk), len(fams)))
    out += [
        "## Summary",
        "",
        "| hasher | specs differing | families with a different breaking severity |",
        "|---|---|---|",
    ]
    out += [f"| {h} | {d} of {a} | {b} of {f} |" for h, d, a, b, f in summary]
    return "\n".join(out) + "\n"


def parity(folder: str) -> str:
    """Share of orig-orig pairs at an odd Hamming distance per 64-bit
    imagehash hasher (imagehash issue #211: pHash distances are all even)."""
    hist = pd.read_parquet(os.path.join(folder, "histograms.parquet"))
    lines = [
        "| hasher | orig-orig pairs | pairs at odd distance | positive pairs at odd distance |",
        "|---|---|---|---|",
    ]
    for hasher in ("phash", "phash_simple", "ahash", "dhash", "whash"):
        h = hist[(hist["hasher"] == hasher) & (hist["bits"] == 64)]
        if not len(h):
            continue
        oo = h[h["kind"] == "orig-orig"]
        pos = h[h["kind"] == "positive"]
        lines.append(
            f"| {hasher} | {int(oo['count'].sum())} | {int(oo.loc[oo['distance'] % 2 == 1, 'count'].sum())} | "
            f"{int(pos.loc[pos['distance'] % 2 == 1, 'count'].sum())} of {int(pos['count'].sum())} |"
        )
    return (
        "Parity of Hamming distances (generated by `python tools/study.py --no-run` from histograms.parquet)."
        "\n\n" + "\n".join(lines) + "\n"
    )


BEGIN, END = "<!-- study-headline:begin -->", "<!-- study-headline:end -->"


def update_readme(md: str, path: str = "README.md") -> bool:
    """Replace the text between the study-headline markers of README.md."""
    text = open(path, encoding="utf-8").read()
    if BEGIN not in text or END not in text:
        return False
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(head + BEGIN + "\n" + md + END + tail)
    return True


STUDY_NOTE = """
## Reference study: scope, literature, cross-checks

This folder is the reference study (issue 11; variants for a seeded
1,000-image sample, every original): see
[README.md](README.md) for what was run and what was left out, the
[headline table](headline.md), the [comparison with published figures](LITERATURE.md),
the [Kodak24 robustness comparison](../kodak24/comparison.md) and the
[cross-check against thorn's perception](../perception-crosscheck/crosscheck.md).
"""


def link_report(folder: str) -> None:
    """Append the study note to report.md and report.html (once)."""
    import html as _html

    md = os.path.join(folder, "report.md")
    if os.path.exists(md):
        text = open(md, encoding="utf-8").read()
        if "## Reference study: scope" not in text:
            with open(md, "a", encoding="utf-8") as fh:
                fh.write(STUDY_NOTE)
    page = os.path.join(folder, "report.html")
    if os.path.exists(page):
        text = open(page, encoding="utf-8").read()
        if "Reference study: scope" not in text and "</body>" in text:
            links = [
                ("README.md", "what was run"),
                ("headline.md", "headline table"),
                ("LITERATURE.md", "published figures"),
                ("../kodak24/comparison.md", "Kodak24 comparison"),
                ("../perception-crosscheck/crosscheck.md", "perception cross-check"),
            ]
            note = (
                "<section><h2>Reference study: scope, literature, cross-checks</h2><p>Reference study "
                "(issue 11; variants for a seeded 1,000-image sample): "
                + ", ".join(f'<a href="{_html.escape(h)}">{_html.escape(t)}</a>' for h, t in links)
                + ".</p></section>"
            )
            text = text.replace("</body>", note + "</body>", 1)
            with open(page, "w", encoding="utf-8") as fh:
                fh.write(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-run", action="store_true", help="only write the tables from existing results")
    ap.add_argument("--workers", type=int, default=None)
    args = ap.parse_args(argv)
    os.chdir(ROOT)
    if not args.no_run:
        for cfg in ("results/caltech101/experiment.yaml", "results/kodak24/experiment.yaml"):
            cmd = [sys.executable, "-m", "harness", "run", "--config", cfg]
            if args.workers:
                cmd += ["--workers", str(args.workers)]
            env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
            rc = subprocess.call(cmd, env=env)
            if rc not in (0, 1):
                return rc
    if os.path.exists("results/caltech101/histograms.parquet"):
        _, md = headline("results/caltech101")
        with open("results/caltech101/headline.md", "w", encoding="utf-8") as fh:
            fh.write(md)
        update_readme(md)
        with open("results/caltech101/parity.md", "w", encoding="utf-8") as fh:
            fh.write(parity("results/caltech101"))
        link_report("results/caltech101")
        with open("results/caltech101/matching_rules.md", "w", encoding="utf-8") as fh:
            fh.write(matching_rules("results/caltech101"))
        print(md)
    if os.path.exists("results/kodak24/histograms.parquet") and os.path.exists("results/caltech101/histograms.parquet"):
        with open("results/kodak24/comparison.md", "w", encoding="utf-8") as fh:
            fh.write(compare("results/caltech101", "results/kodak24"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
