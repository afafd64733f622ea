"""Census of n random hashes from a Parquet file: wall, CPU, peak memory.

`phash-harness bench census --n 100000 --bits 64 256` draws n random hashes
of each bit length (seeded), writes them as hex to a Parquet file (columns
id, hash; every photo its own group) and times `harness.engine.census.run_census`
on it: reading, the exact all-pairs histogram (n(n-1)/2 pairs) in tiles,
the close-pair pass and the image-level bootstrap. By default the census
runs in this process (`--workers 1`: the compiled kernels use every core),
so the peak resident memory (resource.getrusage, RUSAGE_SELF) covers all of
it. Figures are merged into results/bench/census.json (one entry per n x
bits x settings) and rendered to results/bench/census.md.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import tempfile
import time

from benchmarks import write_results
from benchmarks.pairs import random_hashes


def add_arguments(p) -> None:
    p.add_argument("--n", type=int, default=100_000, help="number of random hashes (default 100000)")
    p.add_argument("--bits", type=int, nargs="+", default=[64], help="bit lengths (multiples of 4), e.g. 64 256")
    p.add_argument(
        "--workers", type=int, default=1, help="census workers (default 1: this process, kernels on every core)"
    )
    p.add_argument("--tile", type=int, default=None, help="tile size (default: the census default)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap replicates (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output", default="results/bench", help="folder for census.json and census.md")


def _usage():
    r = resource.getrusage(resource.RUSAGE_SELF)
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
    from harness.engine.census import DEFAULT_TILE, CensusSettings, run_census

    tmp = tempfile.mkdtemp(prefix="bench-census-")
    entries = []
    try:
        for bits in args.bits:
            path = os.path.join(tmp, f"hashes-{bits}.parquet")
            write_parquet(path, args.n, bits, args.seed)
            out = os.path.join(tmp, f"out-{bits}")
            settings = CensusSettings(tile=args.tile or DEFAULT_TILE, bootstrap_replicates=args.bootstrap)
            cpu0, before = _usage()
            t0 = time.perf_counter()
            info = run_census([path], out, settings=settings, workers=args.workers)
            wall = time.perf_counter() - t0
            cpu1, peak = _usage()
            c = info["hashers"][0]
            entry = {
                "n": args.n,
                "bits": bits,
                "workers": args.workers,
                "tile": settings.tile,
                "bootstrap": args.bootstrap,
                "pairs": c["pairs"],
                "tiles": c["tiles_total"],
                "keep_below": c["keep_below"],
                "close_pairs": c["close_pairs"],
                "wall_s": round(wall, 2),
                "cpu_s": round(cpu1 - cpu0, 2),
                "read_s": info["timings_seconds"]["read"],
                "stage_s": c["seconds"],
                "peak_rss_mib": round(peak, 1),
                "peak_rss_before_mib": round(before, 1),
                "file_mib": round(os.path.getsize(path) / 2**20, 1),
                "pairs_per_s": round(c["pairs"] / wall),
                "cores": os.cpu_count(),
                "machine": platform.processor() or platform.machine(),
            }
            entries.append(entry)
            print(
                f"census n={args.n} bits={bits}: {wall:.1f} s wall, {entry['cpu_s']:.1f} s CPU, "
                f"peak RSS {peak:.0f} MiB, {entry['pairs_per_s']:.3g} pairs/s"
            )
            shutil.rmtree(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = os.path.join(args.output, "census")
    old = []
    if os.path.exists(base + ".json"):
        with open(base + ".json", encoding="utf-8") as fh:
            old = json.load(fh).get("runs", [])
    same = {(e["n"], e["bits"], e["workers"], e["tile"], e["bootstrap"]) for e in entries}
    runs = [e for e in old if (e["n"], e["bits"], e["workers"], e["tile"], e["bootstrap"]) not in same] + entries
    runs.sort(key=lambda e: (e["bits"], e["n"], e["workers"], e["bootstrap"]))
    lines = [
        "# Census benchmark (`phash-harness bench census`)",
        "",
        "Random hashes from a Parquet file; exact all-pairs histogram, close pairs and image-level "
        "bootstrap. Peak RSS of the census process (resource.getrusage; before: the peak before the census "
        "started, i.e. imports and the random hashes).",
        "",
        "| n | bits | workers | tile | bootstrap | pairs | wall s | CPU s | read s | peak RSS MiB (before) | pairs/s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e in runs:
        lines.append(
            f"| {e['n']:,} | {e['bits']} | {e['workers']} | {e['tile']} | {e['bootstrap']} | "
            f"{e['pairs']:.3g} | {e['wall_s']} | {e['cpu_s']} | {e['read_s']} | "
            f"{e['peak_rss_mib']} ({e.get('peak_rss_before_mib', '')}) | "
            f"{e['pairs_per_s']:.3g} |"
        )
    write_results(base, {"runs": runs}, "\n".join(lines) + "\n")
    print(f"written {base}.json and {base}.md")
    return 0
