"""Time every family's default sweep on real photos (transform only, no
hashing): ``phash-harness bench transforms [FOLDER] [--limit N]``.

Prints one line per family (median milliseconds per variant over images x
severities, and the image sizes used) and writes the same table as CSV to
results/bench/transforms.csv (or --output). Timings depend on machine load:
report the load with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from harness.datasets import folder_records, load_rgb, sample_records
from harness.errors import TransformError
from harness.transforms.apply import apply_transform
from harness.transforms.families import families_in_order
from harness.transforms.spec import TransformSpec, variant_seed


def add_arguments(p) -> None:
    p.add_argument("folder", nargs="?", help="image folder (default: the built-in sample)")
    p.add_argument("--limit", type=int, default=8, help="images to use (default 8)")
    p.add_argument("--output", default=os.path.join("results", "bench", "transforms.csv"))


def main(args) -> int:
    recs = folder_records(args.folder)[0] if args.folder else sample_records()
    recs = sorted(recs, key=lambda r: r.name)[: args.limit]
    images = [(r.image_id, load_rgb(r.path)) for r in recs]
    sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for _, im in images})
    rows = []
    for fam in families_in_order():
        times, failed = [], 0
        for s in fam.default_sweep:
            spec = TransformSpec.make(fam.name, s)
            for iid, rgb in images:
                t0 = time.perf_counter()
                try:
                    apply_transform(spec, rgb, variant_seed(iid, spec, 0))
                except TransformError:
                    failed += 1
                times.append(time.perf_counter() - t0)
        ms = 1000 * statistics.median(times)
        rows.append((fam.name, len(fam.default_sweep), len(images), round(ms, 3), failed))
        print(f"{fam.name:<14} {ms:8.2f} ms/variant  ({len(times)} variants, {failed} not made)")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write("family,severities,images,median_ms_per_variant,not_made\n")
        fh.writelines(",".join(map(str, r)) + "\n" for r in rows)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"images: {len(images)} ({', '.join(sizes)}); load average {load:.1f} on {os.cpu_count()} cores; "
        f"written {args.output}"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transforms", description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
