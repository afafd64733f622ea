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


def measure_run(folder: str, n: int, chunk_size: int, workers: int, scratch: str) -> dict:
    """Run a cheap experiment (dHash, one JPEG variant) on the first `n`
    images of `folder`; peak RSS of the driver and of the largest worker."""
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
    path = os.path.join(scratch, f"memory-{n}-{chunk_size}.yaml")
    with open(path, "w") as fh:
        yaml.safe_dump(cfg, fh)
    import shutil

    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "run", "--config", path, "--no-progress", "--workers", str(workers)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    shutil.rmtree(out, ignore_errors=True)
    return {
        "images": n,
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
