"""The imagehash fast path (shared greyscale conversion, numpy haar whash,
batched hashing in the engine) equals imagehash bit for bit.

The references here are imagehash's functions called directly on
``Image.fromarray(pixels)`` and, for whash, imagehash's own pywt calls
(``pywt_whash_low`` repeats them line by line); every quickstart variant of
every photo of caltech101_tiny, kodak24 and the built-in sample is checked.
"""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
import pywt
from PIL import Image

from harness import get_hasher
from harness.config import load_config
from harness.datasets import load_rgb, sample_records
from harness.engine import chunks
from harness.hashers import ImageBatch
from harness.hashers.imagehash_backend import haar_numpy_agrees, haar_whash_low, pywt_whash_low
from harness.transforms import ORIGINAL, apply_transform, variant_seed
from tests.helpers import dataset_dir

FAST = {"ahash": imagehash.average_hash, "phash": imagehash.phash, "dhash": imagehash.dhash, "whash": imagehash.whash}


def imagehash_dwt_low(img: Image.Image, hash_size=8, image_scale=None, remove_max_haar_ll=True):
    """imagehash.whash (haar) up to ``dwt_low``, line by line as imagehash 4.3.2 does it."""
    if image_scale is None:
        image_scale = max(2 ** int(np.log2(min(img.size))), hash_size)
    ll_max_level = int(np.log2(image_scale))
    dwt_level = ll_max_level - int(np.log2(hash_size))
    pixels = np.asarray(img.convert("L").resize((image_scale, image_scale), imagehash.ANTIALIAS)) / 255.0
    if remove_max_haar_ll:
        coeffs = list(pywt.wavedec2(pixels, "haar", level=ll_max_level))
        coeffs[0] *= 0
        pixels = pywt.waverec2(coeffs, "haar")
    return pywt.wavedec2(pixels, "haar", level=dwt_level)[0]


def _variants(path, image_id, specs):
    rgb = load_rgb(path)
    return [apply_transform(s, rgb, variant_seed(image_id, s, 0))[0] for s in specs]


def _dataset_paths(name, step=1):
    files = sorted(p for p in (dataset_dir(name) / "images").iterdir() if p.is_file())
    return [str(p) for p in files[::step]]


@pytest.fixture(scope="module")
def specs():
    return [ORIGINAL, *load_config(None).transform_specs()]


def test_numpy_haar_agrees_with_pywt_on_this_platform():
    # if this failed the fast path would silently use pywt (still exact): make it visible
    assert haar_numpy_agrees()


@pytest.mark.parametrize("level", range(1, 10))
def test_haar_whash_low_equals_pywt_on_random_and_extreme_arrays(level):
    rng = np.random.default_rng(level)
    n = 2**level
    arrays = [
        rng.integers(0, 256, (n, n)) / 255.0,
        rng.random((n, n)),
        np.zeros((n, n)),
        np.ones((n, n)),
        (np.indices((n, n)).sum(axis=0) % 2).astype(float),
        rng.normal(0, 1e6, (n, n)),
    ]
    for a in arrays:
        for dwt_level in sorted({0, level // 2, level - 1, level}):
            for remove in (True, False):
                got = haar_whash_low(a, level, dwt_level, remove)
                ref = pywt_whash_low(a, level, dwt_level, remove)
                assert got.shape == ref.shape and np.array_equal(got, ref), (n, dwt_level, remove)


def _check_batch(variants, hashers, label):
    """hash_batch of one shared ImageBatch == imagehash called directly, every variant and
    hasher; whash's dwt_low arrays are array_equal to imagehash's pywt calls."""
    batch = ImageBatch(variants)
    for h in hashers:
        got = h.hash_batch(batch)
        assert len(got) == len(variants)
        kwargs = h._ref_kwargs()
        for k, (v, g) in enumerate(zip(variants, got)):
            assert not isinstance(g, Exception), (label, k, h.name, g)
            ref = FAST[h.name](Image.fromarray(v), **kwargs)
            assert h.to_hex(g) == str(ref), (label, k, h.name, h.params)
        assert np.array_equal(h.hash(variants[-1]), got[-1])  # single-image entry point: same path
        if h.name == "whash":
            greys = batch.shared("imagehash:L", lambda b: [Image.fromarray(x).convert("L") for x in b])
            lows = h.dwt_low_batch(greys)
            for k, v in enumerate(variants):
                ref = imagehash_dwt_low(
                    Image.fromarray(v),
                    h.params["hash_size"],
                    h.params.get("image_scale"),
                    h.params["remove_max_haar_ll"],
                )
                assert np.array_equal(lows[k], ref), (label, k, h.params)


@pytest.mark.parametrize(
    "dataset,step",
    [
        ("caltech101_tiny", 1),
        pytest.param("kodak24", 2, marks=pytest.mark.slow),  # 768x512: whash at image_scale 512
        pytest.param("sample", 1, marks=pytest.mark.slow),
    ],
)
def test_fast_hashers_equal_imagehash_on_every_quickstart_variant(dataset, step, specs):
    hashers = [get_hasher(n) for n in FAST]
    if dataset == "sample":
        items = [(r.path, r.image_id) for r in sample_records()]
    else:
        items = [(p, p) for p in _dataset_paths(dataset, step)]
    assert len(items) >= 12
    for path, image_id in items:
        _check_batch(_variants(path, image_id, specs), hashers, path)


@pytest.mark.slow
def test_fast_hashers_with_parameters_equal_imagehash(specs):
    hashers = [
        get_hasher("ahash", hash_size=16),
        get_hasher("dhash", hash_size=5),
        get_hasher("phash", hash_size=16, highfreq_factor=2),
        get_hasher("whash", hash_size=16),
        get_hasher("whash", image_scale=64),
        get_hasher("whash", hash_size=4, remove_max_haar_ll=False),
        get_hasher("whash", image_scale=8),
    ]
    paths = _dataset_paths("caltech101_tiny", 12) + _dataset_paths("kodak24", 8)
    for p in paths:
        _check_batch(_variants(p, p, specs), hashers, p)


def test_tiny_and_odd_images_equal_imagehash():
    rng = np.random.default_rng(3)
    shapes = [(1, 1), (1, 7), (7, 1), (2, 3), (8, 8), (9, 17), (31, 64), (257, 300)]
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    images += [np.zeros((40, 30, 3), np.uint8), np.full((40, 30, 3), 255, np.uint8)]
    _check_batch(images, [get_hasher(n) for n in FAST], "synthetic")


def test_fast_path_failure_falls_back_to_the_reference(monkeypatch):
    """If the fast path raises on a batch, every image goes through imagehash
    itself: same hashes, and the reference's own exception where it fails."""
    h = get_hasher("whash")
    images = [load_rgb(p) for p in _dataset_paths("caltech101_tiny", 24)]

    def boom(greys):
        raise RuntimeError("fast path broken")

    monkeypatch.setattr(h, "_fast_bits", boom)
    got = h.hash_batch(images)
    assert [h.to_hex(g) for g in got] == [str(imagehash.whash(Image.fromarray(im))) for im in images]

    class Bad:  # not an image: the reference raises, reported per image
        pass

    got = h.hash_batch([images[0], Bad()])
    assert h.to_hex(got[0]) == str(imagehash.whash(Image.fromarray(images[0])))
    assert isinstance(got[1], Exception)


def test_engine_rows_equal_reference_and_do_not_depend_on_batch_size(monkeypatch, specs):
    """compute_chunk's hex column equals imagehash on each variant, and splitting
    variants into batches (BATCH_BYTES) changes nothing."""
    from harness.datasets import load_records
    from harness.engine.chunks import DoneIndex, hasher_ref, plan_chunks

    raw = load_config(None).model_dump()
    raw["dataset"] = {"source": "folder", "path": str(dataset_dir("caltech101_tiny") / "images"), "limit": 3}
    cfg = load_config(raw)
    records, _ = load_records(cfg.dataset)
    hashers = cfg.build_hashers()
    plan = plan_chunks(records, cfg.transform_specs(), hashers, 0, 8, DoneIndex(None, 0, 0))
    refs = [hasher_ref(h) for h in hashers]
    rows = chunks.compute_chunk(plan[0].items, refs, 0, cfg.max_pixels)["rows"]
    monkeypatch.setattr(chunks, "BATCH_BYTES", 1)  # one variant per batch
    assert chunks.compute_chunk(plan[0].items, refs, 0, cfg.max_pixels)["rows"] == rows
    by_spec = {s.key: s for s in specs}
    funcs = {h.key: FAST[h.name] for h in hashers}
    assert len(rows) == 3 * len(specs) * 4
    for r in records:
        pix = dict(zip([s.key for s in specs], _variants(r.path, r.image_id, specs)))
        for row in rows:
            if row[0] == r.image_id:
                assert row[12] == ""
                assert row[8] == str(funcs[row[2]](Image.fromarray(pix[by_spec[row[1]].key])))


def test_engine_converts_each_variant_to_grey_once_for_all_hashers(monkeypatch):
    """The four imagehash hashers share one Pillow convert("L") per variant."""
    from harness.datasets import load_records
    from harness.engine.chunks import DoneIndex, hasher_ref, plan_chunks
    from harness.hashers import imagehash_backend

    calls = []
    real = imagehash_backend._grey_images

    def counting(images):
        calls.append(len(images))
        return real(images)

    monkeypatch.setattr(imagehash_backend, "_grey_images", counting)
    raw = load_config(None).model_dump()
    raw["dataset"] = {"source": "folder", "path": str(dataset_dir("caltech101_tiny") / "images"), "limit": 2}
    cfg = load_config(raw)
    records, _ = load_records(cfg.dataset)
    hashers = cfg.build_hashers()
    assert [h.name for h in hashers] == ["ahash", "phash", "dhash", "whash"]
    plan = plan_chunks(records, cfg.transform_specs(), hashers, 0, 8, DoneIndex(None, 0, 0))
    chunks._HASHERS.clear()  # resolve fresh objects in this process
    rows = chunks.compute_chunk(plan[0].items, [hasher_ref(h) for h in hashers], 0, cfg.max_pixels)["rows"]
    n_variants = 1 + len(cfg.transform_specs())
    assert len(rows) == 2 * n_variants * 4
    assert calls == [n_variants, n_variants]  # one batch per image, converted once for all four hashers
