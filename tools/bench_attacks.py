"""Print attack queries per CPU second (per core) per hasher and algorithm on photos.

    python tools/bench_attacks.py [FOLDER] [--hashers phash,dhash] [--images 5] [--budget 400]

FOLDER defaults to ../shared/datasets/caltech101/images; with a MANIFEST.csv next to it, photos
within 5% of the median pixel count are used (Caltech-101: 300 x 225).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.attacks.bench import queries_per_cpu_second
from harness.hashers import get_hasher
from harness.imageio import load_rgb


def main(argv=None) -> int:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folder", nargs="?", default=os.path.join(here, "..", "shared", "datasets", "caltech101", "images"))
    p.add_argument("--hashers", default="phash,dhash")
    p.add_argument("--algorithms", default="random,cma")
    p.add_argument("--images", type=int, default=5)
    p.add_argument("--budget", type=int, default=400)
    args = p.parse_args(argv)
    manifest = os.path.join(os.path.dirname(os.path.abspath(args.folder)), "MANIFEST.csv")
    if os.path.isfile(manifest):    # photos of about the dataset's median size
        import pandas as pd
        m = pd.read_csv(manifest)
        px = m["width"] * m["height"]
        near = m[(px - px.median()).abs() <= 0.05 * px.median()].sort_values("file")
        root = os.path.dirname(manifest)
        files = [os.path.join(root, f) for f in near["file"]][:: max(1, len(near) // args.images)][: args.images]
    else:
        files = sorted(glob.glob(os.path.join(args.folder, "**", "*.jpg"), recursive=True))[: args.images]
    if not files:
        print(f"no .jpg under {args.folder}", file=sys.stderr)
        return 2
    images = [load_rgb(f) for f in files]
    sizes = sorted(f"{im.shape[1]}x{im.shape[0]}" for im in images)
    print(f"{len(images)} photos ({', '.join(sizes)}), budget {args.budget} per attack")
    for name in args.hashers.split(","):
        h = get_hasher(name)
        for alg in args.algorithms.split(","):
            r = queries_per_cpu_second(h, images, algorithm=alg, budget=args.budget)
            print(f"{name:<18} {alg:<7} {r['queries_per_cpu_second']:8.0f} queries/s/core "
                  f"({r['queries']} queries, {r['cpu_seconds']:.2f} CPU s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
