"""Decoding before hashing: EXIF orientation applied once; palette, alpha,
CMYK, 16-bit and greyscale images converted the documented way (see
harness.imageio): as each hasher's reference tool does (imagehash
and PDQ: Pillow's convert; OpenCV: cv2.imread's), or alpha composited on
white on request; opt-in fast_decode. tests/test_reference_decoding.py
compares with the reference tools themselves."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from harness import get_hasher, list_hashers
from harness.datasets import load_rgb, sample_records

# every hasher that needs no user files; crop_resistant is slow (~1 s/image)
HASHERS = [n for n in list_hashers() if n not in ("neuralhash", "crop_resistant")]


@pytest.fixture(scope="module")
def photo():
    """A real photo (the sample's coffee cup), reduced to 120 x 160."""
    rec = next(r for r in sample_records() if r.name == "coffee")
    return np.asarray(Image.fromarray(load_rgb(rec.path)).resize((160, 120), Image.Resampling.BILINEAR))


def _every_hasher_sees(path, expected, **params):
    """Each hasher's hash of the file equals its hash of `expected` (an array,
    or {conversion: array} when the hashers' conversions differ)."""
    for name in HASHERS:
        h = get_hasher(name, **params)
        want = expected[h.conversion] if isinstance(expected, dict) else expected
        assert np.array_equal(h.hash_file(path), h.hash(want)), name


def test_exif_orientation_is_applied_once(tmp_path, photo):
    for orientation, undo in [
        (6, lambda a: np.rot90(a, k=-1)),
        (3, lambda a: np.rot90(a, k=2)),
        (8, lambda a: np.rot90(a, k=1)),
    ]:
        img = Image.fromarray(photo)
        exif = img.getexif()
        exif[0x0112] = orientation
        path = tmp_path / f"exif{orientation}.png"  # lossless, so pixels are comparable
        img.save(path, exif=exif)
        with Image.open(path) as raw:
            assert raw.getexif()[0x0112] == orientation
        expected = np.ascontiguousarray(undo(photo))
        got = load_rgb(path)
        assert got.shape == expected.shape and np.array_equal(got, expected)
        # decoding twice (e.g. the array handed back in) does not rotate again
        assert np.array_equal(load_rgb(got), expected)
        _every_hasher_sees(path, expected)


def test_greyscale_and_palette_and_16bit(tmp_path, photo):
    grey = np.asarray(Image.fromarray(photo).convert("L"))
    Image.fromarray(grey).save(tmp_path / "grey.png")
    exp_grey = np.repeat(grey[:, :, None], 3, axis=2)
    assert np.array_equal(load_rgb(tmp_path / "grey.png"), exp_grey)
    _every_hasher_sees(tmp_path / "grey.png", exp_grey)

    pal = Image.fromarray(photo).quantize(64)
    pal.save(tmp_path / "pal.png")
    table = np.array(pal.getpalette()[: 64 * 3], np.uint8).reshape(-1, 3)
    exp_pal = table[np.asarray(pal)]
    assert np.array_equal(load_rgb(tmp_path / "pal.png"), exp_pal)
    _every_hasher_sees(tmp_path / "pal.png", exp_pal)

    sixteen = grey.astype(np.uint16) * 256 + 200  # 16-bit values; top byte == grey
    Image.fromarray(sixteen).save(tmp_path / "g16.png")
    with Image.open(tmp_path / "g16.png") as im:
        assert im.mode.startswith("I")
    exp16 = np.repeat((sixteen >> 8).astype(np.uint8)[:, :, None], 3, axis=2)
    assert np.array_equal(exp16, exp_grey)
    clipped = np.repeat(np.minimum(sixteen, 255).astype(np.uint8)[:, :, None], 3, axis=2)
    # Pillow's convert (imagehash, PDQ) clips; cv2.imread and composite_white keep the top 8 bits
    assert np.array_equal(load_rgb(tmp_path / "g16.png"), clipped)
    assert np.array_equal(load_rgb(tmp_path / "g16.png", convert="opencv"), exp16)
    assert np.array_equal(load_rgb(tmp_path / "g16.png", convert="composite_white"), exp16)
    _every_hasher_sees(tmp_path / "g16.png", {"pillow": clipped, "opencv": exp16})
    _every_hasher_sees(tmp_path / "g16.png", exp16, decode="composite_white")


def test_alpha_is_dropped_or_composited_on_white_on_request(tmp_path, photo):
    h, w = photo.shape[:2]
    alpha = np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))
    Image.fromarray(np.dstack([photo, alpha])).save(tmp_path / "rgba.png")
    assert np.array_equal(load_rgb(tmp_path / "rgba.png"), photo)  # the reference tools drop alpha
    _every_hasher_sees(tmp_path / "rgba.png", photo)
    a = alpha[:, :, None].astype(np.float64) / 255
    expected = photo * a + 255 * (1 - a)
    got = load_rgb(tmp_path / "rgba.png", convert="composite_white")
    assert np.abs(got.astype(np.float64) - expected).max() <= 1.0  # 8-bit rounding only
    assert (got[:, 0] == 255).all()  # alpha 0 -> white
    assert np.array_equal(got[:, -1], photo[:, -1])  # alpha 255 -> the photo
    _every_hasher_sees(tmp_path / "rgba.png", got, decode="composite_white")

    grey = np.asarray(Image.fromarray(photo).convert("L"))
    la = Image.fromarray(np.dstack([grey, alpha]), mode="LA")
    la.save(tmp_path / "la.png")
    assert np.array_equal(load_rgb(tmp_path / "la.png"), np.repeat(grey[:, :, None], 3, axis=2))
    got_la = load_rgb(tmp_path / "la.png", convert="composite_white")
    assert (got_la[:, 0] == 255).all() and (got_la[..., 0] == got_la[..., 2]).all()
    _every_hasher_sees(tmp_path / "la.png", got_la, decode="composite_white")


def test_cmyk_jpeg_is_converted_not_inverted(tmp_path, photo):
    Image.fromarray(photo).convert("CMYK").save(tmp_path / "cmyk.jpg", quality=95)
    with Image.open(tmp_path / "cmyk.jpg") as im:
        assert im.mode == "CMYK"
        expected = np.asarray(im.convert("RGB"))
    got = load_rgb(tmp_path / "cmyk.jpg")
    assert np.array_equal(got, expected)
    assert np.abs(got.astype(int) - photo).mean() < 8  # the same picture, not a negative
    _every_hasher_sees(tmp_path / "cmyk.jpg", got)


def test_fast_decode_reduces_jpegs_only_and_is_opt_in(tmp_path):
    rec = next(r for r in sample_records() if r.name == "astronaut")
    rgb = load_rgb(rec.path)
    big = np.asarray(Image.fromarray(rgb).resize((1024, 768)))
    Image.fromarray(big).save(tmp_path / "big.jpg", quality=90)
    Image.fromarray(big).save(tmp_path / "big.png")
    assert load_rgb(tmp_path / "big.jpg").shape == (768, 1024, 3)
    assert load_rgb(tmp_path / "big.jpg", fast_decode=1).shape == (96, 128, 3)  # 1/8
    assert load_rgb(tmp_path / "big.jpg", fast_decode=190).shape == (192, 256, 3)  # 1/4 keeps >= 190
    assert load_rgb(tmp_path / "big.png", fast_decode=1).shape == (768, 1024, 3)  # not a JPEG
    exact, fast = get_hasher("phash"), get_hasher("phash", fast_decode=True)
    e, f = exact.hash_file(tmp_path / "big.jpg"), fast.hash_file(tmp_path / "big.jpg")
    assert np.array_equal(e, exact.hash(load_rgb(tmp_path / "big.jpg")))
    assert np.array_equal(f, exact.hash(load_rgb(tmp_path / "big.jpg", fast_decode=1)))
    assert np.bitwise_count(e ^ f).sum() <= 8  # close, though not guaranteed equal


def test_engine_decodes_separately_for_fast_decode_hashers(tmp_path):
    from harness.datasets.records import ImageRecord
    from harness.engine.work import hash_images
    from harness.transforms import TransformSpec

    rgb = load_rgb(next(r for r in sample_records() if r.name == "astronaut").path)
    path = tmp_path / "big.jpg"
    Image.fromarray(rgb).resize((1024, 768)).save(path, quality=90)
    rec = ImageRecord(image_id="a" * 64, name="big.jpg", path=str(path), group="g", bytes=path.stat().st_size)
    exact, fast = get_hasher("dhash"), get_hasher("dhash", fast_decode=True)
    res = hash_images([rec], [TransformSpec.make("jpeg", 50)], [exact, fast], seed=0, max_pixels=10**8)
    assert not res.errors
    by = {(r[3], r[7]): r for r in res.rows}
    orig = next(k for k in by if k[0] != "jpeg(50)")[0]
    assert by[(orig, exact.key)][8] == exact.hash_file(path).tobytes()
    assert by[(orig, fast.key)][8] == fast.hash_file(path).tobytes()
    assert (by[(orig, exact.key)][10], by[(orig, exact.key)][11]) == (1024, 768)
    assert (by[(orig, fast.key)][10], by[(orig, fast.key)][11]) == (128, 96)
    assert len(res.rows) == 4


def test_hash_image_accepts_paths_bytes_arrays_and_pillow_images(tmp_path):
    import imagehash

    from harness import hash_image

    rec = next(r for r in sample_records() if r.name == "chelsea")
    with Image.open(rec.path) as im:
        expected = str(imagehash.phash(im))
        pil = im.copy()
    data = open(rec.path, "rb").read()
    for source in (rec.path, data, load_rgb(rec.path), pil):
        assert hash_image(source, "phash") == expected
    for name in ("cv_phash", "pdq", "colorhash"):
        h = get_hasher(name)
        ref = h.to_hex(h.hash(load_rgb(rec.path)))
        assert {hash_image(s, name) for s in (rec.path, data, load_rgb(rec.path), pil)} == {ref}


def test_run_path_gives_fast_decode_hashers_their_own_decode(tmp_path, tiny_dir):
    """In a real run (engine chunks), a fast_decode hasher is fed reduced-size
    decoded pixels, an exact hasher the exact pixels, for the same image."""
    from harness import run_experiment
    from harness.hashers import get_hasher

    cfg = {
        "name": "fd",
        "dataset": {"source": "folder", "path": str(tiny_dir / "images"), "limit": 4},
        "hashers": ["phash", {"name": "phash", "params": {"fast_decode": True}}],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "seed": 0,
        "output": str(tmp_path / "out"),
    }
    res = run_experiment(cfg, progress=False, workers=1)
    exact, fast = get_hasher("phash"), get_hasher("phash", fast_decode=True)
    orig = res.hashes[res.hashes["transform"] == "original()"]
    got = orig.set_index(["image_name", "hasher"])["hash_hex"]
    for rec in orig.drop_duplicates("image_name").itertuples():
        path = str(tiny_dir / "images" / rec.image_name)
        assert got[(rec.image_name, exact.label)] == exact.to_hex(exact.hash_file(path))
        assert got[(rec.image_name, fast.label)] == fast.to_hex(fast.hash_file(path))
