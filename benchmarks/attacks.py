"""Attack throughput: queries/s/core per hasher and algorithm on Caltech-size photos.

``phash-harness bench attacks [FOLDER] [--hashers phash,dhash,...] [--algorithms random,cma]
[--images 5] [--budget 400]``

Runs one evasion attack per photo with an unreachable threshold (the
hasher's whole distance range, so every attack spends its whole budget) and
divides the queries (images hashed) by the process CPU seconds
(``time.process_time``, all threads of this process counted; one query =
one image hashed): queries per second per core. The rate includes building
the perturbed candidates and the optimiser's own work, i.e. what an attack
study pays per query. FOLDER defaults to the shared caltech101 images; with
a MANIFEST.csv next to it, photos within 5% of the median pixel count are
used (Caltech-101: 300 x 225). CPU time is less disturbed by other processes
than wall time but not immune: report the load average with the figures.

Writes ``<output>.json`` and ``<output>.md`` (default results/bench/attacks).
"""

from __future__ import annotations

import glob
import os
import platform
import time
from datetime import datetime, timezone

from harness.errors import ConfigError

from . import datasets_root, write_results


def add_arguments(p) -> None:
    p.add_argument("folder", nargs="?", default=None, help="folder of photos (default: the shared caltech101)")
    p.add_argument(
        "--hashers",
        default="phash,dhash,pdq,cv_radialvariance",
        help="comma-separated hasher names (default: %(default)s)",
    )
    p.add_argument("--algorithms", default="random,cma", help="comma-separated: random, cma (default: %(default)s)")
    p.add_argument("--images", type=int, default=5, help="photos, one attack each (default: %(default)s)")
    p.add_argument("--budget", type=int, default=400, help="queries per attack (default: %(default)s)")
    p.add_argument("--output", default="results/bench/attacks", help="output path without extension")


def queries_per_cpu_second(
    hasher, images, algorithm: str = "random", budget: int = 500, linf_cap: int = 16, seed: int = 0
) -> dict:
    """{"queries", "cpu_seconds", "queries_per_cpu_second"} over one full-budget evasion per image.

    >>> import numpy as np
    >>> from harness.hashers import get_hasher
    >>> queries_per_cpu_second(get_hasher("dhash"), [np.zeros((60, 80, 3), np.uint8)], budget=32)["queries"]
    32
    """
    import cma  # noqa: F401 - import time is not attack time

    from harness.attacks import attack

    unreachable = int(getattr(hasher, "n_bins", hasher.bits + 1))  # d > t is impossible
    if images:  # warm-up, not timed: compiled kernels, caches
        attack(
            images[0],
            hasher,
            None,
            unreachable,
            "evasion",
            algorithm=algorithm,
            budget=min(budget, 32),
            linf_cap=linf_cap,
            seed=seed,
        )
    queries, t0 = 0, time.process_time()
    for x in images:
        r = attack(
            x, hasher, None, unreachable, "evasion", algorithm=algorithm, budget=budget, linf_cap=linf_cap, seed=seed
        )
        queries += r.queries
    cpu = time.process_time() - t0
    return {"queries": queries, "cpu_seconds": cpu, "queries_per_cpu_second": queries / cpu if cpu else float("nan")}


def photos(folder: str, n: int) -> list[str]:
    """`n` photos of about the dataset's median size (MANIFEST.csv next to
    the folder), evenly spread in file order; else the first n .jpg files."""
    manifest = os.path.join(os.path.dirname(os.path.abspath(folder)), "MANIFEST.csv")
    if os.path.isfile(manifest):
        import pandas as pd

        m = pd.read_csv(manifest)
        px = m["width"] * m["height"]
        near = m[(px - px.median()).abs() <= 0.05 * px.median()].sort_values("file")
        root = os.path.dirname(manifest)
        return [os.path.join(root, f) for f in near["file"]][:: max(1, len(near) // n)][:n]
    return sorted(glob.glob(os.path.join(folder, "**", "*.jpg"), recursive=True))[:n]


def measure(files, hashers, algorithms, budget: int) -> dict:
    from harness.hashers import get_hasher
    from harness.imageio import load_rgb

    images = [load_rgb(f) for f in files]
    out = {
        "photos": len(images),
        "sizes": sorted(f"{im.shape[1]}x{im.shape[0]}" for im in images),
        "budget": budget,
        "rows": [],
    }
    for name in hashers:
        h = get_hasher(name)
        for alg in algorithms:
            load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
            r = queries_per_cpu_second(h, images, algorithm=alg, budget=budget)
            out["rows"].append(
                {
                    "hasher": name,
                    "algorithm": alg,
                    "queries": r["queries"],
                    "cpu_seconds": round(r["cpu_seconds"], 3),
                    "queries_per_cpu_second": round(r["queries_per_cpu_second"], 1),
                    "load_before": load,
                }
            )
            print(
                f"{name:<18} {alg:<7} {r['queries_per_cpu_second']:8.0f} queries/s/core "
                f"({r['queries']} queries, {r['cpu_seconds']:.2f} CPU s, load {load})"
            )
    return out


def main(args) -> int:
    from harness.hashers import list_hashers

    folder = args.folder or str(datasets_root() / "caltech101" / "images")
    if not os.path.isdir(folder):
        raise ConfigError("FOLDER", f"a folder of photos is needed (not found: {folder})")
    if not 1 <= args.images <= 1000:
        raise ConfigError("--images", f"must be an integer in 1..1000 (got {args.images})")
    if not 1 <= args.budget <= 1_000_000:
        raise ConfigError("--budget", f"must be an integer in 1..1000000 (got {args.budget})")
    hashers = [h.strip() for h in args.hashers.split(",") if h.strip()]
    known = list_hashers()
    for h in hashers:
        if h not in known:
            raise ConfigError("--hashers", f"unknown hasher {h!r}; allowed: {', '.join(known)}")
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    for a in algorithms:
        if a not in ("random", "cma"):
            raise ConfigError("--algorithms", f"unknown algorithm {a!r}; allowed: random, cma")
    files = photos(folder, args.images)
    if not files:
        raise ConfigError("FOLDER", f"no .jpg under {folder}")
    print(f"{len(files)} photos, budget {args.budget} per attack")
    result = measure(files, hashers, algorithms, args.budget)
    result.update(
        {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "folder": folder,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "command": f"phash-harness bench attacks --hashers {','.join(hashers)} "
            f"--algorithms {','.join(algorithms)} --images {args.images} --budget {args.budget}",
        }
    )
    lines = [
        "# `phash-harness bench attacks`: queries per CPU second (per core)",
        "",
        f"Measured {result['date']} on {result['machine']['cpus']} cores: {result['photos']} photos "
        f"({', '.join(result['sizes'])}) of `{folder}`, one full-budget evasion attack "
        f"({args.budget} queries) per photo; candidates, optimiser and hashing included.",
        "",
        f"Command: `{result['command']}`",
        "",
        "| hasher | algorithm | queries/s/core | queries | CPU s | load before |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {r['hasher']} | {r['algorithm']} | {r['queries_per_cpu_second']:.0f} | {r['queries']} | "
            f"{r['cpu_seconds']} | {r['load_before']} |"
        )
    text = "\n".join(lines) + "\n"
    write_results(args.output, result, text)
    print(f"written {args.output}.json, {args.output}.md")
    return 0
