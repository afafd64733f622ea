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

import pandas as pd
from tqdm.auto import tqdm

from ..config import ExperimentConfig, load_config
from ..datasets import load_records, manifest_digest
from ..datasets.folder import display_name
from ..errors import ConfigError
from ..metrics.tables import analyse
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
    #: every table written, by file name (e.g. "metrics.csv")
    tables: dict = field(default_factory=dict)

    @property
    def n_errors(self) -> int:
        return len(self.errors)


def write_table(table: pd.DataFrame, path: str) -> None:
    """Write a table by extension: .csv (floats with 6 significant digits,
    so reruns are byte-identical) or .parquet."""
    if path.endswith(".csv"):
        table.to_csv(path, index=False, float_format="%.6g")
    elif path.endswith(".parquet"):
        table.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown table format: {path}")


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
    records, list_errors = load_records(config.dataset)
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
    tables = analyse(hashes, hashers, specs, config.metrics)
    histograms, metrics = tables["histograms.parquet"], tables["metrics.csv"]
    timings["metrics"] = time.perf_counter() - t2

    n_images = len(records) + len(list_errors)
    # by name: files with identical bytes share an image_id but are listed (and hashed) each
    decoded = hashes.loc[hashes["transform"] == "original()", "image_name"].nunique()
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
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        t3 = time.perf_counter()
        hashes.to_parquet(os.path.join(tmp, "hashes.parquet"), index=False)
        # paths that are not UTF-8 (bytes on Linux) are written with \xNN escapes
        images = pd.DataFrame([(r.image_id, r.name, display_name(r.path), r.group, r.bytes) for r in records],
                              columns=["image_id", "name", "path", "group", "bytes"])
        write_table(images, os.path.join(tmp, "images.csv"))
        for name, table in tables.items():
            write_table(table, os.path.join(tmp, name))
        write_table(errors_df, os.path.join(tmp, "errors.csv"))
        timings["write"] = time.perf_counter() - t3
        timings["total"] = time.perf_counter() - t0
        run_info["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
        with open(os.path.join(tmp, "run.json"), "w", encoding="utf-8") as fh:
            json.dump(run_info, fh, indent=2, sort_keys=True)
        from ..report import write_report
        write_report(tmp)
        _write_atomic_folder(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return Results(out_dir, config, hashes, histograms, metrics, errors_df, run_info, tables)
