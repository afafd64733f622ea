"""Do the four hashers that `phash-harness screen --hashers all` leaves out
(colorhash, cv_colormoment, cv_radialvariance, crop_resistant: their
distances are not bit counts, or, for colorhash, nearly every grey photo
shares a hash) find duplicates the screen missed?

Their candidates are the study's own orig-orig close pairs at each
hasher's recommended threshold for a target FPR (thresholds.csv;
close_pairs.parquet, written by the run, not committed), confirmed by the
screen's pixel check (SSIM of 64 x 64 grey thumbnails >= 0.9,
harness.screen.pixels). Pairs inside the screen's groups are not negatives,
so they are not among the close pairs: every confirmed pair printed here
would be a duplicate the screen missed.

From the repository root, after `phash-harness run --config
results/caltech101/experiment.yaml`::

    python tools/screen_extra_hashers.py results/caltech101 --target 1e-3
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import pandas as pd

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from harness.imageio import load_rgb  # noqa: E402
from harness.screen.pixels import grey_thumbnail, ssim  # noqa: E402

HASHERS = ["colorhash", "cv_colormoment", "cv_radialvariance", "crop_resistant"]
MIN_SIMILARITY = 0.9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder", help="a results folder with close_pairs.parquet, thresholds.csv, images.csv")
    ap.add_argument("--target", type=float, default=1e-3, help="target FPR of the thresholds (default 1e-3)")
    args = ap.parse_args(argv)
    folder = args.folder
    close = pd.read_parquet(os.path.join(folder, "close_pairs.parquet"), filters=[("kind", "==", "orig-orig")])
    thr = pd.read_csv(os.path.join(folder, "thresholds.csv")).drop_duplicates(["hasher", "target_fpr"])
    images = pd.read_csv(os.path.join(folder, "images.csv")).set_index("image_id")
    thumbs: dict = {}

    def thumb(i):
        if i not in thumbs:
            thumbs[i] = grey_thumbnail(load_rgb(images.loc[i, "path"]))
        return thumbs[i]

    print(f"| hasher | threshold (FPR <= {args.target:g}) | candidate pairs | max SSIM | SSIM >= {MIN_SIMILARITY} |")
    print("|---|---:|---:|---:|---:|")
    for hasher in HASHERS:
        row = thr[(thr["hasher"] == hasher) & np.isclose(thr["target_fpr"], args.target)]
        if not len(row):
            print(f"| {hasher} | no row in thresholds.csv | | | |")
            continue
        t = int(row["recommended_threshold"].iat[0])
        sel = close[(close["hasher"] == hasher) & (close["distance"] <= max(t, 0))]
        s = np.array([ssim(thumb(a), thumb(b)) for a, b in zip(sel["image_a"], sel["image_b"])])
        top = f"{s.max():.3f}" if len(s) else "-"
        print(f"| {hasher} | {t} | {len(sel)} | {top} | {int((s >= MIN_SIMILARITY).sum())} |")
        ok = s >= MIN_SIMILARITY
        for a, b, x in zip(sel["image_a"][ok], sel["image_b"][ok], s[ok]):
            print(f"    {images.loc[a, 'name']}  {images.loc[b, 'name']}  SSIM {x:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
