"""cv_radialvariance: the compiled all-pairs kernel equals OpenCV's
RadialVarianceHash compare() bit for bit, for every ordered pair of real
photographs (caltech101_tiny, kodak24, the built-in sample) and of their
edited variants, and on synthetic edge cases."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from harness.datasets import sample_records
from harness.imageio import load_rgb
from harness.hashers import get_hasher
from harness.hashers.radial_pcc import DBL_MIN, peak_cross_correlation
from harness.transforms import TransformSpec, apply_transform


def _opencv_dispatches_avx2() -> bool:
    """True when OpenCV runs its AVX2 kernels here and not AVX-512 ones
    (cv2.getCPUFeaturesLine(): '*NAME' compiled for dispatch, 'NAME?' not
    available on this CPU). The kernel reproduces the AVX2 dot product."""
    feats = cv2.getCPUFeaturesLine().split()
    return "*AVX2" in feats and not any(f.startswith("*AVX512") and not f.endswith("?") for f in feats)


def _assert_same_as_opencv(got, ref):
    """Bit for bit where OpenCV takes the AVX2 path (this project's machines);
    on an AVX-512 CPU OpenCV sums its lanes in another order, so only the
    last float32 bits may differ."""
    if _opencv_dispatches_avx2():
        assert np.array_equal(got, ref), f"max difference {np.abs(got - ref).max()}"
    else:
        assert np.abs(got - ref).max() <= 1e-6, f"max difference {np.abs(got - ref).max()}"


def _opencv(a, b):
    algo = cv2.img_hash.RadialVarianceHash_create()
    return np.array([[algo.compare(x.reshape(1, -1), y.reshape(1, -1)) for y in b] for x in a])


@pytest.fixture(scope="module")
def photo_hashes():
    from tests.helpers import dataset_dir

    h = get_hasher("cv_radialvariance")
    paths = sorted((dataset_dir("caltech101_tiny") / "images").iterdir())
    paths += sorted((dataset_dir("kodak24") / "images").iterdir())
    paths += [r.path for r in sample_records()]
    origs, variants = [], []
    specs = [TransformSpec.make("jpeg", 30), TransformSpec.make("crop", 0.7), TransformSpec.make("rotate", 5)]
    for k, p in enumerate(paths):
        rgb = load_rgb(p)
        origs.append(h.hash(rgb))
        if k % 4 == 0:  # variants of every 4th photo: near pairs, where the bins matter most
            for s in specs:
                variants.append(h.hash(apply_transform(s, rgb, 0)[0]))
    return h, np.stack(origs), np.stack(variants)


def test_kernel_equals_opencv_compare_on_every_pair_of_real_photos(photo_hashes):
    h, origs, variants = photo_hashes
    allh = np.concatenate([origs, variants])
    assert len(origs) == 96 + 24 + 16 and len(variants) >= 100
    got = peak_cross_correlation(allh, allh)
    ref = _opencv(allh, allh)
    assert got.shape == ref.shape == (len(allh), len(allh))
    _assert_same_as_opencv(got, ref)
    # the hasher's distance and its bins: identical too (they are functions of the same float)
    d = h.pair_distances(allh, allh)
    assert np.array_equal(d, 1.0 - got)
    bins, ref_bins = h.quantise(d), h.quantise(h.pair_distances_reference(allh, allh))
    if _opencv_dispatches_avx2():
        assert np.array_equal(bins, ref_bins)
    else:  # last-bit differences can only move a distance lying on a bin edge, by one bin
        assert np.abs(bins - ref_bins).max() <= 1 and (bins != ref_bins).mean() < 1e-3
    # compare() is not symmetric in the last bits: why the metrics stage takes both directions
    assert not np.array_equal(ref, ref.T)


def test_kernel_equals_opencv_on_edge_cases():
    rng = np.random.default_rng(7)
    hashes = np.concatenate([
        np.zeros((1, 40), np.uint8),                      # std 0: every correlation 0, PCC = DBL_MIN
        np.full((1, 40), 255, np.uint8),
        np.tile(np.array([0, 255], np.uint8), 20)[None],  # extreme values
        np.arange(40, dtype=np.uint8)[None] * 6,
        rng.integers(0, 256, (60, 40), dtype=np.uint8),
    ])
    got = peak_cross_correlation(hashes, hashes)
    _assert_same_as_opencv(got, _opencv(hashes, hashes))
    assert got[0, 0] == DBL_MIN and got[0, 5] == DBL_MIN
    assert peak_cross_correlation(hashes[:0], hashes).shape == (0, len(hashes))
