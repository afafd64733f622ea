"""Loaders: manifest CSV, fetched catalogue datasets, fsspec URLs (memory://
and file://), and their config validation. Real photos from
../shared/datasets; image_id is always the sha256 of the bytes."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tarfile

import numpy as np
import pandas as pd
import pytest

from harness.config import load_config
from harness.datasets import folder_records, load_records, load_rgb
from harness.datasets.manifest import manifest_records
from harness.datasets.remote import fsspec_records
from harness.errors import ConfigError
from tests.helpers import dataset_dir

HASHERS = ["phash"]


def ds_config(**dataset):
    return load_config({"dataset": dataset, "hashers": HASHERS}).dataset


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def tiny():
    return dataset_dir("caltech101_tiny")


def test_shared_manifest_loads_with_sha256_identity(tiny):
    records, errors = load_records(ds_config(source="manifest", path=str(tiny / "MANIFEST.csv")))
    assert errors == [] and len(records) == 96
    with open(tiny / "MANIFEST.csv", newline="") as fh:
        expected = {r["file"]: r["sha256"] for r in csv.DictReader(fh)}
    for r in records:
        assert expected[r.name] == r.image_id == sha(open(r.path, "rb").read())
        assert r.group == r.image_id
    # the same images as the folder loader, by identity
    folder, _ = folder_records(str(tiny / "images"))
    assert {r.image_id for r in folder} == {r.image_id for r in records}


def test_manifest_errors_groups_and_overrides(tiny, tmp_path):
    names = sorted(os.listdir(tiny / "images"))[:4]
    rows = [
        {"file": str(tiny / "images" / names[0]), "sha256": "", "group": "g1"},  # absolute path
        {"file": str(tiny / "images" / names[1]), "sha256": "", "group": "g1"},
        {"file": str(tiny / "images" / names[2]), "sha256": "0" * 64, "group": ""},  # wrong sha256
        {"file": "missing.jpg", "sha256": "", "group": ""},  # relative, missing
        {"file": str(tiny / "images" / names[3]), "sha256": "", "group": ""},
    ]
    path = tmp_path / "m.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["file", "sha256", "group"])
        w.writeheader()
        w.writerows(rows)
    recs, errs = manifest_records(str(path))
    assert [r.name for r in recs] == [rows[0]["file"], rows[1]["file"], rows[4]["file"]]
    assert recs[0].group == recs[1].group == "g1" and recs[2].group == recs[2].image_id
    reasons = dict(errs)
    assert "sha256 differs" in reasons[rows[2]["file"]]
    assert "not found" in reasons["missing.jpg"]
    # groups.csv keyed by sha256 wins over the column
    recs, _ = manifest_records(str(path), groups={recs[2].image_id: "g1"})
    assert recs[2].group == "g1"
    bad = tmp_path / "bad.csv"
    bad.write_text("name,x\na,b\n")
    with pytest.raises(ConfigError, match="'file'"):
        load_records(ds_config(source="manifest", path=str(bad)))


@pytest.fixture
def memfs(tiny):
    fsspec = pytest.importorskip("fsspec")
    fs = fsspec.filesystem("memory")
    names = sorted(os.listdir(tiny / "images"))[:5]
    data = {}
    for i, n in enumerate(names):
        rel = n if i < 2 else f"sub/{n}"
        b = (tiny / "images" / n).read_bytes()
        fs.pipe(f"/phash-test/{rel}", b)
        data[rel] = b
    fs.pipe("/phash-test/notes.txt", b"not an image")
    yield data
    fs.rm("/phash-test", recursive=True)


def test_fsspec_memory_url_is_listed_hashed_and_cached(memfs, tmp_path):
    ds = ds_config(source="folder", path="memory://phash-test", cache=str(tmp_path / "cache"))
    records, errors = load_records(ds)
    assert errors == []
    assert sorted(r.name for r in records) == sorted(memfs)
    for r in records:
        assert r.image_id == sha(memfs[r.name]) and r.bytes == len(memfs[r.name])
        assert r.path.startswith(str(tmp_path / "cache"))
        assert open(r.path, "rb").read() == memfs[r.name]
        assert load_rgb(r.path).shape[2] == 3
    top, _ = fsspec_records("memory://phash-test", recursive=False, cache=str(tmp_path / "cache"))
    assert sorted(r.name for r in top) == sorted(n for n in memfs if "/" not in n)
    # a tampered cache file is rewritten, not trusted
    victim = records[0].path
    open(victim, "wb").write(b"tampered")
    again, _ = fsspec_records("memory://phash-test", cache=str(tmp_path / "cache"))
    assert open(victim, "rb").read() == memfs[records[0].name]


def test_fsspec_file_url_matches_folder_loader(tiny):
    pytest.importorskip("fsspec")
    recs, errors = load_records(ds_config(source="folder", path=(tiny / "images").as_uri()))
    folder, _ = folder_records(str(tiny / "images"))
    assert errors == []
    assert [(r.name, r.image_id, r.path) for r in recs] == [(r.name, r.image_id, r.path) for r in folder]


def test_dataset_config_errors_name_the_field(tmp_path):
    cases = [
        (dict(source="folder", path="nosuchproto://x"), "unknown fsspec protocol"),
        (dict(source="manifest"), "required"),
        (dict(source="manifest", path=str(tmp_path / "none.csv")), "not found"),
        (dict(source="catalog"), "caltech101"),
        (dict(source="catalog", name="coco2017-val", dest=str(tmp_path)), "phash-harness fetch coco2017-val"),
        (dict(source="folder", path=str(tmp_path), name="x"), "only for source 'catalog'"),
        (dict(source="web"), "must be one of"),
    ]
    for dataset, text in cases:
        with pytest.raises(ConfigError, match=text) as info:
            ds_config(**dataset)
        assert info.value.field.startswith("dataset")
        assert "\n" not in str(info.value)


def test_catalog_source_reads_a_fetched_dataset(tiny, tmp_path):
    from harness.datasets.catalog import Archive, CatalogEntry
    from harness.datasets.fetch import fetch

    names = sorted(os.listdir(tiny / "images"))[:6]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for n in names:
            tf.add(tiny / "images" / n, arcname=f"set/{n}")
    archive = tmp_path / "set.tar"
    archive.write_bytes(buf.getvalue())
    entry = CatalogEntry(
        name="tinyset",
        title="t",
        images_dir="set",
        license="CC BY 4.0",
        attribution="a",
        homepage="h",
        archives=(Archive(url=archive.as_uri(), sha256=sha(buf.getvalue()), filename="set.tar"),),
    )
    fetch(entry, str(tmp_path / "data"), progress=False, log=lambda m: None)
    records, errors = load_records(ds_config(source="catalog", name="tinyset", dest=str(tmp_path / "data")))
    assert errors == [] and [r.name for r in records] == [f"images/{n}" for n in names]
    assert [r.image_id for r in records] == [sha((tiny / "images" / n).read_bytes()) for n in names]
    # screen NAME finds the fetched dataset through --dest
    from harness.cli import main

    assert main(["screen", "tinyset", "--dest", str(tmp_path / "data"), "--output", str(tmp_path / "s")]) == 0
    info = json.loads((tmp_path / "s" / "screen.json").read_text())
    assert info["counts"]["images"] == 6 and info["counts"]["duplicate_groups"] == 0


def test_run_experiment_on_a_manifest_source(tiny, tmp_path):
    from harness import run_experiment

    groups = tmp_path / "groups.csv"
    first_two = sorted(os.listdir(tiny / "images"))[:2]
    groups.write_text("image,group\n" + "".join(f"images/{n},pair\n" for n in first_two))
    cfg = {
        "dataset": {"source": "manifest", "path": str(tiny / "MANIFEST.csv"), "limit": 10, "groups": str(groups)},
        "hashers": ["dhash"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "output": str(tmp_path / "out"),
    }
    res = run_experiment(cfg, progress=False)
    images = pd.read_csv(tmp_path / "out" / "images.csv")
    assert len(images) == 10
    assert (images.loc[images["name"].isin([f"images/{n}" for n in first_two]), "group"] == "pair").all()
    # orig-orig negatives exclude the declared pair: 10*9/2 - 1
    hist = res.histograms
    oo = hist[hist["kind"] == "orig-orig"]
    assert int(oo["count"].sum()) == 44
    assert np.isfinite(res.metrics.select_dtypes("number").to_numpy(dtype=float)).any()


def test_manifest_applies_the_folder_read_policy(tmp_path, tiny_dir):
    """A confined manifest (a fetched catalogue dataset) cannot make the
    harness read outside its folder (absolute path, `..`); no manifest can
    block the run on a FIFO; follow_symlinks lifts the first rule, and a
    user's own manifest may list files anywhere."""
    import shutil

    from harness.datasets.manifest import manifest_records

    photo = sorted((tiny_dir / "images").rglob("*.jpg"))[0]
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(photo, data / "inside.jpg")
    outside = tmp_path / "outside.jpg"
    shutil.copy(photo, outside)
    os.mkfifo(data / "pipe.jpg")
    csv = data / "MANIFEST.csv"
    csv.write_text("file\ninside.jpg\n../outside.jpg\n" + f"{outside}\n" + "pipe.jpg\nmissing.jpg\n")
    records, errors = manifest_records(str(csv), confine=True)
    assert [r.name for r in records] == ["inside.jpg"]
    reasons = dict(errors)
    assert "outside the manifest's folder" in reasons["../outside.jpg"]
    assert "outside the manifest's folder" in reasons[str(outside)]
    assert "not a regular file" in reasons["pipe.jpg"]
    assert "not found" in reasons["missing.jpg"]
    for kwargs in ({"confine": True, "follow_symlinks": True}, {}):
        records, errors = manifest_records(str(csv), **kwargs)
        assert sorted(r.name for r in records) == sorted(["inside.jpg", "../outside.jpg", str(outside)])
        assert "not a regular file" in dict(errors)["pipe.jpg"]
