"""thorn's `perception` benchmarking on the quickstart settings.

A standalone script (it does not import harness): run it with the Python of
a separate venv that has ``perception[benchmarking]`` (perception pins an
older OpenCV, so it must never be installed next to harness)::

    /path/to/venv-perception/bin/python benchmarks/perception_script.py \
        --files files.json --workers 2 --storage /tmp/perception-bench

Pipeline timed end to end, as perception's docs describe it:
`BenchmarkImageDataset.from_tuples` -> `.transform(...)` (every variant is
written to disk as a JPEG) -> `.compute_hashes(...)` (every file is read
again for every hasher) -> `.compute_threshold_recall()` (the metrics).
Transforms mirror harness' families (same albumentations classes and
parameters); hashers are perception's own aHash, pHash, dHash, wHash
(hash_size 8). Prints one JSON line with the timings.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import time
import warnings


def _transforms(A, cv2):
    def resize(s):
        def f(image):
            h, w = image.shape[:2]
            interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
            return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)

        return f

    def crop(a):
        def f(image):
            h, w = image.shape[:2]
            k = math.sqrt(a)
            nh, nw = round(h * k), round(w * k)
            y, x = (h - nh) // 2, (w - nw) // 2
            return image[y : y + nh, x : x + nw]

        return f

    t = {"noop": A.NoOp(p=1)}
    for q in (90, 70, 50, 30, 10):
        t[f"jpeg({q})"] = A.ImageCompression(compression_type="jpeg", quality_range=(q, q), p=1)
    for s in (0.75, 0.5, 0.25, 0.125):
        t[f"resize({s})"] = resize(s)
    for a in (0.9, 0.8, 0.7, 0.5):
        t[f"crop({a})"] = crop(a)
    for d in (1, 2, 5, 10):
        t[f"rotate({d})"] = A.Rotate(
            limit=(d, d), interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1
        )
    for n in (2, 5, 10, 20):
        t[f"noise({n})"] = A.GaussNoise(std_range=(n / 255, n / 255), mean_range=(0, 0), per_channel=True, p=1)
    return t


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", required=True, help="JSON list of [path, category]")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--storage", required=True)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    t_import = time.perf_counter()
    import albumentations as A
    import cv2
    import perception
    from perception import hashers
    from perception.benchmarking import BenchmarkImageDataset

    t0 = time.perf_counter()
    with open(args.files) as fh:
        files = [tuple(x) for x in json.load(fh)]
    shutil.rmtree(args.storage, ignore_errors=True)
    dataset = BenchmarkImageDataset.from_tuples(files)
    transforms = _transforms(A, cv2)
    transformed = dataset.transform(transforms=transforms, storage_dir=args.storage, errors="warn")
    t1 = time.perf_counter()
    hs = {
        "ahash": hashers.AverageHash(hash_size=8),
        "phash": hashers.PHash(hash_size=8),
        "dhash": hashers.DHash(hash_size=8),
        "whash": hashers.WaveletHash(hash_size=8),
    }
    hashes = transformed.compute_hashes(hashers=hs, max_workers=args.workers)
    t2 = time.perf_counter()
    table = hashes.compute_threshold_recall(precision_threshold=99.9)
    t3 = time.perf_counter()
    try:
        from importlib.metadata import version

        pv = version("perception")
    except Exception:
        pv = getattr(perception, "__version__", "?")
    print(
        json.dumps(
            {
                "perception": pv,
                "images": len(files),
                "variants_per_image": len(transforms) - 1,
                "hashers": list(hs),
                "workers": args.workers,
                "import_seconds": round(t0 - t_import, 3),
                "transform_seconds": round(t1 - t0, 3),
                "hash_seconds": round(t2 - t1, 3),
                "metrics_seconds": round(t3 - t2, 3),
                "total_seconds": round(t3 - t0, 3),
                "hash_rows": int(len(hashes._df)),
                "metric_rows": int(len(table)),
            }
        )
    )
    shutil.rmtree(args.storage, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
