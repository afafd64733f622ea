"""tools/scale_run.py at a tiny size: the tile corpus (groups = source
photos), ``run`` on it and ``census`` on the run's hashes give the same
tables, and no negative pair shares a source photo."""

from __future__ import annotations

import json

import pandas as pd

from tests.helpers import ROOT, dataset_dir


def test_scale_run_small(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import scale_run

    src = dataset_dir("caltech101_tiny") / "images"
    argv = [str(src), str(tmp_path), "--tiles", "4", "--limit", "3", "--hashers", "phash", "pdq", "--workers", "1"]
    assert scale_run.main(argv) == 0
    record = json.loads((tmp_path / "scale_run.json").read_text())
    assert record["corpus"]["sources"] == 3 and record["corpus"]["images"] == 12
    assert record["differences"] == [] and record["hash_rows"] == 2 * 12
    groups = pd.read_csv(tmp_path / "groups.csv")
    assert groups.groupby("group").size().tolist() == [4, 4, 4]
    hist = pd.read_parquet(tmp_path / "run" / "histograms.parquet")
    pairs = hist[hist["kind"] == "orig-orig"].groupby("hasher")["count"].sum()
    assert pairs.tolist() == [12 * 11 // 2 - 3 * (4 * 3 // 2)] * 2  # pairs within a source photo excluded
    # the same corpus from the same seed, byte for byte
    again = tmp_path / "again"
    scale_run.make_corpus(str(src), str(again), 4, 0, 3)
    for rel in groups["image"]:
        assert (again / "images" / rel).read_bytes() == (tmp_path / "images" / rel).read_bytes()
    # declared near-duplicate source photos (by sha256) share one group
    import hashlib

    firsts = sorted(p.relative_to(src) for p in src.rglob("*.jpg"))[:2]
    declared = tmp_path / "source-groups.csv"
    declared.write_text(
        "image,group\n" + "".join(f"{hashlib.sha256((src / p).read_bytes()).hexdigest()},dup-1\n" for p in firsts)
    )
    scale_run.make_corpus(str(src), str(tmp_path / "grouped"), 4, 0, 3, str(declared))
    grouped = pd.read_csv(tmp_path / "grouped" / "groups.csv")
    assert sorted(grouped.groupby("group").size().tolist()) == [4, 8]
    assert (grouped["group"] == "dup-1").sum() == 8
    # the comparison can fail: one changed count or bound is caught
    fpr = pd.read_csv(tmp_path / "census" / "fpr.csv")
    for col in ("fp", "fpr_hi"):
        changed = fpr.copy()
        changed.loc[2, col] = changed.loc[2, col] * 2 + 1
        changed.to_csv(tmp_path / "census" / "fpr.csv", index=False)
        assert scale_run.compare(str(tmp_path / "run"), str(tmp_path / "census")) == [f"fpr.csv: column {col} differs"]
    fpr.to_csv(tmp_path / "census" / "fpr.csv", index=False)
    assert scale_run.compare(str(tmp_path / "run"), str(tmp_path / "census")) == []


def test_identical_tiles_are_skipped(tmp_path, monkeypatch):
    """A flat photo gives identical tiles whenever two draws pick the same
    output size: each is kept once, so every image of the corpus is distinct."""
    from PIL import Image

    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    import scale_run

    src = tmp_path / "src"
    src.mkdir()
    Image.new("RGB", (200, 200), (90, 120, 150)).save(src / "flat.png")
    info = scale_run.make_corpus(str(src), str(tmp_path / "out"), 40, 0)
    files = sorted((tmp_path / "out" / "images").rglob("*.jpg"))
    assert info["identical_tiles_skipped"] > 0 and info["images"] + info["identical_tiles_skipped"] == 40
    assert len(files) == info["images"] and len({f.read_bytes() for f in files}) == len(files)
