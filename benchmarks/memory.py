"""Peak memory of a run versus dataset size and chunk size (used by
`phash-harness bench run --memory 10000,50000`).

Images: re-encoded copies of real photos (default: ../shared/datasets/
caltech101), each copy resized by a factor in 0.5..1.5 and saved as JPEG at
a quality in 60..95, so every file has distinct bytes; written to a scratch
folder (default: the system temp folder), never into the project.

A run is `python -m harness run` in a subprocess; a sampler reads
``VmHWM`` (peak resident set) of the driver and of every worker process
from /proc every 0.2 s. Reported: driver peak and the largest worker peak,
in MiB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time


def make_images(source: str, dest: str, n: int, seed: int = 0) -> int:
    """Fill `dest` with `n` re-encoded copies of the photos under `source`
    (reuses files already there). Returns the number of files."""
    import numpy as np
    from PIL import Image

    os.makedirs(dest, exist_ok=True)
    srcs = sorted(
        os.path.join(d, f) for d, _, fs in os.walk(source) for f in fs if f.lower().endswith((".jpg", ".jpeg", ".png"))
    )
    rng = np.random.default_rng(seed)
    have = len(os.listdir(dest))
    for i in range(have, n):
        src = srcs[i % len(srcs)]
        scale = float(rng.uniform(0.5, 1.5))
        quality = int(rng.integers(60, 96))
        with Image.open(src) as im:
            im = im.convert("RGB")
            w, h = im.size
            im = im.resize((max(8, round(w * scale)), max(8, round(h * scale))))
            im.save(os.path.join(dest, f"{i:06d}.jpg"), quality=quality)
    return n


#: `--memory-prefill`: the quickstart experiment's hashers and transforms
QUICKSTART = {
    "hashers": ["ahash", "phash", "dhash", "whash"],
    "transforms": [
        {"family": "jpeg", "severities": [90, 70, 50, 30, 10]},
        {"family": "resize", "severities": [0.75, 0.5, 0.25, 0.125]},
        {"family": "crop", "severities": [0.9, 0.8, 0.7, 0.5]},
        {"family": "rotate", "severities": [1, 2, 5, 10]},
        {"family": "noise", "severities": [2, 5, 10, 20]},
    ],
    "metrics": {"target_fpr": 0.01, "fpr_points": [0.01, 0.001]},
}


def make_stubs(dest: str, n: int) -> int:
    """`n` small files with distinct bytes (``NNNNNNN.jpg``; never decoded:
    `prefill_store` holds every hash of them). Returns the number of files."""
    os.makedirs(dest, exist_ok=True)
    have = len(os.listdir(dest))
    for i in range(have, n):
        with open(os.path.join(dest, f"{i:07d}.jpg"), "wb") as fh:
            fh.write(b"stub image %d\n" % i)
    return n


def _applied(family: str, severity, w: int, h: int, rng) -> str:
    """An applied-parameters text like the transforms' (the same keys and
    lengths), distinct per image where the real one is (jpeg: its byte
    count, noise: its digest, crop and rotate: the image size)."""
    if family == "jpeg":
        b = int(rng.integers(2_000, 200_000))
        return json.dumps(
            {
                "bits_per_pixel": round(8 * b / (w * h), 4),
                "bytes": b,
                "codec": "jpeg",
                "library": "OpenCV 5.0.0",
                "quality": int(severity),
            },
            sort_keys=True,
        )
    if family == "noise":
        digest = f"{int(rng.integers(0, 2**63)):016x}"
        return json.dumps(
            {"noise_map": {"array_shape": [h, w, 3], "dtype": "float32", "sha256": digest}, "transform": "GaussNoise"},
            sort_keys=True,
        )
    if family == "crop":
        dx, dy = round(w * (1 - severity) / 2), round(h * (1 - severity) / 2)
        return json.dumps(
            {
                "crop_coords": [dx, dy, w - dx, h - dy],
                "fill": 0.0,
                "fill_mask": 0.0,
                "pad_params": None,
                "transform": "CenterCrop",
            },
            sort_keys=True,
        )
    if family == "rotate":
        m = [[0.999848, 0.017452, round(w * 0.001, 6)], [-0.017452, 0.999848, round(h * 0.02, 6)], [0.0, 0.0, 1.0]]
        return json.dumps(
            {
                "bbox_matrix": m,
                "fill": 0.0,
                "fill_mask": 0.0,
                "interpolation": 1,
                "matrix": m,
                "output_shape": [h + 20, w + 20],
                "rotate": float(severity),
                "scale": {"x": 1.0, "y": 1.0},
                "transform": "Affine",
            },
            sort_keys=True,
        )
    if family == "resize":
        return '{"interpolation": 3, "transform": "Resize"}'
    return "{}"


def prefill_store(config: dict, store: str, seed: int = 0) -> int:
    """Write every hash row of `config` (its images, hashers, transforms) to
    the hash store `store` as random hashes, 64 images per chunk file, so a
    run of it reuses everything and decodes nothing: what it measures is the
    driver's own work (reading the store, assembling the hash table, the
    metrics, writing the tables). Returns the number of hash rows."""
    import numpy as np

    from harness.config import load_config
    from harness.datasets import load_records
    from harness.engine.chunks import seed_of, severity_text
    from harness.engine.store import HashStore
    from harness.transforms import ORIGINAL

    cfg = load_config(config)
    hashers, specs = cfg.build_hashers(), cfg.transform_specs()
    records, _ = load_records(cfg.dataset)
    ids = sorted({r.image_id for r in records})
    rng = np.random.default_rng(seed)
    hs = HashStore(store)
    n = 0
    for start in range(0, len(ids), 64):
        rows = []
        for image_id in ids[start : start + 64]:
            w, h = (int(x) for x in rng.integers(200, 1200, 2))
            for spec in [ORIGINAL, *specs]:
                applied = _applied(spec.family, spec.severity, w, h, rng)
                for hasher in hashers:
                    packed = rng.integers(0, 256, hasher.nbytes, dtype=np.uint8)
                    rows.append(
                        [
                            image_id,
                            spec.key,
                            hasher.key,
                            seed_of(spec, cfg.seed),
                            spec.family,
                            severity_text(spec),
                            hasher.name,
                            packed.tobytes(),
                            hasher.to_hex(packed),
                            w,
                            h,
                            applied,
                            "",
                            "",
                            "",
                        ]
                    )
        hs.write_chunk(rows)
        n += len(rows)
    return n


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo += [int(x) for x in fh.read().split()]
        except OSError:
            pass
    return out


def _hwm_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_run(
    folder: str, n: int, chunk_size: int, workers: int, scratch: str, prefill: bool = False, code: str | None = None
) -> dict:
    """Run a cheap experiment (dHash, one JPEG variant) on the first `n`
    images of `folder`; peak RSS of the driver and of the largest worker.
    prefill: instead, the quickstart's hashers and transforms with every
    hash already in a store (`prefill_store`; the files are `make_stubs`).
    code: run the `harness` package of this folder (e.g. another checkout,
    for a before/after comparison) instead of this one."""
    import yaml

    out = os.path.join(scratch, f"out-{n}-{chunk_size}")
    cfg = {
        "name": f"memory-{n}",
        "dataset": {"source": "folder", "path": folder, "limit": n},
        "hashers": ["dhash"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "output": out,
        "engine": {"chunk_size": chunk_size},
    }
    hash_rows = None
    if prefill:
        store = os.path.join(scratch, f"store-{n}")
        cfg |= QUICKSTART | {"engine": {"chunk_size": chunk_size, "store": store}}
        # the all-pairs variant-orig histograms (21 per hasher) and the bootstrap would take
        # hours at 50,000 images on two cores; they do not touch the hash table
        cfg["metrics"] = QUICKSTART["metrics"] | {"variant_orig": False, "bootstrap_replicates": 0}
        if not os.path.isdir(store):
            t0 = time.perf_counter()
            prefill_store(cfg, store)
            print(f"store of {n} images pre-filled in {time.perf_counter() - t0:.0f} s", flush=True)
        hash_rows = n * len(QUICKSTART["hashers"]) * (1 + sum(len(t["severities"]) for t in QUICKSTART["transforms"]))
    path = os.path.join(scratch, f"memory-{n}-{chunk_size}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    command = [sys.executable, "-m", "harness", "run", "--config", path, "--no-progress", "--workers", str(workers)]
    if prefill:  # the run stage alone (`run` also draws the report, a stage of its own)
        script = (
            "import sys; from harness.engine.run import run_experiment as r;"
            " r(sys.argv[1], progress=False, workers=int(sys.argv[2]))"
        )
        command = [sys.executable, "-c", script, path, str(workers)]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=code,
    )
    driver, workers_peak = 0, {}
    while proc.poll() is None:
        driver = max(driver, _hwm_kib(proc.pid))
        for p in _tree(proc.pid)[1:]:
            workers_peak[p] = max(workers_peak.get(p, 0), _hwm_kib(p))
        time.sleep(0.2)
    seconds = time.perf_counter() - t0
    stdout, stderr = proc.communicate()
    info = {}
    try:
        with open(os.path.join(out, "run.json")) as fh:
            info = json.load(fh)
    except OSError:
        pass
    close_pairs = None
    try:  # the close pairs the run kept (held in the driver with the hash table)
        import pyarrow.parquet as pq

        close_pairs = pq.ParquetFile(os.path.join(out, "close_pairs.parquet")).metadata.num_rows
    except (OSError, ValueError):
        pass
    shutil.rmtree(out, ignore_errors=True)
    return {
        "close_pairs": close_pairs,
        "images": n,
        "hash_rows": hash_rows if hash_rows is not None else info.get("counts", {}).get("hash_rows"),
        "prefilled": prefill,
        "code": os.path.abspath(code) if code else None,
        "driver_peak_rss_mib_assembled": info.get("engine", {}).get("driver_peak_rss_mib_assembled"),
        "driver_peak_rss_mib_metrics": info.get("engine", {}).get("driver_peak_rss_mib_metrics"),
        "driver_peak_rss_mib_written": info.get("engine", {}).get("driver_peak_rss_mib_written"),
        "timings_seconds": info.get("timings_seconds"),
        "chunk_size": chunk_size,
        "workers": workers,
        "exit_status": proc.returncode,
        "seconds": round(seconds, 1),
        "driver_peak_mib": round(driver / 1024, 1),
        "largest_worker_peak_mib": round(max(workers_peak.values(), default=0) / 1024, 1),
        "processes_seen": 1 + len(workers_peak),
        "images_hashed": info.get("dataset", {}).get("images_hashed"),
        "worker_peak_rss_mib_hashing": info.get("engine", {}).get("worker_peak_rss_mib_hashing"),
        "driver_peak_rss_mib_hashing": info.get("engine", {}).get("driver_peak_rss_mib_hashing"),
        "stderr_tail": stderr.strip().splitlines()[-2:] if proc.returncode not in (0, 1) else [],
    }
