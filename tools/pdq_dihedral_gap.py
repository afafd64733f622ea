"""How far pdqhash's own dihedral hashes are from hashing the transposed
pixels (docs/reference/hashers.md, "Dihedral matching").

For each photo: `pdqhash.compute_dihedral` gives the 8 versions' hashes from
one DCT; hashing each exactly transposed image with `pdqhash.compute` gives
the other. Prints, per version, the median and largest Hamming distance
between the two (bits of 256). From the repository root::

    python tools/pdq_dihedral_gap.py ../shared/datasets/caltech101_tiny/images --limit 40
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pdqhash

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from harness.hashers.dihedral import VERSIONS  # noqa: E402
from harness.imageio import load_rgb  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--limit", type=int, default=40)
    args = ap.parse_args(argv)
    names = sorted(n for n in os.listdir(args.folder) if n.lower().endswith((".jpg", ".jpeg", ".png")))[: args.limit]
    gaps = []
    for name in names:
        rgb = np.ascontiguousarray(load_rgb(os.path.join(args.folder, name)))
        own, _ = pdqhash.compute_dihedral(rgb)
        row = []
        for (_, op), h in zip(VERSIONS, own):
            explicit, _ = pdqhash.compute(np.ascontiguousarray(op(rgb)))
            row.append(int((np.asarray(h, bool) != np.asarray(explicit, bool)).sum()))
        gaps.append(row)
    gaps = np.array(gaps)
    print(f"{len(names)} photos of {args.folder}: bits between pdqhash's dihedral hash and the transposed pixels' hash")
    for k, (version, _) in enumerate(VERSIONS):
        print(f"  {version:<13} median {np.median(gaps[:, k]):5.1f}   max {gaps[:, k].max():3d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
