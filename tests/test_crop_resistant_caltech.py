"""crop_resistant's compiled segmentation on the reference study's own data:
40 Caltech-101 photos and every transform spec of the study on 3 of them,
against imagehash. In a file of its own so that the parallel test run
(pytest-xdist, files kept together) can give it a worker of its own: it is
the longest single test of the suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import get_hasher
from harness.config import load_config
from harness.datasets import load_rgb
from harness.hashers import ImageBatch
from harness.transforms import apply_transform, variant_seed
from tests.helpers import ROOT
from tests.test_crop_resistant_fast import _check_equal, reference


def caltech_paths(caltech_dir) -> list[str]:
    """40 Caltech-101 photos spread over the categories (name order)."""
    paths = sorted(str(p) for p in (caltech_dir / "images").rglob("*") if p.is_file())
    assert len(paths) > 7000
    return [paths[int(k * len(paths) / 40)] for k in range(40)]


def check_study_variants(path: str) -> None:
    """Every transform spec of the reference study
    (results/caltech101/experiment.yaml) on one photo: the compiled path
    equals imagehash on each variant."""
    specs = load_config(ROOT / "results" / "caltech101" / "experiment.yaml").transform_specs()
    h = get_hasher("crop_resistant")
    rgb = load_rgb(path)
    variants = [apply_transform(s, rgb, variant_seed(Path(path).name, s, 0))[0] for s in specs]
    for spec, v, packed in zip(specs, variants, h.hash_batch(ImageBatch(variants))):
        _check_equal(h, v, *reference(v), packed, (path, spec.key))


@pytest.mark.slow
def test_caltech101_photos_and_study_variants_equal_imagehash(caltech_dir):
    """40 Caltech-101 photos, and every study spec on the first of them (the
    variants of the 15th and 29th photos are checked by
    test_crop_resistant_caltech_variants.py, a file of its own so the two
    halves can run on different workers)."""
    paths = caltech_paths(caltech_dir)
    h = get_hasher("crop_resistant")
    for path in paths:
        rgb = load_rgb(path)
        _check_equal(h, rgb, *reference(rgb), h.hash(rgb), path)
    check_study_variants(paths[0])
