"""The variant-orig FPR pooled over every transform, with the default
interval for dependent pairs (fpr_variant.csv).

A run measures variant-orig negatives per transform: every variant of a
photo against every original of another group. Pooled over all
transforms, FPR(t) = sum of matching pairs / sum of pairs. Pairs that share
a photo are dependent, and across transforms they share it many times over
(the same photo's 116 variants), so Clopper-Pearson over the pooled pairs
is far too narrow. The default interval
(`harness.metrics.intervals.dependent_pair_interval`) clusters every pair
by its two photos: the variant's source photo and the original.

It is computed from the run's own tables (close pairs, histograms and the
hash table's rows), so it needs no second pass over the pairs: the pooled
close pairs are complete up to K, the largest t at which, for every
transform, the close pairs within t are as many as the histogram counts
(each transform keeps its close pairs up to its own keep_below); rows
above K have no interval (not written).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .intervals import clopper_pearson, dependent_pair_interval, photo_pair_counts

ORIGINAL_KEY = "original()"
FPR_VARIANT_COLUMNS = [
    "hasher",
    "bits",
    "threshold",
    "fp",
    "n_neg",
    "fpr",
    "fpr_lo",
    "fpr_hi",
    "fpr_cp_lo",
    "fpr_cp_hi",
]


def _complete_up_to(hist: np.ndarray, close_d: np.ndarray) -> int:
    """Largest t with (close pairs within t') == (histogram within t') for
    every t' <= t; -1 when even t = 0 is incomplete."""
    have = np.cumsum(np.bincount(close_d, minlength=len(hist))[: len(hist)])
    want = np.cumsum(hist)
    bad = np.nonzero(have != want)[0]
    return int(bad[0]) - 1 if len(bad) else len(hist) - 1


def pooled_variant_fpr(
    close_pairs: pd.DataFrame, histograms: pd.DataFrame, hashes: pd.DataFrame, confidence: float = 0.95
) -> pd.DataFrame:
    """fpr_variant.csv: per hasher and t = 0..K (see the module docstring),
    the variant-orig FPR pooled over every transform: fp, n_neg, fpr, the
    default interval fpr_lo, fpr_hi (pairs sharing a photo dependent) and
    Clopper-Pearson's fpr_cp_lo, fpr_cp_hi (as if pairs were independent).

    close_pairs: close_pairs.parquet (hasher, kind, transform, image_a (the
    variant's photo), image_b (the original), distance); histograms:
    histograms.parquet; hashes: the hash table's rows (hasher, image_id,
    group, transform): which photos have an original and which a variant
    under each transform.
    """
    out = []
    neg_hist = histograms[histograms["kind"] == "variant-orig"]
    for hasher, hh in hashes.groupby("hasher", sort=False):
        hist_h = neg_hist[neg_hist["hasher"] == hasher]
        if not len(hist_h):
            continue
        bits = int(hist_h["bits"].iat[0])
        orig = hh[hh["transform"] == ORIGINAL_KEY].drop_duplicates("image_id").sort_values("image_id")
        photo = pd.Index(orig["image_id"].to_numpy())
        group_code = pd.factorize(orig["group"].to_numpy())[0]
        variants = hh[(hh["transform"] != ORIGINAL_KEY) & hh["image_id"].isin(photo)]
        variants = variants.drop_duplicates(["transform", "image_id"])
        variants = variants[variants["transform"].isin(set(hist_h["transform"]))]
        row_of = pd.MultiIndex.from_arrays([variants["transform"].to_numpy(), variants["image_id"].to_numpy()])
        img_a = photo.get_indexer(variants["image_id"].to_numpy())
        cp = close_pairs[(close_pairs["hasher"] == hasher) & (close_pairs["kind"] == "variant-orig")]
        size = max(bits, int(hist_h["distance"].max())) + 1
        pooled = np.zeros(size, np.int64)
        top = size - 1
        for key, h in hist_h.groupby("transform", sort=False):
            hist = np.zeros(size, np.int64)
            np.add.at(hist, h["distance"].to_numpy(np.int64), h["count"].to_numpy(np.int64))
            pooled += hist
            d = cp.loc[cp["transform"] == key, "distance"].to_numpy(np.int64)
            top = min(top, _complete_up_to(hist, d))
        if top < 0:
            continue
        near = cp[cp["distance"] <= top]
        pair_i = row_of.get_indexer(
            pd.MultiIndex.from_arrays([near["transform"].astype(str), near["image_a"].astype(str)])
        )
        pair_j = photo.get_indexer(near["image_b"].astype(str).to_numpy())
        if (pair_i < 0).any() or (pair_j < 0).any():
            raise ValueError(f"{hasher}: close pairs name photos or variants absent from the hash table")
        n = int(pooled.sum())
        if photo_pair_counts(img_a, np.arange(len(photo)), group_code)[1] != n:
            raise ValueError(f"{hasher}: the hash table's variants and originals do not give the histograms' pairs")
        lo, hi = dependent_pair_interval(
            img_a,
            np.arange(len(photo)),
            group_code,
            pair_i,
            pair_j,
            near["distance"].to_numpy(np.int64),
            top,
            confidence,
        )
        fp = np.cumsum(pooled)[: top + 1]
        cp_lo, cp_hi = clopper_pearson(fp, n, confidence)
        out.append(
            pd.DataFrame(
                {
                    "hasher": hasher,
                    "bits": bits,
                    "threshold": np.arange(top + 1),
                    "fp": fp,
                    "n_neg": n,
                    "fpr": fp / n,
                    "fpr_lo": lo,
                    "fpr_hi": hi,
                    "fpr_cp_lo": cp_lo,
                    "fpr_cp_hi": cp_hi,
                }
            )
        )
    if not out:
        return pd.DataFrame(columns=FPR_VARIANT_COLUMNS)
    return pd.concat(out, ignore_index=True)[FPR_VARIANT_COLUMNS]
