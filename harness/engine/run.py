"""Run an experiment: dataset x transforms x hashers -> hashes -> histograms
-> metrics. Writes the tables into the output folder and returns them as
`harness.Results`; drawing the report is a separate step
(`harness.write_report`).

Steps: list the images; look every (image, transform, hasher) key up in the
hash store (`store.py`); split the missing work into chunks (`chunks.py`);
run them on an executor (`executors.py`: local process pool, Dask, or
inline), writing each finished chunk to the store as it arrives; assemble
the hash table from the store; compute the result tables with one
`harness.metrics.tables.analyse` task per hasher; write the folder."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import pandas as pd
import pyarrow.compute as pc
from tqdm.auto import tqdm

from ..config import load_config
from ..datasets import load_records, manifest_digest
from ..datasets.folder import display_name
from ..errors import ConfigError
from ..metrics.cascade_tables import cascade_tables
from ..metrics.tables import analyse, concat_tables, plain_strings
from ..results import Results
from ..transforms import ORIGINAL
from .chunks import DoneIndex, hasher_ref, peak_rss_kib, plan_chunks, variant_sample
from .compact import ROW_GROUP, CompactRows, HashTable, map_large_blocks, release_memory, write_hashes
from .executors import InlineBackend, check_executor_args, default_workers, make_backend, prestart, run_work
from .store import KEY_COLUMNS, HashStore, rows_to_table
from .work import ERROR_COLUMNS, HASH_COLUMNS

VERSIONED_LIBRARIES = (
    "numpy",
    "scipy",
    "pandas",
    "pillow",
    "imagehash",
    "pdqhash",
    "opencv-contrib-python-headless",
    "opencv-python-headless",
    "albumentations",
    "albucore",
    "scikit-image",
    "pyarrow",
    "numba",
)


def opencv_dispatch() -> dict:
    """Which SIMD and IPP code paths OpenCV takes on this machine. Some of
    OpenCV's hashes depend on them (cv_marrhildreth and cv_colormoment
    through IPP's AVX-512 vs AVX2 kernels; see docs/reference/hashers.md,
    "Same numbers on every CPU"), so a run records them next to the
    versions. The environment variables that change them are recorded when
    set. On a Dask cluster this describes the driver's machine only."""
    import cv2

    out = {
        "cpu_features": cv2.getCPUFeaturesLine(),
        "ipp": bool(cv2.ipp.useIPP()),
        "ipp_version": cv2.ipp.getIppVersion(),
    }
    for var in ("OPENCV_IPP", "OPENCV_CPU_DISABLE"):
        if os.environ.get(var):
            out[var] = os.environ[var]
    return out


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


def write_table(table: pd.DataFrame, path: str, row_group: int = ROW_GROUP) -> None:
    """Write a table by extension: .csv (floats with 6 significant digits,
    so reruns are byte-identical) or .parquet. A Parquet table of more than
    `row_group` rows is written one row group at a time (its categorical
    columns become strings one row group at a time: a few million close
    pairs would otherwise be two 64-character strings a row at once), the
    same bytes as ``to_parquet(row_group_size=row_group)``."""
    if path.endswith(".parquet") and len(table) > row_group:
        _write_parquet_in_row_groups(table, path, row_group)
        return
    table = plain_strings(table)  # categorical columns (close pairs) are written as strings
    if path.endswith(".csv"):
        table.to_csv(path, index=False, float_format="%.6g")
    elif path.endswith(".parquet"):
        table.to_parquet(path, index=False)
    else:
        raise ValueError(f"unknown table format: {path}")


def _write_parquet_in_row_groups(table: pd.DataFrame, path: str, row_group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = None
    with contextlib.ExitStack() as stack:
        for start in range(0, len(table), row_group):
            part = pa.Table.from_pandas(plain_strings(table.iloc[start : start + row_group]), preserve_index=False)
            if schema is None:
                schema = part.schema
                writer = stack.enter_context(pq.ParquetWriter(path, schema, compression="snappy"))
            else:
                part = part.cast(schema)  # the first part's types and metadata (one table's)
            writer.write_table(part, row_group_size=row_group)
            del part


#: report files of an earlier run, removed when new tables are written
#: (harness.write_report draws them again from the new tables)
STALE_REPORT = ("report.md", "report.html")


def _write_atomic_folder(tmp: str, final: str) -> None:
    os.makedirs(final, exist_ok=True)
    for name in sorted(os.listdir(tmp)):
        os.replace(os.path.join(tmp, name), os.path.join(final, name))
    shutil.rmtree(tmp, ignore_errors=True)


def expected_capacity(workers, scheduler) -> int:
    """Workers the run will have (for the automatic chunk size); for a
    remote Dask scheduler, unknown before connecting: 4 x local cores."""
    if scheduler == "inline":
        return 1
    if scheduler and scheduler != "local":
        return 4 * default_workers()
    return workers or default_workers()


def auto_chunk_size(n_images: int, workers: int) -> int:
    """About 4 chunks per worker, 1..64 images per chunk."""
    return max(1, min(64, -(-n_images // (4 * max(1, workers)))))


def _progress_bar(show: bool, total: int, initial: int, n_chunks: int):
    bar = tqdm(
        total=total, initial=initial, desc="hashing", unit="img", disable=not show, dynamic_ncols=True, smoothing=0.1
    )
    return bar


def _analyse_one(hashes, ref, specs, metrics_cfg, kernel_threads=None):
    from .chunks import resolve_hasher

    if kernel_threads:
        limit_kernel_threads(kernel_threads)
    return analyse(hashes, [resolve_hasher(ref)], specs, metrics_cfg)


def limit_kernel_threads(n: int) -> None:
    """Run the compiled (numba prange) metric kernels of this thread on at
    most n threads. Several metric tasks at once, each on every core, slow
    each other down (their idle kernel threads compete for the cores).

    Called in worker processes before their first kernel, it also asks
    OpenMP (numba's threading layer here) to let idle threads sleep instead
    of spinning (OMP_WAIT_POLICY=PASSIVE, unless already set; read when the
    layer starts): spinning threads of one worker take CPU from the other
    workers' kernels."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        return
    numba.set_num_threads(max(1, min(int(n), numba.config.NUMBA_NUM_THREADS)))


#: the columns of the hash table that the metrics stage reads (the rest,
#: such as the applied parameters, stay in the driver)
ANALYSE_COLUMNS = ["image_id", "image_name", "group", "transform", "hasher", "hash"]


def _rows_of(hashes, hasher_key: str, columns=None) -> pd.DataFrame:
    """The `columns` (default ANALYSE_COLUMNS) of one hasher's rows: one
    slice of the run's `HashTable` (sorted by hasher label, then key), its
    string columns made for those rows only; or the rows of a plain
    DataFrame."""
    columns = ANALYSE_COLUMNS if columns is None else columns
    if isinstance(hashes, HashTable):
        start, stop = hashes.hasher_rows(hasher_key)
        return hashes.frame(columns, start, stop)
    match = (hashes["hasher_key"] == hasher_key).to_numpy()
    return hashes.loc[match, columns].reset_index(drop=True)


def analyse_by_hasher(backend, hashes: HashTable | pd.DataFrame, hashers, specs, metrics_cfg) -> dict:
    """The result tables, one `analyse` task per hasher on the executor
    (the all-pairs kernel of different hashers runs in parallel). Each table
    is the concatenation of the per-hasher tables in config order."""
    refs = [hasher_ref(h) for h in hashers]
    # tasks on a pool share its cores; in this process the kernels keep them all
    threads = None if backend.kind == "inline" else max(1, backend.capacity // max(1, len(hashers)))
    from concurrent.futures import FIRST_COMPLETED, wait

    # a task's rows are cut from the table when it is submitted, and at most
    # capacity + 1 tasks are in flight: the driver never holds a copy of
    # every hasher's rows at once
    results: list = [None] * len(hashers)
    pending = {}
    shippable = [i for i, ref in enumerate(refs) if ref.shippable]
    for i in shippable:
        if len(pending) > backend.capacity:
            done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in done:
                results[pending.pop(fut)] = fut.result()
        part = _rows_of(hashes, hashers[i].key)
        pending[backend.submit(_analyse_one, part, refs[i], specs, metrics_cfg, threads)] = i
        del part
    for i, (h, ref) in enumerate(zip(hashers, refs)):
        if not ref.shippable:  # cannot ship it: analyse here, while the pool works
            results[i] = analyse(_rows_of(hashes, h.key), [h], specs, metrics_cfg)
    for fut, i in pending.items():
        results[i] = fut.result()
    names = []
    for p in results:
        names += [n for n in p if n not in names]
    tables = {}
    for n in names:  # each hasher's part of a table goes once the joined table exists
        tables[n] = concat_tables([p.pop(n) for p in results if n in p])
    return tables


def rows_of_run(specs, hashers, variant_ids=None) -> pc.Expression:
    """The store rows a run can use (an Arrow filter for `HashStore.load`):
    rows of its hashers or of no hasher (whole-image and whole-variant
    errors), of its transform specs, the original or no transform, and, with
    a variant sample, variants only of the sampled images. A shared store's
    other rows (other hashers, specs, or a larger run's variants) are left
    on disk; `_assemble` applies the same rules (and the seed and error
    conditions) to what is loaded."""
    hasher = pc.field("hasher_key")
    transform = pc.field("transform")
    image_level = ["", ORIGINAL.key]
    where = (hasher.is_null() | hasher.isin(["", *(h.key for h in hashers)])) & transform.isin(
        image_level + [s.key for s in specs]
    )
    if variant_ids is not None:
        where &= transform.isin(image_level) | pc.field("image_id").isin(sorted(variant_ids))
    return where


def _assemble(rows: pd.DataFrame, records, specs, hashers, seed, max_pixels, timeout, variant_ids=None):
    """Hash rows and error rows of this run from store rows (stored + new).
    variant_ids: images whose variants belong to the run (None = all); the
    store may hold variants of other images from a run with a larger sample."""
    spec_seed = {ORIGINAL.key: -1} | {s.key: int(seed) for s in specs}
    hkeys = {h.key for h in hashers}
    ids = {r.image_id for r in records}
    rows = rows[rows["image_id"].isin(ids)]
    if variant_ids is not None:
        rows = rows[
            (rows["transform"] == ORIGINAL.key) | (rows["transform"] == "") | rows["image_id"].isin(variant_ids)
        ]
    wanted_seed = rows["transform"].map(spec_seed)
    in_run = wanted_seed == rows["seed"].astype("int64")
    stage = rows["stage"].fillna("")
    ok = rows[(stage == "") & in_run & rows["hasher_key"].isin(hkeys)]
    ok = ok.drop_duplicates(KEY_COLUMNS, keep="first")
    conditions = {"decode": f"max_pixels={max_pixels}", "timeout": f"timeout={timeout:g}"}
    cond_ok = rows["condition"].fillna("") == stage.map(conditions).fillna("")
    err = rows[
        ((stage == "hash") & in_run & rows["hasher_key"].isin(hkeys))
        | ((stage == "transform") & in_run)
        | (stage.isin(list(conditions)) & cond_ok)
        | (stage == "worker")
    ]
    err = err.drop_duplicates(KEY_COLUMNS + ["stage"], keep="first")
    return ok, err


def _per_hasher_counts(hashes, hashers, specs, variant_ids) -> tuple[dict, set]:
    """(run.json's per-hasher counts, the names of the images decoded). By
    name: files with identical bytes share an image_id but are listed (and
    hashed) each."""
    decoded, per_hasher = set(), {}
    for h in hashers:
        hh = _rows_of(hashes, h.key, ["image_id", "image_name", "transform"])
        orig = hh["transform"] == ORIGINAL.key
        decoded |= set(hh.loc[orig, "image_name"].unique())
        with_variants = (
            hh.loc[orig, "image_id"]
            if variant_ids is None
            else hh.loc[orig & hh["image_id"].isin(variant_ids), "image_id"]
        )
        per_hasher[h.label] = {
            "images": int(hh.loc[orig, "image_name"].nunique()),
            "variants": int((~orig).sum()),
            "variants_planned": int(len(with_variants)) * len(specs),
        }
    return per_hasher, decoded


def run_experiment(
    config_or_path=None,
    output: str | None = None,
    progress: bool | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> Results:
    """Run an experiment from a config (path, dict, ExperimentConfig or None
    for the quickstart) and write its tables into the results folder
    (nothing is drawn: `harness.write_report` writes the report and the
    figures). Returns Results.

    workers: processes (default: every core); scheduler: None (local
    process pool), "local" (Dask LocalCluster), "tcp://HOST:PORT" (a Dask
    scheduler) or "inline" (this process, for debugging).

    Memory: with glibc, this process's allocations of 1 MiB or more get
    mappings of their own from here on
    (`harness.engine.compact.map_large_blocks`; not when
    MALLOC_MMAP_THRESHOLD_ is set), so the driver's freed arrays go back
    to the system."""
    config = load_config(config_or_path)
    if output:
        config = config.model_copy(update={"output": output})
    out_dir = config.output
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError("output", f"exists and is not a folder: {out_dir}")
    eng = config.engine
    check_executor_args(workers, scheduler)  # ConfigError before anything is written
    map_large_blocks()
    timings = {}
    t0 = time.perf_counter()
    if not scheduler:
        prestart()  # the pool's imports overlap with listing
    hashers = config.build_hashers()
    specs = config.transform_specs()
    records, list_errors = load_records(config.dataset)
    if not records and not list_errors:
        raise ConfigError("dataset", "no images found (check dataset.path and dataset.extensions)")
    timings["list"] = time.perf_counter() - t0
    backend = None
    try:
        t1 = time.perf_counter()
        store = HashStore(eng.store or os.path.join(out_dir, "store"))
        store.clean_tmp()
        variant_ids = variant_sample([r.image_id for r in records], config.variant_sample, config.seed)
        # the hash table in compact form (codes, Arrow binary): each stored
        # chunk is encoded as it is read, each new one as it arrives
        compact = CompactRows()
        for table in store.tables({r.image_id for r in records}, rows_of_run(specs, hashers, variant_ids)):
            compact.add(table, "store")
        release_memory()  # the chunk files' tables are gone: give their memory back
        done = DoneIndex(compact.error_rows(), config.max_pixels, eng.timeout_seconds, compact)
        chunk_size = eng.chunk_size or auto_chunk_size(
            len({r.image_id for r in records}), expected_capacity(workers, scheduler)
        )
        chunk_list = plan_chunks(records, specs, hashers, config.seed, chunk_size, done, variant_ids)
        del done  # a set of every stored key: not needed once the plan exists
        release_memory()
        timings["plan"] = time.perf_counter() - t1
        t_pool = time.perf_counter()
        n_unique = sum(c.n_images for c in chunk_list)
        todo = sum(len(c.items) for c in chunk_list)
        # nothing to hash, no cluster asked for and one metrics task (or one
        # worker): no need to start a pool
        parallel_metrics = len(hashers) > 1 and (workers or default_workers()) > 1
        backend = (
            make_backend(workers, scheduler, eng.retries) if todo or scheduler or parallel_metrics else InlineBackend()
        )
        timings["start_workers"] = time.perf_counter() - t_pool
        show = sys.stderr.isatty() if progress is None else progress
        bar = _progress_bar(show, n_unique, n_unique - todo, len(chunk_list))

        def on_rows(work, rows):
            keep = [r for r in rows if r[12] != "worker"]  # crashes are not cached: retried next run
            if keep:
                table = rows_to_table(keep)
                store.write_chunk(table)
                compact.add(table, "new")
            if len(keep) < len(rows):
                compact.add(rows_to_table([r for r in rows if r[12] == "worker"]), "new")

        t2 = time.perf_counter()
        refs = [hasher_ref(h) for h in hashers]
        remaining = {c.index: len(c.items) for c in chunk_list}
        chunks_done = [sum(c.done for c in chunk_list)]

        def on_progress(work):
            remaining[work.chunk] -= len(work.items)
            if remaining[work.chunk] == 0:
                chunks_done[0] += 1
            bar.set_postfix_str(f"chunks {chunks_done[0]}/{len(chunk_list)}", refresh=False)
            bar.update(len(work.items))

        stats = run_work(
            backend,
            chunk_list,
            refs,
            config.seed,
            config.max_pixels,
            eng.timeout_seconds,
            eng.retries,
            on_rows,
            on_progress,
        )
        bar.close()
        timings["hash"] = time.perf_counter() - t2
        driver_peak_hashing = peak_rss_kib()

        labels = {h.key: h.label for h in hashers}
        _, err = _assemble(
            compact.error_rows(),
            records,
            specs,
            hashers,
            config.seed,
            config.max_pixels,
            eng.timeout_seconds,
            variant_ids,
        )
        errors_df = _error_table(err, records, list_errors, labels)
        spec_seed = {ORIGINAL.key: -1} | {s.key: int(config.seed) for s in specs}
        hashes, hashes_reused, hashes_computed = compact.hash_table(
            records, spec_seed, {h.key for h in hashers}, variant_ids, labels
        )
        applied = compact.applied  # the applied-parameter texts the table's codes point into
        compact = err = None  # the hash table holds the rows now
        release_memory()
        driver_peak_assembled = peak_rss_kib()  # the store rows become the hash table

        t3 = time.perf_counter()
        tables = analyse_by_hasher(backend, hashes, hashers, specs, config.metrics)
        pairs = config.hasher_pairs()
        if pairs:  # both distances of each pair in one pass, in this process (every core)
            keys = list(dict.fromkeys(h.key for pair in pairs for h in pair))
            of_pairs = pd.concat([_rows_of(hashes, k) for k in keys], ignore_index=True)
            tables |= cascade_tables(of_pairs, pairs, specs, config.metrics, tables.get("thresholds.csv"))
            del of_pairs
        timings["metrics"] = time.perf_counter() - t3
        release_memory()  # the tasks' pickled rows and results
        driver_peak_metrics = peak_rss_kib()
        engine_info = backend.describe() | {
            "chunk_size": chunk_size,
            "store": store.root,
            "timeout_seconds": eng.timeout_seconds,
            "chunks_total": len(chunk_list),
            "chunks_reused": sum(c.done for c in chunk_list),
            "chunks_computed": sum(not c.done for c in chunk_list),
            "images_reused": n_unique - todo,
            "images_computed": todo,
            "hashes_reused": hashes_reused,
            "hashes_computed": hashes_computed,
            "tasks": stats.tasks,
            "retried": stats.retried,
            "split": stats.split,
            "timeouts": stats.timeouts,
            "crashed": stats.crashed,
            "worker_peak_rss_mib_hashing": round(stats.worker_peak_rss_kib / 1024, 1),
            "driver_peak_rss_mib_hashing": round(driver_peak_hashing / 1024, 1),
            "driver_peak_rss_mib_assembled": round(driver_peak_assembled / 1024, 1),
            "driver_peak_rss_mib_metrics": round(driver_peak_metrics / 1024, 1),
        }
    except BaseException:  # Ctrl-C or an error: stop the workers now, do not wait for their chunks
        if backend is not None:
            backend.abort()
            backend = None
        raise
    finally:
        if backend is not None:
            backend.close()
    n_images = len(records) + len(list_errors)
    per_hasher, decoded = _per_hasher_counts(hashes, hashers, specs, variant_ids)
    release_memory()  # each hasher's columns made for the counts
    run_info = {
        "name": config.name,
        "config": config.model_dump(mode="json"),
        "seed": config.seed,
        "dataset": {
            "source": config.dataset.source,
            "path": config.dataset.path,
            "manifest_sha256": manifest_digest(records),
            "images_listed": n_images,
            "images_hashed": len(decoded),
            "images_failed": n_images - len(decoded),
        },
        "counts": {
            "hash_rows": len(hashes),
            "errors": len(errors_df),
            "variants": int((hashes.column("transform") != ORIGINAL.key).sum() // max(1, len(hashers))),
            "per_hasher": per_hasher,
        },
        "engine": engine_info,
        "variant_sample": None
        if variant_ids is None
        else {
            "n": config.variant_sample,
            "images": len(variant_ids),
            "rule": "the n distinct image ids with the smallest sha256('<seed>|<image_id>') hex digest",
            "seed": config.seed,
            "names": sorted({r.name for r in records if r.image_id in variant_ids}),
            "image_ids": sorted(variant_ids),
        },
        "hashers": [h.identity | {"bits": h.bits} for h in hashers],
        "transforms": [s.to_dict() | {"key": s.key} for s in specs],
        "versions": library_versions(),
        "platform": {
            "python": sys.version.split()[0],
            "machine": platform.machine(),
            "system": platform.system(),
            "opencv_dispatch": opencv_dispatch(),
        },
    }
    run_info["engine"]["driver_peak_rss_mib"] = round(peak_rss_kib() / 1024, 1)
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-", dir=parent)
    try:
        t4 = time.perf_counter()
        write_hashes(hashes, applied, os.path.join(tmp, "hashes.parquet"), {h.label: h for h in hashers})
        # paths that are not UTF-8 (bytes on Linux) are written with \xNN escapes
        images = pd.DataFrame(
            [(r.image_id, r.name, display_name(r.path), r.group, r.bytes) for r in records],
            columns=["image_id", "name", "path", "group", "bytes"],
        )
        write_table(images, os.path.join(tmp, "images.csv"))
        for name, table in tables.items():
            write_table(table, os.path.join(tmp, name))
        write_table(errors_df, os.path.join(tmp, "errors.csv"))
        timings["write"] = time.perf_counter() - t4
        run_info["engine"]["driver_peak_rss_mib_written"] = round(peak_rss_kib() / 1024, 1)
        timings["total"] = time.perf_counter() - t0
        run_info["timings_seconds"] = {k: round(v, 3) for k, v in timings.items()}
        with open(os.path.join(tmp, "run.json"), "w", encoding="utf-8") as fh:
            json.dump(run_info, fh, indent=2, sort_keys=True)
        _write_atomic_folder(tmp, out_dir)
        for name in STALE_REPORT:  # a report of earlier tables must not stand in for these
            path = os.path.join(out_dir, name)
            if os.path.isfile(path):
                os.remove(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    # hashes.parquet is read from the folder when asked for (Results.table):
    # the compact table is not the file's plain one
    written = {"images.csv": images, "errors.csv": errors_df, **tables}
    return Results(out_dir, tables=written, run_info=run_info, config=config)


def _tables(ok: pd.DataFrame, err: pd.DataFrame, records, list_errors, labels: dict):
    """hashes (HASH_COLUMNS, one row per record x key; sorted) and errors
    (ERROR_COLUMNS; sorted) from assembled store rows, as plain pandas
    tables: the path runs took before the compact hash table
    (`harness.engine.compact`), kept as the reference its hashes.parquet
    is tested against. The `hasher` column
    of both holds the hasher's label (name plus non-default parameters, see
    Hasher.label), so two configurations of one hasher stay apart."""
    rec = pd.DataFrame([(r.image_id, r.name, r.group) for r in records], columns=["image_id", "image_name", "group"])
    hashes = ok.merge(rec, on="image_id", how="inner")
    hashes["hash"] = [bytes(b) for b in hashes["hash"]]
    hashes["hasher"] = hashes["hasher_key"].map(labels).fillna(hashes["hasher"])
    for col in ("width", "height"):
        hashes[col] = hashes[col].astype("int64")
    for col in (
        "image_id",
        "image_name",
        "group",
        "transform",
        "family",
        "severity",
        "hasher",
        "hasher_key",
        "hash_hex",
        "applied",
    ):
        hashes[col] = hashes[col].astype(str)
    hashes = (
        hashes[HASH_COLUMNS]
        .sort_values(["hasher", "hasher_key", "transform", "image_id", "image_name"], kind="stable")
        .reset_index(drop=True)
    )
    return hashes, _error_table(err, records, list_errors, labels)


def _error_table(err: pd.DataFrame, records, list_errors, labels: dict) -> pd.DataFrame:
    """errors.csv (ERROR_COLUMNS, sorted) from assembled store error rows."""
    rec = pd.DataFrame([(r.image_id, r.name) for r in records], columns=["image_id", "image_name"])
    errs = err.merge(rec[["image_id", "image_name"]], on="image_id", how="inner")
    if "hasher_key" in errs.columns and len(errs):  # the label, like the hashes: pdq[min_quality=50], not pdq
        errs["hasher"] = errs["hasher_key"].map(labels).fillna(errs["hasher"])
    errs = errs[["image_id", "image_name", "transform", "hasher", "stage", "reason"]].fillna("")
    listed = pd.DataFrame([[None, n, "", "", "list", r] for n, r in list_errors], columns=ERROR_COLUMNS)
    errors_df = (
        pd.concat([d for d in (listed, errs) if len(d)], ignore_index=True)
        if len(listed) or len(errs)
        else pd.DataFrame(columns=ERROR_COLUMNS)
    )
    errors_df = errors_df.sort_values(["image_name", "transform", "hasher", "stage"], kind="stable")
    return errors_df.reset_index(drop=True)[ERROR_COLUMNS]
