"""Census of n random hashes from a Parquet file: wall, CPU, peak memory.

`phash-harness bench census --n 100000 --bits 64 256` draws n random hashes
of each bit length (seeded), writes them as hex to a Parquet file (columns
id, hash; every photo its own group) and runs `phash-harness census` on it
in a child process: reading, the exact all-pairs histogram (n(n-1)/2
pairs) in tiles, the close-pair pass (the pairs the default interval
needs) and the image-level bootstrap. Wall time is the child's; CPU time
is the child's and its workers' (getrusage RUSAGE_CHILDREN); the peak
resident memory is the larger of the census process's own and its largest
worker's, which the child writes at exit. `--workers 1`
(the default) counts in the census process with the compiled kernels on
every core; `--scheduler local --workers 2` uses a 2-worker Dask
LocalCluster on 127.0.0.1 (one thread each), and `--workers 2` alone a
2-process pool: the counts must be identical, the rates are compared in
the table. Figures are merged into results/bench/census.json (one entry
per n x bits x settings) and rendered to results/bench/census.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import resource
import shutil
import tempfile

import pandas as pd

from benchmarks import run_harness_measured, write_results
from benchmarks.pairs import random_hashes
from harness.engine.census import DEFAULT_TILE


def add_arguments(p) -> None:
    p.add_argument("--n", type=int, default=100_000, help="number of random hashes (default 100000)")
    p.add_argument("--bits", type=int, nargs="+", default=[64], help="bit lengths (multiples of 4), e.g. 64 256")
    p.add_argument(
        "--workers", type=int, default=1, help="census workers (default 1: this process, kernels on every core)"
    )
    p.add_argument("--tile", type=int, default=None, help="tile size (default: the census default)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (0: skip)")
    p.add_argument("--scheduler", default=None, help="Dask: 'local' (a LocalCluster on 127.0.0.1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="results/bench", help="folder for census.json and census.md")


def _children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime, r.ru_maxrss / 1024.0  # Linux: KiB


def write_parquet(path: str, n: int, bits: int, seed: int) -> None:
    """n random hashes of `bits` bits as hex (bits / 4 digits) with ids."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    packed = random_hashes(n, bits, seed)
    digits = bits // 4
    hexes = [row.tobytes().hex()[:digits] for row in packed]  # padding: the last nibble
    pq.write_table(pa.table({"id": [f"h{k}" for k in range(n)], "hash": hexes}), path)


def main(args) -> int:
    tmp = tempfile.mkdtemp(prefix="bench-census-")
    entries = []
    try:
        for bits in args.bits:
            path = os.path.join(tmp, f"hashes-{bits}.parquet")
            write_parquet(path, args.n, bits, args.seed)
            out = os.path.join(tmp, f"out-{bits}")
            peak_file = os.path.join(tmp, f"peak-{bits}.json")
            cmd = ["census", path, "--output", out]
            cmd += ["--workers", str(args.workers), "--bootstrap", str(args.bootstrap)]
            if args.tile:
                cmd += ["--tile", str(args.tile)]
            if args.scheduler:
                cmd += ["--scheduler", args.scheduler]
            cpu0, _ = _children()
            wall, peaks = run_harness_measured(cmd, peak_file)
            cpu1, _ = _children()
            peak = max(peaks.values())  # the census process or its largest worker
            with open(os.path.join(out, "census.json"), encoding="utf-8") as fh:
                info = json.load(fh)
            c = info["hashers"][0]
            hist = pd.read_parquet(os.path.join(out, "histograms.parquet"))
            entry = {
                "n": args.n,
                "bits": bits,
                "workers": args.workers,
                "executor": info["executor"].get("executor", "inline") if args.workers != 1 else "inline",
                "tile": args.tile or DEFAULT_TILE,
                "bootstrap": args.bootstrap,
                "pairs": c["pairs"],
                "histogram_sha256": hashlib.sha256(hist.to_csv(index=False).encode()).hexdigest()[:16],
                "tiles": c["tiles_total"],
                "keep_below": c["keep_below"],
                "close_pairs": c["close_pairs"],
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu1 - cpu0, 2),
                "read_s": info["timings_seconds"]["read"],
                "stage_s": c["seconds"],
                "peak_rss_mib": round(peak, 1),
                "file_mib": round(os.path.getsize(path) / 2**20, 1),
                "pairs_per_s": round(c["pairs"] / wall),
                "cores": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
            }
            entries.append(entry)
            print(
                f"census n={args.n} bits={bits} ({entry['executor']}, {args.workers} workers): {wall:.1f} s wall, "
                f"{entry['cpu_s']:.1f} s CPU, peak RSS {peak:.0f} MiB, {entry['pairs_per_s']:.3g} pairs/s, "
                f"histogram {entry['histogram_sha256']}"
            )
            shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = merge_and_write(entries, args.output)
    print(f"written {base}.json and {base}.md")
    return 0


def merge_and_write(entries: list, output: str) -> str:
    """Merge `entries` into <output>/census.json (an entry replaces the one
    with the same n, bits, workers, executor, tile and bootstrap) and render
    census.md; returns the path without extension."""
    base = os.path.join(output, "census")
    old = []
    if os.path.exists(base + ".json"):
        with open(base + ".json", encoding="utf-8") as fh:
            old = json.load(fh).get("runs", [])

    def key(e):
        return (e["n"], e["bits"], e["workers"], e.get("executor", "inline"), e["tile"], e["bootstrap"])

    same = {key(e) for e in entries}
    runs = [e for e in old if key(e) not in same and "histogram_sha256" in e] + entries  # older format: dropped
    runs.sort(key=lambda e: (e["bits"], e["n"], e["workers"], e.get("executor", ""), e["bootstrap"]))
    lines = [
        "# Census benchmark (`phash-harness bench census`)",
        "",
        "Random hashes from a Parquet file; `phash-harness census` in a child process: exact all-pairs "
        "histogram, close pairs (for the default interval) and image-level bootstrap. Wall time of the "
        "child; CPU of the child and its workers; peak RSS of the census process or its largest worker "
        "(getrusage, written by the child at exit). `histogram` is a digest of histograms.parquet: "
        "equal digests, equal counts. "
        "Stage seconds: histogram (with the close pairs it collects) / close pairs (sorting them, and a "
        "second pass where one is needed; census.json's `tiles` counts tile tasks, one per tile when "
        "there was none) / interval. Rows measured 2026-12-06 on quiet cores (2 cores, AVX-512) with "
        "the one-pass census.",
        "",
        "| n | bits | executor | workers | tile | bootstrap | pairs | wall s | CPU s | stages s | "
        "peak RSS MiB | pairs/s | histogram |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for e in runs:
        st = e["stage_s"]
        stages = " / ".join(f"{st.get(k, 0):.0f}" for k in ("histogram", "close_pairs", "interval"))
        lines.append(
            f"| {e['n']:,} | {e['bits']} | {e['executor']} | {e['workers']} | {e['tile']} | {e['bootstrap']} | "
            f"{e['pairs']:.3g} | {e['wall_s']} | {e['cpu_s']} | {stages} | {e['peak_rss_mib']} | "
            f"{e['pairs_per_s']:.3g} | {e['histogram_sha256']} |"
        )
    write_results(base, {"runs": runs}, "\n".join(lines) + "\n")
    return base
