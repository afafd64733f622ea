"""Hostile and odd inputs (issue: reliability).

The corpus is generated here, from a few real photographs of caltech101_tiny
and from bytes written by hand (no binary is shipped). Every entry carries
its expectation, computed independently of harness.imageio:

- ``Hash(rgb)``: the image must be hashed, and its hash must equal the hash
  of `rgb`, the pixels the documented conversion must produce (computed here
  with numpy from the raw decoded data or from the pixels we encoded);
- ``Fail(pattern)``: the image must appear in errors.csv with a reason that
  matches `pattern`.

Never a crash, never a silent drop: a folder run over the whole corpus must
account for every listed entry exactly once.
"""

from __future__ import annotations

import io
import json
import os
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness import get_hasher
from harness.errors import DecodeError
from harness.imageio import load_rgb
from tests.helpers import dataset_dir

#: pixel limit used by the corpus run; every real photo used is below it
LIMIT = 200_000


# ------------------------------------------------------------------ helpers
@dataclass(frozen=True)
class Hash:
    rgb: np.ndarray


@dataclass(frozen=True)
class Fail:
    pattern: str


def png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def png_raw(
    width: int, height: int, bit_depth: int, colour_type: int, rows: list[bytes] | None, extra_idat: bytes | None = None
) -> bytes:
    """A PNG written by hand (filter type 0 on every row). `rows=None` with
    `extra_idat` writes whatever IDAT payload is given (for bombs)."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    if rows is not None:
        idat = zlib.compress(b"".join(b"\x00" + r for r in rows), 9)
    else:
        idat = extra_idat
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def grey_to_rgb(g: np.ndarray) -> np.ndarray:
    return np.repeat(g[:, :, None], 3, axis=2)


def muldiv255(a, b):
    """Pillow's rounded a*b/255 (MULDIV255 in libImaging)."""
    tmp = a.astype(np.int32) * b.astype(np.int32) + 128
    return ((tmp >> 8) + tmp) >> 8


#: displayed = ORIENT[o](stored), EXIF orientation tag values 1..8
ORIENT = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),  # 90 degrees clockwise
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),  # transverse
    8: lambda a: np.rot90(a, 1),  # 90 degrees counter-clockwise
}
#: stored = UNORIENT[o](upright)
UNORIENT = {
    1: ORIENT[1],
    2: ORIENT[2],
    3: ORIENT[3],
    4: ORIENT[4],
    5: ORIENT[5],
    6: ORIENT[8],
    7: ORIENT[7],
    8: ORIENT[6],
}


def exif_with_orientation(o: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = o
    return exif.tobytes()


def photo_paths(tiny_dir: Path) -> list[Path]:
    return sorted((tiny_dir / "images").glob("*.jpg"))


def upright_photo(tiny_dir: Path) -> np.ndarray:
    """A non-square crop of a real RGB photo (not symmetric under any flip
    or rotation: checked in a test)."""
    for p in photo_paths(tiny_dir):
        with Image.open(p) as im:
            if im.mode == "RGB" and im.size[0] >= 160 and im.size[1] >= 100:
                return np.asarray(im)[:96, :144].copy()
    raise AssertionError("no RGB photo found")


# ------------------------------------------------------------------- corpus
def build_corpus(root: Path, outside: Path, tiny_dir: Path) -> dict[str, object]:
    """Write the corpus under `root` (and a target under `outside`); return
    {name relative to root: Hash | Fail}. Names are str; the non-UTF-8 name is
    given as the str Python's os functions return (surrogate escapes)."""
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    photos = photo_paths(tiny_dir)
    rgb_photos = [p for p in photos if Image.open(p).mode == "RGB"]
    expect: dict[str, object] = {}

    def put(name: str | bytes, data: bytes, exp) -> None:
        path = os.path.join(os.fsencode(root), os.fsencode(name))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)
        expect[os.fsdecode(name)] = exp

    def decoded(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            assert im.mode == "RGB"
            return np.asarray(im).copy()

    # real photos: two normal ones (one in a subfolder)
    p0, p1, p2 = (p.read_bytes() for p in rgb_photos[:3])
    put("photo0.jpg", p0, Hash(decoded(p0)))
    put("sub/photo1.jpg", p1, Hash(decoded(p1)))
    # a real photo under a non-UTF-8 (Latin-1) name
    put(b"caf\xe9.jpg", p2, Hash(decoded(p2)))

    # empty, truncated, random, wrong content
    put("empty.jpg", b"", Fail(r"empty file"))
    put("truncated.jpg", p0[: len(p0) // 2], Fail(r"truncated|corrupt"))
    small = decoded(p0)[:64, :64]
    png_small = encode(Image.fromarray(small), "PNG")
    put("truncated.png", png_small[: len(png_small) * 2 // 3], Fail(r"truncated|corrupt"))
    put("random.jpg", np.random.default_rng(0).bytes(4096), Fail(r"not a recognised image format"))
    put("text.png", b"this is not an image\n" * 10, Fail(r"not a recognised image format"))
    # a PNG named .jpg: the content decides, not the extension
    put("really_png.jpg", png_small, Hash(small))

    # decompression bombs: huge declared size, tiny file; refused before decoding
    bomb_idat = zlib.compress(b"\x00" * 100_000, 9)
    put("bomb.png", png_raw(100_000, 100_000, 8, 0, None, bomb_idat), Fail(r"max_pixels"))
    jpeg_bomb = bytearray(p0)
    sof = next(m.start() for m in re.finditer(b"\xff[\xc0\xc1\xc2]", p0))
    jpeg_bomb[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)  # height, width
    put("bomb.jpg", bytes(jpeg_bomb), Fail(r"max_pixels"))
    # over the configured limit but under twice it (the harness' own check)
    put(
        "over_limit.png",
        encode(Image.new("RGB", (500, 500), (10, 200, 30)), "PNG"),
        Fail(r"too many pixels: 500x500 = 250000 > max_pixels 200000"),
    )

    # tiny images
    one = np.array([[[200, 10, 30]]], dtype=np.uint8)
    put("one_by_one.png", encode(Image.fromarray(one), "PNG"), Hash(one))
    two = np.array([[[0, 0, 0], [255, 255, 255]], [[255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    put("two_by_two.png", encode(Image.fromarray(two), "PNG"), Hash(two))

    # 16-bit PNGs written by hand: greyscale is clipped to 0..255 (Pillow's
    # convert, the reference tools' decode); RGB keeps the top 8 bits
    g16 = (np.add.outer(np.arange(48) * 1000, np.arange(40) * 317) % 65536).astype(">u2")
    put(
        "grey16.png",
        png_raw(40, 48, 16, 0, [r.tobytes() for r in g16]),
        Hash(grey_to_rgb(np.minimum(g16.astype(np.uint32), 255).astype(np.uint8))),
    )
    c16 = np.stack([g16, g16[::-1], g16.astype(np.uint32) * 7 % 65536], axis=2).astype(">u2")
    put(
        "rgb16.png",
        png_raw(40, 48, 16, 2, [r.tobytes() for r in c16]),
        Hash((c16.astype(np.uint32) >> 8).astype(np.uint8)),
    )

    # CMYK JPEG: Pillow's conversion R = (255-K) - C*(255-K)/255 (rounded)
    cmyk_src = Image.fromarray(decoded(p1)).convert("CMYK")
    cmyk_bytes = encode(cmyk_src, "JPEG", quality=90)
    with Image.open(io.BytesIO(cmyk_bytes)) as im:
        assert im.mode == "CMYK"
        c = np.asarray(im).astype(np.int32)
    nk = 255 - c[:, :, 3:4]
    put("cmyk.jpg", cmyk_bytes, Hash(np.clip(nk - muldiv255(c[:, :, :3], nk), 0, 255).astype(np.uint8)))

    # palette with a transparent index: transparent pixels keep their palette colour
    # (alpha dropped, as the reference tools' convert("RGB") does)
    idx = (np.add.outer(np.arange(30), np.arange(50)) % 5).astype(np.uint8)
    palette = np.array([[0, 0, 0], [250, 20, 20], [20, 250, 20], [20, 20, 250], [120, 60, 200]], np.uint8)
    pimg = Image.fromarray(idx, mode="P")
    pimg.putpalette(palette.ravel().tolist())
    want = palette[idx].copy()
    put("palette_transparent.png", encode(pimg, "PNG", transparency=0), Hash(want))

    # LA: grey with alpha 0/255; alpha dropped
    grey = (np.add.outer(np.arange(40) * 3, np.arange(60) * 2) % 256).astype(np.uint8)
    alpha = np.where(np.add.outer(np.arange(40), np.arange(60)) % 3 == 0, 0, 255).astype(np.uint8)
    la = Image.fromarray(np.stack([grey, alpha], axis=2), mode="LA")
    put("grey_alpha.png", encode(la, "PNG"), Hash(grey_to_rgb(grey)))

    # animated GIF: the first frame is hashed (documented)
    frames = []
    for k in range(3):
        fi = Image.fromarray(((idx + k) % 5).astype(np.uint8), mode="P")
        fi.putpalette(palette.ravel().tolist())
        frames.append(fi)
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    with Image.open(io.BytesIO(gif)) as im:
        assert im.n_frames == 3
    put("animated.gif", gif, Hash(palette[idx]))

    # EXIF orientations 1..8: lossless PNGs must give exactly the upright image
    upright = upright_photo(tiny_dir)
    for o in range(1, 9):
        stored = np.ascontiguousarray(UNORIENT[o](upright))
        put(f"orient/png_{o}.png", encode(Image.fromarray(stored), "PNG", exif=exif_with_orientation(o)), Hash(upright))
    # ... and JPEGs: the decoded pixels, oriented per the EXIF specification
    for o in range(1, 9):
        stored = np.ascontiguousarray(UNORIENT[o](upright))
        data = encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif_with_orientation(o))
        put(f"orient/jpeg_{o}.jpg", data, Hash(np.ascontiguousarray(ORIENT[o](decoded(data)))))

    # a directory named like an image, holding a real photo
    put("folder.jpg/inner.jpg", p1, Hash(decoded(p1)))
    expect["folder.jpg"] = Fail(r"is a directory")

    # symlinks: inside the folder (allowed), outside (refused), dangling, loop
    (outside / "secret.jpg").write_bytes(p0)
    os.symlink(outside / "secret.jpg", root / "outside_link.jpg")
    expect["outside_link.jpg"] = Fail(r"outside the dataset folder")
    os.symlink("sub/photo1.jpg", root / "inside_link.jpg")
    expect["inside_link.jpg"] = Hash(decoded(p1))
    os.symlink("no_such_target.jpg", root / "dangling.jpg")
    expect["dangling.jpg"] = Fail(r"broken symlink|not found|No such file")
    os.symlink("loop.jpg", root / "loop.jpg")
    expect["loop.jpg"] = Fail(r"symlink|loop")
    # a FIFO named like an image: reading it would block forever
    os.mkfifo(root / "pipe.jpg")
    expect["pipe.jpg"] = Fail(r"not a regular file")

    # a file that is removed between listing and reading (see VANISHES); its
    # bytes are unique, so an engine that hashes each content once must read it
    put(VANISHES, rgb_photos[3].read_bytes(), Fail(r"file not found|removed"))
    return expect


VANISHES = "vanishes.jpg"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    tiny_dir = dataset_dir("caltech101_tiny")
    base = tmp_path_factory.mktemp("hostile")
    root = base / "data"
    expect = build_corpus(root, base / "outside", tiny_dir)
    return root, expect


# -------------------------------------------------- the loader, entry by entry
def test_every_decodable_entry_gives_the_documented_pixels(corpus):
    root, expect = corpus
    for name, exp in expect.items():
        if isinstance(exp, Hash) and name != "inside_link.jpg":
            got = load_rgb(os.path.join(root, name), max_pixels=LIMIT)
            assert got.dtype == np.uint8 and got.flags["C_CONTIGUOUS"], name
            np.testing.assert_array_equal(got, exp.rgb, err_msg=name)


def test_every_broken_file_raises_decode_error_with_its_reason(corpus):
    root, expect = corpus
    for name in [
        "empty.jpg",
        "truncated.jpg",
        "truncated.png",
        "random.jpg",
        "text.png",
        "bomb.png",
        "bomb.jpg",
        "over_limit.png",
    ]:
        with pytest.raises(DecodeError) as info:
            load_rgb(root / name, max_pixels=LIMIT)
        assert re.search(expect[name].pattern, info.value.reason), (name, info.value.reason)


def test_photo_is_not_symmetric_so_orientation_tests_can_fail(tiny_dir):
    """All 8 orientations of the upright photo have distinct pHashes, so a
    missing or wrong EXIF rotation would change the hash."""
    upright = upright_photo(tiny_dir)
    h = get_hasher("phash")
    hexes = {h.to_hex(h.hash(np.ascontiguousarray(f(upright)))) for f in ORIENT.values()}
    assert len(hexes) == 8


def test_exif_orientation_is_applied_once(corpus, tiny_dir):
    root, _ = corpus
    h = get_hasher("phash")
    upright = upright_photo(tiny_dir)
    ref = h.hash(upright)
    for o in range(1, 9):
        assert (h.hash(load_rgb(root / "orient" / f"png_{o}.png")) == ref).all(), o
        # JPEG re-encoding of rotated pixels moves pHash by a few bits at most
        d = np.unpackbits(h.hash(load_rgb(root / "orient" / f"jpeg_{o}.jpg")) ^ ref).sum()
        assert d <= 4, (o, d)


def test_pillow_limit_follows_max_pixels(tmp_path):
    """Pillow's own bomb check (warning above MAX_IMAGE_PIXELS, error above
    twice it, 179 M pixels by default) must not refuse an image that the
    configured max_pixels allows, and its refusal must read as a max_pixels
    refusal. The PNG declares 195 M pixels but holds almost no data: allowed,
    it gets as far as decoding and fails there as truncated."""
    declared = png_raw(15_000, 13_000, 8, 0, None, zlib.compress(b"\x00" * 1000))
    path = tmp_path / "big.png"
    path.write_bytes(declared)
    with pytest.raises(DecodeError) as info:
        load_rgb(path, max_pixels=200_000_000)
    assert "max_pixels" not in info.value.reason and "truncated" in info.value.reason
    with pytest.raises(DecodeError, match=r"195000000 pixels > max_pixels 1000000"):
        load_rgb(path, max_pixels=1_000_000)
    with pytest.raises(DecodeError, match=r"15000x13000 = 195000000 > max_pixels 100000000"):
        load_rgb(path, max_pixels=100_000_000)


def test_partial_alpha_is_dropped_or_composited_on_white_on_request():
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    data = encode(Image.fromarray(rgba, mode="RGBA"), "PNG")
    assert (load_rgb(data) == [200, 0, 0]).all()
    out = load_rgb(data, convert="composite_white")
    # 200*a + 255*(1-a) with a = 128/255, and 0*a + 255*(1-a) for G and B
    assert np.abs(out[0, 0].astype(int) - [227, 127, 127]).max() <= 1


def test_truncated_images_are_not_silently_accepted():
    from PIL import ImageFile

    import harness  # noqa: F401  (importing the harness must not change this)

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# ------------------------------------------------------ the whole corpus in a run
def display_name(name: str) -> str:
    """How a name appears in the tables: undecodable bytes as \\xNN escapes."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def run_corpus(tmp_path, monkeypatch, **dataset):
    """Run the corpus through run_experiment; VANISHES is deleted after the
    listing and before any image is read."""
    import harness.datasets.loader as loader
    from harness import run_experiment

    root = tmp_path / "data"
    expect = build_corpus(root, tmp_path / "outside", dataset_dir("caltech101_tiny"))
    listing = loader.folder_records

    def listing_then_vanish(*args, **kwargs):
        out = listing(*args, **kwargs)
        os.remove(root / VANISHES)
        return out

    monkeypatch.setattr(loader, "folder_records", listing_then_vanish)
    config = {
        "name": "hostile",
        "dataset": {"source": "folder", "path": str(root), **dataset},
        "hashers": ["phash", "dhash"],
        "transforms": [{"family": "jpeg", "severities": [50]}],
        "seed": 0,
        "max_pixels": LIMIT,
        "output": str(tmp_path / "out"),
    }
    results = run_experiment(config, progress=False)
    return results, {display_name(k): v for k, v in expect.items()}


def test_corpus_run_accounts_for_every_entry(tmp_path, monkeypatch):
    from harness import write_report

    results, expect = run_corpus(tmp_path, monkeypatch)
    out = Path(results.output)
    hashes = pd.read_parquet(out / "hashes.parquet")
    errors = pd.read_csv(out / "errors.csv", keep_default_na=False)
    images = pd.read_csv(out / "images.csv", keep_default_na=False)
    originals = hashes[hashes["transform"] == "original()"]
    item_errors = errors[errors["stage"].isin(["list", "decode"])]

    hashed = set(originals["image_name"])
    failed = set(item_errors["image_name"])
    listed = set(images["name"]) | set(errors.loc[errors["stage"] == "list", "image_name"])
    # nothing silently dropped, nothing both hashed and failed, nothing unknown
    assert listed == set(expect)
    assert hashed | failed == listed and not hashed & failed
    assert len(item_errors) == len(failed)  # one row per failed image

    for name, exp in expect.items():
        if isinstance(exp, Hash):
            assert name in hashed, (name, errors[errors["image_name"] == name]["reason"].tolist())
            for hname in ("phash", "dhash"):
                h = get_hasher(hname)
                row = originals[(originals["image_name"] == name) & (originals["hasher"] == hname)]
                assert row["hash_hex"].tolist() == [h.to_hex(h.hash(exp.rgb))], (name, hname)
        else:
            reasons = item_errors.loc[item_errors["image_name"] == name, "reason"].tolist()
            assert len(reasons) == 1 and re.search(exp.pattern, reasons[0]), (name, reasons)

    n_hash = sum(isinstance(e, Hash) for e in expect.values())
    n_fail = len(expect) - n_hash
    run = json.loads((out / "run.json").read_text())
    ds = run["dataset"]
    assert (ds["images_listed"], ds["images_hashed"], ds["images_failed"]) == (len(expect), n_hash, n_fail)
    write_report(results)  # run_experiment draws nothing; the report is its own step
    report = (out / "report.md").read_text()
    L, H, F = len(expect), n_hash, n_fail  # the report's wording differs between versions
    assert (
        f"images listed {L}, hashed {H}, failed {F}" in report
        or f"images: {L} listed, {H} hashed, {F} failed" in report
    ), report[:2000]
    assert results.n_errors == len(errors) >= n_fail


def test_symlinks_outside_the_folder_only_with_follow_symlinks(tmp_path):
    from harness.config import load_config
    from harness.datasets import load_records

    photo = encode(Image.new("RGB", (8, 8), (1, 2, 3)), "PNG")
    root, outside = tmp_path / "data", tmp_path / "outside"
    (outside / "deeper").mkdir(parents=True)
    root.mkdir()
    (root / "own.png").write_bytes(photo)
    (outside / "deeper" / "other.png").write_bytes(photo + b"x")
    os.symlink(outside / "deeper" / "other.png", root / "file_link.png")
    os.symlink(outside, root / "dir_link")  # a folder outside
    os.symlink(".", root / "self_loop")  # a folder loop
    os.symlink("/dev/zero", root / "zero.png")  # a device: never read, even when following

    def listing(follow):
        cfg = load_config(
            {"hashers": ["phash"], "dataset": {"source": "folder", "path": str(root), "follow_symlinks": follow}}
        )
        records, errors = load_records(cfg.dataset)
        return {r.name for r in records}, dict(errors)

    names, errors = listing(False)
    assert names == {"own.png"}
    assert errors == {
        "file_link.png": "symlink points outside the dataset folder (set dataset.follow_symlinks: true to allow)",
        "zero.png": "symlink points outside the dataset folder (set dataset.follow_symlinks: true to allow)",
    }
    names, errors = listing(True)
    assert names == {"own.png", "file_link.png", "dir_link/deeper/other.png"}
    assert errors == {"zero.png": "not a regular file (FIFO, socket or device)"}


def test_non_utf8_name_is_read_and_shown_escaped(tmp_path):
    from harness.datasets import folder_records

    (tmp_path / "ok.png").write_bytes(encode(Image.new("RGB", (8, 8), (9, 9, 9)), "PNG"))
    with open(os.path.join(os.fsencode(tmp_path), b"\xff\xfe.png"), "wb") as fh:
        fh.write(encode(Image.new("RGB", (8, 8), (7, 7, 7)), "PNG"))
    records, errors = folder_records(str(tmp_path))
    assert not errors
    by_name = {r.name: r for r in records}
    assert set(by_name) == {"ok.png", "\\xff\\xfe.png"}
    assert load_rgb(by_name["\\xff\\xfe.png"].path)[0, 0].tolist() == [7, 7, 7]


def test_loader_refuses_fifo_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(DecodeError, match="not a regular file"):
        load_rgb(tmp_path / "pipe.png")
    with pytest.raises(DecodeError, match="is a directory"):
        load_rgb(tmp_path)
    with pytest.raises(DecodeError, match="file not found"):
        load_rgb(tmp_path / "gone.png")


def test_gif_with_a_truncated_second_frame_gives_the_first_frame():
    """Found by the atheris target: Pillow raised IndexError (not OSError)
    while counting the frames of this file, which would have stopped a run."""
    frame = np.array([[0, 1], [2, 3]], dtype=np.uint8)
    img = Image.fromarray(frame, mode="P")
    img.putpalette([10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120] + [0] * 756)
    gif = encode(img, "GIF")
    assert gif.endswith(b";")
    hostile = gif[:-1] + b"," + struct.pack("<HHHHB", 0, 0, 2, 2, 0)  # a second frame, cut short
    out = load_rgb(hostile)
    assert out.tolist() == [[[10, 20, 30], [40, 50, 60]], [[70, 80, 90], [100, 110, 120]]]


def test_verify_rehashes_the_odd_corpus_without_drift(tmp_path, monkeypatch):
    """verify finds every hashed corpus file again (the non-UTF-8 name
    through its escaped path in images.csv) and reproduces every hash."""
    from harness.verify import verify_results

    results, expect = run_corpus(tmp_path, monkeypatch)
    rep = verify_results(results.output, sample=0)
    assert rep.unverifiable == [] and rep.drift.empty
    assert rep.images_verified == sum(isinstance(e, Hash) for e in expect.values())
    assert "caf\\xe9.jpg" in rep.images_sampled


def test_file_gone_before_its_checksum_is_read(tmp_path, monkeypatch):
    import harness.datasets.folder as folder

    (tmp_path / "here.png").write_bytes(encode(Image.new("RGB", (4, 4)), "PNG"))
    listed = folder.list_image_files
    monkeypatch.setattr(folder, "list_image_files", lambda *a, **k: listed(*a, **k) + ["gone.png"])
    records, errors = folder.folder_records(str(tmp_path))
    assert [r.name for r in records] == ["here.png"]
    assert errors == [("gone.png", "file not found (it may have been removed after listing)")]
