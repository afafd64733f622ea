"""Read a results folder into one object the report and compare commands use.

Required: metrics.csv, histograms.parquet, run.json. Optional (used when
present): images.csv, errors.csv, close_pairs.parquet, risk.csv and any other
``*.csv`` table another stage adds (listed in the report as "other tables").
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..metrics.granularity import distance_granularity
from ..metrics.summary import histogram_vector

KNOWN_FILES = {"metrics.csv", "histograms.parquet", "run.json", "images.csv", "errors.csv",
               "close_pairs.parquet", "risk.csv", "hashes.parquet"}


@dataclass
class ResultsFolder:
    folder: str
    metrics: pd.DataFrame
    histograms: pd.DataFrame
    run_info: dict
    images: pd.DataFrame | None = None
    errors: pd.DataFrame | None = None
    close_pairs: pd.DataFrame | None = None  # the orig-orig rows of close_pairs.parquet
    risk: pd.DataFrame | None = None
    #: other tables found in the folder, by file name
    extra: dict = field(default_factory=dict)
    _hists: dict | None = field(default=None, repr=False)
    _nbins: dict | None = field(default=None, repr=False)
    _bits: dict | None = field(default=None, repr=False)

    @property
    def hashers(self) -> list[str]:
        return sorted(self.metrics["hasher"].unique()) if len(self.metrics) else []

    def bits(self, hasher: str) -> int:
        if self._bits is None:
            self._bits = {h: int(b) for h, b in zip(self.histograms["hasher"], self.histograms["bits"])}
            self._bits.update({h: int(b) for h, b in zip(self.metrics["hasher"], self.metrics["bits"])})
        return self._bits[hasher]

    def n_bins(self, hasher: str) -> int:
        """Length of the histograms of `hasher`: bits + 1 for Hamming
        distances, or the number of distance bins for other distances."""
        if self._nbins is None:
            self._nbins = {}
            for h, rows in self.histograms.groupby("hasher"):
                self._nbins[h] = max(int(rows["bits"].iat[0]) + 1, int(rows["distance"].max()) + 1)
        return self._nbins.get(hasher, self.bits(hasher) + 1)

    def distance_name(self, hasher: str) -> str:
        """'hamming' or the hasher's other distance name (from run.json)."""
        for h in self.run_info.get("hashers", []):
            if h.get("name") == hasher:
                return h.get("distance", "hamming") or "hamming"
        return "hamming"

    def distance_unit(self, hasher: str) -> str:
        return "bits" if self.distance_name(hasher) == "hamming" else f"{self.distance_name(hasher)} bin"

    def granularity(self, hasher: str, kind: str = "orig-orig") -> int:
        """Distance granularity measured on `hasher`'s `kind` pairs
        (`harness.metrics.granularity.distance_granularity`): 2 when every
        such pair is at an even Hamming distance; 1 for other distances."""
        if self.distance_name(hasher) != "hamming":
            return 1
        return distance_granularity(self.hist(hasher, kind))

    def hist(self, hasher: str, kind: str, transform: str | None = None,
             transforms: list[str] | None = None) -> np.ndarray:
        """Counts per distance for one hasher and kind ('positive',
        'variant-orig', 'orig-orig'); restricted to one transform key, or
        summed over a list of keys (None = all)."""
        cache = self._cache()
        n = self.n_bins(hasher)
        if transform is not None:
            keys = [transform]
        elif transforms is not None:
            keys = transforms
        else:
            keys = [t for (hh, k, t) in cache if hh == hasher and k == kind]
        out = np.zeros(n, dtype=np.int64)
        for t in keys:
            v = cache.get((hasher, kind, t))
            if v is not None:
                out[: len(v)] += v
        return out

    def _cache(self) -> dict:
        """{(hasher, kind, transform): counts per distance}, built once."""
        if self._hists is None:
            self._hists = {}
            for (hasher, kind, transform), df in self.histograms.groupby(["hasher", "kind", "transform"],
                                                                          sort=True):
                self._hists[(hasher, kind, transform)] = histogram_vector(df, int(df["distance"].max()))
        return self._hists

    def transforms_of(self, family: str | None = None) -> list[str]:
        pos = self.histograms[self.histograms["kind"] == "positive"]
        if family is not None:
            pos = pos[pos["family"] == family]
        return sorted(pos["transform"].unique())

    @property
    def families(self) -> list[str]:
        pos = self.histograms[self.histograms["kind"] == "positive"]
        return sorted(pos["family"].unique())


def _read_csv(path: str) -> pd.DataFrame | None:
    if not os.path.isfile(path):
        return None
    try:
        # one type per column for the whole file: chunked inference
        # (low_memory) can give a column such as severity ints in one part
        # and strings in another on a large run
        return pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def load_folder(folder: str) -> ResultsFolder:
    """Read a results folder (see module docstring)."""
    metrics = pd.read_csv(os.path.join(folder, "metrics.csv"))
    histograms = pd.read_parquet(os.path.join(folder, "histograms.parquet"))
    with open(os.path.join(folder, "run.json"), encoding="utf-8") as fh:
        run_info = json.load(fh)
    close = None
    cp = os.path.join(folder, "close_pairs.parquet")
    if os.path.isfile(cp):
        import pyarrow.parquet as pq
        # the report shows orig-orig pairs only (the gallery); variant-orig
        # pairs can be millions of rows: not read
        kind = "kind" in pq.read_schema(cp).names
        close = pd.read_parquet(cp, filters=[("kind", "==", "orig-orig")] if kind else None)
    extra = {}
    for name in sorted(os.listdir(folder)):
        if name.endswith(".csv") and name not in KNOWN_FILES and not name.startswith("compare"):
            table = _read_csv(os.path.join(folder, name))
            if table is not None:
                extra[name] = table
    return ResultsFolder(folder, metrics, histograms, run_info,
                         images=_read_csv(os.path.join(folder, "images.csv")),
                         errors=_read_csv(os.path.join(folder, "errors.csv")),
                         close_pairs=close,
                         risk=_read_csv(os.path.join(folder, "risk.csv")),
                         extra=extra)
