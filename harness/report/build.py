"""Lay out the report: format the numbers of the report's model
(harness.report.model, computed once by `build_model`) as document blocks
(harness.report.document renders them as markdown and HTML), and draw and
save the figures. Nothing here computes a rate or a threshold.
"""

from __future__ import annotations

import json
import math
import os
import warnings

import numpy as np
import pandas as pd

from ..results import FIGURES
from . import figures as F
from .firstscreen import first_screen_blocks
from .model import ReportModel, build_model, pair_counts
from .style import save_figure
from .summary import interval_columns

NM = "not measurable"
GALLERY_K = 12
#: at most this many pairs of each hasher in the report's gallery (every
#: hasher gets its closest pairs, and the page stays small)
GALLERY_PER_HASHER = 4

HOW_TO_READ = [
    "A perceptual hash turns a photo into a short string of bits (e.g. 64) that changes little when the "
    "photo is edited. Two photos *match* at threshold t when their hashes differ in at most t bits (the "
    "Hamming distance).",
    "A *positive pair* is a photo and an edited copy of it (re-compressed, resized, cropped...); it should "
    "match. A *negative pair* is two different photos; it should not. The true-positive rate (TPR, or "
    "recall) is the share of positive pairs that match; the false-positive rate (FPR) the share of negative "
    "pairs that match. Raising t raises both.",
    "`variant-orig` negatives compare an edited photo with the originals of *other* photos: what a "
    "scanning system does when it compares a user's photo with a database. `orig-orig` negatives compare "
    "unedited photos with each other (natural collisions).",
    "Every pair is counted (no sampling), so the FPRs here are exact *for this set of photos*. As estimates "
    "for other photos they are uncertain: intervals in [brackets] are 95%. The first screen's orig-orig "
    "intervals and the recommended thresholds treat pairs that share a photo as dependent; intervals "
    "labelled Clopper-Pearson treat pairs as independent, and pairs share photos, so for pair rates the "
    "true uncertainty is larger than they show. A "
    "rate smaller than 1 / (number of negative pairs) cannot be observed at all: it is shown as "
    f'*{NM}*, never as an extrapolated number. A deployment-scale claim such as "one in a trillion" '
    "needs far more photos than any table here.",
]


# ----------------------------------------------------------------- formatting
def fmt(x, digits: int = 4) -> str:
    if x is None:
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        if math.isnan(x):
            return NM
        if float(x).is_integer() and abs(x) < 1e15:
            return str(int(x))
        return f"{x:.{digits}g}"
    if isinstance(x, (bytes, bytearray)):
        return x.hex()[:16] + ("..." if len(x) > 8 else "")
    return str(x)


def fmt_ci(v, lo, hi) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return NM
    text = f"{v:.3g}"
    if lo is not None and hi is not None and not (math.isnan(lo) or math.isnan(hi)):
        text += f" [{lo:.3g}, {hi:.3g}]"
    return text


def fmt_threshold(t, unit: str = "bits", text: str | None = None) -> str:
    """A threshold cell: "not measurable", "none", or `text` (the model's
    effective-threshold text, e.g. "31 (= 30, distances are even)") or t."""
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return NM
    if int(t) < 0:
        return "none"
    return text if isinstance(text, str) else f"{int(t)}"


def generic_rows(df: pd.DataFrame, limit: int | None = None) -> tuple[list, list]:
    df = df if limit is None else df.head(limit)
    cols = [c for c in df.columns if not (len(df) and isinstance(df[c].iat[0], (bytes, bytearray)))]
    return cols, [[fmt(v) for v in row] for row in df[cols].itertuples(index=False, name=None)]


# --------------------------------------------------------------------- tables
def summary_rows(summary: pd.DataFrame, data) -> tuple[list, list]:
    points = sorted(
        {
            float(c[len("tpr_at_fpr_") :])
            for c in summary.columns
            if c.startswith("tpr_at_fpr_") and not c.endswith(("_lo", "_hi"))
        },
        reverse=True,
    )
    header = ["hasher", "bits", "positive pairs", "negative pairs", "AUC", "EER"]
    header += [f"TPR at FPR {x:g}" for x in points]
    header += ["threshold t", "FPR at t", "TPR at t", "orig-orig matches at t"]
    with_rec = "recommended_threshold" in summary.columns and summary["recommended_threshold"].notna().any()
    if with_rec:
        header += ["recommended t (metrics stage)"]
    rows = []
    for r in summary.to_dict("records"):
        row = [r["hasher"], str(r["bits"]), str(r["n_pos"]), str(r["n_neg"]), fmt(r["auc"]), fmt(r["eer"])]
        for x in points:
            c = f"tpr_at_fpr_{x:g}"
            row.append(fmt_ci(r[c], r[c + "_lo"], r[c + "_hi"]))
        row.append(fmt_threshold(r["threshold"], data.distance_unit(r["hasher"]), r.get("threshold_text")))
        row.append(fmt_ci(r["fpr_at_threshold"], r["fpr_at_threshold_lo"], r["fpr_at_threshold_hi"]))
        row.append(fmt_ci(r["tpr_at_threshold"], r["tpr_at_threshold_lo"], r["tpr_at_threshold_hi"]))
        oo = r["orig_orig_matches"]
        row.append(NM if isinstance(oo, float) and math.isnan(oo) else f"{int(oo)} of {int(r['orig_orig_pairs'])}")
        if with_rec:
            row.append(fmt_threshold(r["recommended_threshold"], text=r.get("recommended_threshold_text")))
        rows.append(row)
    return header, rows


def per_transform_rows(model: ReportModel) -> tuple[list, list]:
    """variant-orig rows of metrics.csv, intervals appended in brackets when
    metrics.csv has interval columns."""
    m = model.per_transform
    value_cols = [c for c in ["auc", "eer"] if c in m.columns]
    value_cols += [c for c in m.columns if c.startswith("tpr_at_fpr_") and not _is_interval(c, m)]
    value_cols += [c for c in ["threshold_at_target", "tpr_at_threshold", "fpr_at_threshold"] if c in m.columns]
    rec = model.recommended_column
    if rec and rec not in value_cols:
        value_cols.append(rec)
        value_cols += [c for c in ("tpr_at_recommended",) if c in m.columns]
    header = ["hasher", "transform", "n_pos", "n_neg"] + value_cols
    rows = []
    for _, r in m.iterrows():
        row = [str(r["hasher"]), str(r["transform"]), fmt(r.get("n_pos")), fmt(r.get("n_neg"))]
        for c in value_cols:
            if c == "tpr_at_recommended" and rec and pd.notna(r[rec]) and r[rec] < 0:
                row.append("no threshold")
                continue
            if "threshold" in c and "tpr" not in c and "fpr" not in c:
                row.append(fmt_threshold(r[c]))
                continue
            ic = interval_columns(m, c)
            row.append(fmt_ci(r[c], r[ic[0]], r[ic[1]]) if ic else fmt(r[c]))
        rows.append(row)
    return header, rows


def _is_interval(col: str, df: pd.DataFrame) -> bool:
    for suf in (
        "_lo",
        "_hi",
        "_cp_lo",
        "_cp_hi",
        "_ci_lo",
        "_ci_hi",
        "_boot_lo",
        "_boot_hi",
        "_low",
        "_high",
        "_upper",
        "_text",
    ):
        if col.endswith(suf) and col[: -len(suf)] in df.columns:
            return True
    return False


# --------------------------------------------------------------- what was run
def dataset_license(run_info: dict) -> str:
    ds = run_info.get("dataset", {})
    if ds.get("license"):
        return str(ds["license"])
    if ds.get("source") == "sample":
        return "photographs shipped with scikit-image (see scikit-image's data README for each image's license)"
    path = ds.get("path")
    if path:
        for folder in (path, os.path.dirname(os.path.normpath(path))):
            src = os.path.join(folder, "SOURCE.md")
            if os.path.isfile(src):
                with open(src, encoding="utf-8", errors="replace") as fh:
                    for line in fh:
                        if "licen" in line.lower():
                            return line.strip().lstrip("-* ").replace("**", "") + " (from SOURCE.md)"
    return "not recorded"


def what_was_run(data, pc: dict | None = None) -> list:
    """The run's facts (run.json) as a list; pc: `pair_counts` (computed when not given)."""
    info = data.run_info
    ds = info.get("dataset", {})
    counts = info.get("counts", {})
    pc = pair_counts(data) if pc is None else pc
    timings = info.get("timings_seconds", {})
    versions = info.get("versions", {})
    hashers = ", ".join(
        f"{h.get('name')} ({h.get('bits')} bits, {h.get('backend', '')}, version "
        f"{h.get('version', '?')}" + (f", params {h['params']}" if h.get("params") else "") + ")"
        for h in info.get("hashers", [])
    )
    items = [
        f"experiment `{info.get('name', '')}`, seed {info.get('seed')}",
        f"dataset: `{ds.get('source')}` {ds.get('path') or ''}".rstrip(),
        f"manifest sha256 (of the image list): `{ds.get('manifest_sha256')}`",
        f"license: {dataset_license(info)}",
        f"images: {ds.get('images_listed')} listed, {ds.get('images_hashed')} hashed, {ds.get('images_failed')} failed",
        f"variants per hasher: {counts.get('variants')}; hashes computed: {counts.get('hash_rows')}; "
        f"errors recorded: {counts.get('errors', 0)}",
        f"pairs per hasher: {pc['positive']} positive, {pc['variant-orig']} variant-orig negative, "
        f"{pc['orig-orig']} orig-orig negative (all counted exactly)",
        f"hashers: {hashers}",
        "transforms: " + ", ".join(t.get("key", "") for t in info.get("transforms", [])),
        "run time: "
        + (f"{timings['total']:.1f} s" if "total" in timings else "not recorded")
        + (
            " (" + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(timings.items()) if k != "total") + ")"
            if len(timings) > 1
            else ""
        ),
        "library versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()) if v),
    ]
    plat = info.get("platform")
    if plat:

        def show(v):
            return "(" + "; ".join(f"{a} {b}" for a, b in sorted(v.items())) + ")" if isinstance(v, dict) else v

        items.append("platform: " + ", ".join(f"{k} {show(v)}" for k, v in sorted(plat.items())))
    return [("ul", items)]


# ---------------------------------------------------------------------- build
def _draw(fig_dir: str, name: str, make, formats=("png",)) -> str | None:
    """Draw and save one figure into `fig_dir`; None, or the error text if
    it failed. `make` returns a matplotlib figure (saved here in each of
    `formats`), or None when it wrote its own file (the collision gallery).
    An SVG of an earlier report is removed when no SVG is asked for."""
    if "svg" not in formats:
        stale = os.path.join(fig_dir, name + ".svg")
        if os.path.isfile(stale):
            os.remove(stale)
    try:
        fig = make()
        if fig is not None:
            save_figure(fig, os.path.join(fig_dir, name), formats)
    except Exception as exc:  # noqa: BLE001 - reported in the document and as a warning
        return f"{type(exc).__name__}: {exc}"
    return None


#: figure jobs of the build in progress, read by forked drawing processes
_JOBS: list = []


def _draw_job(i: int) -> str | None:
    fig_dir, name, make, _, formats = _JOBS[i]
    return _draw(fig_dir, name, make, formats)


def draw_figures(jobs: list, processes: int = 1) -> list:
    """Draw every (figure folder, name, make, caption, formats) job;
    returns the error text
    (or None) per job, in order. With processes > 1 (and fork available) the
    jobs are shared among that many forked copies of this process, which
    inherit the loaded data and matplotlib settings; every figure is drawn
    by the same code with the same fixed metadata, so the files are
    byte-identical to drawing them here (tests compare them)."""
    processes = max(1, min(int(processes or 1), len(jobs)))
    if processes > 1:
        import multiprocessing

        try:
            ctx = multiprocessing.get_context("fork")
        except ValueError:  # no fork on this platform
            ctx = None
        if ctx is not None:
            _JOBS[:] = jobs
            # the slowest job (the gallery, which decodes photos) first, the
            # rest in order; results are returned in job order
            order = sorted(range(len(jobs)), key=lambda i: jobs[i][1] != "gallery")
            try:
                with ctx.Pool(processes) as pool:
                    done = pool.map(_draw_job, order, chunksize=1)
            finally:
                _JOBS.clear()
            errors: list = [None] * len(jobs)
            for i, err in zip(order, done):
                errors[i] = err
            return errors
    return [_draw(fig_dir, name, make, formats) for fig_dir, name, make, _, formats in jobs]


def _figure_block(name: str, caption: str, error: str | None, saved: list, svg: bool) -> list:
    """The document block of one drawn figure. A figure that fails does not
    sink the report (or the run that called it): the report says which
    figure is missing and why, and a warning is issued."""
    if error is not None:
        warnings.warn(f"report figure {name} failed: {error}", RuntimeWarning, stacklevel=3)
        return [("p", f"Figure `{name}` could not be drawn: {error}")]
    saved.append(name)
    return [("figure", f"{FIGURES}/{name}", caption, svg)]


def build_blocks(data, processes: int = 1, formats=("png",)) -> tuple[list, list]:
    """Draw every figure into data.folder/figures and return (blocks,
    figure names). processes: how many processes draw the figures (see
    `draw_figures`); formats: file formats of each figure ("png", "svg")."""
    fig_dir = data.path(FIGURES)
    model = build_model(data)
    saved: list = []
    jobs: list = []
    target, summary, thresholds = model.target, model.summary, model.thresholds
    rob_fpr, rob_reason = model.robustness_fpr, model.robustness_reason
    blocks = [("h", 1, model.title)]
    blocks += first_screen_blocks(data, model)
    blocks += explorer_blocks(data, model)
    blocks += [("h", 2, "How to read this")] + [("p", t) for t in HOW_TO_READ]
    blocks += [("h", 2, "What was run")] + what_was_run(data, model.pair_counts)

    if not model.has_positives:
        blocks += no_positives_blocks(model)
        blocks += thresholds_blocks(model)
        return _finish_blocks(data, blocks, saved, _gallery_error(data, draw_figures(_gallery_jobs(data))))

    blocks += [("h", 2, "Summary per hasher")]
    header, rows = summary_rows(summary, data)
    blocks += [
        (
            "p",
            "All edits of this run pooled (positives: every variant against its own original; "
            "negatives: every variant against the originals of the other photos). Threshold t: the "
            f"largest t whose pooled FPR is at most the run's target {target:g} (a point estimate); "
            "distances in bits. [brackets]: 95% Clopper-Pearson intervals.",
        )
    ]
    if "recommended_threshold" in summary.columns and summary["recommended_threshold"].notna().any():
        src = summary.loc[summary["recommended_threshold"].notna(), "recommended_from"].iat[0]
        blocks += [
            (
                "p",
                f"*Recommended t (metrics stage)*, from {src}: the largest t whose FPR *upper "
                "bound* stays below the target, a conservative rule; `none` means that with this "
                "many negative pairs no threshold can be shown to meet the target (with zero "
                "matches among n pairs the 95% upper bound is still about 3/n).",
            )
        ]
    blocks += [("table", header, rows)]
    blocks += thresholds_blocks(model)

    blocks += [("h", 2, "Results per transform")]
    header, rows = per_transform_rows(model)
    blocks += [
        (
            "p",
            "variant-orig negatives; `threshold_at_target` is the largest t (bits) whose FPR on "
            f"this edit's negatives is at most {target:g} (`none`: even t = 0 exceeds it)"
            + (
                "; `recommended_threshold` is the metrics stage's conservative choice (FPR upper "
                "bound below the target; `none`: not achievable with this many pairs)"
                if model.recommended_column
                else ""
            )
            + ". The full table, with orig-orig negatives too, is metrics.csv.",
        )
    ]
    blocks += [("table", header, rows)]

    if data.families and data.hashers:

        def figure(name, make, caption):  # drawn below, all at once
            blocks.append(("pending-figure", len(jobs)))
            jobs.append((fig_dir, name, make, caption, tuple(formats)))

        blocks += [("h", 2, "Robustness against severity")]
        figure(
            "robustness",
            lambda: F.robustness(data, rob_fpr, by="family"),
            f"Robustness: TPR at {rob_reason} against severity, one panel per transform family, one line "
            "per hasher. Gaps are points that cannot be measured.",
        )
        figure(
            "robustness-by-hasher",
            lambda: F.robustness(data, rob_fpr, by="hasher"),
            f"The same numbers per hasher: TPR at FPR {rob_fpr:g}, one line per family, x = step of the "
            "family's sweep from mildest to most severe.",
        )
        blocks += [("h", 2, "Hasher x family at a middle severity")]
        figure(
            "heatmap",
            lambda: F.heatmap(data, rob_fpr)[0],
            f"TPR at FPR {rob_fpr:g} for each hasher (rows) and transform family (columns) at the middle "
            "of the family's sweep; grey 'n/m' = not measurable.",
        )

        blocks += [("h", 2, "ROC curves")]
        figure(
            "roc",
            lambda: F.roc_overview(data, thresholds),
            "ROC per transform family, all severities of the family pooled, one curve per hasher; FPR on "
            "a log axis (points with FPR = 0 cannot be drawn on it); the dot is the hasher's threshold t "
            "from the summary table.",
        )
        for family in data.families:
            figure(
                f"roc-{_slug(family)}",
                lambda family=family: F.roc_family(data, family, thresholds),
                f"ROC for {family}, one panel per hasher, one curve per severity.",
            )

        blocks += [("h", 2, "DET curves")]
        blocks += [
            (
                "p",
                "A DET plot shows the two error rates, false negatives against false positives, on "
                "normal-deviate axes (labelled in rates), which turns the curves into near-straight "
                "lines and spreads out the small rates that matter for deployment. Lower left is "
                "better.",
            )
        ]
        for family in data.families:
            figure(
                f"det-{_slug(family)}",
                lambda family=family: F.det_family(data, family, thresholds),
                f"DET for {family}, one panel per hasher, one curve per severity.",
            )

        joint = data.table("joint_histograms.parquet")
        if joint is not None and len(joint):
            blocks += [("h", 2, "Two-hash rules")]
            blocks += [
                (
                    "p",
                    "A match under the AND rule needs both hashes within their thresholds. Left: the "
                    "measured orig-orig FPR of the rule at every (t1, t2); right: what the two "
                    "hashers' own FPRs would give if their false matches were independent. Where the "
                    "left panel's iso-FPR lines lie further out than the right one's, a second hash "
                    "removes fewer false matches than the product promises (cascades.csv).",
                )
            ]
            for h1, h2 in sorted(set(zip(joint["hasher_1"], joint["hasher_2"]))):
                figure(
                    f"cascade-{_slug(h1)}-{_slug(h2)}",
                    lambda h1=h1, h2=h2: F.cascade_fpr(data, h1, h2),
                    f"AND rule of {h1} and {h2}: measured FPR (left) and the independence prediction "
                    "(right), log colour scale, iso-FPR lines; blank cells: no matching pair.",
                )

        blocks += [("h", 2, "Distance histograms")]
        figure(
            "histograms",
            lambda: F.distance_histograms(data, thresholds, summary),
            "Share of pairs at each Hamming distance (bits): positives (all edits pooled) in the hasher's "
            "colour, variant-orig negatives in black, orig-orig negatives grey dashed; the dotted vertical "
            "line is the threshold t (pairs left of it match).",
        )

    n_figures = len(jobs)
    jobs += _gallery_jobs(data)
    errors = draw_figures(jobs, processes)
    drawn = []
    for b in blocks:
        if b[0] == "pending-figure":
            _, name, _, caption, fmts = jobs[b[1]]
            drawn += _figure_block(name, caption, errors[b[1]], saved, "svg" in fmts)
        else:
            drawn.append(b)
    return _finish_blocks(data, drawn, saved, _gallery_error(data, errors[n_figures:]))


def explorer_blocks(data, model: ReportModel) -> list:
    """The interactive explorer (report.html only; see harness.report.explorer)."""
    from .explorer import explorer_html

    page = explorer_html(data, model)
    if not page:
        return []
    return [
        ("h", 2, "Explore thresholds and risk"),
        (
            "raw",
            page,
            "The interactive threshold and risk explorer is in report.html (it needs JavaScript; "
            "the tables below give the same numbers at fixed thresholds).",
        ),
    ]


def _finish_blocks(data, blocks: list, saved: list, gallery_error: str | None) -> tuple[list, list]:
    """The sections every report ends with: gallery, risk, errors, other
    tables, configuration. gallery_error: the error text of the gallery
    job, if it ran and failed."""
    blocks += gallery_blocks(data, saved, gallery_error)
    blocks += risk_blocks(data)
    blocks += errors_blocks(data)
    blocks += other_tables_blocks(data)
    blocks += [
        ("h", 2, "Configuration"),
        ("code", json.dumps(data.run_info.get("config", {}), indent=2, sort_keys=True)),
    ]
    return blocks, saved


def no_positives_blocks(model: ReportModel) -> list:
    """A run without transforms (``transforms: []``): no positive pairs, so
    no TPR, AUC, EER, ROC or DET; only the false positives among the
    originals (orig-orig rows of metrics.csv)."""
    target = model.target
    rows = []
    for r in model.originals.to_dict("records"):
        t = r.get("threshold_at_target")
        rec = r.get("recommended_threshold")
        rows.append(
            [
                str(r["hasher"]),
                fmt(r["bits"]),
                fmt(r["n_neg"]),
                "not measurable" if pd.isna(t) else ("none" if t < 0 else str(int(t))),
                str(r.get("fpr_at_threshold_text", fmt(r.get("fpr_at_threshold")))),
                "" if rec is None or pd.isna(rec) else ("none" if rec < 0 else str(int(rec))),
            ]
        )
    return [
        ("h", 2, "False positives among the originals (no transforms)"),
        (
            "p",
            "This run has no transforms, so there are **no positive pairs**: no TPR, AUC, EER, ROC or "
            "DET curve can be computed. What it measures is the false-positive side only: every pair of "
            "distinct originals in different groups (orig-orig negatives), counted exactly. "
            f"`t at target`: the largest t whose FPR among these pairs is at most {target:g} (point "
            "estimate); `recommended t`: the largest t whose FPR upper bound stays below it "
            "(`none`: not achievable with this many pairs).",
        ),
        ("table", ["hasher", "bits", "orig-orig pairs", "t at target", "FPR at t [interval]", "recommended t"], rows),
    ]


#: tables of other stages that are listed but not printed in full, and why
NOT_PRINTED = {
    "roc.csv": "every ROC point with intervals and DET coordinates (the figures above draw it)",
    "extrapolation.csv": "binomial-model FPRs beyond the measurable range: a model, not a measurement, "
    "so it is not printed next to measured figures",
    "thresholds.csv": "shown above under 'Recommended thresholds'",
    "per_photo_rate.csv": "the share of photos that falsely match at least one other photo, at every threshold "
    "(thresholds.csv has it at the recommended threshold)",
    "collisions.csv": "shown in the collision gallery",
    "risk_sweep.csv": "drawn in the risk figure",
    "risk_query.csv": "drawn in the risk figure",
}
DIAGNOSTIC_COLUMNS = [
    "hasher",
    "bits",
    "n_pairs",
    "impostor_mean",
    "impostor_var",
    "bit_bias_mean_abs",
    "n_constant_bits",
    "corr_mean_abs",
    "daugman_dof",
    "dof_ideal",
]


def thresholds_blocks(model: ReportModel) -> list:
    """thresholds.csv (metrics stage): recommended t per hasher and the TPR
    it buys per transform, at the target FPR closest to the run's."""
    sub = model.recommended
    if sub is None:
        return []
    tgt = sub["target_fpr"].iat[0]
    head = sub.drop_duplicates("hasher")
    rows = []
    per_photo = int("per_photo_rate" in sub.columns and bool(sub["per_photo_rate"].notna().any()))
    for r in head.to_dict("records"):
        t = r["recommended_threshold"]
        photo = (
            [fmt_ci(r["per_photo_rate"], r.get("per_photo_low"), r.get("per_photo_high"))]
            if per_photo and pd.notna(r.get("per_photo_rate"))
            else [""] * per_photo
        )
        if pd.isna(t) or t < 0:
            rows.append([r["hasher"], str(r.get("negatives", "")), "none", f"(of {fmt(r.get('n_neg'))})", "", *photo])
        else:
            rows.append(
                [
                    r["hasher"],
                    str(r.get("negatives", "")),
                    str(int(t)),
                    f"{fmt(r.get('fp'))} of {fmt(r.get('n_neg'))}",
                    fmt(r.get("fpr_upper")),
                    *photo,
                ]
            )
    blocks = [
        ("h", 2, "Recommended thresholds"),
        (
            "p",
            f"From the metrics stage (thresholds.csv), target FPR {tgt:g}: the largest t whose 95% "
            "upper bound on the FPR stays below the target. `none`: not achievable with this many "
            "negative pairs; use more photos."
            + (
                " The last column is per photo, not per pair: the share of originals that match at "
                "least one original of another group at t (per_photo_rate.csv)."
                if per_photo
                else ""
            ),
        ),
        (
            "table",
            ["hasher", "negatives", "recommended t", "matching negative pairs", "FPR upper bound"]
            + ["photos matching another photo (per-photo rate) [95% CP over photos]"] * per_photo,
            rows,
        ),
    ]
    ok = model.recommended_tpr
    if len(ok):
        hashers = sorted(ok["hasher"].unique())
        transforms = list(dict.fromkeys(ok["transform"]))
        cell = {}
        for r in ok.to_dict("records"):
            cell[(r["transform"], r["hasher"])] = fmt_ci(r["tpr"], r.get("tpr_cp_lo"), r.get("tpr_cp_hi"))
        blocks += [
            ("p", "TPR per transform at the recommended t [95% Clopper-Pearson]:"),
            ("table", ["transform"] + hashers, [[tr] + [cell.get((tr, h), "") for h in hashers] for tr in transforms]),
        ]
    return blocks


def other_tables_blocks(data) -> list:
    blocks = []
    listed = []
    for name, table in sorted(data.extra.items()):
        if name in NOT_PRINTED:
            listed.append(f"`{name}` ({len(table)} rows): {NOT_PRINTED[name]}")
            continue
        table_show = table
        if name == "diagnostics.csv" and set(DIAGNOSTIC_COLUMNS) <= set(table.columns):
            table_show = table[DIAGNOSTIC_COLUMNS]
        cols, rows = generic_rows(table_show, 30)
        blocks += [
            ("h", 2, f"Other table: {name}"),
            (
                "p",
                f"{len(table)} rows"
                + (" (first 30 shown)" if len(table) > 30 else "")
                + (", selected columns" if table_show is not table else "")
                + "; the full table is "
                f"{name} in the results folder.",
            ),
            ("table", cols, rows),
        ]
    if listed:
        blocks = [("h", 2, "Other tables in the folder"), ("ul", listed)] + blocks
    return blocks


def _gallery_module():
    try:
        from . import gallery
    except ImportError:
        return None
    return gallery if hasattr(gallery, "collision_sheet") else None


def _gallery_jobs(data) -> list:
    """The drawing job of the collision gallery (a list of one job, or
    empty when it cannot be drawn; gallery_blocks then says why)."""
    gallery = _gallery_module()
    close = data.close_pairs_of("orig-orig")
    if gallery is None or close is None or not len(close) or data.images is None:
        return []
    path = data.path(os.path.join(FIGURES, "gallery.png"))
    if os.path.exists(path):  # a stale sheet from an earlier report must not stand in for this one
        os.remove(path)

    def make():
        gallery.collision_sheet(close, data.images, path, GALLERY_K, per_hasher=GALLERY_PER_HASHER)

    return [(data.path(FIGURES), "gallery", make, None, ("png",))]


def _gallery_error(data, errors: list) -> str | None:
    return errors[0] if errors else None


def gallery_blocks(data, saved: list, error: str | None = None) -> list:
    """The gallery section; the sheet itself was drawn by its job
    (`_gallery_jobs`); error: that job's error text, if it failed."""
    blocks = [("h", 2, "Collision gallery")]
    if _gallery_module() is None:
        return blocks + [
            ("p", "Not drawn: this installation has no gallery module (harness.report.gallery.collision_sheet).")
        ]
    close = data.close_pairs_of("orig-orig")
    if close is None or not len(close):
        return blocks + [
            (
                "p",
                "Not drawn: the results folder has no close_pairs.parquet (the closest "
                "impostor pairs); it is written by runs whose metrics stage records them.",
            )
        ]
    if data.images is None:
        return blocks + [("p", "Not drawn: images.csv (paths of the photos) is missing.")]
    path = data.path(os.path.join(FIGURES, "gallery.png"))
    if error is not None:  # the gallery must not sink the whole report
        return blocks + [("p", f"Not drawn: collision_sheet failed: {error}")]
    if not os.path.isfile(path):
        return blocks + [("p", "Not drawn: there is no close negative pair to show.")]
    saved.append("gallery")
    blocks += [
        (
            "figure",
            f"{FIGURES}/gallery",
            f"The closest negative pairs (different photos with the most similar "
            f"hashes; every distance-0 pair and the {GALLERY_K} closest per hasher), "
            "with their distance in bits. A pair that shows the same content is a "
            "duplicate in the dataset (declare it as a group and re-run), not a "
            "false positive of the hash.",
            False,
        )
    ]
    coll = data.extra.get("collisions.csv")
    if coll is not None and {"hasher", "distance", "name_a", "name_b"} <= set(coll.columns):
        top = coll.sort_values(["hasher", "distance"], kind="stable").groupby("hasher").head(5)
        cols, rows = generic_rows(
            top[[c for c in ("hasher", "rank", "distance", "name_a", "name_b") if c in top.columns]]
        )
        blocks += [("p", "The 5 closest pairs per hasher (collisions.csv):"), ("table", cols, rows)]
    return blocks


def risk_blocks(data) -> list:
    risk_table = data.table("risk.csv")
    if risk_table is None:
        return [
            ("h", 2, "Deployment risk"),
            (
                "p",
                "No risk.csv in this folder: give risk settings (database size, photos per user, "
                "match threshold) to get per-query and per-account false-flag figures.",
            ),
        ]
    cols, rows = generic_rows(risk_table)
    fig = []
    # written by `phash-harness risk`: in figures/, or at the top in older folders
    for base in (f"{FIGURES}/risk", "risk"):
        if os.path.isfile(data.path(base + ".png")):
            fig = [
                (
                    "figure",
                    base,
                    "The risk model's figure (risk.png, written by `phash-harness risk`): "
                    "false-flag probability against the threshold or the assumed rate.",
                    False,
                )
            ]
            break
    return [
        ("h", 2, "Deployment risk"),
        (
            "p",
            "From risk.csv: the per-comparison FPR measured above turned into per-query and "
            "per-account false-flag probabilities under the stated assumptions (independent "
            "comparisons). Figures that depend on an FPR that could not be measured are shown as "
            f"*{NM}*.",
        ),
        ("table", cols, rows),
    ] + fig


def errors_blocks(data) -> list:
    errs = data.errors
    if errs is None or not len(errs):
        return [("h", 2, "Errors"), ("p", "No image or variant failed.")]
    cols = [c for c in ("stage", "reason") if c in errs.columns]
    blocks = [("h", 2, "Errors"), ("p", f"{len(errs)} item(s) failed; every one is listed in errors.csv.")]
    if cols:
        top = errs.groupby(cols, dropna=False).size().sort_values(ascending=False).head(15).reset_index()
        top.columns = cols + ["count"]
        c, rows = generic_rows(top)
        blocks += [("table", c, rows)]
    return blocks


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text))
