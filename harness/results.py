"""One object for a results folder: what `run_experiment` returns, what
`Results.load(folder)` reads back, what the report and the notebooks use.

A results folder holds tables at the top (``metrics.csv``,
``histograms.parquet``, ``hashes.parquet``, ``run.json``, ...), the report
(``report.md``, ``report.html``), its figures in ``figures/`` and, unless the
config points elsewhere, the hash store in ``store/``.

Every table is a pandas DataFrame, read from the folder the first time it is
asked for. Distances are Hamming distances in bits (for hashers with another
distance: the index of a distance bin); a pair *matches* at threshold t when
its distance is <= t.

This module sits between the metrics/risk stages and the front ends: it
imports `harness.metrics` and `harness.risk` (pure functions) and nothing
from the engine or the report, so both can import it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from .metrics.granularity import distance_granularity
from .metrics.summary import histogram_vector

#: kinds of pair in histograms.parquet
KINDS = ("positive", "variant-orig", "orig-orig")
#: tables every results folder has
REQUIRED_FILES = ("metrics.csv", "histograms.parquet", "run.json")
#: tables with their own attribute (or read by the report on its own);
#: every other ``*.csv`` is one of the report's "other tables"
KNOWN_FILES = {
    "metrics.csv",
    "histograms.parquet",
    "run.json",
    "images.csv",
    "errors.csv",
    "close_pairs.parquet",
    "risk.csv",
    "hashes.parquet",
}
#: the folder's figure subfolder
FIGURES = "figures"


def _read_csv(path: str) -> pd.DataFrame:
    try:
        # one type per column for the whole file: chunked inference
        # (low_memory) can give a column such as severity ints in one part
        # and strings in another on a large run
        return pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


class Results:
    """The tables of one experiment run, and the folder they live in.

    Attributes (DataFrames are read from the folder when first used; an
    optional table whose file is absent is ``None``):

    - ``output`` (also ``folder``): the results folder;
    - ``run_info``: run.json as a dict (config, dataset, counts, versions);
    - ``metrics``: metrics.csv, one row per hasher x transform x negative set;
    - ``histograms``: histograms.parquet, pair counts per distance (columns
      hasher, bits, transform, family, severity, kind, distance, count);
    - ``hashes``: hashes.parquet, one row per image x transform x hasher;
    - ``errors``, ``images``, ``thresholds``, ``close_pairs``,
      ``collisions``: the tables of the same names; any table by file name
      with `table` (e.g. ``table("roc.csv")``), all of them with ``tables``;
    - ``config``: the run's validated ExperimentConfig;
    - ``n_errors``: rows of errors.csv;
    - ``hashers``: hasher labels of the run, sorted.

    Examples
    --------
    >>> import tempfile, harness
    >>> out = tempfile.mkdtemp() + "/run"
    >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash"],
    ...           "transforms": [{"family": "jpeg", "severities": [30]}], "output": out}
    >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
    >>> again = harness.Results.load(out)
    >>> again.hashers
    ['phash']
    >>> int(again.hist("phash", "positive").sum())  # 6 photos, one edit each
    6
    >>> sorted(again.metrics["negatives"].unique())
    ['orig-orig', 'variant-orig']
    """

    def __init__(self, folder: str, *, tables: dict | None = None, run_info: dict | None = None, config=None):
        self.output = os.fspath(folder)
        self._tables = dict(tables or {})
        self._run_info = run_info
        self._config = config
        self._hists: dict | None = None
        self._nbins: dict | None = None
        self._bits: dict | None = None
        self._close: dict = {}

    # ---------------------------------------------------------------- loading
    @classmethod
    def load(cls, folder) -> Results:
        """Read a results folder written by `run_experiment` (or the
        ``run`` command).

        Parameters
        ----------
        folder : str or path
            A folder with metrics.csv, histograms.parquet and run.json.

        Returns
        -------
        Results
            Tables are read lazily, when first used.

        Raises
        ------
        FileNotFoundError
            When one of the three required files is missing.

        Examples
        --------
        >>> import tempfile, harness
        >>> harness.Results.load(tempfile.mkdtemp())
        Traceback (most recent call last):
        ...
        FileNotFoundError: not a results folder (no metrics.csv): ...
        """
        folder = os.fspath(folder)
        for name in REQUIRED_FILES:
            if not os.path.isfile(os.path.join(folder, name)):
                raise FileNotFoundError(f"not a results folder (no {name}): {folder}")
        return cls(folder)

    @property
    def folder(self) -> str:
        """The results folder (same as ``output``)."""
        return self.output

    def __repr__(self) -> str:
        return f"Results({self.output!r})"

    def path(self, name: str) -> str:
        """Path of a file in the results folder."""
        return os.path.join(self.output, name)

    def table(self, name: str) -> pd.DataFrame | None:
        """A table by file name (e.g. ``"thresholds.csv"``), read once;
        None when the folder has no such file."""
        if name not in self._tables:
            path = self.path(name)
            if not os.path.isfile(path):
                return None
            if name == "metrics.csv":
                self._tables[name] = pd.read_csv(path)
            elif name.endswith(".csv"):
                self._tables[name] = _read_csv(path)
            elif name.endswith(".parquet"):
                self._tables[name] = pd.read_parquet(path)
            else:
                raise ValueError(f"not a table: {name} (tables end in .csv or .parquet)")
        return self._tables[name]

    @property
    def tables(self) -> dict:
        """Every table of the folder (``*.csv`` and ``*.parquet`` at the
        top), by file name. Reads each of them: on a large run prefer
        `table` or the named attributes."""
        names = set(self._tables)
        if os.path.isdir(self.output):
            names |= {n for n in os.listdir(self.output) if n.endswith((".csv", ".parquet"))}
        return {n: self.table(n) for n in sorted(names) if self.table(n) is not None}

    @property
    def run_info(self) -> dict:
        """run.json: config, dataset, counts, engine, versions, timings."""
        if self._run_info is None:
            with open(self.path("run.json"), encoding="utf-8") as fh:
                self._run_info = json.load(fh)
        return self._run_info

    @property
    def config(self):
        """The run's ExperimentConfig (for a loaded folder, validated again
        from run.json; raises ConfigError when, e.g., its dataset folder is
        gone)."""
        if self._config is None:
            from .config import load_config

            self._config = load_config(self.run_info["config"])
        return self._config

    # ------------------------------------------------------------------ tables
    metrics = property(
        lambda self: self.table("metrics.csv"), doc="metrics.csv: one row per hasher x transform x negative set."
    )
    histograms = property(
        lambda self: self.table("histograms.parquet"),
        doc="histograms.parquet: exact pair counts per hasher, transform, kind, distance.",
    )
    hashes = property(
        lambda self: self.table("hashes.parquet"),
        doc="hashes.parquet: one row per image x transform x hasher (hex in hash_hex).",
    )
    errors = property(
        lambda self: self.table("errors.csv"),
        doc="errors.csv: every image or variant that failed, with stage and reason.",
    )
    images = property(
        lambda self: self.table("images.csv"), doc="images.csv: image_id (sha256), name, path, group, bytes."
    )
    fpr = property(
        lambda self: self.table("fpr.csv"),
        doc="fpr.csv: orig-orig FPR per threshold with the default interval, cross-checks, and without exclusion.",
    )
    fpr_variant = property(
        lambda self: self.table("fpr_variant.csv"),
        doc="fpr_variant.csv: variant-orig FPR pooled over every transform, per threshold, with the default interval.",
    )
    thresholds = property(
        lambda self: self.table("thresholds.csv"),
        doc="thresholds.csv: recommended threshold per hasher and target FPR.",
    )
    close_pairs = property(
        lambda self: self.table("close_pairs.parquet"),
        doc="close_pairs.parquet: every negative pair at or below keep_below.",
    )
    collisions = property(
        lambda self: self.table("collisions.csv"), doc="collisions.csv: the closest orig-orig pairs per hasher."
    )

    @property
    def n_errors(self) -> int:
        """Number of rows of errors.csv (0 when it is absent)."""
        errors = self.errors
        return 0 if errors is None else len(errors)

    def close_pairs_of(self, kind: str = "orig-orig") -> pd.DataFrame | None:
        """The rows of close_pairs.parquet of one kind of negative pair
        (read without loading the others, which can be millions of
        variant-orig rows); every row when the table has no ``kind``."""
        if kind not in self._close:
            self._close[kind] = self._read_close_pairs(kind)
        return self._close[kind]

    def _read_close_pairs(self, kind: str) -> pd.DataFrame | None:
        name = "close_pairs.parquet"
        if name in self._tables:
            close = self._tables[name]
            return close[close["kind"] == kind].reset_index(drop=True) if "kind" in close.columns else close
        path = self.path(name)
        if not os.path.isfile(path):
            return None
        import pyarrow.parquet as pq

        has_kind = "kind" in pq.read_schema(path).names
        return pd.read_parquet(path, filters=[("kind", "==", kind)] if has_kind else None)

    @property
    def extra(self) -> dict:
        """The ``*.csv`` tables other stages added (thresholds.csv,
        diagnostics.csv, ...), by file name: every CSV at the top of the
        folder except metrics, images, errors, risk and compare tables."""
        if not os.path.isdir(self.output):
            return {}
        out = {}
        for name in sorted(os.listdir(self.output)):
            if name.endswith(".csv") and name not in KNOWN_FILES and not name.startswith("compare"):
                out[name] = self.table(name)
        return out

    # ------------------------------------------------------------- per hasher
    @property
    def hashers(self) -> list[str]:
        """Hasher labels of the run (as in metrics.csv), sorted."""
        m = self.metrics
        return sorted(m["hasher"].unique()) if len(m) else []

    def bits(self, hasher: str) -> int:
        """Bit length of a hasher's hashes."""
        if self._bits is None:
            h, m = self.histograms, self.metrics
            self._bits = {a: int(b) for a, b in zip(h["hasher"], h["bits"])}
            self._bits.update({a: int(b) for a, b in zip(m["hasher"], m["bits"])})
        return self._bits[hasher]

    def n_bins(self, hasher: str) -> int:
        """Length of the histograms of `hasher`: bits + 1 for Hamming
        distances, or the number of distance bins for other distances."""
        return self.n_bins_by_hasher().get(hasher) or self.bits(hasher) + 1

    def distance_name(self, hasher: str) -> str:
        """'hamming' or the hasher's other distance name (from run.json)."""
        for h in self.run_info.get("hashers", []):
            if h.get("name") == hasher:
                return h.get("distance", "hamming") or "hamming"
        return "hamming"

    def distance_unit(self, hasher: str) -> str:
        """'bits' for Hamming hashers, else '<distance> bin'."""
        return "bits" if self.distance_name(hasher) == "hamming" else f"{self.distance_name(hasher)} bin"

    def granularity(self, hasher: str, kind: str = "orig-orig") -> int:
        """Distance granularity measured on `hasher`'s `kind` pairs
        (`harness.metrics.granularity.distance_granularity`): 2 when every
        such pair is at an even Hamming distance; 1 for other distances."""
        if self.distance_name(hasher) != "hamming":
            return 1
        return distance_granularity(self.hist(hasher, kind))

    def transforms_of(self, family: str | None = None) -> list[str]:
        """Transform keys of the run (of one family), sorted."""
        pos = self.histograms[self.histograms["kind"] == "positive"]
        if family is not None:
            pos = pos[pos["family"] == family]
        return sorted(pos["transform"].unique())

    @property
    def families(self) -> list[str]:
        """Transform families of the run, sorted."""
        pos = self.histograms[self.histograms["kind"] == "positive"]
        return sorted(pos["family"].unique())

    def _cache(self) -> dict:
        """{(hasher, kind, transform): counts per distance}, built once."""
        if self._hists is None:
            self._hists = {}
            for (hasher, kind, transform), df in self.histograms.groupby(["hasher", "kind", "transform"], sort=True):
                self._hists[(hasher, kind, transform)] = histogram_vector(df, int(df["distance"].max()))
        return self._hists

    def _check(self, hasher: str, kind: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
        known = set(self.n_bins_by_hasher()) | set(self.metrics["hasher"])
        if hasher not in known:
            raise ValueError(
                f"hasher {hasher!r} not in this results folder; available: {', '.join(sorted(known)) or 'none'}"
            )

    def n_bins_by_hasher(self) -> dict:
        """{hasher: histogram length} for every hasher with histograms."""
        if self._nbins is None:
            self._nbins = {}
            for h, rows in self.histograms.groupby("hasher"):
                self._nbins[h] = max(int(rows["bits"].iat[0]) + 1, int(rows["distance"].max()) + 1)
        return self._nbins

    # --------------------------------------------------------------- analysis
    def hist(
        self, hasher: str, kind: str, transform: str | None = None, transforms: list[str] | None = None
    ) -> np.ndarray:
        """Pair counts per distance for one hasher and kind of pair.

        Parameters
        ----------
        hasher : str
            A hasher label of the run (see ``hashers``).
        kind : {"positive", "variant-orig", "orig-orig"}
            positive: each variant against its own original; variant-orig:
            a variant against the originals of other groups; orig-orig:
            pairs of distinct originals in different groups (transform
            ``original()``).
        transform : str, optional
            One transform key (e.g. ``"jpeg(30)"``); default: summed over
            every transform of the run.
        transforms : list of str, optional
            Sum over these transform keys instead.

        Returns
        -------
        numpy.ndarray of int64
            ``counts[d]`` = pairs at distance d, for d = 0..bits (length
            bits + 1; for non-Hamming hashers one entry per distance bin).

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 5}, "hashers": ["dhash"],
        ...           "transforms": [{"family": "jpeg", "severities": [50]}],
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> neg = results.hist("dhash", "orig-orig")
        >>> len(neg), int(neg.sum())  # 64 bits; 5 photos give 10 pairs
        (65, 10)
        """
        self._check(hasher, kind)
        cache = self._cache()
        n = self.n_bins(hasher)
        if transform is not None:
            keys = [transform]
        elif transforms is not None:
            keys = list(transforms)
        else:
            keys = [t for (hh, k, t) in cache if hh == hasher and k == kind]
        out = np.zeros(n, dtype=np.int64)
        for t in keys:
            v = cache.get((hasher, kind, t))
            if v is not None:
                out[: len(v)] += v
        return out

    def roc(self, hasher: str, transform: str | None = None, kind: str = "variant-orig") -> pd.DataFrame:
        """ROC of one hasher: TPR and FPR at every integer threshold.

        Positives are the pairs of `transform` (all transforms pooled when
        None); negatives are pairs of `kind`: ``"variant-orig"`` (of the
        same transform, or pooled) or ``"orig-orig"`` (natural collisions
        between the originals). Computed by
        `harness.metrics.roc_from_histograms`: TPR(t) = positives with
        distance <= t / all positives, FPR(t) likewise for negatives.

        Returns
        -------
        pandas.DataFrame
            Columns threshold (-1..bits), tpr, fpr, tp, fp, n_pos, n_neg.

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 5}, "hashers": ["phash"],
        ...           "transforms": [{"family": "jpeg", "severities": [50]}],
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> roc = results.roc("phash", "jpeg(50)")
        >>> list(roc.columns[:3]), int(roc["n_pos"].iat[0]), int(roc["n_neg"].iat[0])
        (['threshold', 'tpr', 'fpr'], 5, 20)
        >>> float(roc["tpr"].iat[-1]), float(roc["fpr"].iat[-1])  # t = 64 bits: everything matches
        (1.0, 1.0)
        """
        from .metrics.roc import roc_from_histograms

        if kind == "positive":
            raise ValueError("kind is the negative set: variant-orig or orig-orig (got 'positive')")
        pos = self.hist(hasher, "positive", transform)
        neg = self.hist(hasher, kind, transform if kind == "variant-orig" else None)
        return roc_from_histograms(pos, neg)

    def threshold_for(
        self, target_fpr: float, hasher: str, kind: str = "variant-orig", transform: str | None = None
    ) -> int:
        """Largest threshold t whose measured FPR(t) <= `target_fpr`.

        FPR(t) = negative pairs of `kind` with distance <= t / all of them
        (all transforms pooled unless `transform` is given); a point
        estimate (`harness.metrics.largest_threshold_at_fpr`). For a
        conservative choice, use the upper-bound rule of thresholds.csv.

        Returns
        -------
        int
            t in bits (-1 when even t = 0 exceeds the target).

        Raises
        ------
        ValueError
            When the target is not measurable: fewer than 1 / target_fpr
            negative pairs.

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash"],
        ...           "transforms": [{"family": "jpeg", "severities": [50]}],
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> t = results.threshold_for(0.05, "phash")  # 30 variant-orig pairs
        >>> neg = results.hist("phash", "variant-orig")
        >>> bool(neg[: t + 1].sum() / neg.sum() <= 0.05 < neg[: t + 2].sum() / neg.sum())
        True
        >>> results.threshold_for(0.01, "phash")
        Traceback (most recent call last):
        ...
        ValueError: FPR 0.01 is not measurable with 30 variant-orig negative pairs (at least 100 needed)
        """
        from .metrics.roc import fpr_measurable, largest_threshold_at_fpr

        if kind == "positive":
            raise ValueError("kind is the negative set: variant-orig or orig-orig (got 'positive')")
        neg = self.hist(hasher, kind, transform if kind == "variant-orig" else None)
        n = int(neg.sum())
        if not fpr_measurable(n, target_fpr):
            raise ValueError(
                f"FPR {target_fpr:g} is not measurable with {n} {kind} negative pairs "
                f"(at least {int(np.ceil(1 / target_fpr))} needed)"
            )
        return largest_threshold_at_fpr(neg, target_fpr)

    def per_photo_rate(
        self, hasher: str, threshold: int, negatives: str = "orig-orig", transform: str | None = None
    ) -> dict:
        """Share of photos that falsely match at least one photo of another
        group at `threshold` (per_photo_rate.csv; not the per-pair FPR).

        orig-orig: each original queried against every other original;
        variant-orig: each variant of `transform` (required when the run
        has several) against the originals of other groups. Returns photos
        (queries with another group to match), photos_matching, rate and
        low, high (Clopper-Pearson over photos: photos treated as
        independent units; see harness.metrics.per_photo).

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash"], "transforms": [],
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> r = results.per_photo_rate("phash", 64)  # at 64 bits every photo matches
        >>> r["photos"], r["photos_matching"], r["rate"]
        (6, 6, 1.0)
        >>> results.per_photo_rate("phash", -1)["photos_matching"]
        0
        """
        from .metrics.intervals import clopper_pearson

        if negatives not in ("orig-orig", "variant-orig"):
            raise ValueError(f"negatives must be orig-orig or variant-orig (got {negatives!r})")
        table = self.table("per_photo_rate.csv")
        if table is None or not len(table):
            raise ValueError("no per_photo_rate.csv in this folder (written by runs of this version)")
        sel = table[(table["hasher"] == hasher) & (table["negatives"] == negatives)]
        if not len(sel):
            raise ValueError(
                f"no {negatives} per-photo rates of {hasher!r}; hashers: {', '.join(sorted(table['hasher'].unique()))}"
            )
        keys = sorted(sel["transform"].unique())
        if transform is not None:
            sel = sel[sel["transform"] == transform]
            if not len(sel):
                raise ValueError(f"transform {transform!r} not in this folder; available: {', '.join(keys)}")
        elif len(keys) > 1:
            raise ValueError(f"give a transform (one of: {', '.join(keys)})")
        photos = int(sel["photos"].iat[0])
        if threshold < 0:
            lo, hi = clopper_pearson(0, photos) if photos else (float("nan"), float("nan"))
            return {
                "photos": photos,
                "photos_matching": 0,
                "rate": 0.0 if photos else float("nan"),
                "low": lo,
                "high": hi,
            }
        row = sel[sel["threshold"] == min(int(threshold), int(sel["threshold"].max()))].iloc[0]
        return {
            "photos": photos,
            "photos_matching": int(row["photos_matching"]),
            "rate": float(row["rate"]),
            "low": float(row["low"]),
            "high": float(row["high"]),
        }

    # ------------------------------------------------------- two-hash rules
    def joint_hist(
        self, hasher_1: str, hasher_2: str, kind: str, transform: str | None = None, transforms: list[str] | None = None
    ) -> np.ndarray:
        """Joint pair counts of two hashers (joint_histograms.parquet,
        written for the pairs of ``metrics.hasher_pairs``).

        Returns an int64 array J of shape (n_bins(hasher_1),
        n_bins(hasher_2)): J[d1, d2] = pairs of `kind` (see `hist`) at
        distance d1 under hasher_1 and d2 under hasher_2, for one
        `transform`, the listed `transforms`, or summed over all of them.
        Its row sums are ``hist(hasher_1, kind, ...)``.

        Raises
        ------
        ValueError
            When the folder has no joint histograms of this pair.

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash", "dhash"],
        ...           "transforms": [{"family": "jpeg", "severities": [50]}],
        ...           "metrics": {"hasher_pairs": [["phash", "dhash"]]},
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> J = results.joint_hist("phash", "dhash", "orig-orig")
        >>> J.shape, int(J.sum())  # 6 photos give 15 pairs
        ((65, 65), 15)
        >>> bool((J.sum(axis=1) == results.hist("phash", "orig-orig")).all())
        True
        """
        self._check(hasher_1, kind)
        self._check(hasher_2, kind)
        table = self.table("joint_histograms.parquet")
        if table is None or not len(table):
            raise ValueError("no joint histograms in this folder (set metrics.hasher_pairs and run again)")
        sel = table[(table["hasher_1"] == hasher_1) & (table["hasher_2"] == hasher_2) & (table["kind"] == kind)]
        if not len(table[(table["hasher_1"] == hasher_1) & (table["hasher_2"] == hasher_2)]):
            pairs = sorted(set(zip(table["hasher_1"], table["hasher_2"])))
            raise ValueError(
                f"no joint histograms of ({hasher_1}, {hasher_2}); available: "
                + ", ".join(f"({a}, {b})" for a, b in pairs)
            )
        if transform is not None:
            sel = sel[sel["transform"] == transform]
        elif transforms is not None:
            sel = sel[sel["transform"].isin(list(transforms))]
        out = np.zeros((self.n_bins(hasher_1), self.n_bins(hasher_2)), dtype=np.int64)
        np.add.at(out, (sel["d1"].to_numpy(np.int64), sel["d2"].to_numpy(np.int64)), sel["count"].to_numpy(np.int64))
        return out

    def cascade(
        self,
        hasher_1: str,
        hasher_2: str,
        t1: int,
        t2: int,
        *,
        kind: str = "orig-orig",
        rule: str = "and",
        transform: str | None = None,
    ) -> dict:
        """A two-hash rule at (t1, t2), measured, against independence.

        The negatives of `kind` match by `rule` ("and": d1 <= t1 and d2 <=
        t2; "or": either); returns `harness.metrics.cascade.independence`:
        count, total, rate (the measured joint FPR), rate_1 and rate_2 (each
        hasher alone), predicted (the rate if the hashes' false matches were
        independent: rate_1 * rate_2 for and), ratio = rate / predicted and
        ratio_low, ratio_high (Clopper-Pearson of the joint count over the
        prediction; pairs treated as independent, so too narrow).

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash", "dhash"],
        ...           "transforms": [], "metrics": {"hasher_pairs": "all"},
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> r = results.cascade("phash", "dhash", 64, 64)  # everything matches both
        >>> r["count"], r["total"], r["rate"], r["predicted"]
        (15, 15, 1.0, 1.0)
        """
        from .metrics.cascade import independence

        if kind == "positive":
            raise ValueError("kind is the negative set: variant-orig or orig-orig (got 'positive')")
        J = self.joint_hist(hasher_1, hasher_2, kind, transform if kind == "variant-orig" else None)
        return independence(J, t1, t2, rule)

    def cascade_pareto(
        self, hasher_1: str, hasher_2: str, family: str | None = None, *, kind: str = "orig-orig", rule: str = "and"
    ) -> pd.DataFrame:
        """Pareto front of FPR against TPR over every (t1, t2) of a
        two-hash rule, for the positives of one transform family (all
        transforms when None) against the negatives of `kind` (the same
        family's variant-orig pairs, or orig-orig). See
        `harness.metrics.cascade.pareto_front`; columns t1, t2, tp, fp, tpr,
        fpr, sorted by FPR.

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash", "dhash"],
        ...           "transforms": [{"family": "jpeg", "severities": [50]}],
        ...           "metrics": {"hasher_pairs": "all"}, "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> front = results.cascade_pareto("phash", "dhash", "jpeg")
        >>> bool(front["fpr"].is_monotonic_increasing and front["tpr"].is_monotonic_increasing)
        True
        """
        from .metrics.cascade import pareto_front

        if kind == "positive":
            raise ValueError("kind is the negative set: variant-orig or orig-orig (got 'positive')")
        keys = self.transforms_of(family)
        pos = self.joint_hist(hasher_1, hasher_2, "positive", transforms=keys)
        neg = self.joint_hist(hasher_1, hasher_2, kind, transforms=keys if kind == "variant-orig" else None)
        return pareto_front(pos, neg, rule)

    def risk(
        self,
        hasher: str,
        threshold: int,
        *,
        database_size: int,
        photos: int,
        match_threshold: int,
        users: int = 1,
        rho: float = 0.0,
        kind: str = "orig-orig",
    ) -> pd.DataFrame:
        """Deployment risk at a threshold, from the rate measured in this run.

        The per-comparison rate p = FPR(threshold) over the negative pairs
        of `kind`, with the run's default interval (pairs that share a photo
        are dependent: fpr.csv for orig-orig, fpr_variant.csv for
        variant-orig pooled over every transform; `harness.risk.dependent_rate`)
        where the run computed one, else Clopper-Pearson's
        (`harness.risk.fpr_table`, as if pairs were independent), goes
        through the chain of
        `harness.risk.risk_chain`: per query against `database_size`
        hashes ``q = 1 - (1 - p)^M``; per account, P(at least
        `match_threshold` of `photos` photos match) (binomial, or
        beta-binomial with intra-account correlation `rho`); population,
        `users` x P. Assumes independent comparisons.

        Returns
        -------
        pandas.DataFrame
            Rows per layer; columns layer, quantity, point, low, high,
            interval.

        Examples
        --------
        >>> import tempfile, harness
        >>> config = {"dataset": {"source": "sample", "limit": 6}, "hashers": ["phash"], "transforms": [],
        ...           "output": tempfile.mkdtemp() + "/run"}
        >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
        >>> chain = results.risk("phash", 10, database_size=1000, photos=100, match_threshold=3)
        >>> list(chain["layer"])
        ['per comparison', 'per query', 'per account', 'population']
        >>> bool((chain["low"] <= chain["point"]).all() and (chain["point"] <= chain["high"]).all())
        True
        """
        from . import risk as R

        if kind == "positive":
            raise ValueError("kind is the negative set: variant-orig or orig-orig (got 'positive')")
        table = R.fpr_table(self.histograms, hasher, kind)
        default = self.table(R.DEFAULT_INTERVAL_TABLE[kind])
        rate = R.dependent_rate(default, hasher, threshold)
        rate = rate or R.rate_at_threshold(table, threshold)
        scenario = R.Scenario(
            database_size=database_size, photos=photos, match_threshold=match_threshold, users=users, rho=rho
        )
        return R.risk_chain(rate, scenario)
