"""Write fpr_variant.csv into a results folder from its own tables, with the
function and writer the metrics stage uses
(`harness.metrics.pooled.pooled_variant_fpr`, `harness.engine.run.write_table`).

A run writes fpr_variant.csv itself; this is for a folder written by code
that predates the table (results/caltech101 was: see its README). On a
folder that has the table it writes the same bytes (checked on
results/kodak24). From the repository root::

    python tools/fpr_variant.py results/caltech101
"""

from __future__ import annotations

import argparse
import os
import sys

import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.engine.run import write_table  # noqa: E402
from harness.metrics.pooled import pooled_variant_fpr  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--output", help="file to write (default: FOLDER/fpr_variant.csv)")
    args = ap.parse_args(argv)
    f = args.folder
    close = pd.read_parquet(os.path.join(f, "close_pairs.parquet"))
    hist = pd.read_parquet(os.path.join(f, "histograms.parquet"))
    hashes = pd.read_parquet(os.path.join(f, "hashes.parquet"), columns=["hasher", "image_id", "group", "transform"])
    parts = [  # per hasher, in the run's order, as the metrics stage concatenates them
        pooled_variant_fpr(close[close["hasher"] == h], hist, hashes[hashes["hasher"] == h], 0.95)
        for h in dict.fromkeys(hist["hasher"])
    ]
    out = args.output or os.path.join(f, "fpr_variant.csv")
    write_table(pd.concat(parts, ignore_index=True), out)
    print(f"written: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
