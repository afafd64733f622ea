"""A real scale run (issue 22): a generated corpus of distinct images cut
from real photographs, hashed through ``phash-harness run`` and counted
again by ``phash-harness census`` from those hashes; both must give the
same tables.

    python tools/scale_run.py ../shared/datasets/caltech101/images /tmp/scale \\
        --tiles 26 --hashers phash pdq --workers 2

1. **Corpus.** Every source photo (sorted by path) gives ``--tiles`` tiles:
   a square crop of side f x min(width, height), f uniform in [0.25, 0.6],
   at a uniform position, rescaled (Lanczos) to s x s pixels, s uniform in
   64..160, saved as JPEG quality 90; a tile whose bytes equal an earlier
   tile's (flat regions) is skipped, so every image is distinct. The draws come from
   numpy's generator seeded with (seed, photo index), so the corpus is the
   same on every machine. Tiles of one source photo form one group
   (groups.csv), so no negative pair shares a source photo; with
   ``--source-groups`` (e.g. results/screen-caltech101/groups.csv) tiles
   of near-duplicate source photos share their declared group too. Corpus files
   are written under OUT/images, never into the repository.
2. **Run.** ``phash-harness run`` with ``transforms: []`` and the groups
   (orig-orig negatives only; bootstrap off).
3. **Census.** The run's hashes.parquet (originals) as census input (id,
   hash, group, hasher), ``phash-harness census`` with the same bootstrap
   setting.
4. **Compare.** histograms.parquet (orig-orig) exactly; every row of the
   run's fpr.csv (thresholds up to keep_below) and thresholds.csv must be
   in the census's, equal on their shared numeric columns to the CSVs' 6
   significant digits.

Each stage runs in a child process; its wall time and peak resident
memory (the child's own or its largest worker's, getrusage) are written
to OUT/scale_run.json and printed. The run and the census start from
scratch: OUT/run (with its hash store) and OUT/census (with its tile
checkpoints) of an earlier call are removed first, so the times are those
of hashing and counting, not of reusing. Exit status 1 if the tables
differ.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np
import pandas as pd

EXTENSIONS = (".jpg", ".jpeg", ".png")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository (benchmarks)


def make_corpus(
    src: str, out: str, tiles: int, seed: int, limit: int | None = None, source_groups: str | None = None
) -> dict:
    """Write OUT/images/<source path>/tKK.jpg and OUT/groups.csv (see the
    module doc); returns {"sources", "images"}. `source_groups`: a
    groups.csv of the source photos (columns image = sha256 or relative
    path, group), e.g. `phash-harness screen`'s: tiles of photos in one
    declared group (near-duplicates) share that group."""
    import hashlib
    import io

    from PIL import Image

    declared = {}
    if source_groups:
        table = pd.read_csv(source_groups, dtype=str)
        declared = dict(zip(table["image"], table["group"]))

    photos = sorted(
        os.path.relpath(os.path.join(d, f), src)
        for d, _, files in os.walk(src)
        for f in files
        if f.lower().endswith(EXTENSIONS)
    )[:limit]
    rows, seen, skipped = [], set(), 0
    for k, rel in enumerate(photos):
        rng = np.random.default_rng([seed, k])
        group = rel
        if declared:
            with open(os.path.join(src, rel), "rb") as fh:
                digest = hashlib.sha256(fh.read()).hexdigest()
            group = declared.get(digest) or declared.get(rel) or rel
        with Image.open(os.path.join(src, rel)) as im:
            rgb = im.convert("RGB")
        w, h = rgb.size
        folder = os.path.join(out, "images", os.path.splitext(rel)[0])
        os.makedirs(folder, exist_ok=True)
        for t in range(tiles):
            side = max(8, int(rng.uniform(0.25, 0.6) * min(w, h)))
            x0, y0 = int(rng.integers(0, w - side + 1)), int(rng.integers(0, h - side + 1))
            size = int(rng.integers(64, 161))
            tile = rgb.crop((x0, y0, x0 + side, y0 + side)).resize((size, size), Image.Resampling.LANCZOS)
            buf = io.BytesIO()
            tile.save(buf, format="JPEG", quality=90)
            data = buf.getvalue()
            digest = hashlib.sha256(data).digest()
            if digest in seen:  # the same bytes as an earlier tile (flat regions): not a distinct image
                skipped += 1
                continue
            seen.add(digest)
            name = os.path.join(folder, f"t{t:02d}.jpg")
            with open(name, "wb") as fh:
                fh.write(data)
            rows.append((os.path.relpath(name, os.path.join(out, "images")), group))
    pd.DataFrame(rows, columns=["image", "group"]).to_csv(os.path.join(out, "groups.csv"), index=False)
    return {"sources": len(photos), "images": len(rows), "identical_tiles_skipped": skipped}


def _stage(name: str, args: list, out: str) -> dict:
    from benchmarks import run_harness_measured

    peak_file = os.path.join(out, f"peak-{name}.json")
    wall, peaks = run_harness_measured(args, peak_file)
    os.remove(peak_file)
    return {"wall_s": round(wall, 1), "peak_rss_mib": round(max(peaks.values()), 1), "peaks_mib": peaks}


def compare(run_dir: str, census_dir: str) -> list[str]:
    """Differences between the run's orig-orig tables and the census's ([] = none)."""
    problems = []
    key = ["hasher", "bits", "kind", "distance"]
    a = pd.read_parquet(os.path.join(run_dir, "histograms.parquet"))
    a = a[a["kind"] == "orig-orig"][key + ["count"]].sort_values(key).reset_index(drop=True)
    b = pd.read_parquet(os.path.join(census_dir, "histograms.parquet"))[key + ["count"]]
    b = b.sort_values(key).reset_index(drop=True)
    if not a.astype(str).equals(b.astype(str)):
        problems.append("histograms.parquet: counts differ")
    for name, on in (("fpr.csv", ["hasher", "threshold"]), ("thresholds.csv", ["hasher", "target_fpr"])):
        x = pd.read_csv(os.path.join(run_dir, name))
        y = pd.read_csv(os.path.join(census_dir, name))
        numeric = pd.api.types.is_numeric_dtype
        cols = [c for c in x.columns if c in y.columns and c not in on and numeric(x[c]) and numeric(y[c])]
        m = x.merge(y, on=on, suffixes=("_run", "_census"))  # the run's fpr.csv stops at keep_below
        if len(m) != len(x):
            problems.append(f"{name}: rows of the run missing from the census")
            continue
        for c in cols:
            u, v = m[f"{c}_run"].to_numpy(float), m[f"{c}_census"].to_numpy(float)
            if not np.allclose(u, v, rtol=1e-5, atol=0, equal_nan=True):
                problems.append(f"{name}: column {c} differs")
    return problems


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("source", help="folder of source photos")
    ap.add_argument("output", help="working folder (corpus, run, census, scale_run.json)")
    ap.add_argument("--tiles", type=int, default=26, help="tiles per source photo")
    ap.add_argument("--limit", type=int, default=None, help="first N source photos only")
    ap.add_argument("--hashers", nargs="+", default=["phash", "pdq"])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source-groups", default=None, help="groups.csv of the source photos (near-duplicates)")
    args = ap.parse_args(argv)
    out = os.path.abspath(args.output)
    os.makedirs(out, exist_ok=True)
    record = {"command": "python tools/scale_run.py " + " ".join(sys.argv[1:] if argv is None else argv)}
    t0 = time.perf_counter()
    record["corpus"] = make_corpus(args.source, out, args.tiles, args.seed, args.limit, args.source_groups)
    record["corpus"]["wall_s"] = round(time.perf_counter() - t0, 1)
    print(f"corpus: {record['corpus']}")
    import yaml

    cfg = {
        "name": "scale-run",
        "dataset": {"source": "folder", "path": os.path.join(out, "images"), "groups": os.path.join(out, "groups.csv")},
        "hashers": list(args.hashers),
        "transforms": [],
        "seed": args.seed,
        "metrics": {"bootstrap_replicates": 0},
        "output": os.path.join(out, "run"),
    }
    with open(os.path.join(out, "run.yaml"), "w", encoding="utf-8") as fh:
        yaml.safe_dump(cfg, fh)
    run_args = ["run", "--config", os.path.join(out, "run.yaml"), "--workers", args.workers, "--no-progress"]
    for stage in ("run", "census"):  # measured from scratch, not reused from an earlier call
        shutil.rmtree(os.path.join(out, stage), ignore_errors=True)
    record["run"] = _stage("run", run_args, out)
    print(f"run: {record['run']}")
    hashes = pd.read_parquet(os.path.join(out, "run", "hashes.parquet"))
    orig = hashes[hashes["transform"] == "original()"]
    given = pd.DataFrame(
        {"id": orig["image_id"], "hash": orig["hash_hex"], "group": orig["group"].astype(str), "hasher": orig["hasher"]}
    )
    given.to_parquet(os.path.join(out, "hashes-given.parquet"), index=False)
    record["hash_rows"] = len(given)
    del hashes, orig, given
    census_args = ["census", os.path.join(out, "hashes-given.parquet"), "--output", os.path.join(out, "census")]
    census_args += ["--workers", "1", "--bootstrap", "0", "--target-fpr", "1e-3"]
    record["census"] = _stage("census", census_args, out)
    print(f"census: {record['census']}")
    record["differences"] = compare(os.path.join(out, "run"), os.path.join(out, "census"))
    with open(os.path.join(out, "scale_run.json"), "w", encoding="utf-8") as fh:
        json.dump(record, fh, indent=2)
    print("tables equal" if not record["differences"] else "DIFFERENT: " + "; ".join(record["differences"]))
    return 1 if record["differences"] else 0


if __name__ == "__main__":
    sys.exit(main())
