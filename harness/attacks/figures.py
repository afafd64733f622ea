"""Figures of an attack folder (``figures/`` next to attacks.parquet), and
its threshold trade-off table ``attack_tradeoff.csv``.

- ``success_vs_psnr.png``: one panel per goal; for each hasher (colour) and
  algorithm (line style), the share of images attacked successfully with a
  final PSNR >= b, against the PSNR budget b (dB): the empirical
  distribution of the best PSNR each attack found within its query budget;
- ``threshold_tradeoff.png``: one panel per hasher; against the threshold
  t' (bits, or bin), the benign FPR(t') from the benign results folder's
  exact histograms (log scale, left) and the evasion and framing success
  rates at each PSNR budget (right; `harness.attacks.tradeoff`); the
  attacked thresholds are dotted lines (and, when several, dots mark the
  success measured there at PSNR budget "any"). Raising t' lowers evasion but
  raises benign false positives and framing success: the price of defending
  by threshold;
- ``gallery.png``: for saved attacked images (successes first, one per
  hasher and goal), the original, the attacked image and the difference
  amplified to fill the grey range (128 + gain * (x' - x), gain =
  min(8, 127 / max|x' - x|)).

`write_attack_figures(folder)` is called at the end of ``phash-harness
attack`` and by ``phash-harness report FOLDER``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

FIGURES = "figures"
NAMES = ("success_vs_psnr.png", "threshold_tradeoff.png", "gallery.png")


def _run_info(folder: str) -> dict:
    path = os.path.join(folder, "attack_run.json")
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def find_benign(benign: str | None, folder: str) -> str | None:
    """The benign results folder as recorded (relative to the folder the run
    started in), else the same relative path under one of the attack
    folder's parents (a re-draw from another working folder); None if absent."""
    if not benign:
        return None
    candidates = [benign]
    if not os.path.isabs(benign):
        parent = os.path.abspath(folder)
        while os.path.dirname(parent) != parent:
            parent = os.path.dirname(parent)
            candidates.append(os.path.join(parent, benign))
    return next((c for c in candidates if os.path.isfile(os.path.join(c, "histograms.parquet"))), None)


def benign_histograms(benign: str | None, hashers, negatives: str = "orig-orig") -> dict:
    """{hasher: benign negative-pair counts per distance} from a results folder
    (``harness.Results.hist``); hashers absent from it (or no folder) are left out."""
    from ..results import Results

    if not benign or not os.path.isfile(os.path.join(benign, "histograms.parquet")):
        return {}
    res = Results.load(benign)
    out = {}
    for h in hashers:
        try:
            out[h] = res.hist(h, negatives)
        except ValueError:
            continue
    return out


def benign_default_upper(benign: str | None, hashers, negatives: str = "orig-orig") -> dict:
    """{hasher: upper bound of the benign run's default interval per
    threshold t = 0.. (NaN where the table has none)}, from fpr.csv
    (orig-orig) or fpr_variant.csv (variant-orig pooled); {} without them."""
    from ..risk import DEFAULT_INTERVAL_TABLE

    path = os.path.join(benign, DEFAULT_INTERVAL_TABLE.get(negatives, "")) if benign else ""
    if not os.path.isfile(path):
        return {}
    table = pd.read_csv(path)
    out = {}
    for h in hashers:
        rows = table[table["hasher"] == h]
        if len(rows):
            upper = np.full(int(rows["threshold"].max()) + 1, np.nan)
            upper[rows["threshold"].to_numpy(np.int64)] = rows["fpr_hi"].to_numpy(np.float64)
            out[h] = upper
    return out


def _psnr_budgets(info: dict, table: pd.DataFrame) -> list[float]:
    budgets = (info.get("config") or {}).get("psnr_budgets")
    if budgets:
        return [float(b) for b in budgets]
    return [float(c.rsplit("_", 1)[1]) for c in table.columns if c.startswith("best_distance_psnr_")]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colours(hashers) -> dict:
    cmap = _plt().get_cmap("tab10")
    return {h: cmap(i % 10) for i, h in enumerate(hashers)}


def figure_success_vs_psnr(table: pd.DataFrame, path: str) -> None:
    plt = _plt()
    goals = sorted(table["goal"].unique())
    hashers = sorted(table["hasher"].unique())
    colours = _colours(hashers)
    styles = {"cma": "-", "random": "--", "greedy": "-."}
    grid = np.linspace(20, 60, 161)
    fig, axes = plt.subplots(1, max(1, len(goals)), figsize=(5.5 * max(1, len(goals)), 4), squeeze=False)
    for ax, goal in zip(axes[0], goals):
        cells = table[table["goal"] == goal].groupby(["hasher", "threshold", "algorithm"], sort=True)
        for (hasher, _, alg), g in cells:
            ok = g.loc[g["success"], "psnr"].to_numpy(dtype=float)
            rate = [(ok >= b).sum() / len(g) for b in grid]
            ax.plot(
                grid,
                rate,
                styles.get(alg, ":"),
                color=colours[hasher],
                label=f"{hasher} (t={int(g['threshold'].iloc[0])}) {alg}",
            )
        ax.set_xlabel("PSNR budget b (dB): success with PSNR >= b")
        ax.set_ylabel("success rate over images")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{goal}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def figure_tradeoff(tradeoff: pd.DataFrame, thresholds: dict, path: str) -> None:
    plt = _plt()
    hashers = sorted(tradeoff["hasher"].unique())
    n = max(1, len(hashers))
    cols = min(3, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    budgets = [b for b in tradeoff["psnr_min"].unique() if b != "any"]
    styles = ["-", "--", "-.", ":"]
    goal_colour = {"evasion": "tab:red", "framing": "tab:blue"}
    for ax, hasher in zip(axes.ravel(), hashers):
        h = tradeoff[tradeoff["hasher"] == hasher]
        right = ax.twinx()
        first = h.drop_duplicates("threshold")
        if first["benign_fpr"].notna().any():
            fpr = first["benign_fpr"].to_numpy(dtype=float)
            floor = 0.5 / max(int(first["benign_pairs"].iloc[0]), 1)
            ax.plot(first["threshold"], np.maximum(fpr, floor), color="black", label="benign FPR(t)")
            ax.plot(
                first["threshold"], first["benign_fpr_hi"], color="grey", lw=0.8, ls=":", label="benign FPR upper 95%"
            )
            ax.set_yscale("log")
            ax.set_ylabel("benign FPR (orig-orig pairs)")
        else:
            ax.set_yticks([])
            ax.set_ylabel("no benign histograms")
        for goal in sorted(h["goal"].unique()):
            for i, b in enumerate(budgets):
                g = h[(h["goal"] == goal) & (h["psnr_min"] == b)]
                right.plot(
                    g["threshold"],
                    g["success_rate"],
                    styles[i % len(styles)],
                    color=goal_colour.get(goal),
                    label=f"{goal}, PSNR >= {b} dB",
                )
        for t in thresholds.get(hasher, []):
            ax.axvline(t, color="grey", ls=":")
        if "measured" in h.columns:  # thresholds attacked directly: dots
            for goal in sorted(h["goal"].unique()):
                m = h[(h["goal"] == goal) & h["measured"] & (h["psnr_min"] == "any")]
                right.plot(m["threshold"], m["success_rate"], "o", color=goal_colour.get(goal), ms=4)
        right.set_ylim(-0.02, 1.02)
        right.set_ylabel("attack success rate")
        ax.set_xlabel("threshold t' (match when distance <= t')")
        ax.set_title(hasher)
        lines = ax.get_legend_handles_labels()
        more = right.get_legend_handles_labels()
        right.legend(lines[0] + more[0], lines[1] + more[1], fontsize=6, loc="center right")
    for ax in axes.ravel()[len(hashers) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _load_png(path: str) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def amplified_difference(original: np.ndarray, attacked: np.ndarray, max_gain: float = 8.0) -> np.ndarray:
    """128 + gain * (attacked - original), gain = min(max_gain, 127 / max|diff|), as uint8."""
    diff = attacked.astype(np.float64) - original.astype(np.float64)
    peak = float(np.abs(diff).max()) if diff.size else 0.0
    gain = max_gain if peak == 0 else min(max_gain, 127.0 / peak)
    return np.clip(np.rint(128 + gain * diff), 0, 255).astype(np.uint8)


def gallery_rows(table: pd.DataFrame, limit: int = 6, folder: str | None = None) -> pd.DataFrame:
    """Saved attacks to show: per hasher and goal the saved success with the
    highest PSNR (else the saved attack closest to success), at most `limit`;
    with `folder`, only those whose PNGs are there (a copied folder may lack
    images/, which shows the dataset's photos and is not committed)."""
    saved = table[table["attacked_png"].fillna("") != ""]
    if folder is not None:
        there = [
            os.path.isfile(os.path.join(folder, a)) and os.path.isfile(os.path.join(folder, o))
            for a, o in zip(saved["attacked_png"], saved["original_png"])
        ]
        saved = saved[there]
    picks = []
    for _, g in saved.groupby(["hasher", "goal"], sort=True):
        ok = g[g["success"]]
        picks.append(
            ok.sort_values(["psnr", "image_id"], ascending=[False, True]).iloc[0]
            if len(ok)
            else g.sort_values(["psnr", "image_id"], ascending=[False, True]).iloc[0]
        )
    if not picks:
        return saved.iloc[:0]
    rows = pd.DataFrame(picks)
    return rows.sort_values(["success", "goal", "hasher"], ascending=[False, True, True]).head(limit)


def figure_gallery(folder: str, table: pd.DataFrame, path: str) -> bool:
    plt = _plt()
    rows = gallery_rows(table, folder=folder)
    if rows.empty:
        return False
    fig, axes = plt.subplots(len(rows), 3, figsize=(10, 2.9 * len(rows)), squeeze=False)
    for ax_row, r in zip(axes, rows.itertuples()):
        orig = _load_png(os.path.join(folder, r.original_png))
        att = _load_png(os.path.join(folder, r.attacked_png))
        gain = min(8.0, 127.0 / max(float(np.abs(att.astype(int) - orig).max()), 1e-9))
        for ax, im, title in zip(
            ax_row,
            (orig, att, amplified_difference(orig, att)),
            (
                f"original {r.image}",
                f"{r.hasher} {r.goal} ({r.algorithm}): {'success' if r.success else 'failed'}, d={r.distance}, "
                f"t={r.threshold}",
                f"difference x{gain:.1f}: PSNR {r.psnr:.1f} dB, L-inf {r.linf}, SSIM {r.ssim:.3f}",
            ),
        ):
            ax.imshow(im)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return True


def write_attack_figures(folder) -> list[str]:
    """Write attack_tradeoff.csv and figures/*.png of an attack folder (see
    module doc); returns the paths written. The benign FPR comes from the
    folder's benign results folder (attack_run.json thresholds.benign), when
    it exists."""
    from .tradeoff import attacked_thresholds, tradeoff_table

    folder = os.fspath(folder)
    table = pd.read_parquet(os.path.join(folder, "attacks.parquet"))
    info = _run_info(folder)
    cfg = info.get("config") or {}
    th = cfg.get("thresholds") or {}
    benign = find_benign(th.get("benign"), folder)
    hashers = sorted(table["hasher"].unique())
    negatives = th.get("negatives", "orig-orig")
    hists = benign_histograms(benign, hashers, negatives)
    upper = benign_default_upper(benign, hashers, negatives)
    tradeoff = tradeoff_table(table, _psnr_budgets(info, table), hists, benign_upper=upper)
    written = [os.path.join(folder, "attack_tradeoff.csv")]
    tradeoff.to_csv(written[0], index=False, float_format="%.6g")
    figs = os.path.join(folder, FIGURES)
    os.makedirs(figs, exist_ok=True)
    if table.empty:
        return written
    figure_success_vs_psnr(table, os.path.join(figs, NAMES[0]))
    thresholds = attacked_thresholds(table)
    figure_tradeoff(tradeoff, thresholds, os.path.join(figs, NAMES[1]))
    written += [os.path.join(figs, n) for n in NAMES[:2]]
    if figure_gallery(folder, table, os.path.join(figs, NAMES[2])):
        written.append(os.path.join(figs, NAMES[2]))
    return written
