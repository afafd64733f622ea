"""One "decode -> variants -> hash" path: `hash_images` (verify, screen,
tests) and a run (engine chunks) give identical hashes and identical error
rows for the same images, specs and hashers, including fast_decode hashers,
a file that cannot be decoded, a variant that cannot be made and a hasher
that raises."""

from __future__ import annotations

import shutil

import numpy as np
from PIL import Image

from harness import run_experiment
from harness.datasets import load_records
from harness.engine.work import hash_images


def _folder(tmp_path, tiny_dir):
    img = tmp_path / "images"
    img.mkdir()
    for p in sorted((tiny_dir / "images").glob("*.jpg"))[:3]:
        shutil.copy(p, img / p.name)  # a temporary copy, outside the repository
    (img / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    Image.fromarray(np.full((6, 6, 3), 200, np.uint8)).save(img / "flat.png")  # too small for resize(0.125)
    return img


def test_hash_images_equals_the_run_path(tmp_path, tiny_dir):
    img = _folder(tmp_path, tiny_dir)
    cfg = {
        "name": "one-path",
        "dataset": {"source": "folder", "path": str(img)},
        "hashers": [
            "phash",
            {"name": "dhash", "params": {"fast_decode": True}},
            {"name": "pdq", "params": {"min_quality": 50}},
        ],
        "transforms": [{"family": "jpeg", "severities": [50]}, {"family": "resize", "severities": [0.125]}],
        "seed": 3,
        "output": str(tmp_path / "out"),
        "metrics": {"bootstrap_replicates": 0},
    }
    res = run_experiment(cfg, progress=False, workers=1)
    config = res.config
    records, _ = load_records(config.dataset)
    hashers = config.build_hashers()
    work = hash_images(records, config.transform_specs(), hashers, config.seed, config.max_pixels)

    labels = {h.key: h.label for h in hashers}
    run_rows = sorted(
        res.hashes[["image_name", "transform", "hasher_key", "hash_hex", "width", "height", "applied"]].itertuples(
            index=False, name=None
        )
    )
    work_rows = sorted((r[1], r[3], r[7], r[9], r[10], r[11], r[12]) for r in work.rows)
    assert len(run_rows) > 0 and run_rows == work_rows
    # every stage of error occurs, with identical reasons in both paths
    run_err = sorted(res.errors[["image_name", "transform", "stage", "reason"]].itertuples(index=False, name=None))
    work_err = sorted((e[1], e[2], e[4], e[5]) for e in work.errors)
    assert run_err == work_err
    assert {e[2] for e in run_err} == {"decode", "transform", "hash"}
    # fast_decode: the dhash rows of the originals are the reduced-size decode's, in both paths
    fast = next(h for h in hashers if h.name == "dhash")
    for r in work.rows:
        if r[7] == fast.key and r[3] == "original()":
            assert r[9] == fast.to_hex(fast.hash_file(str(img / r[1])))
    assert set(labels) == {r[7] for r in work.rows}


def test_hash_images_reads_file_urls_like_a_run(tmp_path, tiny_dir):
    """The run path reads fsspec URLs; hash_images now shares it."""
    from harness.datasets.records import ImageRecord
    from harness.hashers import get_hasher

    src = sorted((tiny_dir / "images").glob("*.jpg"))[0]
    h = get_hasher("phash")
    rec = ImageRecord("a" * 64, src.name, "file://" + str(src), "g", src.stat().st_size)
    work = hash_images([rec], [], [h], 0, 10**8)
    assert not work.errors
    assert [r[9] for r in work.rows] == [h.to_hex(h.hash_file(str(src)))]


def test_bench_hash_stage_rounds_give_the_same_rows(tiny_dir, tmp_path):
    """`bench hash_stage` hashes N photos through compute_rows once per
    round: every round yields the same number of rows (photos x (original
    + 21 quickstart variants) x 4 hashers) and the same digest, and both
    files are written."""
    import json

    from tests.helpers import run_cli

    out = tmp_path / "hs"
    proc = run_cli("bench", "hash_stage", "--folder", tiny_dir / "images", "--limit", 3, "--rounds", 2, "--output", out)
    assert proc.returncode == 0, proc.stderr
    res = json.loads((tmp_path / "hs.json").read_text())
    rounds = res["rounds"]
    assert len(rounds) == 2 and {r["rows"] for r in rounds} == {3 * 22 * 4}
    assert rounds[0]["rows_sha256"] == rounds[1]["rows_sha256"]
    assert (tmp_path / "hs.md").read_text().count("|") > 10
