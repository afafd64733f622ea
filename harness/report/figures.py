"""Matplotlib figures (Agg backend, no display needed)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..metrics.roc import roc_from_histograms  # noqa: E402
from ..metrics.summary import histogram_vector  # noqa: E402

FAMILY_CMAPS = ["Blues", "Oranges", "Greens", "Reds", "Purples", "Greys", "YlOrBr", "BuPu", "GnBu", "PuRd"]


def roc_figure(histograms: pd.DataFrame, path: str) -> None:
    """One panel per hasher: ROC of every transform spec against its
    variant-orig negatives; FPR on a log axis, one colour family per
    transform family, darker = more severe."""
    hashers = sorted(histograms["hasher"].unique())
    ncols = min(2, len(hashers)) or 1
    nrows = int(np.ceil(len(hashers) / ncols)) or 1
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.2 * ncols, 4.6 * nrows), squeeze=False)
    families = sorted(histograms.loc[histograms["kind"] == "positive", "family"].unique())
    for ax, hasher in zip(axes.ravel(), hashers):
        h = histograms[histograms["hasher"] == hasher]
        bits = int(h["bits"].iat[0])
        for fi, family in enumerate(families):
            keys = h.loc[(h["kind"] == "positive") & (h["family"] == family), "transform"].unique()
            keys = sorted(keys, key=lambda k: _severity_order(h, k))
            cmap = plt.get_cmap(FAMILY_CMAPS[fi % len(FAMILY_CMAPS)])
            for si, key in enumerate(keys):
                pos = histogram_vector(h[(h["kind"] == "positive") & (h["transform"] == key)], bits)
                neg = histogram_vector(h[(h["kind"] == "variant-orig") & (h["transform"] == key)], bits)
                if neg.sum() == 0:
                    continue
                roc = roc_from_histograms(pos, neg)
                fpr = np.clip(roc["fpr"].to_numpy(), 1.0 / (10 * neg.sum()), 1)
                shade = 0.45 + 0.5 * (si / max(1, len(keys) - 1))
                ax.plot(fpr, roc["tpr"], drawstyle="steps-post", color=cmap(shade), lw=1.3,
                        label=family if si == len(keys) - 1 else None)
        ax.set_xscale("log")
        ax.set_xlabel("false-positive rate (variant-orig pairs, log scale)")
        ax.set_ylabel("true-positive rate")
        ax.set_title(f"{hasher} ({bits} bits)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(title="family (darker = more severe)", fontsize=8, title_fontsize=8, loc="lower right")
    for ax in axes.ravel()[len(hashers):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)


def _severity_order(h: pd.DataFrame, key: str):
    sev = h.loc[h["transform"] == key, "severity"].iat[0]
    try:
        return float(sev)
    except (TypeError, ValueError):
        return str(sev)
