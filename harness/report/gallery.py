"""Contact sheet of the closest impostor pairs (distance-0 collisions first),
so a reader can tell true near-duplicates in the dataset (declare them as a
group and re-run) from genuine false positives of the hash.

    collision_sheet(close_pairs_df, images_df, "collisions.png", k=12)

`close_pairs_df`: rows with hasher, image_a, image_b, distance (e.g.
close_pairs.parquet or collisions.csv; when a `kind` column is present only
"orig-orig" rows are used). `images_df`: the run's images.csv
(image_id, name, path, group, bytes). One row per pair: both images side
by side, then the hasher, the distance and the two names. Images are read
from their paths (decode.load_rgb); a missing file becomes a grey tile
marked "missing".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from ..metrics.tables import duplicate_groups  # noqa: F401  (re-exported for the report)

TILE = 160
TEXT_W = 300
PAD = 6


def _thumb(path: str, max_pixels: int = 50_000_000) -> Image.Image:
    from ..imageio import load_rgb

    try:
        img = Image.fromarray(load_rgb(path, max_pixels=max_pixels))
    except Exception:  # unreadable or missing: say so on the sheet
        img = Image.new("RGB", (TILE, TILE), (200, 200, 200))
        ImageDraw.Draw(img).text((10, TILE // 2 - 6), "missing", fill=(0, 0, 0))
        return img
    img.thumbnail((TILE, TILE), Image.Resampling.LANCZOS)
    tile = Image.new("RGB", (TILE, TILE), (255, 255, 255))
    tile.paste(img, ((TILE - img.width) // 2, (TILE - img.height) // 2))
    return tile


def select_pairs(
    close_pairs_df: pd.DataFrame, k: int, hasher: str | None = None, per_hasher: int | None = None
) -> pd.DataFrame:
    """Every distance-0 pair plus the k closest pairs (per hasher), sorted
    by hasher, distance, image ids; with `per_hasher`, at most that many
    rows of each hasher (distance-0 pairs first), so one hasher with
    thousands of collisions cannot fill the sheet."""
    df = close_pairs_df
    if "kind" in df.columns:
        df = df[df["kind"] == "orig-orig"]
    if hasher is not None:
        df = df[df["hasher"] == hasher]
    df = df.sort_values(["hasher", "distance", "image_a", "image_b"], kind="stable")
    parts = []
    for _, g in df.groupby("hasher", sort=True):
        take = max(int((g["distance"] == 0).sum()), min(k, len(g)))
        parts.append(g.head(take if per_hasher is None else min(take, per_hasher)))
    return pd.concat(parts, ignore_index=True) if parts else df.head(0)


def collision_sheet(
    close_pairs_df: pd.DataFrame,
    images_df: pd.DataFrame,
    path: str,
    k: int = 12,
    hasher: str | None = None,
    max_rows: int = 200,
    per_hasher: int | None = None,
) -> str | None:
    """Write the contact sheet PNG to `path`; returns `path`, or None when
    there is no pair to show (nothing is written then)."""
    pairs = select_pairs(close_pairs_df, k, hasher, per_hasher).head(max_rows)
    if not len(pairs):
        return None
    info = images_df.drop_duplicates("image_id").set_index("image_id")
    row_h = TILE + 2 * PAD
    sheet = Image.new("RGB", (2 * TILE + TEXT_W + 4 * PAD, row_h * len(pairs) + 30), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    draw.text(
        (PAD, 8),
        "closest orig-orig pairs (distance-0 collisions first): same content -> declare a "
        "group and re-run; different content -> a false positive of the hash",
        fill=(0, 0, 0),
    )
    cache: dict[str, Image.Image] = {}
    for r, row in enumerate(pairs.itertuples(index=False)):
        y = 30 + r * row_h + PAD
        names = []
        for c, img_id in enumerate((row.image_a, row.image_b)):
            path_ = info.at[img_id, "path"] if img_id in info.index else ""
            names.append(str(info.at[img_id, "name"]) if img_id in info.index else str(img_id)[:12])
            if img_id not in cache:
                cache[img_id] = _thumb(str(path_))
            sheet.paste(cache[img_id], (PAD + c * (TILE + PAD), y))
        x = 3 * PAD + 2 * TILE
        colour = (180, 0, 0) if row.distance == 0 else (0, 0, 0)
        draw.text((x, y + 4), f"{row.hasher}", fill=(0, 0, 0))
        draw.text(
            (x, y + 22), f"distance {int(row.distance)}" + (" (collision)" if row.distance == 0 else ""), fill=colour
        )
        draw.text((x, y + 40), f"A: {names[0][:40]}", fill=(60, 60, 60))
        draw.text((x, y + 58), f"B: {names[1][:40]}", fill=(60, 60, 60))
        draw.line([(0, y + TILE + PAD), (sheet.width, y + TILE + PAD)], fill=(220, 220, 220))
    # zlib level 1: 3% larger than the default level 6, in 60% of the time (photos compress slowly)
    sheet.save(path, format="PNG", optimize=False, compress_level=1)
    return path


__all__ = ["collision_sheet", "duplicate_groups", "select_pairs", "tail_figure"]


def tail_figure(extrapolation_df: pd.DataFrame, path: str) -> str | None:
    """One panel per hasher: the measured orig-orig FPR per threshold
    (dots; where nothing was observed, the upper bound as a hollow
    triangle) and, as a separate dashed line, the binomial tail implied by
    Daugman's degrees of freedom (a model: an extrapolation, never a
    measurement). Input: extrapolation.csv. Returns path, or None."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    df = extrapolation_df
    if df is None or not len(df):
        return None
    hashers = sorted(df["hasher"].unique())
    ncols = min(2, len(hashers))
    nrows = (len(hashers) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 4.2 * nrows), squeeze=False)
    for ax, hasher in zip(axes.ravel(), hashers):
        h = df[df["hasher"] == hasher].sort_values("threshold")
        seen = h["fp_measured"] > 0
        ax.plot(
            h.loc[seen, "threshold"],
            h.loc[seen, "fpr_measured"],
            "o",
            ms=3,
            color="C0",
            label="measured FPR (all pairs)",
        )
        zero = ~seen & h["fpr_measured_upper"].notna()
        ax.plot(
            h.loc[zero, "threshold"],
            h.loc[zero, "fpr_measured_upper"],
            "v",
            ms=4,
            mfc="none",
            color="C0",
            label="none observed: upper bound",
        )
        model = h["fpr_model"].where(h["fpr_model"] > 0)
        if model.notna().any():
            ax.plot(h["threshold"], model, "--", color="C3", lw=1.2, label="binomial model (extrapolation)")
        ax.set_yscale("log")
        ax.set_ylim(max(1e-16, float(np.nanmin(model)) if model.notna().any() else 1e-16), 1.5)
        ax.set_xlabel(f"threshold (bits of {int(h['bits'].iat[0])})")
        ax.set_ylabel("FPR, orig-orig pairs")
        ax.set_title(f"{hasher}\n{h['model'].iat[0]}", fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in axes.ravel()[len(hashers) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
