"""Run an experiment: dataset x transforms x hashers -> hashes -> histograms
-> metrics -> report. Writes everything into the output folder."""
from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..config import ExperimentConfig, load_config
from ..datasets import folder_records, load_groups, manifest_digest, sample_records
from ..errors import ConfigError
from ..metrics import pair_histogram, paired_distances, summarise
from ..metrics.hamming import distance_histogram
from .work import ERROR_COLUMNS, HASH_COLUMNS, hash_images

VERSIONED_LIBRARIES = ("numpy", "scipy", "pandas", "pillow", "imagehash", "pdqhash",
                       "opencv-contrib-python-headless", "opencv-python-headless",
                       "albumentations", "albucore", "scikit-image", "pyarrow", "numba")


def library_versions() -> dict:
    """Installed versions of every library that can change a hash or a table."""
    from importlib import metadata
    out = {"python": platform.python_version()}
    for name in VERSIONED_LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        out["phash-harness"] = metadata.version("phash-harness")
    except metadata.PackageNotFoundError:
        from .. import __version__
        out["phash-harness"] = __version__
    return out


@dataclass
class Results:
    """What a run produced: tables as DataFrames and the output folder."""
    output: str
    config: ExperimentConfig
    hashes: pd.DataFrame
    histograms: pd.DataFrame
    metrics: pd.DataFrame
    errors: pd.DataFrame
    run_info: dict = field(default_factory=dict)

    @property
    def n_errors(self) -> int:
        return len(self.errors)


def load_records(config: ExperimentConfig):
    ds = config.dataset
    groups = load_groups(ds.groups) if ds.groups else None
    if ds.source == "sample":
        records, errors = sample_records(), []
        if groups:
            from ..datasets.records import ImageRecord
            records = [ImageRecord(r.image_id, r.name, r.path,
                                   groups.get(r.name) or groups.get(r.image_id) or r.group, r.bytes)
                       for r in records]
    else:
        records, errors = folder_records(ds.path, ds.extensions, ds.recursive, groups)
    if ds.limit:
        records = records[: ds.limit]
    return records, errors


def compute_histograms(hashes: pd.DataFrame, hashers, specs, metrics_cfg) -> pd.DataFrame:
    """Exact histograms of positives, variant-orig and orig-orig negatives.

    Only images whose original was hashed take part; a variant that failed is
    missing from its own positive and variant-orig sets only."""
    out = []
    for hasher in hashers:
        hh = hashes[hashes["hasher"] == hasher.name]
        bits = hasher.bits
        orig = hh[hh["transform"] == "original()"].sort_values("image_id").drop_duplicates("image_id")
        orig_packed = np.stack([np.frombuffer(b, np.uint8) for b in orig["hash"]]) if len(orig) else \
            np.zeros((0, hasher.nbytes), np.uint8)
        orig_groups = orig["group"].to_numpy()
        index = {img: i for i, img in enumerate(orig["image_id"])}

        def emit(kind, spec_key, family, severity, hist):
            for d in np.nonzero(hist)[0]:
                out.append((hasher.name, bits, spec_key, family, severity, kind, int(d), int(hist[d])))

        if metrics_cfg.orig_orig:
            hist = pair_histogram(orig_packed, groups_a=orig_groups)[: bits + 1]
            emit("orig-orig", "original()", "original", "", hist)
        for spec in specs:
            var = hh[hh["transform"] == spec.key]
            var = var[var["image_id"].isin(index)].sort_values("image_id").drop_duplicates("image_id")
            if not len(var):
                continue
            var_packed = np.stack([np.frombuffer(b, np.uint8) for b in var["hash"]])
            rows = np.array([index[i] for i in var["image_id"]])
            sev = "" if spec.severity is None else str(spec.severity)
            pos = distance_histogram(paired_distances(orig_packed[rows], var_packed), 8 * hasher.nbytes)
            emit("positive", spec.key, spec.family, sev, pos[: bits + 1])
            if metrics_cfg.variant_orig:
                neg = pair_histogram(var_packed, orig_packed, groups_a=var["group"].to_numpy(),
                                     groups_b=orig_groups)[: bits + 1]
                emit("variant-orig", spec.key, spec.family, sev, neg)
    return pd.DataFrame(out, columns=["hasher", "bits", "transform", "family", "severity", "kind",
                                      "distance", "count"])


def _write_atomic_folder(tmp: str, final: str) -> None:
    os.makedirs(final, exist_ok=True)
    for name in sorted(os.listdir(tmp)):
        os.replace(os.path.join(tmp, name), os.path.join(final, name))
    shutil.rmtree(tmp, ignore_errors=True)


def run_experiment(config_or_path=None, output: str | None = None, progress: bool | None = None) -> Results:
    """Run an experiment from a config (path, dict, ExperimentConfig or None
    for the quickstart) and write its results folder. Returns Results."""
    config = load_config(config_or_path)
    if output:
        config = config.model_copy(update={"output": output})
    out_dir = config.output
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError("output", f"exists and is not a folder: {out_dir}")
    timings = {}
    t0 = time.perf_counter()
    hashers = config.build_hashers()
    specs = config.transform_specs()
    records, list_errors = load_records(config)
    if not records and not list_errors:
        raise ConfigError("dataset", "no images found (check dataset.path and dataset.extensions)")
    timings["list"] = time.perf_counter() - t0

    t1 = time.perf_counter()
    rows, errors = [], [[None, n, "", "", "list", r] for n, r in list_errors]
    show = (sys.stderr.isatty() if progress is None else progress)
    for rec in tqdm(records, desc="hashing", unit="img", disable=not show):
        res = hash_images([rec], specs, hashers, config.seed, config.max_pixels)
        rows.extend(res.rows)
        errors.extend(res.errors)
    hashes = pd.DataFrame(rows, columns=HASH_COLUMNS)
    hashes = hashes.sort_values(["hasher", "transform", "image_id"], kind="stable").reset_index(drop=True)
    errors_df = pd.DataFrame(errors, columns=ERROR_COLUMNS)
    timings["hash"] = time.perf_counter() - t1

    t2 = time.perf_counter()
    histograms = compute_histograms(hashes, hashers, specs, config.metrics)
    metrics = summarise(histograms, config.metrics.target_fpr, tuple(config.metrics.fpr_points))
    timings["metrics"] = time.perf_counter() - t2

    n_images = len(records) + len(list_errors)
    decoded = hashes.loc[hashes["transform"] == "original()", "image_id"].nunique()
    run_info = {
        "name": config.name,
        "config": config.model_dump(mode="json"),
        "seed": config.seed,
        "dataset": {"source": config.dataset.source, "path": config.dataset.path,
                    "manifest_sha256": manifest_digest(records), "images_listed": n_images,
                    "images_hashed": int(decoded), "images_failed": int(n_images - decoded)},
        "counts": {"hash_rows": len(hashes), "errors": len(errors_df),
                   "variants": int((hashes["transform"] != "original()").sum() // max(1, len(hashers)))},
        "hashers": [h.identity | {"bits": h.bits} for h in hashers],
        "transforms": [s.to_dict() | {"key": s.key} for s in specs],
        "versions": library_versions(),
        "platform": {"python": sys.version.split()[0], "machine": platform.machine(),
                     "system": platform.system()},
    }
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=os.path.dirname(os.path.abspath(out_dir)) or ".")
    try:
        t3 = time.perf_counter()
        hashes.to_parquet(os.path.join(tmp, "hashes.parquet"), index=False)
        histograms.to_parquet(os.path.join(tmp, "histograms.parquet"), index=False)
        metrics.to_csv(os.path.join(tmp, "metrics.csv"), index=False, float_format="%.6g")
        errors_df.to_csv(os.path.join(tmp, "errors.csv"), index=False)
        from ..report import write_report
        timings["write"] = time.perf_counter() - t3
        timings["total"] = time.perf_counter() - t0
        run_info["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
        with open(os.path.join(tmp, "run.json"), "w", encoding="utf-8") as fh:
            json.dump(run_info, fh, indent=2, sort_keys=True)
        write_report(tmp, metrics=metrics, histograms=histograms, run_info=run_info)
        _write_atomic_folder(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Results(out_dir, config, hashes, histograms, metrics, errors_df, run_info)
