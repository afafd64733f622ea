"""Transforms on real photographs (caltech101_tiny, 10 images): every
family changes pixels by an amount that grows with severity, and captions
land where asked.

Distortion of a variant v against its original o (8-bit levels):
- same size: mean |v - o| over all pixels and channels;
- different size: v is first resized to o's size (INTER_AREA), so a crop
  counts as the zoom it causes and a pad as the shrink plus border;
- `aspect` (a stretch): mean |v - o| over the centred overlap at native
  resolution (resizing back would undo the stretch exactly).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from harness.datasets import folder_records, load_rgb
from harness.transforms import TransformSpec, apply_transform, families_in_order, get_family, variant_seed

N_IMAGES = 10

#: sweeps tested instead of the default one, and why
SWEEP_OVERRIDES = {
    # 90 and 180 are lossless quarter turns (exactness is tested in test_transforms.py);
    # the distortion measure is not meaningful across them
    "rotate": (1, 2, 5, 10, 45),
    # caltech photos are <= 300 px, so the default 1600..480 limits leave them
    # unchanged (checked below); sweep limits that bite
    "max-size": (256, 128, 64, 32),
}
#: categorical severities: no order to test (exactness / composition tested elsewhere)
CATEGORICAL = {"flip", "greyscale", "chain"}


@pytest.fixture(scope="module")
def photos():
    from tests.helpers import dataset_dir

    recs, _ = folder_records(str(dataset_dir("caltech101_tiny") / "images"))
    recs = sorted(recs, key=lambda r: r.name)[::9][:N_IMAGES]
    assert len(recs) == N_IMAGES
    return [(r.image_id, load_rgb(r.path)) for r in recs]


def distortion(orig: np.ndarray, var: np.ndarray, overlap: bool = False) -> float:
    h, w = orig.shape[:2]
    if overlap:
        vh, vw = var.shape[:2]
        hh, ww = min(h, vh), min(w, vw)
        a = orig[(h - hh) // 2 : (h - hh) // 2 + hh, (w - ww) // 2 : (w - ww) // 2 + ww]
        b = var[(vh - hh) // 2 : (vh - hh) // 2 + hh, (vw - ww) // 2 : (vw - ww) // 2 + ww]
        return float(np.abs(a.astype(np.int16) - b).mean())
    if var.shape != orig.shape:
        var = cv2.resize(var, (w, h), interpolation=cv2.INTER_AREA)
    return float(np.abs(var.astype(np.int16) - orig).mean())


def _cases():
    for fam in families_in_order():
        if fam.name in CATEGORICAL:
            continue
        for params in [{}] + [{k: v} for k, rule in fam.params_allowed.items() for v in rule[1:]]:
            suffix = "-" + "-".join(map(str, params.values())) if params else ""
            yield pytest.param(fam.name, params, id=f"{fam.name}{suffix}")


@pytest.mark.parametrize("family, params", list(_cases()))
def test_distortion_grows_with_severity_on_real_photos(photos, family, params):
    sweep = SWEEP_OVERRIDES.get(family, get_family(family).default_sweep)
    means = []
    for s in sweep:
        spec = TransformSpec.make(family, s, params)
        values = [
            distortion(rgb, apply_transform(spec, rgb, variant_seed(iid, spec, 0))[0], overlap=(family == "aspect"))
            for iid, rgb in photos
        ]
        means.append(np.mean(values))
    assert means[0] > 0, (family, means)
    assert all(b >= a for a, b in zip(means, means[1:])), (family, params, np.round(means, 3).tolist())
    assert means[-1] > means[0], (family, means)  # the sweep as a whole is not flat


def test_default_max_size_leaves_small_photos_unchanged(photos):
    for _iid, rgb in photos:
        assert max(rgb.shape[:2]) <= 480
        for s in get_family("max-size").default_sweep:
            out, applied = apply_transform(TransformSpec.make("max-size", s), rgb, 0)
            assert np.array_equal(out, rgb) and "NoOp" in applied


@pytest.mark.parametrize("position", ["top-bottom", "top", "bottom"])
def test_caption_changes_the_top_and_bottom_bands_and_not_the_middle(photos, position):
    f = 0.08
    for iid, rgb in photos:
        h = rgb.shape[0]
        out, _ = apply_transform(TransformSpec.make("caption", f, {"position": position}), rgb, 0)
        visible = np.abs(out.astype(np.int16) - rgb).max(axis=2) > 64  # clearly changed pixels
        band = int(0.25 * h)
        top, middle, bottom = visible[:band], visible[band : h - band], visible[h - band :]
        assert not middle.any()
        expect_top, expect_bottom = position != "bottom", position != "top"
        assert (top.mean() > 0.02) == expect_top and (bottom.mean() > 0.02) == expect_bottom, (position, iid)
        if not expect_top:
            assert not top.any()
        if not expect_bottom:
            assert not bottom.any()
