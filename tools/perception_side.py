"""thorn's `perception` side of tools/perception_crosscheck.py.

Standalone (does not import harness): run with the Python of a venv that has
``perception[benchmarking]`` (never next to harness: perception pins an
older OpenCV). Reads index.json written by perception_crosscheck.py (PNG
files of originals and variants, identical pixels for both libraries),
hashes every file with perception's own hashers, runs perception's
benchmarking (`BenchmarkImageTransforms.compute_hashes` ->
`compute_threshold_recall(precision_threshold)`) and writes perception.json:
the bit vectors and perception's threshold/recall table.
"""

from __future__ import annotations

import argparse
import json
import warnings


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--precision", type=float, default=99.9)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from importlib.metadata import version

    import pandas as pd
    from perception import hashers
    from perception.benchmarking.image import BenchmarkImageTransforms

    index = json.load(open(args.index))
    hs = {
        "phash": hashers.PHash(hash_size=8),
        "dhash": hashers.DHash(hash_size=8),
        "ahash": hashers.AverageHash(hash_size=8),
        "whash": hashers.WaveletHash(hash_size=8),
    }
    # perception 0.9.3 exposes no PDQ hasher in perception.hashers (PDQ is
    # left out of the cross-check for that reason)
    bits = {}
    for name, h in hs.items():
        bits[name] = {r["filepath"]: [int(b) for b in h.compute(r["filepath"], hash_format="vector")] for r in index}
    df = pd.DataFrame(
        [
            {
                "filepath": r["filepath"],
                "category": "caltech101",
                "transform_name": r["transform"],
                "input_filepath": r["input"],
                "guid": r["guid"],
            }
            for r in index
        ]
    )
    hashes = BenchmarkImageTransforms(df).compute_hashes(hashers=hs, max_workers=1)
    table = hashes.compute_threshold_recall(
        precision_threshold=args.precision, grouping=["transform_name"]
    ).reset_index()
    lengths = {name: int(h.hash_length) for name, h in hs.items()}
    json.dump(
        {
            "perception": version("perception"),
            "precision_threshold": args.precision,
            "hash_length": lengths,
            "bits": bits,
            "threshold_recall": table.to_dict(orient="records"),
        },
        open(args.out, "w"),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
