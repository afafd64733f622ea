"""crop_resistant's fast path (compiled segmentation, harness/hashers/crop_segments.py)
equals imagehash 4.3.2 bit for bit.

References are imagehash itself: ``imagehash.crop_resistant_hash`` called on
``Image.fromarray(rgb)`` (its segments recorded by wrapping imagehash's own
``_find_all_segments`` during that call) and ``_find_all_segments`` called
directly on synthetic arrays built to hit each of its quirks (single-pixel
regions, the early stop of the valley loop, the IndexError, all-hill and
all-valley images, non-default parameters).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageFilter

from harness import get_hasher
from harness.datasets import load_rgb
from harness.hashers import ImageBatch, crop_segments
from harness.hashers.crop_segments import find_segments, imagehash_index_error, label_regions, regions_imagehash_visits
from harness.transforms import TransformSpec, apply_transform, variant_seed
from tests.helpers import dataset_dir, run_cli, run_main

#: variants of the robustness suite that change the segmentation the most
VARIANT_SPECS = [
    TransformSpec.make("crop", 0.5),
    TransformSpec.make("crop", 0.7, {"position": "off-centre"}),
    TransformSpec.make("rotate", 10),
    TransformSpec.make("rotate", 45, {"crop_to_content": True}),
    TransformSpec.make("jpeg", 10),
    TransformSpec.make("brightness", 0.3),
    TransformSpec.make("brightness", -0.3),
    TransformSpec.make("contrast", 3),
    TransformSpec.make("caption", 0.12),
    TransformSpec.make("screenshot", 0.5),
    TransformSpec.make("pad", 0.25),
    TransformSpec.make("resize", 0.125),
    TransformSpec.make("noise", 20),
    TransformSpec.make("salt-pepper", 0.05),
    TransformSpec.make("flip", "horizontal"),
    TransformSpec.make("chain", "social"),
]


# ------------------------------------------------------------------ helpers
def summarise(segments) -> list:
    """(pixel count, min row, min col, max row, max col) of each imagehash segment, in its order."""
    return [
        (
            len(s),
            int(min(c[0] for c in s)),
            int(min(c[1] for c in s)),
            int(max(c[0] for c in s)),
            int(max(c[1] for c in s)),
        )
        for s in segments
    ]


def reference_segments(pixels, threshold=128, min_size=500):
    """imagehash's ``_find_all_segments``, summarised; ("IndexError", message) where it raises."""
    try:
        return summarise(imagehash._find_all_segments(pixels, threshold, min_size))
    except IndexError as exc:
        return ("IndexError", str(exc))


def regions_list(regions) -> list:
    return list(zip(*(a.tolist() for a in regions[:5])))


def fast_segments(pixels, threshold=128, min_size=500):
    regions = find_segments(pixels, threshold, min_size)
    if regions is None:
        return ("IndexError", str(imagehash_index_error(np.shape(pixels))))
    return regions_list(regions)


@contextlib.contextmanager
def recording_segments():
    """Wrap imagehash's ``_find_all_segments`` (crop_resistant_hash looks it up
    at call time) and record the summary of what it returns, before
    crop_resistant_hash appends its whole-image fallback to the same list."""
    seen = []
    original = imagehash._find_all_segments

    def wrapper(*args, **kwargs):
        try:
            out = original(*args, **kwargs)
        except IndexError as exc:
            seen.append(("IndexError", str(exc)))
            raise
        seen.append(summarise(out))
        return out

    imagehash._find_all_segments = wrapper
    try:
        yield seen
    finally:
        imagehash._find_all_segments = original


def reference(rgb: np.ndarray, **kwargs):
    """(ImageMultiHash or the exception, recorded segments) of imagehash called directly."""
    kwargs = {"limit_segments": 16, **kwargs}
    with recording_segments() as seen:
        try:
            result = imagehash.crop_resistant_hash(Image.fromarray(rgb), **kwargs)
        except IndexError as exc:
            result = exc
    return result, seen[0]


def ours_segments(h, rgb: np.ndarray):
    """The hasher's segmentation of an RGB array, summarised like `reference_segments`."""
    shape, regions = h.segments(Image.fromarray(rgb).convert("L"))
    if regions is None:
        return ("IndexError", str(imagehash_index_error(shape)))
    return regions_list(regions)


def early_stop_skips_a_segment(h, rgb: np.ndarray) -> bool:
    """Whether imagehash's valley loop stops before a region that would have been a segment."""
    grey = Image.fromarray(rgb).convert("L")
    p = h.params
    small = grey.resize((p["segmentation_image_size"],) * 2, imagehash.ANTIALIAS)
    pixels = np.array(small.filter(ImageFilter.GaussianBlur()).filter(ImageFilter.MedianFilter())).astype(np.float32)
    regions = label_regions(pixels > p["segment_threshold"])
    n = regions_imagehash_visits(regions, pixels.shape)
    return n is not None and bool((regions.size[n:] > p["min_segment_size"]).any())


def _paths(name: str, step: int = 1) -> list[str]:
    files = sorted(p for p in (dataset_dir(name) / "images").iterdir() if p.is_file())
    return [str(p) for p in files[::step]]


# --------------------------------------------------------- synthetic masks
def _grid_singles(shape, n_singles):
    """Valley background (0) with `n_singles` isolated hill pixels (255) at odd
    (row, col) positions, row-major: every hill is a single-pixel region and
    the background stays one connected valley."""
    px = np.zeros(shape, np.float32)
    spots = [(r, c) for r in range(1, shape[0] - 1, 2) for c in range(1, shape[1] - 1, 2)]
    assert len(spots) >= n_singles
    for r, c in spots[:n_singles]:
        px[r, c] = 255
    return px


def test_single_pixel_regions_and_the_exact_index_error_boundary():
    # 20x20: 2 * (20 + 20) = 80 border pixels; single-pixel regions never reach
    # already_segmented, so with 80 of them the count ends at exactly 400 (no
    # error) and with 81 the valley loop asks for one more region: IndexError
    for n, expect_error in ((10, False), (80, False), (81, True)):
        px = _grid_singles((20, 20), n)
        ref = reference_segments(px, 128, 0)
        assert fast_segments(px, 128, 0) == ref
        assert (ref[0] == "IndexError") is expect_error, (n, ref)
        if not expect_error:
            assert sum(1 for s in ref if s[0] == 1) == n  # single-pixel segments kept (min size 0)


def test_index_error_message_is_imagehashs():
    checker = (np.indices((20, 20)).sum(axis=0) % 2 * 255).astype(np.float32)
    with pytest.raises(IndexError) as info:
        imagehash._find_all_segments(checker, 128, 500)
    assert find_segments(checker, 128, 500) is None
    assert str(imagehash_index_error(checker.shape)) == str(info.value)


def test_valley_loop_stops_before_the_last_valley_regions():
    # hills: rows 0-9 and row 16 (220 px) -> 80 + 220 = 300 < 400; valley A
    # (rows 10-15, 120 px) brings it to 420, so valley B (rows 17-19) is never found
    px = np.zeros((20, 20), np.float32)
    px[:10] = 255
    px[16] = 255
    ref = reference_segments(px, 128, 10)
    assert ref == [(200, 0, 0, 9, 19), (20, 16, 0, 16, 19), (120, 10, 0, 15, 19)]
    assert fast_segments(px, 128, 10) == ref
    # the same image with valley B made a hill region instead: it is found
    px[17:] = 255
    assert fast_segments(px, 128, 10) == reference_segments(px, 128, 10)


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (2, 2), (3, 5), (4, 4), (5, 5), (17, 31), (40, 40)])
@pytest.mark.parametrize("value", [0.0, 128.0, 129.0, 255.0])
def test_all_hill_and_all_valley_images(shape, value):
    px = np.full(shape, value, np.float32)
    for min_size in (0, 1, 500):
        assert fast_segments(px, 128, min_size) == reference_segments(px, 128, min_size), (shape, value, min_size)


@pytest.mark.parametrize("value", [0.0, 255.0])
def test_all_hill_and_all_valley_at_the_default_size(value):
    px = np.full((300, 300), value, np.float32)
    ref = reference_segments(px, 128, 500)
    assert ref == [(90000, 0, 0, 299, 299)] and fast_segments(px, 128, 500) == ref


def test_random_masks_cover_every_quirk_and_equal_imagehash():
    rng = np.random.default_rng(20261129)
    outcomes = {"error": 0, "early_stop_skips_segment": 0, "single_kept": 0, "no_segment": 0}
    shapes = [(1, 3), (3, 1), (2, 5), (6, 6), (7, 13), (13, 7), (12, 12), (20, 20), (25, 18), (40, 40)]
    cases = 0
    for shape in shapes:
        checker = np.indices(shape).sum(axis=0) % 2 == 1
        for density in (0.05, 0.3, 0.5, 0.7, 0.95):
            for kind in ("random", "checkerboard", "checkerboard"):
                # grey levels 0..255 on either side of 128.5 by a random mask, or by a
                # checkerboard with a few pixels flipped (many single-pixel regions)
                px = rng.integers(0, 256, shape).astype(np.float32)
                mask = rng.random(shape) < density
                if kind == "checkerboard":
                    mask = checker ^ (rng.random(shape) < density / 4)
                px = np.where(mask, np.maximum(px, 129), np.minimum(px, 128)).astype(np.float32)
                for threshold, min_size in ((128, 0), (128, 3), (100, 1), (200, 10)):
                    ref = reference_segments(px, threshold, min_size)
                    assert fast_segments(px, threshold, min_size) == ref, (shape, density, threshold, min_size)
                    cases += 1
                    if ref and ref[0] == "IndexError":
                        outcomes["error"] += 1
                        continue
                    regions = label_regions(px > threshold)
                    n = regions_imagehash_visits(regions, px.shape)
                    outcomes["early_stop_skips_segment"] += bool((regions.size[n:] > min_size).any())
                    outcomes["single_kept"] += any(s[0] == 1 for s in ref)
                    outcomes["no_segment"] += not ref
    assert cases == len(shapes) * 5 * 3 * 4
    assert all(v > 0 for v in outcomes.values()), outcomes


# ------------------------------------------------------- real photos, hashes
def _check_equal(h, rgb, ref, ref_segs, packed, label):
    assert ours_segments(h, rgb) == ref_segs, label
    if isinstance(ref, Exception):
        assert isinstance(packed, type(ref)) and str(packed) == str(ref), label
        return
    assert h.to_hex(packed) == str(ref), label
    segs = h.unpack(packed)
    assert len(segs) == len(ref.segment_hashes)
    for s, r in zip(segs, ref.segment_hashes):
        assert bytes(s).hex() == str(r), label


@pytest.fixture(scope="module")
def photo_cases():
    """Every caltech101_tiny photo (96) and every kodak24 photo, hashed through
    `hash` (tiny) and `hash_file` (kodak, the Pillow path), and their imagehash
    references."""
    h = get_hasher("crop_resistant")
    cases = []
    for path in _paths("caltech101_tiny"):
        rgb = load_rgb(path)
        cases.append((Path(path).name, rgb, *reference(rgb), h.hash(rgb)))
    for path in _paths("kodak24"):
        rgb = load_rgb(path)
        cases.append((Path(path).name, rgb, *reference(rgb), h.hash_file(path)))
    return h, cases


def test_photos_equal_imagehash(photo_cases):
    h, cases = photo_cases
    assert len(cases) == 96 + 24
    for name, rgb, ref, ref_segs, packed in cases:
        _check_equal(h, rgb, ref, ref_segs, packed, name)
    # imagehash's early stop drops a would-be segment on some of these photos,
    # so the quirk is exercised (and reproduced) on real data
    assert sum(early_stop_skips_a_segment(h, c[1]) for c in cases) >= 3


@pytest.fixture(scope="module")
def variant_cases():
    """16 transforms of 3 caltech101_tiny photos and 1 kodak24 photo, hashed
    as the engine hashes them: one ImageBatch per photo, whose grey images
    another imagehash hasher (dhash) has already made and shared."""
    h, dh = get_hasher("crop_resistant"), get_hasher("dhash")
    cases = []
    for path in _paths("caltech101_tiny", 32) + _paths("kodak24", 24):
        rgb = load_rgb(path)
        variants = [apply_transform(s, rgb, variant_seed(Path(path).name, s, 0))[0] for s in VARIANT_SPECS]
        batch = ImageBatch(variants)
        dh.hash_batch(batch)
        got = h.hash_batch(batch)
        for spec, v, packed in zip(VARIANT_SPECS, variants, got):
            cases.append((f"{Path(path).name} {spec.key}", v, *reference(v), packed))
    return h, cases


def test_variants_equal_imagehash(variant_cases):
    h, cases = variant_cases
    assert len(cases) == 4 * len(VARIANT_SPECS)
    for name, rgb, ref, ref_segs, packed in cases:
        _check_equal(h, rgb, ref, ref_segs, packed, name)


def test_distances_equal_imagehash(photo_cases, variant_cases):
    """The harness distance (pair_distances) between our hashes equals
    imagehash's ``a - b`` between its own results, originals and variants mixed."""
    h, photos = photo_cases
    _, variants = variant_cases
    chosen = photos[::8] + variants[::4]
    refs = [c[2] for c in chosen]
    packed = np.stack([c[4] for c in chosen])
    d = h.pair_distances(packed, packed)
    expected = np.array([[a - b for b in refs] for a in refs], dtype=np.float64)
    assert np.array_equal(d, expected)
    assert (d != np.round(d)).any() and (d >= 1).any()


# -------------------------------------------------- crafted images, params
def _spiky_image() -> np.ndarray:
    """300x300 grey 100 with 3x3 spots of 230 every 6 px: after imagehash's
    blur and median filter each spot is a single-pixel hill (2,401 of them,
    over the 2 * (300 + 300) border count), so imagehash raises IndexError."""
    a = np.full((300, 300), 100, np.uint8)
    for i in range(2, 298, 6):
        for j in range(2, 298, 6):
            a[i - 1 : i + 2, j - 1 : j + 2] = 230
    return np.ascontiguousarray(np.stack([a] * 3, axis=-1))


def _tied_squares_image() -> np.ndarray:
    """300x300 dark image with four bright 40x40 squares of the same shape
    (so four segments of equal size) with different textures inside (so
    different segment hashes): the stable largest-first sort decides the order."""
    a = np.full((300, 300), 20, np.uint8)
    rng = np.random.default_rng(7)
    for r, c in [(30, 200), (30, 40), (200, 120), (150, 230)]:
        a[r : r + 40, c : c + 40] = 220
        a[r + 8 : r + 32, c + 8 : c + 32] = rng.integers(170, 256, (24, 24))
    return np.ascontiguousarray(np.stack([a, a, a], axis=-1))


def test_index_error_through_the_hasher_and_a_batch():
    h = get_hasher("crop_resistant")
    spiky = _spiky_image()
    ref, ref_segs = reference(spiky)
    assert isinstance(ref, IndexError) and ref_segs[0] == "IndexError"
    with pytest.raises(IndexError) as info:
        h.hash(spiky)
    assert str(info.value) == str(ref)
    plain = np.full((64, 48, 3), 90, np.uint8)
    out = h.hash_batch([plain, spiky, plain])  # one bad image costs one entry
    assert isinstance(out[1], IndexError) and str(out[1]) == str(ref)
    assert h.to_hex(out[0]) == h.to_hex(out[2]) == str(reference(plain)[0])
    assert ours_segments(h, spiky) == ref_segs


def test_the_engine_records_imagehashs_index_error(tmp_path):
    """Through the engine (decode, hash_batch, error rows), the image on which
    imagehash raises gets the error row imagehash's exception would give."""
    from harness.datasets import folder_records
    from harness.engine import hash_images

    Image.fromarray(_spiky_image()).save(tmp_path / "spiky.png")
    Image.fromarray(_tied_squares_image()).save(tmp_path / "squares.png")
    records, _ = folder_records(str(tmp_path))
    h = get_hasher("crop_resistant")
    result = hash_images(records, [], [h], 0, 10_000_000)
    ref = reference(_spiky_image())[0]
    assert [(e[1], e[4], e[5]) for e in result.errors] == [("spiky.png", "hash", f"IndexError: {ref}")]
    assert [(r[1], r[9]) for r in result.rows] == [("squares.png", str(reference(_tied_squares_image())[0]))]


def test_equal_sized_segments_keep_imagehashs_order():
    img = _tied_squares_image()
    for max_segments in (2, 3, 16):
        h = get_hasher("crop_resistant", max_segments=max_segments, min_segment_size=100)
        ref, ref_segs = reference(img, limit_segments=max_segments, min_segment_size=100)
        sizes = [s[0] for s in ref_segs]
        assert len(sizes) >= 4 and len(set(sizes[:4])) == 1  # four tied segments (then the background)
        assert len({str(x) for x in ref.segment_hashes}) == len(ref.segment_hashes)
        _check_equal(h, img, ref, ref_segs, h.hash(img), max_segments)


@pytest.mark.parametrize(
    "params",
    [
        {"max_segments": 4, "segment_threshold": 100, "min_segment_size": 200},
        {"max_segments": 1, "segment_threshold": 0, "min_segment_size": 0},
        {"max_segments": 30, "segment_threshold": 200, "min_segment_size": 50, "segmentation_image_size": 128},
        {"max_segments": 16, "segment_threshold": 255, "min_segment_size": 500},  # no hills: valleys only
        {"max_segments": 8, "segment_threshold": 128, "min_segment_size": 100000},  # no segment: whole image
    ],
)
def test_non_default_parameters(params):
    h = get_hasher("crop_resistant", **params)
    kwargs = {
        "limit_segments": params["max_segments"],
        "segment_threshold": params["segment_threshold"],
        "min_segment_size": params["min_segment_size"],
        "segmentation_image_size": params.get("segmentation_image_size", 300),
    }
    for path in _paths("caltech101_tiny", 48) + _paths("kodak24", 24):
        rgb = load_rgb(path)
        ref, ref_segs = reference(rgb, **kwargs)
        _check_equal(h, rgb, ref, ref_segs, h.hash(rgb), (path, params))


def test_unexpected_error_in_the_fast_path_falls_back_to_imagehash(monkeypatch):
    h = get_hasher("crop_resistant")
    rgb = load_rgb(_paths("caltech101_tiny", 32)[1])
    calls = []

    def broken(*args, **kwargs):
        calls.append(args)
        raise RuntimeError("fast path broke")

    monkeypatch.setattr(crop_segments, "find_segments", broken)
    ref = reference(rgb)[0]
    assert h.to_hex(h.hash(rgb)) == str(ref)
    assert h.to_hex(h.hash_batch([rgb])[0]) == str(ref)
    assert h.to_hex(h.hash_pil(Image.fromarray(rgb))) == str(ref)
    assert len(calls) == 3  # the fast path was tried each time


def test_a_wrong_segmentation_is_caught(monkeypatch):
    """These comparisons can fail: with the valley loop's early stop left out
    (every valley region found), a photo where imagehash drops a segment
    hashes differently."""
    h = get_hasher("crop_resistant")
    for path in _paths("caltech101_tiny"):
        rgb = load_rgb(path)
        if early_stop_skips_a_segment(h, rgb):
            break
    else:
        pytest.fail("no caltech101_tiny photo where the early stop drops a segment")
    ref = str(reference(rgb)[0])
    assert h.to_hex(h.hash(rgb)) == ref
    monkeypatch.setattr(crop_segments, "regions_imagehash_visits", lambda regions, shape: len(regions.size))
    assert h.to_hex(h.hash(rgb)) != ref


# ------------------------------------------------------------- larger sweep
def test_bench_crop_resistant_writes_both_timings(tmp_path, tiny_dir):
    out = tmp_path / "cr"
    res = run_cli("bench", "crop_resistant", "--datasets", tiny_dir, "--images", "3", "--output", out)
    assert res.returncode == 0, res.stderr
    e = json.loads((tmp_path / "cr.json").read_text())["entries"][0]
    assert e["images"] == 3 and e["equal"] == 3 and e["reference_errors"] == 0
    assert e["reference_cpu_ms_per_image"] > 0 and e["fast_cpu_ms_per_image"] > 0
    assert "imagehash" in res.stdout and "| 3/3 |" in (tmp_path / "cr.md").read_text()
    bad = run_main("bench", "crop_resistant", "--datasets", tmp_path / "missing", "--output", out)
    assert bad.returncode == 2 and "--datasets" in bad.stderr
