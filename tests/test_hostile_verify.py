"""`phash-harness verify DIR`: re-hash a sample of a results folder and
report drift (issue: reliability)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from harness.cli import main
from harness.engine import library_versions
from harness.verify import sample_names, verify_results
from tests.helpers import dataset_dir, run_cli


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory):
    """A small real run: 6 caltech101_tiny photos (copied to a temp folder so
    a test can change one), two hashers, two transforms."""
    from harness import run_experiment

    base = tmp_path_factory.mktemp("verify")
    data = base / "data"
    data.mkdir()
    for p in sorted((dataset_dir("caltech101_tiny") / "images").glob("*.jpg"))[:6]:
        shutil.copy(p, data / p.name)
    config = {
        "name": "v",
        "dataset": {"source": "folder", "path": str(data)},
        "hashers": ["phash", "dhash"],
        "transforms": [{"family": "jpeg", "severities": [50]}, {"family": "rotate", "severities": [5]}],
        "seed": 7,
        "output": str(base / "out"),
    }
    run_experiment(config, progress=False)
    return base / "out"


@pytest.fixture
def copy_of(results_dir, tmp_path):
    dst = tmp_path / "out"
    shutil.copytree(results_dir, dst)
    return dst


def test_untouched_folder_has_no_drift_and_exits_0(results_dir):
    res = run_cli("verify", results_dir, "--sample", "0")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "verified 6 of 6 sampled images (6 in the run), 36 recorded hashes re-computed" in res.stdout
    assert "no drift" in res.stdout
    assert "library versions: identical to the run" in res.stdout


def test_tampered_hash_is_drift_and_exits_1(copy_of, capsys):
    path = copy_of / "hashes.parquet"
    hashes = pd.read_parquet(path)
    i = hashes.index[(hashes["transform"] == "rotate(5)") & (hashes["hasher"] == "dhash")][2]
    raw = bytearray(hashes.at[i, "hash"])
    raw[0] ^= 0b1000_0000  # one bit
    hashes.at[i, "hash"] = bytes(raw)
    old_hex, new_hex = hashes.at[i, "hash_hex"], bytes(raw).hex()
    hashes.at[i, "hash_hex"] = new_hex
    hashes.to_parquet(path, index=False)

    assert main(["verify", str(copy_of), "--sample", "0"]) == 1
    out = capsys.readouterr().out
    assert "DRIFT: 1 hash(es) differ" in out
    name = hashes.at[i, "image_name"]
    assert f"{name}  rotate(5)  dhash: {new_hex} -> {old_hex}  (1 bits)" in out

    rep = verify_results(str(copy_of), sample=0)
    assert rep.drift[["image_name", "transform", "hasher", "distance_bits"]].values.tolist() == [
        [name, "rotate(5)", "dhash", 1]
    ]


def test_item_missing_from_the_run_is_drift(copy_of):
    path = copy_of / "hashes.parquet"
    hashes = pd.read_parquet(path)
    gone = hashes.iloc[3]
    hashes.drop(index=hashes.index[3]).to_parquet(path, index=False)
    rep = verify_results(str(copy_of), sample=0)
    assert rep.drift[["image_name", "transform", "hasher", "recorded", "now"]].values.tolist() == [
        [gone["image_name"], gone["transform"], gone["hasher"], "(absent)", gone["hash_hex"]]
    ]
    assert rep.exit_status() == 1


def test_library_version_change_is_reported(copy_of, capsys):
    run = json.loads((copy_of / "run.json").read_text())
    run["versions"]["pillow"] = "0.0-recorded"
    (copy_of / "run.json").write_text(json.dumps(run))
    assert main(["verify", str(copy_of), "--sample", "2"]) == 0
    out = capsys.readouterr().out
    assert f"pillow: recorded 0.0-recorded, installed {library_versions()['pillow']}" in out
    assert "verified 2 of 2 sampled images" in out
    assert main(["verify", str(copy_of), "--sample", "2", "--strict-versions"]) == 1


def test_changed_source_file_is_unverifiable(copy_of, results_dir, capsys):
    images = pd.read_csv(copy_of / "images.csv")
    victim = images["path"].iloc[0]
    original = open(victim, "rb").read()
    try:
        with open(victim, "ab") as fh:
            fh.write(b"\0")
        assert main(["verify", str(copy_of), "--sample", "0"]) == 1
        out = capsys.readouterr().out
        assert f"unverifiable: {images['name'].iloc[0]}: file changed since the run (sha256 differs)" in out
        assert "verified 5 of 6" in out
    finally:
        open(victim, "wb").write(original)


def test_not_a_results_folder_exits_2(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert "not a results folder (missing run.json, hashes.parquet, images.csv)" in capsys.readouterr().err
    assert main(["verify", str(tmp_path), "--sample", "-1"]) == 2
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_sample_is_reproducible_and_without_replacement():
    names = [f"img{i:03d}" for i in range(100)]
    a = sample_names(names, 10, seed=1)
    assert a == sample_names(names, 10, seed=1) and len(set(a)) == 10
    assert a != sample_names(names, 10, seed=2)
    assert sample_names(names, 0, seed=1) == sorted(names) == sample_names(names, 500, seed=1)
    picks = np.array([n in sample_names(names, 10, seed=s) for s in range(200) for n in names[:1]])
    assert 0.04 < picks.mean() < 0.2  # each name drawn with probability 10/100


def test_run_records_the_version_of_every_library_that_can_change_a_hash(results_dir):
    from importlib import metadata

    import cv2

    recorded = json.loads((results_dir / "run.json").read_text())["versions"]
    for lib in ("pillow", "imagehash", "pdqhash", "numpy", "scipy", "albumentations", "opencv-contrib-python-headless"):
        assert recorded[lib] == metadata.version(lib), lib
    assert recorded["opencv-contrib-python-headless"].startswith(cv2.__version__)
    assert recorded == library_versions()
