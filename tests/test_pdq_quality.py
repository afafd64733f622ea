"""PDQ's quality gate on a real photo: Meta's tooling discards hashes of
quality below 50. One Caltech-101 photo is under it (pyramid/image_0056.jpg,
quality 31: the only one of 7,807, measured with pdqhash on every photo);
``pdq`` keeps it, ``pdq[min_quality=50]`` turns it into an error row and
goes on."""

from __future__ import annotations

import numpy as np
import pdqhash
import pytest
from PIL import Image

from harness import get_hasher
from harness.datasets.records import ImageRecord
from harness.engine.work import hash_images

LOW = "pyramid/image_0056.jpg"


@pytest.fixture
def low_photo(caltech_dir):
    return caltech_dir / "images" / LOW


def test_the_photo_is_below_50_for_pdqhash_and_the_harness(low_photo):
    _, quality = pdqhash.compute(np.asarray(Image.open(low_photo).convert("RGB")))
    assert quality == 31
    h = get_hasher("pdq")
    packed, q = h.hash_with_quality(np.asarray(Image.open(low_photo).convert("RGB")))
    assert q == quality and h.to_hex(h.hash_file(low_photo)) == h.to_hex(packed)


def test_min_quality_50_makes_it_one_error_row_and_the_run_goes_on(low_photo, caltech_dir):
    other = caltech_dir / "images" / "pyramid" / "image_0001.jpg"
    records = [ImageRecord("low", "low", str(low_photo), "low", 0), ImageRecord("ok", "ok", str(other), "ok", 0)]
    gated, plain = get_hasher("pdq", min_quality=50), get_hasher("pdq")
    assert gated.label == "pdq[min_quality=50]" and gated.key != plain.key
    res = hash_images(records, [], [gated, plain], seed=0, max_pixels=10**8)
    assert [(e[1], e[3], e[4]) for e in res.errors] == [("low", "pdq", "hash")]
    assert "PDQ quality 31 is below min_quality 50" in res.errors[0][5]
    hashed = sorted((r[1], r[7] == gated.key) for r in res.rows)
    assert hashed == [("low", False), ("ok", False), ("ok", True)]


def test_errors_csv_names_the_gated_hasher_by_its_label(low_photo, caltech_dir, tmp_path):
    """errors.csv's hasher column is the label, like hashes.parquet's: a
    reader must see that pdq[min_quality=50] dropped the photo, not pdq."""
    import shutil

    import harness

    folder = tmp_path / "imgs"
    folder.mkdir()
    shutil.copy(low_photo, folder / "low.jpg")
    shutil.copy(caltech_dir / "images" / "pyramid" / "image_0001.jpg", folder / "ok.jpg")
    config = {
        "dataset": {"source": "folder", "path": str(folder)},
        "hashers": ["pdq", {"name": "pdq", "params": {"min_quality": 50}}],
        "transforms": [],
        "output": str(tmp_path / "run"),
    }
    res = harness.run_experiment(config, progress=False, scheduler="inline")
    errors = res.errors
    assert list(errors["hasher"]) == ["pdq[min_quality=50]"] and list(errors["image_name"]) == ["low.jpg"]
    assert set(res.hashes["hasher"]) == {"pdq", "pdq[min_quality=50]"}
