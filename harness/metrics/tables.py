"""From the table of hashes to the result tables (pure: DataFrames in,
DataFrames out; no file I/O).

`analyse` returns a dict {file name: DataFrame}; the engine writes each one
into the results folder (``.csv`` or ``.parquet`` by extension):

- histograms.parquet: exact counts per distance (bin) for `positive`,
  `variant-orig` and `orig-orig` pairs (HISTOGRAM_COLUMNS).
- metrics.csv: one row per hasher x transform x negative set (columns in
  harness.metrics.summary).
- roc.csv: one row per hasher x transform x negative set x threshold
  (ROC_COLUMNS; DET coordinates, both intervals).
- thresholds.csv: recommended threshold per hasher and target FPR from the
  orig-orig negatives, and the TPR it buys per transform (THRESHOLD_COLUMNS).
- close_pairs.parquet: every negative pair at or under keep_below
  (CLOSE_COLUMNS).
- duplicate_candidates.csv: groups.csv-format (image, group) joining
  originals at distance 0 under every hasher: candidates to declare as
  groups (dataset.groups) after looking at the contact sheet.
- collisions.csv: per hasher, every orig-orig pair at distance 0 and the
  collision_k closest ones, with image names (COLLISION_COLUMNS).
- per_photo_rate.csv: per hasher x negative set x transform x threshold:
  the share of photos (queries) that match at least one photo of another
  group, with a Clopper-Pearson interval over photos
  (harness.metrics.per_photo; PER_PHOTO_COLUMNS). thresholds.csv carries
  it at the recommended threshold in its last three columns.
- fpr.csv: per hasher x threshold t = 0..keep_below: the orig-orig FPR
  with the default interval (pairs sharing a photo are dependent;
  harness.metrics.intervals.dependent_pair_interval), the Clopper-Pearson
  ("if pairs were independent") and bootstrap cross-checks, and the same
  rate with NO duplicate exclusion: the pairs inside declared groups
  counted as negatives too (FPR_COLUMNS; `fpr_table`).
- retrieval.csv: recall@1 and muAP per hasher x transform (harness.metrics.retrieval).
- diagnostics.csv: per hasher: bit bias, bit correlation, impostor moments,
  Daugman degrees of freedom and the fit of the binomial model.
- extrapolation.csv: per hasher x threshold: measured orig-orig FPR and,
  in separate columns, the binomial-model FPR (a model, not a measurement).
- bit_flips.parquet: per hasher x transform x bit: flip rate (variants) or
  share of ones (originals).
"""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd
from scipy.stats import norm

from . import diagnostics as diag
from .distances import metric_for
from .hamming import distance_histogram, padding_positions
from .intervals import bootstrap_fpr, clopper_pearson, dependent_pair_interval, recommend_threshold
from .per_photo import per_photo_jackknife_variance, per_photo_rate
from .pooled import pooled_variant_fpr
from .retrieval import micro_average_precision, recall_at_1
from .summary import summarise

ORIGINAL_KEY = "original()"
HISTOGRAM_COLUMNS = ["hasher", "bits", "transform", "family", "severity", "kind", "distance", "count"]
CLOSE_COLUMNS = ["hasher", "bits", "kind", "transform", "image_a", "image_b", "distance"]
COLLISION_COLUMNS = [
    "hasher",
    "bits",
    "rank",
    "distance",
    "image_a",
    "image_b",
    "name_a",
    "name_b",
    "group_a",
    "group_b",
]
ROC_COLUMNS = [
    "hasher",
    "bits",
    "transform",
    "family",
    "severity",
    "negatives",
    "threshold",
    "tp",
    "fp",
    "n_pos",
    "n_neg",
    "tpr",
    "fpr",
    "fnr",
    "fpr_lo",
    "fpr_hi",
    "fpr_cp_lo",
    "fpr_cp_hi",
    "fpr_boot_lo",
    "fpr_boot_hi",
    "fpr_upper",
    "det_fpr_z",
    "det_fnr_z",
]
THRESHOLD_COLUMNS = [
    "hasher",
    "bits",
    "negatives",
    "target_fpr",
    "recommended_threshold",
    "fp",
    "n_neg",
    "fpr",
    "fpr_upper",
    "transform",
    "family",
    "severity",
    "tpr",
    "tpr_cp_lo",
    "tpr_cp_hi",
    "per_photo_rate",
    "per_photo_low",
    "per_photo_high",
    "fpr_lo",
    "fpr_cp_upper",
    "fpr_boot_upper",
]
PER_PHOTO_TABLE_COLUMNS = [
    "hasher",
    "bits",
    "negatives",
    "transform",
    "family",
    "severity",
    "threshold",
    "photos",
    "photos_matching",
    "rate",
    "low",
    "high",
    "interval",
]
FPR_COLUMNS = [
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
    "fpr_boot_lo",
    "fpr_boot_hi",
    "fp_same_group",
    "n_same_group",
    "fp_no_exclusion",
    "n_no_exclusion",
    "fpr_no_exclusion",
    "fpr_no_exclusion_lo",
    "fpr_no_exclusion_hi",
]
RETRIEVAL_COLUMNS = [
    "hasher",
    "bits",
    "transform",
    "family",
    "severity",
    "n_queries",
    "n_database",
    "recall_at_1",
    "recall_at_1_strict",
    "micro_ap",
]


def _label(hasher) -> str:
    """The name a hasher's rows carry: its label (registry name plus
    non-default parameters) when it has one, else its name."""
    return getattr(hasher, "label", None) or hasher.name


def _packed(series: pd.Series, nbytes: int) -> np.ndarray:
    """The hashes of a column as a uint8 matrix (rows x nbytes). The column
    holds Python bytes, or Arrow binary (the run's compact hash table,
    `harness.engine.compact`: read without one Python object per row)."""
    if not len(series):
        return np.zeros((0, nbytes), np.uint8)
    if isinstance(series.dtype, pd.ArrowDtype):
        import pyarrow as pa

        arr = pa.chunked_array(series.array._pa_array).combine_chunks()
        if arr.null_count == 0:
            fixed = arr.cast(pa.binary(nbytes))
            data = np.frombuffer(fixed.buffers()[1], np.uint8)
            return data[fixed.offset * nbytes : (fixed.offset + len(fixed)) * nbytes].reshape(-1, nbytes).copy()
    return np.stack([np.frombuffer(b, np.uint8) for b in series])


def choose_keep_below(
    neg_hist, keep_fpr: float, target_fpr: float, max_pairs: int, min_pairs: int = 0, at_least: int = -1
) -> int:
    """Largest t with FPR(t) <= max(keep_fpr, target_fpr) (pass the largest
    target whose threshold needs an interval as `target_fpr`), at least 0,
    at least the smallest t with min_pairs pairs at or under it (so the
    min_pairs closest pairs are kept) and at least `at_least` (a threshold
    that must have an interval, e.g. the orig-orig recommendation for a
    variant-orig set), then lowered until at most max_pairs pairs are kept
    (-1: none).

    >>> choose_keep_below([0, 1, 5, 100], 0.01, 0.01, 1000)
    1
    >>> choose_keep_below([0, 1, 5, 100], 0.01, 0.01, 1000, at_least=2)
    2
    >>> choose_keep_below([0, 1, 5, 100], 0.01, 0.01, 5, at_least=2)
    1
    """
    neg = np.asarray(neg_hist, dtype=np.int64)
    n = int(neg.sum())
    if n == 0:
        return -1
    cum = np.cumsum(neg)
    ok = np.nonzero(cum <= max(keep_fpr, target_fpr) * n)[0]
    t = int(ok[-1]) if len(ok) else 0
    if min_pairs > 0:
        t = max(t, int(np.searchsorted(cum, min(min_pairs, n))))
    t = max(t, min(int(at_least), len(cum) - 1))
    while t >= 0 and cum[t] > max_pairs:
        t -= 1
    return t


def _seed(base: int, *parts) -> int:
    return (int(base) * 1_000_003 + zlib.crc32("\x1f".join(map(str, parts)).encode())) % (2**32)


class NegativeSet:
    """One set of negative pairs: its histogram, kept close pairs and the
    per-threshold FPR with its intervals.

    lo, hi: the default interval (`dependent_pair_interval`: pairs that share
    a photo are dependent; deterministic), NaN above keep_below; `upper` is
    hi, the bound every recommendation uses. cp_lo, cp_hi: Clopper-Pearson
    over pairs, what the interval would be IF PAIRS WERE INDEPENDENT;
    boot_lo, boot_hi: the image-level bootstrap, a seeded cross-check."""

    def __init__(self, kind, hist, keep_below, pairs, boot_lo, boot_hi, confidence, dep_lo=(), dep_hi=()):
        self.kind = kind
        self.hist = hist
        self.keep_below = keep_below
        self.pairs = pairs  # (i, j, d)
        n = int(hist.sum())
        self.n = n
        fp = np.cumsum(hist)
        self.fp = fp
        with np.errstate(invalid="ignore", divide="ignore"):
            self.fpr = fp / n if n else np.full(len(fp), np.nan)
        if n:
            self.cp_lo, self.cp_hi = clopper_pearson(fp, n, confidence)
        else:  # no negative pairs: no interval in the tables (NaN, written empty)
            self.cp_lo = self.cp_hi = np.full(len(fp), np.nan)

        def padded(values):
            out = np.full(len(hist), np.nan)
            out[: len(values)] = values
            return out

        self.boot_lo, self.boot_hi = padded(boot_lo), padded(boot_hi)
        self.lo, self.hi = padded(dep_lo), padded(dep_hi)
        self.upper = self.hi


def _negative_set(
    kind,
    metric,
    a,
    b,
    ga,
    gb,
    img_a,
    img_b,
    group_of_image,
    cfg,
    seed,
    min_pairs: int = 0,
    cover_fpr: float = 0.0,
    cover_threshold: int = -1,
) -> NegativeSet:
    hist = metric.hist(a, b, ga, gb)
    keep = choose_keep_below(
        hist, cfg.keep_fpr, max(cfg.target_fpr, cover_fpr), cfg.max_close_pairs, min_pairs, cover_threshold
    )
    pairs = (
        metric.close(a, b, keep, ga, gb, expected=int(hist[: keep + 1].sum()))
        if keep >= 0
        else (np.zeros(0, np.int64),) * 3
    )
    lo = hi = dep_lo = dep_hi = np.zeros(0)
    if keep >= 0:
        dep_lo, dep_hi = dependent_pair_interval(img_a, img_b, group_of_image, *pairs, keep, cfg.confidence)
    if cfg.bootstrap_replicates > 0 and keep >= 0:
        lo, hi, _ = bootstrap_fpr(
            img_a, img_b, group_of_image, *pairs, keep, cfg.bootstrap_replicates, seed, cfg.confidence
        )
    return NegativeSet(kind, hist, keep, pairs, lo, hi, cfg.confidence, dep_lo, dep_hi)


def _roc_rows(meta, pos, neg: NegativeSet):
    n_pos = int(pos.sum())
    tp = np.cumsum(pos)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = tp / n_pos if n_pos else np.full(len(tp), np.nan)
        fnr = 1 - tpr
        det_x = norm.ppf(neg.fpr)
        det_y = norm.ppf(fnr)
    det_x[~np.isfinite(det_x)] = np.nan
    det_y[~np.isfinite(det_y)] = np.nan
    return pd.DataFrame(
        {
            **meta,
            "threshold": np.arange(len(pos)),
            "tp": tp,
            "fp": neg.fp,
            "n_pos": n_pos,
            "n_neg": neg.n,
            "tpr": tpr,
            "fpr": neg.fpr,
            "fnr": fnr,
            "fpr_lo": neg.lo,
            "fpr_hi": neg.hi,
            "fpr_cp_lo": neg.cp_lo,
            "fpr_cp_hi": neg.cp_hi,
            "fpr_boot_lo": neg.boot_lo,
            "fpr_boot_hi": neg.boot_hi,
            "fpr_upper": neg.upper,
            "det_fpr_z": det_x,
            "det_fnr_z": det_y,
        }
    )


def analyse(hashes: pd.DataFrame, hashers, specs, metrics_cfg) -> dict[str, pd.DataFrame]:
    """All result tables of a run (see the module docstring)."""
    cfg = metrics_cfg
    hist_rows, close_parts, roc_parts, thr_rows, coll_parts, retr_rows, diag_rows = [], [], [], [], [], [], []
    extra_parts, flip_parts, neg_sets, photo_parts, fpr_parts = [], [], {}, [], []
    for hasher in hashers:
        metric = metric_for(hasher)
        bits = metric.bits  # histogram length - 1 (bits, or the last bin index)
        hh = hashes[hashes["hasher"] == _label(hasher)]
        by_transform = dict(tuple(hh.groupby("transform", sort=False)))
        empty = hh.iloc[:0]
        orig = by_transform.get(ORIGINAL_KEY, empty).sort_values("image_id").drop_duplicates("image_id")
        orig_packed = _packed(orig["hash"], hasher.nbytes)
        orig_ids = orig["image_id"].to_numpy()
        orig_groups = orig["group"].to_numpy()
        _, group_code = np.unique(orig_groups, return_inverse=True) if len(orig) else (None, np.zeros(0, int))
        index = {img: i for i, img in enumerate(orig_ids)}
        img_all = np.arange(len(orig))
        # close pairs hold image ids as codes into one sorted list (8 bytes a
        # row instead of two 64-character strings) and hasher, kind and
        # transform as categoricals too; the files hold plain strings
        # (plain_strings)
        id_dtype = pd.CategoricalDtype(np.unique(hh["image_id"].to_numpy().astype(str)))
        kind_dtype = pd.CategoricalDtype(["orig-orig", "variant-orig"])
        transform_dtype = pd.CategoricalDtype(list(dict.fromkeys([ORIGINAL_KEY] + [s.key for s in specs])))

        def emit(kind, key, family, severity, hist):
            for d in np.nonzero(hist)[0]:
                hist_rows.append((_label(hasher), bits, key, family, severity, kind, int(d), int(hist[d])))

        def keep_close(neg, kind, key, ids_a, ids_b):
            i, j, d = neg.pairs
            if len(i):
                n = len(i)
                close_parts.append(
                    pd.DataFrame(
                        {
                            "hasher": pd.Categorical.from_codes(np.zeros(n, np.int8), categories=[_label(hasher)]),
                            "bits": bits,
                            "kind": pd.Categorical.from_codes(
                                np.full(n, kind_dtype.categories.get_loc(kind), np.int8), dtype=kind_dtype
                            ),
                            "transform": pd.Categorical.from_codes(
                                np.full(n, transform_dtype.categories.get_loc(key), np.int32), dtype=transform_dtype
                            ),
                            "image_a": _id_codes(ids_a, i, id_dtype),
                            "image_b": _id_codes(ids_b, j, id_dtype),
                            "distance": d,
                        }
                    )
                )

        def per_photo(negatives, key, family, severity, mins, neg=None, query_photo=None, partner_photo=None):
            dependence = None
            if neg is not None and neg.keep_below >= 0:
                i, j, d = neg.pairs
                if partner_photo is None:  # orig-orig: both photos of a pair are queries
                    mq, mp, md = np.r_[i, j], np.r_[j, i], np.r_[d, d]
                else:
                    mq, mp, md = i, partner_photo[j], d
                v = per_photo_jackknife_variance(
                    query_photo, np.asarray(mins) >= 0, mq, mp, md, neg.keep_below, len(orig_packed)
                )
                dependence = (neg.keep_below, v)
            table = per_photo_rate(mins, bits, cfg.confidence, dependence)
            photo_parts.append(
                table.assign(
                    hasher=_label(hasher),
                    bits=bits,
                    negatives=negatives,
                    transform=key,
                    family=family,
                    severity=severity,
                )[PER_PHOTO_TABLE_COLUMNS]
            )
            return table

        oo = None
        oo_photos = None
        oo_recommended = -1  # every variant-orig set keeps pairs up to it (its default interval is defined there)
        if cfg.orig_orig:
            oo = _negative_set(
                "orig-orig",
                metric,
                orig_packed,
                None,
                orig_groups,
                None,
                img_all,
                None,
                group_code,
                cfg,
                _seed(cfg.bootstrap_seed, _label(hasher), ORIGINAL_KEY),
                min_pairs=cfg.collision_k,
                cover_fpr=max(cfg.fpr_points, default=0.0),
            )
            emit("orig-orig", ORIGINAL_KEY, "original", "", oo.hist)
            keep_close(oo, "orig-orig", ORIGINAL_KEY, orig_ids, orig_ids)
            coll_parts.append(_collisions(_label(hasher), bits, oo, orig, cfg.collision_k))
            fpr_parts.append(fpr_table(_label(hasher), bits, oo, metric, orig_packed, orig_groups, cfg.confidence))
            oo_mins = metric.nearest_within(orig_packed, orig_groups)
            oo_photos = per_photo("orig-orig", ORIGINAL_KEY, "original", "", oo_mins, oo, img_all)
            if oo.n:
                oo_recommended = recommend_threshold(oo.upper, cfg.target_fpr)
        pad = None
        if metric.kind == "hamming":
            all_packed = _packed(hh["hash"], hasher.nbytes)  # originals and variants: one padding layout
            pad = padding_positions(all_packed, hasher.bits)
        orig_bits = diag.unpack_bits(orig_packed, hasher.bits, pad) if pad is not None else None
        if orig_bits is not None and cfg.diagnostics:
            flip_parts.append(
                pd.DataFrame(
                    {
                        "hasher": _label(hasher),
                        "transform": ORIGINAL_KEY,
                        "family": "original",
                        "severity": "",
                        "bit": np.arange(hasher.bits),
                        "flip_rate": np.nan,
                        "share_ones": diag.share_of_ones(orig_bits),
                        "n_images": len(orig),
                    }
                )
            )
        positives = {}
        for spec in specs:
            var = by_transform.get(spec.key, empty)
            var = var[var["image_id"].isin(index)].sort_values("image_id").drop_duplicates("image_id")
            if not len(var):
                continue
            var_packed = _packed(var["hash"], hasher.nbytes)
            rows = np.array([index[i] for i in var["image_id"]], dtype=np.int64)
            sev = "" if spec.severity is None else str(spec.severity)
            meta = {"family": spec.family, "severity": sev}
            pos_d = metric.paired(var_packed, orig_packed[rows])  # query = variant
            pos = (
                np.bincount(pos_d, minlength=metric.nbins).astype(np.int64)
                if metric.kind != "hamming"
                else distance_histogram(pos_d, bits)
            )
            positives[spec.key] = (meta, pos)
            emit("positive", spec.key, spec.family, sev, pos)
            if cfg.variant_orig:
                vo = _negative_set(
                    "variant-orig",
                    metric,
                    var_packed,
                    orig_packed,
                    var["group"].to_numpy(),
                    orig_groups,
                    rows,
                    img_all,
                    group_code,
                    cfg,
                    _seed(cfg.bootstrap_seed, _label(hasher), spec.key),
                    cover_threshold=oo_recommended,
                )
                emit("variant-orig", spec.key, spec.family, sev, vo.hist)
                keep_close(vo, "variant-orig", spec.key, var["image_id"].to_numpy(), orig_ids)
                neg_sets[(_label(hasher), spec.key, "variant-orig")] = vo
                roc_parts.append(
                    _roc_rows(
                        {
                            "hasher": _label(hasher),
                            "bits": bits,
                            "transform": spec.key,
                            **meta,
                            "negatives": "variant-orig",
                        },
                        pos,
                        vo,
                    )
                )
                mins, ties = metric.nearest(var_packed, orig_packed, var["group"].to_numpy(), orig_groups)
                per_photo("variant-orig", spec.key, spec.family, sev, mins, vo, rows, img_all)
                if cfg.retrieval:
                    r1, r1s = recall_at_1(pos_d, mins, ties)
                    retr_rows.append(
                        (
                            _label(hasher),
                            bits,
                            spec.key,
                            spec.family,
                            sev,
                            len(var),
                            len(orig),
                            r1,
                            r1s,
                            micro_average_precision(pos, vo.hist),
                        )
                    )
            if oo is not None:
                neg_sets[(_label(hasher), spec.key, "orig-orig")] = oo
                roc_parts.append(
                    _roc_rows(
                        {
                            "hasher": _label(hasher),
                            "bits": bits,
                            "transform": spec.key,
                            **meta,
                            "negatives": "orig-orig",
                        },
                        pos,
                        oo,
                    )
                )
            if orig_bits is not None and cfg.diagnostics:
                vb = diag.unpack_bits(var_packed, hasher.bits, pad)
                flip_parts.append(
                    pd.DataFrame(
                        {
                            "hasher": _label(hasher),
                            "transform": spec.key,
                            "family": spec.family,
                            "severity": sev,
                            "bit": np.arange(hasher.bits),
                            "flip_rate": diag.flip_rates(orig_bits[rows], vb),
                            "share_ones": diag.share_of_ones(vb),
                            "n_images": len(var),
                        }
                    )
                )
        if oo is not None:
            if not positives:  # no transforms: summarise gives the orig-orig row of the originals
                neg_sets[(_label(hasher), ORIGINAL_KEY, "orig-orig")] = oo
            thr_rows.extend(_threshold_rows(_label(hasher), bits, oo, positives, cfg, oo_photos))
            if cfg.diagnostics:
                row, extra = _diagnostics(hasher, metric, oo, orig_bits)
                diag_rows.append(row)
                extra_parts.append(extra)

    close = _concat(close_parts, CLOSE_COLUMNS)
    histograms = pd.DataFrame(hist_rows, columns=HISTOGRAM_COLUMNS)
    metrics = summarise(
        histograms,
        cfg.target_fpr,
        tuple(cfg.fpr_points),
        neg_sets=neg_sets,
        confidence=cfg.confidence,
        replicates=cfg.bootstrap_replicates,
    )
    tables = {
        "histograms.parquet": histograms,
        "metrics.csv": metrics,
        "roc.csv": _concat(roc_parts, ROC_COLUMNS),
        "thresholds.csv": pd.DataFrame(thr_rows, columns=THRESHOLD_COLUMNS),
        "fpr.csv": _concat(fpr_parts, FPR_COLUMNS),
        "close_pairs.parquet": close,
        "collisions.csv": _concat(coll_parts, COLLISION_COLUMNS),
        "per_photo_rate.csv": _concat(photo_parts, PER_PHOTO_TABLE_COLUMNS),
    }
    tables["duplicate_candidates.csv"] = duplicate_groups(
        tables["close_pairs.parquet"], dict(zip(hashes["image_id"], hashes["image_name"])), [h.name for h in hashers]
    )
    if cfg.variant_orig:
        tables["fpr_variant.csv"] = pooled_variant_fpr(close, histograms, hashes, cfg.confidence)
    if cfg.retrieval:
        tables["retrieval.csv"] = pd.DataFrame(retr_rows, columns=RETRIEVAL_COLUMNS)
    if cfg.diagnostics:
        tables["diagnostics.csv"] = pd.DataFrame(diag_rows)
        tables["extrapolation.csv"] = _concat(extra_parts, None)
        tables["bit_flips.parquet"] = _concat(flip_parts, None)
    return tables


def _id_codes(ids: np.ndarray, rows: np.ndarray, dtype: pd.CategoricalDtype) -> pd.Categorical:
    """ids[rows] as a categorical of `dtype` (whose categories are sorted)."""
    codes = dtype.categories.get_indexer(ids)
    return pd.Categorical.from_codes(codes[rows].astype(np.int32), dtype=dtype)


def _unify_categoricals(parts: list) -> list:
    """Where every part has a categorical column but the categories differ
    (e.g. the close pairs of two hashers), recode each part onto the sorted
    union of the categories, so that pd.concat keeps the column categorical
    (it would otherwise fall back to one string per row)."""
    if len(parts) < 2:
        return parts
    for col in parts[0].columns:
        dtypes = [p[col].dtype if col in p.columns else None for p in parts]
        if all(isinstance(t, pd.CategoricalDtype) for t in dtypes) and any(t != dtypes[0] for t in dtypes[1:]):
            union = pd.Index(sorted(set().union(*(set(t.categories) for t in dtypes))))
            parts = [p.assign(**{col: p[col].cat.set_categories(union)}) for p in parts]
    return parts


def concat_tables(parts: list) -> pd.DataFrame:
    """pd.concat of the same table from several analyse calls (one per
    hasher), keeping categorical columns compact."""
    return pd.concat(_unify_categoricals(list(parts)), ignore_index=True)


def _concat(parts, columns):
    parts = [p for p in parts if p is not None and len(p)]
    if not parts:
        return pd.DataFrame(columns=columns or [])
    return pd.concat(_unify_categoricals(parts), ignore_index=True)


def plain_strings(df: pd.DataFrame) -> pd.DataFrame:
    """Categorical columns back to plain string columns (what the files
    hold: close_pairs.parquet has the same schema and bytes as before the
    in-memory tables became categorical). Each column is its categories
    taken by code (Arrow's take, faster than astype("str"); same dtype
    and values)."""
    cats = [c for c in df.columns if isinstance(df[c].dtype, pd.CategoricalDtype)]
    if not cats:
        return df
    out = df.copy(deep=False)
    for c in cats:
        col = df[c]
        out[c] = pd.Series(
            col.cat.categories.astype("str").array.take(col.cat.codes.to_numpy(), allow_fill=True),
            index=df.index,
            name=c,
        )
    return out


def _collisions(hasher_name, bits, oo: NegativeSet, orig: pd.DataFrame, k: int) -> pd.DataFrame:
    """Every kept orig-orig pair at distance 0, plus the k closest pairs."""
    i, j, d = oo.pairs  # sorted by (distance, i, j)
    take = max(int((d == 0).sum()), min(k, len(d)))
    i, j, d = i[:take], j[:take], d[:take]
    ids, names, groups = (orig[c].to_numpy() for c in ("image_id", "image_name", "group"))
    return pd.DataFrame(
        {
            "hasher": hasher_name,
            "bits": bits,
            "rank": np.arange(1, take + 1),
            "distance": d,
            "image_a": ids[i],
            "image_b": ids[j],
            "name_a": names[i],
            "name_b": names[j],
            "group_a": groups[i],
            "group_b": groups[j],
        }
    )


def same_group_pairs(groups) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, of rows that share a group label: the pairs
    a duplicate exclusion removes from the negatives.

    >>> i, j = same_group_pairs(["a", "b", "a", "a"])
    >>> list(zip(i.tolist(), j.tolist()))
    [(0, 2), (0, 3), (2, 3)]
    """
    groups = np.asarray(groups)
    if not len(groups):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, code = np.unique(groups, return_inverse=True)
    order = np.argsort(code, kind="stable")
    starts = np.flatnonzero(np.r_[True, code[order][1:] != code[order][:-1]])
    ends = np.r_[starts[1:], len(order)]
    ii, jj = [], []
    for a, b in zip(starts, ends):
        if b - a > 1:
            rows = np.sort(order[a:b])
            x, y = np.triu_indices(len(rows), 1)
            ii.append(rows[x])
            jj.append(rows[y])
    if not ii:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return np.concatenate(ii).astype(np.int64), np.concatenate(jj).astype(np.int64)


def fpr_table(hasher_name, bits, oo: NegativeSet, metric, orig_packed, orig_groups, confidence) -> pd.DataFrame:
    """fpr.csv's rows for one hasher (see the module docstring): t = 0..
    keep_below, with and without the duplicate exclusion. Without it, the
    negatives are all n(n-1)/2 pairs of originals: the kept close pairs plus
    the same-group pairs (their distances from `metric.paired`), every photo
    its own group for the interval."""
    keep = oo.keep_below
    if keep < 0:
        return pd.DataFrame(columns=FPR_COLUMNS)
    si, sj = same_group_pairs(orig_groups)
    sd = np.zeros(0, np.int64)
    if len(si):  # the smaller of the two directions, like the within-set histogram
        a, b = orig_packed[si], orig_packed[sj]
        sd = np.minimum(np.asarray(metric.paired(a, b)), np.asarray(metric.paired(b, a))).astype(np.int64)
    t = np.arange(keep + 1)
    fp_same = np.searchsorted(np.sort(sd), t, side="right")
    n_same = len(si)
    fp_all = oo.fp[: keep + 1] + fp_same
    n_all = oo.n + n_same
    i, j, d = oo.pairs
    near = sd <= keep
    img = np.arange(len(orig_packed))
    lo, hi = dependent_pair_interval(
        img,
        None,
        img,
        np.concatenate([i, si[near]]),
        np.concatenate([j, sj[near]]),
        np.concatenate([d, sd[near]]),
        keep,
        confidence,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr_all = fp_all / n_all if n_all else np.full(len(t), np.nan)
    return pd.DataFrame(
        {
            "hasher": hasher_name,
            "bits": bits,
            "threshold": t,
            "fp": oo.fp[: keep + 1],
            "n_neg": oo.n,
            "fpr": oo.fpr[: keep + 1],
            "fpr_lo": oo.lo[: keep + 1],
            "fpr_hi": oo.hi[: keep + 1],
            "fpr_cp_lo": oo.cp_lo[: keep + 1],
            "fpr_cp_hi": oo.cp_hi[: keep + 1],
            "fpr_boot_lo": oo.boot_lo[: keep + 1],
            "fpr_boot_hi": oo.boot_hi[: keep + 1],
            "fp_same_group": fp_same,
            "n_same_group": n_same,
            "fp_no_exclusion": fp_all,
            "n_no_exclusion": n_all,
            "fpr_no_exclusion": fpr_all,
            "fpr_no_exclusion_lo": lo,
            "fpr_no_exclusion_hi": hi,
        }
    )[FPR_COLUMNS]


def _threshold_rows(hasher_name, bits, oo: NegativeSet, positives: dict, cfg, photos=None):
    """Recommended threshold per target FPR from the orig-orig upper bound
    of the default (dependent-pairs, deterministic) interval
    (harness.metrics.intervals.recommend_threshold) and the TPR per
    transform at that threshold, with a Clopper-Pearson interval (one
    positive pair per image: independent across images). Without positives
    (no transforms) one row per target for transform original(), TPR NaN.
    The last three columns: the orig-orig per-photo false-match rate at the
    recommended threshold (`photos`: per_photo_rate's table) and its
    Clopper-Pearson interval over photos; at t = -1 no photo matches. Then
    fpr_lo (the default interval's lower end; fpr_upper is its upper end)
    and, as labelled cross-checks, fpr_cp_upper (Clopper-Pearson: if pairs
    were independent) and fpr_boot_upper (image-level bootstrap)."""
    rows = []
    targets = sorted(set(cfg.fpr_points) | {cfg.target_fpr}, reverse=True)
    if not positives:
        positives = {ORIGINAL_KEY: ({"family": "original", "severity": ""}, np.zeros(len(oo.hist), np.int64))}
    for target in targets:
        t = recommend_threshold(oo.upper, target)
        fp = int(oo.fp[t]) if t >= 0 else 0
        fpr = float(oo.fpr[t]) if t >= 0 else 0.0
        ub = float(oo.upper[t]) if t >= 0 else 0.0
        pp = (np.nan,) * 3
        if photos is not None and len(photos):
            n_ph = int(photos["photos"].iat[0])
            if t >= 0:
                pp = tuple(float(photos[c].iat[t]) for c in ("rate", "low", "high"))
            elif n_ph:
                pp = (0.0, *clopper_pearson(0, n_ph, cfg.confidence))
        for key, (meta, pos) in positives.items():
            n_pos = int(pos.sum())
            tp = int(pos[: t + 1].sum()) if t >= 0 else 0
            lo, hi = clopper_pearson(tp, n_pos, cfg.confidence) if n_pos else (np.nan, np.nan)
            rows.append(
                (
                    hasher_name,
                    bits,
                    "orig-orig",
                    target,
                    t,
                    fp,
                    oo.n,
                    fpr,
                    ub,
                    key,
                    meta["family"],
                    meta["severity"],
                    tp / n_pos if n_pos else np.nan,
                    float(lo),
                    float(hi),
                    *pp,
                    float(oo.lo[t]) if t >= 0 else 0.0,
                    float(oo.cp_hi[t]) if t >= 0 else 0.0,
                    float(oo.boot_hi[t]) if t >= 0 else 0.0,
                )
            )
    return rows


def _diagnostics(hasher, metric, oo: NegativeSet, orig_bits):
    bits = metric.bits
    mean, var = diag.impostor_moments(oo.hist)
    row = {
        "hasher": _label(hasher),
        "bits": bits,
        "distance": metric.kind,
        "n_images": None,
        "n_pairs": oo.n,
        "impostor_mean": mean,
        "impostor_var": var,
    }
    if orig_bits is not None:
        p1 = diag.share_of_ones(orig_bits)
        row["n_images"] = len(orig_bits)
        row |= {
            "bit_share_ones_mean": float(np.mean(p1)),
            "bit_bias_mean_abs": float(np.mean(np.abs(p1 - 0.5))),
            "bit_bias_max_abs": float(np.max(np.abs(p1 - 0.5))),
            "n_bits_share_outside_0.1_0.9": int(((p1 < 0.1) | (p1 > 0.9)).sum()),
        }
        row |= diag.correlation_summary(orig_bits)
    thresholds = np.arange(len(oo.hist))
    extra = pd.DataFrame(
        {
            "hasher": _label(hasher),
            "bits": bits,
            "threshold": thresholds,
            "fp_measured": oo.fp,
            "n_neg": oo.n,
            "fpr_measured": oo.fpr,
            "fpr_measured_upper": oo.upper,
        }
    )
    if metric.kind == "hamming":
        N, p, sigma = diag.daugman_dof(oo.hist, bits)
        model = diag.binomial_tail(thresholds, bits, N, p)
        row |= {"daugman_p": p, "daugman_sigma": sigma, "daugman_dof": N, "dof_ideal": bits}
        row |= diag.tail_fit(oo.hist, model)
        for x in (1e-6, 1e-9, 1e-12):  # model only: labelled as such in the column name
            ok = np.nonzero(model <= x)[0]
            row[f"model_threshold_at_fpr_{x:.0e}".replace("e-0", "e-")] = int(ok[-1]) if len(ok) else -1
        extra["fpr_model"] = model
        extra["model"] = f"extrapolation: Binomial(N={N:.4g}, p={p:.4g}) (Daugman degrees of freedom)"
    else:
        extra["fpr_model"] = np.nan
        extra["model"] = "none (non-Hamming distance)"
    return row, extra


def duplicate_groups(close_pairs_df: pd.DataFrame, names: dict, hashers=None) -> pd.DataFrame:
    """Candidate groups.csv (columns image, group) joining images whose
    originals are at distance 0 under EVERY hasher in `hashers` (default:
    all hashers present): `names` maps image_id to name. Review them on the contact sheet, then pass the
    file as dataset.groups and re-run."""
    df = close_pairs_df
    if "kind" in df.columns:
        df = df[df["kind"] == "orig-orig"]
    hashers = sorted(set(df["hasher"])) if hashers is None else list(hashers)
    zero = df[df["distance"] == 0]
    counts = zero.groupby(["image_a", "image_b"])["hasher"].nunique()
    both = [pair for pair, c in counts.items() if c == len(hashers)]
    parent: dict[str, str] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in both:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    rows = sorted((str(names.get(x, x)), "dup-" + find(x)[:12]) for x in parent)
    return pd.DataFrame(rows, columns=["image", "group"])
