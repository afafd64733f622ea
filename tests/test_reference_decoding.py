"""Reference decoding: each hasher decodes a file as its reference tool does.

- imagehash hashers: ``imagehash.<function>(Image.open(path), **params)``
  (imagehash converts the opened image itself, ``convert("L")`` or
  ``convert("HSV")``);
- PDQ: ``pdqhash.compute(np.asarray(Image.open(path).convert("RGB")))``;
- OpenCV img_hash: ``compute(cv2.imread(path))``.

The files are made here from a real photo (the built-in sample's astronaut)
with non-trivial transparency: an alpha gradient and a fully transparent
band whose hidden colours are random, so dropping alpha and compositing it
give very different pixels. ``decode: composite_white`` keeps the former
conversion (alpha on white) as a separate hasher identity.
"""

from __future__ import annotations

import warnings

import cv2
import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

import harness
from harness import get_hasher, list_hashers
from harness.datasets import sample_records
from harness.engine.work import hash_images
from harness.errors import ConfigError
from harness.imageio import conversion_of, load_rgb, load_rgb_modes
from tests.helpers import run_cli

#: harness name -> (imagehash function, keyword arguments of the harness's defaults)
IMAGEHASH = {
    "ahash": ("average_hash", {"hash_size": 8}),
    "phash": ("phash", {"hash_size": 8, "highfreq_factor": 4}),
    "phash_simple": ("phash_simple", {"hash_size": 8, "highfreq_factor": 4}),
    "dhash": ("dhash", {"hash_size": 8}),
    "dhash_vertical": ("dhash_vertical", {"hash_size": 8}),
    "whash": ("whash", {"hash_size": 8, "mode": "haar"}),
    "whash_db4": ("whash", {"hash_size": 8, "mode": "db4"}),
    "colorhash": ("colorhash", {"binbits": 3}),
    "crop_resistant": ("crop_resistant_hash", {"limit_segments": 16}),
}
OPENCV = [n for n in list_hashers() if n.startswith("cv_")]
OPENCV_FLOAT = {"cv_colormoment", "cv_radialvariance"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """{kind: path} of PNG files with transparency (and a 16-bit one) made
    from a real photo; hidden colours under alpha 0 are random."""
    root = tmp_path_factory.mktemp("alpha")
    rec = next(r for r in sample_records() if r.name == "astronaut")
    photo = np.asarray(Image.open(rec.path).convert("RGB").resize((256, 192), Image.Resampling.BILINEAR))
    h, w = photo.shape[:2]
    rng = np.random.default_rng(19)
    hidden = photo.copy()
    hidden[: h // 3] = rng.integers(0, 256, (h // 3, w, 3), dtype=np.uint8)  # fully transparent band
    alpha = np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))  # gradient
    alpha[: h // 3] = 0
    grey = np.asarray(Image.fromarray(hidden).convert("L"))
    out = {}
    out["RGBA"] = root / "rgba.png"
    Image.fromarray(np.dstack([hidden, alpha]), "RGBA").save(out["RGBA"])
    out["LA"] = root / "la.png"
    Image.fromarray(np.dstack([grey, alpha]), "LA").save(out["LA"])
    pal = Image.fromarray(hidden).quantize(256)
    index = np.asarray(pal)
    transparent = int(np.bincount(index.ravel()).argmax())  # the most used colour is transparent
    out["P-tRNS"] = root / "palette_index.png"
    pal.save(out["P-tRNS"], transparency=transparent)
    out["P-tRNS-table"] = root / "palette_table.png"  # per-entry alpha (tRNS table)
    pal.save(out["P-tRNS-table"], transparency=bytes(rng.integers(0, 256, 256, dtype=np.uint8)))
    out["I;16"] = root / "grey16.png"
    Image.fromarray((grey.astype(np.uint16) * 257 + rng.integers(0, 257, grey.shape)).astype(np.uint16)).save(
        out["I;16"]
    )
    for kind, path in out.items():
        with Image.open(path) as im:
            assert im.mode == kind.split("-")[0], (kind, im.mode)
            if kind.startswith("P"):
                assert "transparency" in im.info
    return out


KINDS = ["RGBA", "LA", "P-tRNS", "P-tRNS-table", "I;16"]


def _opened(path, mode=None):
    """Image.open(path), converted to `mode` if given (Pillow's warning about
    palette transparency expressed in bytes silenced)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        im = Image.open(path)
        im.load()
        return im.convert(mode) if mode else im


def test_the_files_need_reference_decoding(files):
    """The test can fail: for every file, compositing on white changes the pixels."""
    for kind in KINDS:
        ref = load_rgb(files[kind])
        old = load_rgb(files[kind], convert="composite_white")
        assert not np.array_equal(ref, old), kind
        assert (
            get_hasher("phash").hash_file(files[kind]).tobytes()
            != get_hasher("phash", decode="composite_white").hash_file(files[kind]).tobytes()
        ), kind


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", sorted(IMAGEHASH))
def test_imagehash_hashers_equal_imagehash_on_the_opened_file(files, kind, name):
    fn, kwargs = IMAGEHASH[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = str(getattr(imagehash, fn)(Image.open(files[kind]), **kwargs))
    assert harness.hash_image(files[kind], name) == expected
    h = get_hasher(name)
    assert h.to_hex(h.hash_file(str(files[kind]))) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_pdq_equals_pdqhash_on_convert_rgb(files, kind):
    bits, _quality = pdqhash.compute(np.asarray(_opened(files[kind], "RGB")))
    assert harness.hash_image(files[kind], "pdq") == np.packbits(bits.astype(bool)).tobytes().hex()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("name", OPENCV)
def test_opencv_hashers_equal_compute_on_cv2_imread(files, kind, name):
    h = get_hasher(name)
    bgr = cv2.imread(str(files[kind]))  # IMREAD_COLOR: alpha dropped, 16 -> 8 bits
    assert bgr is not None and bgr.shape[2] == 3
    expected = np.frombuffer(h.reference(bgr).tobytes(), dtype=np.uint8)
    got = h.hash_file(files[kind])
    if name in OPENCV_FLOAT:
        # float hashes: compared with OpenCV's own compare(), not bytes (SIMD dispatch may differ)
        similarity = h.compare(expected, got)
        if name == "cv_colormoment":
            assert similarity <= 1e-6  # 10000 x L2 norm: 0 = identical
        else:
            assert similarity >= 1 - 1e-6  # peak cross-correlation: 1 = identical
    else:
        assert got.tobytes() == expected.tobytes()


def test_imagehash_grey_conversion_of_each_mode_equals_rgb_then_grey(files):
    """The premise of sharing one RGB array between imagehash hashers: Pillow's
    ``convert("L")``/``convert("HSV")`` of the opened file equal the same
    conversion of its ``convert("RGB")``."""
    for kind in KINDS:
        rgb = Image.fromarray(load_rgb(files[kind]))
        for mode in ("L", "HSV"):
            assert np.array_equal(np.asarray(_opened(files[kind], mode)), np.asarray(rgb.convert(mode))), kind


def test_composite_white_is_the_former_conversion_and_its_own_identity(files):
    # RGBA: a straight blend on white, 8-bit rounding only (Pillow's alpha_composite)
    with Image.open(files["RGBA"]) as im:
        rgba = np.asarray(im).astype(np.float64)
    a = rgba[..., 3:] / 255
    blended = rgba[..., :3] * a + 255 * (1 - a)
    got = load_rgb(files["RGBA"], convert="composite_white")
    assert np.abs(got - blended).max() <= 1.0
    assert (got[: got.shape[0] // 3] == 255).all()  # the fully transparent band is white
    # 16-bit greyscale: the top 8 bits (Pillow's reference conversion clips instead)
    with Image.open(files["I;16"]) as im:
        raw = np.asarray(im).astype(np.uint32)
    assert np.array_equal(load_rgb(files["I;16"], convert="composite_white")[..., 0], (raw >> 8).astype(np.uint8))
    assert np.array_equal(load_rgb(files["I;16"])[..., 0], np.minimum(raw, 255).astype(np.uint8))

    for name in ("phash", "pdq", "cv_phash"):
        ref, old = get_hasher(name), get_hasher(name, decode="composite_white")
        assert old.params["decode"] == "composite_white" and "decode" not in ref.params
        assert old.key != ref.key and old.label == f"{name}[decode=composite_white]"
        assert get_hasher(name, decode="reference").key == ref.key
        both = get_hasher(name, decode="composite_white", fast_decode=True)
        assert both.decode_options == {"convert": "composite_white", "fast_decode": 1}
        assert np.array_equal(old.hash_file(files["RGBA"]), old.hash(got))
    # an array with alpha follows the hasher's decode too
    arr = np.dstack([load_rgb(files["RGBA"]), np.full(got.shape[:2], 7, np.uint8)])
    assert np.array_equal(get_hasher("dhash").hash_file(arr), get_hasher("dhash").hash(arr[..., :3]))


def test_bad_decode_value_names_the_field_and_the_choices():
    with pytest.raises(ConfigError, match="decode must be one of reference, composite_white"):
        get_hasher("phash", decode="white")


def test_engine_path_equals_hash_file_with_both_decodes_in_one_run(files):
    """compute_rows decodes once per file and shares the array between
    conversions that agree; hashes equal hash_file for every file/hasher."""
    from harness.datasets.records import ImageRecord

    names = ["phash", "pdq", "cv_phash", "colorhash"]
    hashers = [get_hasher(n) for n in names] + [get_hasher(n, decode="composite_white") for n in names]
    records = [ImageRecord(kind, kind, str(path), kind, 0) for kind, path in files.items()]
    res = hash_images(records, [], hashers, seed=0, max_pixels=10**8)
    assert not res.errors
    got = {(r[0], r[7]): r[9] for r in res.rows}
    assert len(got) == len(records) * len(hashers)
    for rec in records:
        for h in hashers:
            assert got[(rec.image_id, h.key)] == h.to_hex(h.hash_file(rec.path)), (rec.name, h.label)


def test_one_array_for_every_conversion_when_they_agree(files, tmp_path):
    rgb = load_rgb(files["RGBA"])
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    modes = load_rgb_modes(tmp_path / "rgb.png", ("pillow", "opencv", "composite_white"))
    assert modes["pillow"] is modes["opencv"] is modes["composite_white"]
    modes = load_rgb_modes(files["RGBA"], ("pillow", "opencv", "composite_white"))
    assert modes["pillow"] is modes["opencv"] and modes["composite_white"] is not modes["pillow"]
    modes = load_rgb_modes(files["I;16"], ("pillow", "opencv", "composite_white"))
    assert modes["opencv"] is modes["composite_white"] and modes["pillow"] is not modes["opencv"]
    with Image.open(files["LA"]) as im:
        assert [conversion_of(im, c) for c in ("pillow", "opencv", "composite_white")] == [
            "plain",
            "plain",
            "composite",
        ]


def test_cli_hash_follows_the_reference_and_the_option(files):
    bits, _ = pdqhash.compute(np.asarray(_opened(files["LA"], "RGB")))
    ref = np.packbits(bits.astype(bool)).tobytes().hex()
    out = run_cli("hash", "--hasher", "pdq", str(files["LA"]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == ref
    old = get_hasher("pdq", decode="composite_white")
    out = run_cli("hash", "--hasher", "pdq", "--param", "decode=composite_white", str(files["LA"]))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == old.to_hex(old.hash_file(files["LA"])) != ref


def test_duplicate_screen_hashes_each_file_the_reference_way(files):
    """The screen decodes once and gives each hasher its own conversion (the
    16-bit file differs between Pillow's and cv2.imread's)."""
    from harness.datasets.records import ImageRecord
    from harness.screen import _hash_one

    hashers = [get_hasher("phash"), get_hasher("cv_phash"), get_hasher("pdq")]
    for kind in ("I;16", "RGBA"):
        packed, reason = _hash_one(ImageRecord(kind, kind, str(files[kind]), kind, 0), hashers, 10**8)
        assert reason is None
        assert [p.tobytes() for p in packed] == [h.hash_file(files[kind]).tobytes() for h in hashers], kind
