"""The compiled haar kernel (harness.hashers.haar_kernel) gives the same
doubles as pywt (imagehash's own calls) and as the numpy transcription:
``dwt_low`` arrays are compared bit for bit (as uint64 words, so even the
sign of a zero must match), on synthetic arrays of every scale and on the
grey images whash actually sees for real photos and odd shapes. The fast
median (imagehash_backend.median) is np.median bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness import get_hasher
from harness.datasets import load_rgb
from harness.hashers import imagehash_backend as ib
from harness.hashers.haar_kernel import haar_whash_low_jit
from harness.hashers.imagehash_backend import haar_whash_low, pywt_whash_low
from tests.helpers import dataset_dir


def same_bits(a, b) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and np.array_equal(
        np.ascontiguousarray(a).view(np.uint64), np.ascontiguousarray(b).view(np.uint64)
    )


def test_jit_kernel_agrees_with_pywt_and_is_the_one_used():
    assert ib.haar_jit_agrees()
    assert ib.whash_low_function() is haar_whash_low_jit


@pytest.mark.parametrize("level", range(1, 10))
def test_jit_equals_pywt_and_numpy_bit_for_bit_on_synthetic_arrays(level):
    rng = np.random.default_rng(100 + level)
    n = 2**level
    arrays = [
        rng.integers(0, 256, (n, n)) / 255.0,
        rng.random((n, n)),
        np.zeros((n, n)),
        np.ones((n, n)),
        (np.indices((n, n)).sum(axis=0) % 2).astype(float),
        rng.normal(0, 1e6, (n, n)),
        -rng.random((n, n)),
        np.asfortranarray(rng.random((n, n))),
    ]
    for a in arrays:
        before = a.copy()
        for dwt_level in range(level + 1):
            for remove in (True, False):
                got = haar_whash_low_jit(a, level, dwt_level, remove)
                assert same_bits(got, pywt_whash_low(a, level, dwt_level, remove)), (n, dwt_level, remove)
                assert same_bits(got, haar_whash_low(a, level, dwt_level, remove)), (n, dwt_level, remove)
        assert same_bits(a, before)  # the input is not modified


def test_jit_refuses_arrays_it_does_not_cover():
    with pytest.raises(ValueError):
        haar_whash_low_jit(np.zeros((8, 4)), 3, 1)
    with pytest.raises(ValueError):
        haar_whash_low_jit(np.zeros((8, 8)), 2, 1)
    with pytest.raises(ValueError):
        haar_whash_low_jit(np.zeros((8, 8)), 3, 4)


def _whash_inputs(images, hasher):
    """(pixels, ll_max_level, dwt_level) exactly as WaveletHash.dwt_low_batch forms them."""
    level = int(np.log2(hasher.params["hash_size"]))
    out = []
    for rgb in images:
        g = Image.fromarray(rgb).convert("L")
        scale = hasher._scale(g.size)
        ll = int(np.log2(scale))
        out.append((ib._resized(g, (scale, scale)) / 255.0, ll, ll - level))
    return out


def _check_images(images, hashers):
    for h in hashers:
        remove = h.params["remove_max_haar_ll"]
        for pixels, ll, dwt in _whash_inputs(images, h):
            got = haar_whash_low_jit(pixels, ll, dwt, remove)
            assert same_bits(got, pywt_whash_low(pixels, ll, dwt, remove)), (pixels.shape, h.params)
            assert same_bits(got, haar_whash_low(pixels, ll, dwt, remove)), (pixels.shape, h.params)


WHASHERS = [dict(), dict(hash_size=16), dict(hash_size=4, remove_max_haar_ll=False), dict(image_scale=64)]


def test_jit_equals_pywt_on_real_photos():
    photos = sorted(p for p in (dataset_dir("caltech101_tiny") / "images").iterdir() if p.is_file())[::4]
    photos += sorted(p for p in (dataset_dir("kodak24") / "images").iterdir() if p.is_file())[::6]
    assert len(photos) >= 25
    _check_images([load_rgb(str(p)) for p in photos], [get_hasher("whash", **kw) for kw in WHASHERS])


def test_jit_equals_pywt_on_odd_shapes():
    rng = np.random.default_rng(7)
    shapes = [(1, 1), (1, 9), (9, 1), (3, 5), (15, 17), (33, 31), (63, 65), (127, 300), (257, 129), (511, 513)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    images += [np.zeros((40, 30, 3), np.uint8), np.full((40, 30, 3), 255, np.uint8)]
    _check_images(images, [get_hasher("whash", **kw) for kw in WHASHERS])


def test_without_numba_the_numpy_path_is_used(monkeypatch):
    monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    monkeypatch.setattr(ib, "_HAAR_AGREES", {})
    assert not ib.haar_jit_agrees()
    assert ib.whash_low_function() is haar_whash_low


def test_median_is_numpys_median_bit_for_bit():
    rng = np.random.default_rng(11)
    arrays = [rng.normal(size=(n, n)) for n in (1, 2, 3, 4, 5, 8, 16)]
    arrays += [
        rng.integers(-3, 4, (8, 8)).astype(float),
        np.zeros((8, 8)),
        -np.zeros((8, 8)),
        -np.zeros((3, 3)),
        np.array([[-0.0, 0.0], [0.0, -0.0]]),
        np.array([[-0.0, -0.0], [1.0, 2.0]]),
        np.full((4, 4), 1e308),
        np.full((4, 4), -1e308),
        np.array([[np.inf, 1.0], [2.0, 3.0]]),
        rng.normal(0, 1e6, (32, 32)),
        np.array([[1.0, np.nan], [0.0, 2.0]]),
    ]
    for a in arrays:
        with np.errstate(over="ignore"):  # 1e308 + 1e308 overflows in both, to the same inf
            got, ref = ib.median(a), np.median(a)
        assert type(got) is type(ref), a
        assert np.array_equal(np.float64(got).view(np.uint64), np.float64(ref).view(np.uint64)) or (
            np.isnan(got) and np.isnan(ref)
        ), (a, got, ref)
