"""From the table of hashes to the result tables (pure: DataFrames in,
DataFrames out; no file I/O).

`analyse` returns a dict {file name: DataFrame}; the engine writes each one
into the results folder (``.csv`` or ``.parquet`` by extension).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .hamming import distance_histogram, pair_histogram, paired_distances
from .summary import summarise

ORIGINAL_KEY = "original()"
HISTOGRAM_COLUMNS = ["hasher", "bits", "transform", "family", "severity", "kind", "distance", "count"]


def _packed(series: pd.Series, nbytes: int) -> np.ndarray:
    if not len(series):
        return np.zeros((0, nbytes), np.uint8)
    return np.stack([np.frombuffer(b, np.uint8) for b in series])


def compute_histograms(hashes: pd.DataFrame, hashers, specs, metrics_cfg) -> pd.DataFrame:
    """Exact histograms of positives, variant-orig and orig-orig negatives
    (long format, columns HISTOGRAM_COLUMNS; zero counts omitted).

    Only images whose original was hashed take part; a variant that failed
    is missing from its own positive and variant-orig sets only."""
    out = []
    for hasher in hashers:
        hh = hashes[hashes["hasher"] == hasher.name]
        bits = hasher.bits
        orig = hh[hh["transform"] == ORIGINAL_KEY].sort_values("image_id").drop_duplicates("image_id")
        orig_packed = _packed(orig["hash"], hasher.nbytes)
        orig_groups = orig["group"].to_numpy()
        index = {img: i for i, img in enumerate(orig["image_id"])}

        def emit(kind, spec_key, family, severity, hist):
            for d in np.nonzero(hist)[0]:
                out.append((hasher.name, bits, spec_key, family, severity, kind, int(d), int(hist[d])))

        if metrics_cfg.orig_orig:
            hist = pair_histogram(orig_packed, groups_a=orig_groups)[: bits + 1]
            emit("orig-orig", ORIGINAL_KEY, "original", "", hist)
        for spec in specs:
            var = hh[hh["transform"] == spec.key]
            var = var[var["image_id"].isin(index)].sort_values("image_id").drop_duplicates("image_id")
            if not len(var):
                continue
            var_packed = _packed(var["hash"], hasher.nbytes)
            rows = np.array([index[i] for i in var["image_id"]])
            sev = "" if spec.severity is None else str(spec.severity)
            pos = distance_histogram(paired_distances(orig_packed[rows], var_packed), 8 * hasher.nbytes)
            emit("positive", spec.key, spec.family, sev, pos[: bits + 1])
            if metrics_cfg.variant_orig:
                neg = pair_histogram(var_packed, orig_packed, groups_a=var["group"].to_numpy(),
                                     groups_b=orig_groups)[: bits + 1]
                emit("variant-orig", spec.key, spec.family, sev, neg)
    return pd.DataFrame(out, columns=HISTOGRAM_COLUMNS)


def analyse(hashes: pd.DataFrame, hashers, specs, metrics_cfg) -> dict[str, pd.DataFrame]:
    """All result tables of a run: {"histograms.parquet": ..., "metrics.csv": ...}."""
    histograms = compute_histograms(hashes, hashers, specs, metrics_cfg)
    metrics = summarise(histograms, metrics_cfg.target_fpr, tuple(metrics_cfg.fpr_points))
    return {"histograms.parquet": histograms, "metrics.csv": metrics}
