"""The two-hash tables of a run (pure: DataFrames in, DataFrames out).

For every configured pair of hashers (metrics.hasher_pairs) and the photos
both hashed:

- joint_histograms.parquet (JOINT_COLUMNS): the joint histogram
  (harness.metrics.joint) of the positives of each transform (variant of a
  photo against its original, under both hashers), of the orig-orig
  negatives (transform ``original()``) and of the variant-orig negatives
  of each transform; only non-zero cells. Group exclusion as everywhere.
  When both hashers hashed the same photos, the marginals equal the rows of
  histograms.parquet exactly.
- cascades.csv (CASCADE_COLUMNS): per pair x negative set x transform x
  rule (and, or) x point: ``best``, the (t1, t2) with the highest TPR
  whose Clopper-Pearson FPR upper bound stays under metrics.target_fpr
  (harness.metrics.cascade.best_point), and ``own``, each hasher's own
  recommended threshold at that target (thresholds.csv; the deployed
  case: a second hash re-checking the first at its usual threshold); the
  rule's TPR and FPR there, each hasher's own
  FPR at its threshold (fpr_1, fpr_2), the FPR independence would predict
  (fpr_independent = fpr_1 * fpr_2 for and, fpr_1 + fpr_2 - fpr_1 fpr_2 for
  or) and ratio = fpr / fpr_independent with ratio_low, ratio_high (the
  Clopper-Pearson interval of the joint count over the prediction;
  pairs treated as independent, so too narrow); fpr_lo, fpr_hi: the
  default interval of the rule's FPR (pairs that share a photo dependent,
  `harness.metrics.cascade.rule_interval` over the pairs
  `harness.metrics.cascade.rule_pairs` lists), when both hashers are
  Hamming and the listed pairs stay under MAX_RULE_PAIRS, else empty.
  ``best`` is chosen by the Clopper-Pearson upper bound (fpr_upper), which
  is never above fpr_hi; a ``best`` row whose fpr_hi exceeds target_fpr is
  a point the default interval does not confirm.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .cascade import MAX_RULE_PAIRS, RULES, best_point, cascade_rates, independence, rule_interval, rule_pairs
from .distances import metric_for
from .intervals import clopper_pearson
from .joint import joint_pair_histogram
from .tables import ORIGINAL_KEY, _label, _packed

JOINT_COLUMNS = ["hasher_1", "hasher_2", "kind", "transform", "family", "severity", "d1", "d2", "count"]
CASCADE_COLUMNS = [
    "hasher_1",
    "hasher_2",
    "negatives",
    "transform",
    "family",
    "severity",
    "rule",
    "point",
    "target_fpr",
    "t1",
    "t2",
    "tp",
    "n_pos",
    "tpr",
    "fp",
    "n_neg",
    "fpr",
    "fpr_upper",
    "fpr_1",
    "fpr_2",
    "fpr_independent",
    "ratio",
    "ratio_low",
    "ratio_high",
    "fpr_lo",
    "fpr_hi",
]


class _Side:
    """One hasher's hashes of a run, by transform and image id."""

    def __init__(self, hashes: pd.DataFrame, hasher):
        self.hasher = hasher
        self.label = _label(hasher)
        self.metric = metric_for(hasher)
        self.last = self.metric.nbins - 1  # bits, or the last bin index
        self.bins = None if self.metric.kind == "hamming" else self.metric.bins
        hh = hashes[hashes["hasher"] == self.label]
        self.by_transform = {
            k: v.drop_duplicates("image_id").set_index("image_id") for k, v in hh.groupby("transform", sort=False)
        }

    def packed(self, transform: str, ids) -> np.ndarray:
        return _packed(self.by_transform[transform].loc[ids, "hash"], self.hasher.nbytes)


def _common(s1: _Side, s2: _Side, transform: str, within=None) -> np.ndarray:
    ids = set()
    if transform in s1.by_transform and transform in s2.by_transform:
        ids = set(s1.by_transform[transform].index) & set(s2.by_transform[transform].index)
    if within is not None:
        ids &= set(within)
    return np.array(sorted(ids), dtype=object)


def _joint(s1, s2, a_t, a_ids, b_t=None, b_ids=None, ga=None, gb=None):
    b1 = None if b_t is None else s1.packed(b_t, b_ids)
    b2 = None if b_t is None else s2.packed(b_t, b_ids)
    return joint_pair_histogram(
        s1.packed(a_t, a_ids),
        s2.packed(a_t, a_ids),
        b1,
        b2,
        ga,
        gb,
        bins1=s1.bins,
        bins2=s2.bins,
        bits1=s1.last,
        bits2=s2.last,
    )


def _cells(meta: dict, J: np.ndarray) -> pd.DataFrame:
    d1, d2 = np.nonzero(J)
    return pd.DataFrame(
        {
            **{k: [v] * len(d1) for k, v in meta.items()},
            "d1": d1.astype(np.int64),
            "d2": d2.astype(np.int64),
            "count": J[d1, d2].astype(np.int64),
        }
    )


def _at(pos, neg, t1, t2, rule, confidence) -> dict:
    """The rule's counts and rates at (t1, t2) (the row of `best_point`)."""
    tp, n_pos = cascade_rates(pos, t1, t2, rule)[:2]
    fp, n_neg = cascade_rates(neg, t1, t2, rule)[:2]
    _, hi = clopper_pearson(fp, n_neg, confidence) if n_neg else (np.nan, np.nan)
    return {
        "t1": t1,
        "t2": t2,
        "tp": tp,
        "n_pos": n_pos,
        "tpr": tp / n_pos if n_pos else np.nan,
        "fp": fp,
        "n_neg": n_neg,
        "fpr": fp / n_neg if n_neg else np.nan,
        "fpr_upper": hi,
    }


def _cascade_rows(names, negatives, key, family, severity, pos, neg, cfg, own=None, interval=None):
    """Rows of cascades.csv for one negative set and transform; `own`:
    (t1, t2) of the hashers' own recommended thresholds, or None;
    `interval(t1, t2, rule)`: the default (lo, hi) of the rule's FPR, or
    None."""
    rows = []
    for rule in RULES:
        points = [("best", best_point(pos, neg, cfg.target_fpr, rule, cfg.confidence) if neg.sum() else None)]
        if own is not None:
            ok = own[0] >= 0 and own[1] >= 0 and neg.sum()
            points.append(("own", _at(pos, neg, own[0], own[1], rule, cfg.confidence) if ok else None))
        for point, at in points:
            head = (*names, negatives, key, family, severity, rule, point, cfg.target_fpr)
            if at is None:
                t1, t2 = own if point == "own" else (-1, -1)
                rows.append(
                    (
                        *head,
                        t1,
                        t2,
                        0,
                        int(pos.sum()),
                        np.nan,
                        0,
                        int(neg.sum()),
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                        np.nan,
                    )
                )
                continue
            ind = independence(neg, at["t1"], at["t2"], rule, cfg.confidence)
            lo, hi = (np.nan, np.nan) if interval is None else interval(at["t1"], at["t2"], rule)
            rows.append(
                (
                    *head,
                    at["t1"],
                    at["t2"],
                    at["tp"],
                    at["n_pos"],
                    at["tpr"],
                    at["fp"],
                    at["n_neg"],
                    at["fpr"],
                    at["fpr_upper"],
                    ind["rate_1"],
                    ind["rate_2"],
                    ind["predicted"],
                    ind["ratio"],
                    ind["ratio_low"],
                    ind["ratio_high"],
                    lo,
                    hi,
                )
            )
    return rows


def _interval_maker(s1: _Side, s2: _Side, orig_ids, group_codes, confidence: float):
    """``make(neg, a_t, a_ids, b_t=None, b_ids=None)`` -> the `interval`
    callable of `_cascade_rows` for one negative set (A: the rows of
    transform a_t, B: the originals, or A itself), or None when a side is
    not Hamming. Pairs are listed once per (t1, t2, rule)."""
    if s1.metric.kind != "hamming" or s2.metric.kind != "hamming":
        return lambda *args, **kwargs: None
    photo = pd.Index(orig_ids)
    group_of_id = dict(zip(orig_ids, group_codes))

    def make(neg, a_t, a_ids, b_t=None, b_ids=None):
        a1, a2 = s1.packed(a_t, a_ids), s2.packed(a_t, a_ids)
        b1 = b2 = img_b = gb = None
        if b_t is not None:
            b1, b2, img_b = s1.packed(b_t, b_ids), s2.packed(b_t, b_ids), photo.get_indexer(b_ids)
            gb = np.array([group_of_id[x] for x in b_ids])
        img_a, ga = photo.get_indexer(a_ids), np.array([group_of_id[x] for x in a_ids])
        m1, m2 = neg.sum(axis=1).cumsum(), neg.sum(axis=0).cumsum()
        cache = {}

        def interval(t1, t2, rule):
            if (t1, t2, rule) not in cache:
                n1 = int(m1[min(t1, len(m1) - 1)]) if t1 >= 0 else 0
                n2 = int(m2[min(t2, len(m2) - 1)]) if t2 >= 0 else 0
                if (min(n1, n2) if rule == "and" else n1 + n2) > MAX_RULE_PAIRS:
                    cache[(t1, t2, rule)] = (np.nan, np.nan)
                else:
                    i, j = rule_pairs(
                        s1.metric,
                        s2.metric,
                        a1,
                        a2,
                        t1,
                        t2,
                        rule,
                        b1=b1,
                        b2=b2,
                        groups_a=ga,
                        groups_b=gb,
                        first=1 if n1 <= n2 else 2,
                    )
                    r = rule_interval(img_a, img_b, group_codes, i, j, confidence)
                    cache[(t1, t2, rule)] = (r["fpr_lo"], r["fpr_hi"])
            return cache[(t1, t2, rule)]

        return interval

    return make


def own_thresholds(thresholds: pd.DataFrame | None, target_fpr: float) -> dict:
    """{hasher: recommended threshold} at `target_fpr` from thresholds.csv
    (orig-orig negatives); empty without the table."""
    if thresholds is None or not len(thresholds):
        return {}
    sel = thresholds[(thresholds["negatives"] == "orig-orig") & np.isclose(thresholds["target_fpr"], target_fpr)]
    return {h: int(t) for h, t in sel.groupby("hasher", sort=False)["recommended_threshold"].first().items()}


def cascade_tables(
    hashes: pd.DataFrame, pairs, specs, metrics_cfg, thresholds: pd.DataFrame | None = None
) -> dict[str, pd.DataFrame]:
    """joint_histograms.parquet and cascades.csv for `pairs` (a list of
    (hasher, hasher)) from the hash table of a run (columns image_id,
    group, transform, hasher (label), hash); `thresholds`: the run's
    thresholds.csv (for the ``own`` rows; none without it). See the module
    docstring."""
    cfg = metrics_cfg
    own_t = own_thresholds(thresholds, cfg.target_fpr)
    cells, rows = [], []
    for h1, h2 in pairs:
        s1, s2 = _Side(hashes, h1), _Side(hashes, h2)
        names = (s1.label, s2.label)
        own = (own_t[s1.label], own_t[s2.label]) if s1.label in own_t and s2.label in own_t else None
        orig_ids = _common(s1, s2, ORIGINAL_KEY)
        groups = (
            s1.by_transform[ORIGINAL_KEY].loc[orig_ids, "group"].to_numpy() if len(orig_ids) else np.zeros(0, object)
        )
        empty = np.zeros((s1.last + 1, s2.last + 1), np.int64)
        make_interval = _interval_maker(s1, s2, orig_ids, pd.factorize(groups)[0], cfg.confidence)
        oo = oo_interval = None
        if cfg.orig_orig and len(orig_ids):
            oo = _joint(s1, s2, ORIGINAL_KEY, orig_ids, ga=groups)
            oo_interval = make_interval(oo, ORIGINAL_KEY, orig_ids)
            cells.append(
                _cells(
                    {
                        "hasher_1": names[0],
                        "hasher_2": names[1],
                        "kind": "orig-orig",
                        "transform": ORIGINAL_KEY,
                        "family": "original",
                        "severity": "",
                    },
                    oo,
                )
            )
        for spec in specs:
            var_ids = _common(s1, s2, spec.key, orig_ids)
            if not len(var_ids):
                continue
            sev = "" if spec.severity is None else str(spec.severity)
            meta = {
                "hasher_1": names[0],
                "hasher_2": names[1],
                "transform": spec.key,
                "family": spec.family,
                "severity": sev,
            }
            d1 = s1.metric.paired(s1.packed(spec.key, var_ids), s1.packed(ORIGINAL_KEY, var_ids))
            d2 = s2.metric.paired(s2.packed(spec.key, var_ids), s2.packed(ORIGINAL_KEY, var_ids))
            n2 = s2.last + 1
            pos = np.bincount(d1 * n2 + d2, minlength=(s1.last + 1) * n2).reshape(s1.last + 1, n2)
            cells.append(_cells({**meta, "kind": "positive"}, pos))
            if cfg.variant_orig:
                var_groups = s1.by_transform[ORIGINAL_KEY].loc[var_ids, "group"].to_numpy()
                vo = _joint(s1, s2, spec.key, var_ids, ORIGINAL_KEY, orig_ids, var_groups, groups)
                cells.append(_cells({**meta, "kind": "variant-orig"}, vo))
                vo_interval = make_interval(vo, spec.key, var_ids, ORIGINAL_KEY, orig_ids)
                rows += _cascade_rows(names, "variant-orig", spec.key, spec.family, sev, pos, vo, cfg, own, vo_interval)
            if oo is not None:
                rows += _cascade_rows(names, "orig-orig", spec.key, spec.family, sev, pos, oo, cfg, own, oo_interval)
        if not specs and oo is not None:
            rows += _cascade_rows(names, "orig-orig", ORIGINAL_KEY, "original", "", empty, oo, cfg, own, oo_interval)
    joint = (
        pd.concat(cells, ignore_index=True)[JOINT_COLUMNS]
        if cells
        else pd.DataFrame(
            {c: pd.Series(dtype="int64" if c in ("d1", "d2", "count") else object) for c in JOINT_COLUMNS}
        )
    )
    return {"joint_histograms.parquet": joint, "cascades.csv": pd.DataFrame(rows, columns=CASCADE_COLUMNS)}
