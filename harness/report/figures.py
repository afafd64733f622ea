"""Report figures (matplotlib, Agg backend). Each function takes a
harness.Results and returns a matplotlib Figure; the caller saves it into
the folder's figures/ (PNG, and SVG when asked) with
harness.report.style.save_figure.

Conventions in every figure: one fixed colour per hasher
(style.hasher_colour); FPR on a log axis; distances in bits (or distance
bins for non-Hamming hashers); rates that cannot be measured are not drawn
(no extrapolation). ROC points with FPR = 0 cannot be placed on a log axis
and are omitted; DET points with a rate of 0 or 1 have no normal deviate and
are omitted.
"""

from __future__ import annotations

import math

import matplotlib
import matplotlib.colors as mcolors  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, NullLocator  # noqa: E402
from scipy.stats import norm  # noqa: E402

from ..metrics.roc import roc_from_histograms  # noqa: E402
from .style import hasher_colour, hasher_linestyle, new_figure  # noqa: E402
from .summary import middle_severity, series_list, severity_meaning, severity_order, tpr_table  # noqa: E402


def _grid(n: int, max_cols: int = 4):
    ncols = max(1, min(max_cols, n))
    nrows = max(1, math.ceil(n / ncols))
    return nrows, ncols


def _shade(colour: str, frac: float) -> tuple:
    """`colour` blended with white: frac 0 -> light (mild), 1 -> full (severe)."""
    rgb = np.array(mcolors.to_rgb(colour))
    w = 0.6 * (1 - frac)
    return tuple(rgb * (1 - w) + w)


def _roc_points(pos, neg):
    roc = roc_from_histograms(pos, neg)
    return roc["threshold"].to_numpy(), roc["fpr"].to_numpy(), roc["tpr"].to_numpy()


def _rate_label(x, _pos=None) -> str:
    """Plain decimal tick labels (0.001, 0.01, 1): no mathtext, readable
    by non-specialists."""
    return f"{x:g}" if x >= 1e-4 else f"{x:.0e}"


RATE_FORMAT = FuncFormatter(_rate_label)


def _log_fpr_axis(ax, n_neg_max: int):
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(base=10, numticks=8))
    ax.xaxis.set_major_formatter(RATE_FORMAT)
    ax.xaxis.set_minor_locator(NullLocator())
    left = 0.5 / n_neg_max if n_neg_max else 1e-4
    ax.set_xlim(10 ** math.floor(math.log10(left)), 1.05)
    ax.set_ylim(-0.02, 1.02)


def _empty_note(ax) -> None:
    ax.text(
        0.5,
        0.5,
        "not measurable\n(no pairs to compare)",
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=8,
        color="0.3",
    )


def _legend(ax, **kw) -> None:
    """A legend if something was drawn, else the 'not measurable' note."""
    if ax.get_legend_handles_labels()[0]:
        ax.legend(**kw)
    else:
        _empty_note(ax)


def _off(axes, used: int):
    for ax in axes.ravel()[used:]:
        ax.axis("off")


def roc_overview(data, thresholds: dict):
    """One panel per transform family; one curve per hasher, pooled over the
    family's severities (positives: every variant of the family; negatives:
    their variant-orig pairs). The dot marks the hasher's threshold."""
    families = data.families
    nrows, ncols = _grid(len(families), 3)
    fig, axes = new_figure(nrows, ncols, width=3.6, height=3.1)
    for ax, family in zip(axes.ravel(), families):
        keys = data.transforms_of(family)
        n_max = 0
        for hasher in data.hashers:
            pos = data.hist(hasher, "positive", transforms=keys)
            neg = data.hist(hasher, "variant-orig", transforms=keys)
            if not neg.sum() or not pos.sum():
                continue
            n_max = max(n_max, int(neg.sum()))
            thr, fpr, tpr = _roc_points(pos, neg)
            ok = fpr > 0
            ax.plot(
                fpr[ok],
                tpr[ok],
                color=hasher_colour(hasher),
                lw=1.4,
                ls=hasher_linestyle(hasher, data.hashers),
                label=hasher,
            )
            _mark_threshold(ax, thr, fpr, tpr, thresholds.get(hasher), hasher_colour(hasher))
        _log_fpr_axis(ax, n_max)
        ax.set_title(f"{family} (all severities pooled)")
        ax.set_xlabel("false-positive rate (log scale)")
        ax.set_ylabel("true-positive rate")
        _legend(ax, loc="lower right")
    _off(axes, len(families))
    return fig


def _mark_threshold(ax, thr, fpr, tpr, t, colour):
    if t is None or (isinstance(t, float) and math.isnan(t)):
        return
    i = np.nonzero(thr == int(t))[0]
    if len(i) and fpr[i[0]] > 0:
        ax.plot([fpr[i[0]]], [tpr[i[0]]], "o", color=colour, ms=5, mec="black", mew=0.6, zorder=5)


def roc_family(data, family: str, thresholds: dict):
    """ROC of one family: one panel per hasher, one curve per severity
    (light = mild, dark = severe, in the hasher's colour); the dot is the
    hasher's threshold."""
    hashers = data.hashers
    nrows, ncols = _grid(len(hashers))
    fig, axes = new_figure(nrows, ncols, width=3.3, height=2.9, wspace=0.75, suptitle=True)
    keys = _keys_by_severity(data, family)
    for ax, hasher in zip(axes.ravel(), hashers):
        colour = hasher_colour(hasher)
        n_max = 0
        for i, (key, sev) in enumerate(keys):
            pos, neg = data.hist(hasher, "positive", key), data.hist(hasher, "variant-orig", key)
            if not neg.sum() or not pos.sum():
                continue
            n_max = max(n_max, int(neg.sum()))
            thr, fpr, tpr = _roc_points(pos, neg)
            ok = fpr > 0
            ax.plot(fpr[ok], tpr[ok], color=_shade(colour, i / max(1, len(keys) - 1)), lw=1.3, label=str(sev))
            _mark_threshold(ax, thr, fpr, tpr, thresholds.get(hasher), colour)
        _log_fpr_axis(ax, n_max)
        t = thresholds.get(hasher)
        suffix = "" if t is None or math.isnan(t) else f"; dot: t = {int(t)} {data.distance_unit(hasher)}"
        ax.set_title(f"{hasher} ({data.bits(hasher)} bits){suffix}", fontsize=9)
        ax.set_xlabel("false-positive rate (log scale)")
        ax.set_ylabel("true-positive rate")
        if not ax.get_legend_handles_labels()[0]:
            _empty_note(ax)
        elif ax is axes.ravel()[0]:
            ax.legend(title=_short(severity_meaning(family)), loc="lower right", fontsize=7, title_fontsize=7)
    _off(axes, len(hashers))
    fig.suptitle(f"ROC, {family}: light = mild, dark = severe", fontsize=10)
    return fig


DET_TICKS = [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99]


def _det_axes(ax, lo: float):
    """Normal-deviate axes labelled in rates from `lo` to 0.999."""
    ticks = [t for t in DET_TICKS if t >= lo * 0.999]
    pos = norm.ppf(ticks)
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(FixedLocator(pos))
        axis.set_minor_locator(NullLocator())
    labels = [f"{t:g}" for t in ticks]
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yticklabels(labels, fontsize=7)
    ax.set_xlim(norm.ppf(lo), norm.ppf(0.999))
    ax.set_ylim(norm.ppf(lo), norm.ppf(0.999))


def det_family(data, family: str, thresholds: dict):
    """DET of one family: false-negative rate (1 - TPR) against FPR, both on
    normal-deviate (probit) axes labelled in rates; one panel per hasher,
    one curve per severity."""
    hashers = data.hashers
    nrows, ncols = _grid(len(hashers))
    fig, axes = new_figure(
        nrows, ncols, width=3.3, height=3.1, left=0.75, bottom=0.7, wspace=0.85, hspace=0.95, suptitle=True
    )
    keys = _keys_by_severity(data, family)
    for ax, hasher in zip(axes.ravel(), hashers):
        colour = hasher_colour(hasher)
        lo = 1e-3
        for i, (key, sev) in enumerate(keys):
            pos, neg = data.hist(hasher, "positive", key), data.hist(hasher, "variant-orig", key)
            if not neg.sum() or not pos.sum():
                continue
            thr, fpr, tpr = _roc_points(pos, neg)
            fnr = 1 - tpr
            lo = min(lo, 0.5 / neg.sum(), 0.5 / pos.sum())
            ok = (fpr > 0) & (fpr < 1) & (fnr > 0) & (fnr < 1)
            ax.plot(
                norm.ppf(fpr[ok]),
                norm.ppf(fnr[ok]),
                color=_shade(colour, i / max(1, len(keys) - 1)),
                lw=1.3,
                marker=".",
                ms=3,
                label=str(sev),
            )
            t = thresholds.get(hasher)
            if t is not None and not math.isnan(t):
                j = np.nonzero(thr == int(t))[0]
                if len(j) and ok[j[0]]:
                    ax.plot(
                        norm.ppf(fpr[j[0]]),
                        norm.ppf(fnr[j[0]]),
                        "o",
                        color=colour,
                        ms=5,
                        mec="black",
                        mew=0.6,
                        zorder=5,
                    )
        lo = max(10 ** math.floor(math.log10(lo)), 1e-6)
        _det_axes(ax, lo)
        ax.set_title(f"{hasher} ({data.bits(hasher)} bits)", fontsize=9)
        ax.set_xlabel("false-positive rate (normal-deviate scale)")
        ax.set_ylabel("false-negative rate")
        if not ax.get_legend_handles_labels()[0]:
            _empty_note(ax)
        elif ax is axes.ravel()[0]:
            ax.legend(title=_short(severity_meaning(family)), loc="upper right", fontsize=7, title_fontsize=7)
    _off(axes, len(hashers))
    fig.suptitle(f"DET, {family}: light = mild, dark = severe; dot = threshold", fontsize=10)
    return fig


def distance_histograms(data, thresholds: dict, summary=None):
    """Per hasher: share of pairs at each distance for positives (all edits
    pooled, hasher colour), variant-orig and orig-orig negatives (black,
    grey); log y axis so the tails near the threshold are visible (a
    distance with no pair is drawn at the bottom edge); the threshold is a
    vertical line with its FPR/TPR."""
    hashers = data.hashers
    nrows, ncols = _grid(len(hashers), 2)
    fig, axes = new_figure(nrows, ncols, width=4.6, height=3.0, left=0.8, wspace=1.0)
    for ax, hasher in zip(axes.ravel(), hashers):
        colour = hasher_colour(hasher)
        n_bins = data.n_bins(hasher)
        edges = np.arange(n_bins + 1) - 0.5
        hists = [(kind, data.hist(hasher, kind)) for kind in ("positive", "variant-orig", "orig-orig")]
        total = max([int(h.sum()) for _, h in hists] + [1])
        floor = 10 ** math.floor(math.log10(0.5 / total))  # zero counts are drawn at the floor
        for (_kind, h), col, ls, label in zip(
            hists,
            (colour, "black", "0.55"),
            ("-", "-", "--"),
            ("positives", "variant-orig negatives", "orig-orig negatives"),
        ):
            if not h.sum():
                continue
            share = np.maximum(h / h.sum(), floor)
            ax.stairs(share, edges, color=col, ls=ls, lw=1.3, baseline=None, label=f"{label}, n={int(h.sum())}")
        ax.set_ylim(floor, 1.5)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, numticks=6))
        ax.yaxis.set_major_formatter(RATE_FORMAT)
        ax.yaxis.set_minor_locator(NullLocator())
        t = thresholds.get(hasher)
        if t is not None and not math.isnan(t):
            ax.axvline(t + 0.5, color=colour, lw=1.0, ls=":")
            text = f"t = {int(t)}"
            if summary is not None:
                row = summary[summary["hasher"] == hasher]
                if len(row) and not math.isnan(row["fpr_at_threshold"].iat[0]):
                    text += f"\nFPR {row['fpr_at_threshold'].iat[0]:.3g}\nTPR {row['tpr_at_threshold'].iat[0]:.3g}"
            ax.annotate(
                text,
                xy=(t + 0.5, 0.98),
                xycoords=("data", "axes fraction"),
                va="top",
                ha="left",
                fontsize=7,
                xytext=(3, 0),
                textcoords="offset points",
            )
        unit = data.distance_unit(hasher)
        ax.set_xlabel(f"distance ({unit})")
        ax.set_ylabel("share of pairs (log scale)")
        ax.set_title(f"{hasher} ({data.bits(hasher)} bits)", fontsize=9)
        ax.set_xlim(-0.5, data.n_bins(hasher) - 0.5)
        ax.legend(loc="upper right", fontsize=6.5)
    _off(axes, len(hashers))
    return fig


def robustness(data, fpr: float, by: str = "family"):
    """TPR at a fixed FPR against severity (mild -> severe along x, ticks
    labelled with the severity values).

    by="family": one panel per family, one line per hasher (hasher colours);
    by="hasher": one panel per hasher, one line per family (line styles and
    markers, in the hasher's colour shades). Points that are not measurable
    are not drawn."""
    table = tpr_table(data, fpr)
    families = series_list(table)  # (series, family): one sweep per family and parameter set
    if by == "family":
        nrows, ncols = _grid(len(families), 3)
        fig, axes = new_figure(nrows, ncols, width=3.5, height=2.8)
        for ax, (series, family) in zip(axes.ravel(), families):
            sub = table[table["series"] == series]
            order = severity_order(family, sub["severity"].unique())
            x = {s: i for i, s in enumerate(order)}
            for hasher in data.hashers:
                h = sub[sub["hasher"] == hasher].copy()
                h["x"] = h["severity"].map(x)
                h = h.sort_values("x")
                ax.plot(
                    h["x"],
                    h["tpr"],
                    color=hasher_colour(hasher),
                    ls=hasher_linestyle(hasher, data.hashers),
                    marker="o",
                    ms=3.5,
                    lw=1.4,
                    label=hasher,
                )
            ax.set_xticks(range(len(order)))
            ax.set_xticklabels([str(s) for s in order])
            ax.set_xlim(-0.3, max(0.3, len(order) - 0.7))
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(_short(series, 40))
            ax.set_xlabel(_short(severity_meaning(family), 40) + " (mild -> severe)", fontsize=7.5)
            ax.set_ylabel(f"TPR at FPR {fpr:g}")
            ax.legend(fontsize=7, loc="lower left")
        _off(axes, len(families))
    else:
        hashers = data.hashers
        nrows, ncols = _grid(len(hashers), 2)
        fig, axes = new_figure(nrows, ncols, width=4.4, height=3.0)
        markers = "osD^vP*Xh<>p"
        for ax, hasher in zip(axes.ravel(), hashers):
            colour = hasher_colour(hasher)
            sub = table[table["hasher"] == hasher]
            n_steps = 1
            for fi, (series, family) in enumerate(families):
                f = sub[sub["series"] == series]
                order = severity_order(family, f["severity"].unique())
                n_steps = max(n_steps, len(order))
                x = {s: i + 1 for i, s in enumerate(order)}
                f = f.assign(x=f["severity"].map(x)).sort_values("x")
                ax.plot(
                    f["x"],
                    f["tpr"],
                    color=_shade(colour, 0.35 + 0.65 * fi / max(1, len(families) - 1)),
                    ls=["-", "--", "-.", ":"][fi % 4],
                    marker=markers[fi % len(markers)],
                    ms=3.5,
                    lw=1.2,
                    label=series,
                )
            ax.set_xticks(range(1, n_steps + 1))
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{hasher} ({data.bits(hasher)} bits)", fontsize=9)
            ax.set_xlabel("step of the family's sweep (1 = mildest; values in the table)")
            ax.set_ylabel(f"TPR at FPR {fpr:g}")
            ax.legend(fontsize=6.5, loc="lower left", ncol=2)
        _off(axes, len(hashers))
    return fig


def heatmap(data, fpr: float):
    """Hasher x family: TPR at `fpr` at each family's middle severity;
    cells that are not measurable are grey and say 'n/m'. Returns
    (figure, table of the plotted values)."""
    table = tpr_table(data, fpr)
    families = series_list(table)
    hashers = data.hashers
    cols, values = [], np.full((len(hashers), len(families)), np.nan)
    for j, (series, family) in enumerate(families):
        sub = table[table["series"] == series]
        sev = middle_severity(family, sub["severity"].unique())
        key = sub.loc[sub["severity"] == sev, "transform"]
        cols.append(_short(key.iat[0].replace('"', ""), 30) if len(key) else f"{family}({sev})")
        for i, hasher in enumerate(hashers):
            v = sub.loc[(sub["hasher"] == hasher) & (sub["severity"] == sev), "tpr"]
            if len(v):
                values[i, j] = v.iat[0]
    fig, axes = new_figure(
        1,
        1,
        width=max(4.5, 2.4 + 1.0 * len(families)),
        height=2.0 + 0.45 * len(hashers),
        left=1.0,
        right=1.2,
        bottom=1.35,
        top=0.35,
    )
    ax = axes[0, 0]
    ax.grid(False)
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="0.85")
    im = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(hashers)):
        for j in range(len(families)):
            v = values[i, j]
            text = "n/m" if math.isnan(v) else f"{v:.2f}"
            ax.text(
                j, i, text, ha="center", va="center", fontsize=8, color="black" if math.isnan(v) or v > 0.6 else "white"
            )
    ax.set_xticks(range(len(families)))
    ax.set_xticklabels(cols, rotation=30, ha="right")
    ax.set_yticks(range(len(hashers)))
    ax.set_yticklabels(hashers)
    for lbl, h in zip(ax.get_yticklabels(), hashers):
        lbl.set_color(hasher_colour(h))
    ax.set_xlabel("transform at the middle of its sweep")
    ax.set_title(f"TPR at FPR {fpr:g} (variant-orig negatives; n/m = not measurable)", fontsize=9)
    cax = fig.add_axes(
        [1 - 1.05 / fig.get_figwidth(), ax.get_position().y0, 0.15 / fig.get_figwidth(), ax.get_position().height]
    )
    cb = fig.colorbar(im, cax=cax)
    cb.set_label("true-positive rate")
    import pandas as pd

    return fig, pd.DataFrame(values, index=hashers, columns=cols)


def _keys_by_severity(data, family: str):
    pos = data.histograms[(data.histograms["kind"] == "positive") & (data.histograms["family"] == family)]
    pairs = pos.drop_duplicates("transform")[["transform", "severity"]]
    order = severity_order(family, pairs["severity"].tolist())
    rank = {s: i for i, s in enumerate(order)}
    return sorted(pairs.itertuples(index=False, name=None), key=lambda p: (rank.get(p[1], 0), p[0]))


def _short(text: str, n: int = 34) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def cascade_fpr(data, hasher_1: str, hasher_2: str, kind: str = "orig-orig"):
    """Two-hash AND rule over every (t1, t2): the measured FPR
    (AND[t1, t2] / pairs from the joint histogram) beside the FPR the two
    hashers' own rates would give if their false matches were independent
    (FPR1(t1) x FPR2(t2)); log10 colour scale, iso-FPR lines at 1e-2 ..
    1e-6; cells where no pair matches are blank. Returns the figure."""
    from ..metrics.cascade import and_counts

    J = data.joint_hist(hasher_1, hasher_2, kind)
    n = int(J.sum())
    fig, axes = new_figure(1, 2, width=4.6, height=3.8, left=0.8, right=1.1, bottom=0.8, top=0.5, wspace=1.0)
    if n == 0:
        for ax in axes[0]:
            _empty_note(ax)
        return fig
    measured = and_counts(J) / n
    p1 = J.sum(axis=1).cumsum() / n
    p2 = J.sum(axis=0).cumsum() / n
    predicted = p1[:, None] * p2[None, :]
    lo = max(1.0 / n, 1e-12)
    levels = [x for x in (1e-6, 1e-5, 1e-4, 1e-3, 1e-2) if x >= lo]
    norm_ = mcolors.LogNorm(vmin=lo, vmax=1.0)
    im = None
    for ax, grid, title in (
        (axes[0, 0], measured, f"measured AND FPR ({kind}, {n:,} pairs)"),
        (axes[0, 1], predicted, "if independent: FPR1(t1) x FPR2(t2)"),
    ):
        ax.grid(False)
        shown = np.ma.masked_where(grid <= 0, grid)
        im = ax.imshow(shown.T, origin="lower", aspect="auto", cmap="viridis", norm=norm_, interpolation="nearest")
        if levels and (grid > 0).any():
            cs = ax.contour(np.where(grid > 0, grid, lo / 10).T, levels=levels, colors="white", linewidths=0.8)
            ax.clabel(cs, fmt=lambda v: f"{v:.0e}", fontsize=7)
        ax.set_xlabel(f"t1: {hasher_1} threshold ({data.distance_unit(hasher_1)})")
        ax.set_ylabel(f"t2: {hasher_2} threshold ({data.distance_unit(hasher_2)})")
        ax.set_title(title, fontsize=9)
    cax = fig.add_axes(
        [
            1 - 0.95 / fig.get_figwidth(),
            axes[0, 1].get_position().y0,
            0.15 / fig.get_figwidth(),
            axes[0, 1].get_position().height,
        ]
    )
    fig.colorbar(im, cax=cax).set_label("false-positive rate")
    return fig
