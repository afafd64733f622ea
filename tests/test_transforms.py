"""Transforms stage (issue 4): catalogue, validation, tiny images, exactness
of the geometric families, chains = composition of their parts, determinism
(also across two spawned worker processes), CLI `transforms` and `preview`.

Real-photo severity sweeps are in tests/test_transforms_photos.py.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing

import cv2
import numpy as np
import pytest
from PIL import Image

from harness.config import load_config
from harness.datasets import load_rgb, sample_records
from harness.errors import ConfigError, TransformError
from harness.transforms import (
    CHAINS,
    FAMILIES,
    TransformSpec,
    apply_transform,
    chain_step_seed,
    families_in_order,
    get_family,
    variant_seed,
)
from tests.helpers import run_cli

EXPECTED_FAMILIES = {
    "jpeg",
    "webp",
    "resize",
    "max-size",
    "crop",
    "aspect",
    "pad",
    "rotate",
    "flip",
    "blur",
    "motion-blur",
    "noise",
    "salt-pepper",
    "brightness",
    "contrast",
    "gamma",
    "saturation",
    "hue",
    "greyscale",
    "colour-jitter",
    "sharpen",
    "median",
    "caption",
    "watermark",
    "sticker",
    "screenshot",
    "chain",
}


@pytest.fixture(scope="module")
def photo():
    """A real photograph from the built-in sample (scikit-image's chelsea, 451x300)."""
    rec = next(r for r in sample_records() if r.name == "chelsea")
    return load_rgb(rec.path)


def all_specs(include_params=True):
    """Every family x default severity, plus every non-default param value."""
    specs = []
    for fam in families_in_order():
        variants = [{}]
        if include_params:
            variants += [{k: v} for k, rule in fam.params_allowed.items() for v in rule[1:]]
        for params in variants:
            specs += [TransformSpec.make(fam.name, s, params) for s in fam.default_sweep]
    return specs


def digest(pixels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(pixels).tobytes() + str(pixels.shape).encode()).hexdigest()


# ------------------------------------------------------------------ catalogue
def test_catalogue_has_every_family_of_the_issue_with_checked_default_sweeps():
    assert EXPECTED_FAMILIES <= set(FAMILIES)
    for fam in FAMILIES.values():
        assert fam.severity_meaning and fam.default_sweep, fam.name
        for s in fam.default_sweep:
            assert fam.check(s) is None, (fam.name, s)
        for key, rule in fam.params_allowed.items():
            for v in rule:
                assert fam.check_params({key: v}) is None
    assert get_family("jpeg").default_sweep == (95, 80, 60, 40, 20, 10)
    assert get_family("webp").default_sweep == (80, 50, 20)
    assert get_family("crop").default_sweep == (0.95, 0.9, 0.8, 0.7, 0.5)
    assert get_family("rotate").default_sweep == (1, 2, 5, 10, 45, 90, 180)
    assert get_family("pad").default_sweep == (0.05, 0.1, 0.25)
    assert get_family("aspect").default_sweep == (1.1, 1.25, 1.5)
    assert set(get_family("resize").default_sweep) == {0.75, 0.5, 0.25, 0.125, 2}
    assert set(get_family("chain").default_sweep) == {"social", "messenger", "screenshot-repost"}


@pytest.mark.parametrize(
    "family, severity, allowed",
    [
        ("jpeg", 0, "an integer in 1..100"),
        ("jpeg", 101, "an integer in 1..100"),
        ("jpeg", 50.5, "integer"),
        ("webp", 0, "an integer in 1..100"),
        ("resize", -0.5, "a scale factor in (0, 8]"),
        ("resize", 0, "a scale factor in (0, 8]"),
        ("crop", 1.5, "a fraction in (0, 1]"),
        ("crop", 0, "a fraction in (0, 1]"),
        ("pad", -0.1, "a fraction in (0, 2]"),
        ("rotate", 400, "degrees in [-360, 360]"),
        ("median", 4, "an odd integer in 3..99"),
        ("motion-blur", 1, "an odd integer in 3..101"),
        ("flip", "diagonal", "one of horizontal, vertical"),
        ("chain", "tiktok", "one of social, messenger, screenshot-repost"),
        ("noise", "loud", "a standard deviation"),
        ("caption", 0.9, "a fraction in (0, 0.5]"),
        ("greyscale", "sepia", "one of weighted_average"),
    ],
)
def test_invalid_severity_is_rejected_at_config_validation_with_the_range(family, severity, allowed):
    cfg = {
        "hashers": ["phash"],
        "transforms": [{"family": "jpeg", "severities": [50]}, {"family": family, "severities": [severity]}],
    }
    with pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert exc.value.field == "transforms[1]"
    assert allowed in exc.value.message and repr(severity) in exc.value.message


@pytest.mark.parametrize(
    "family, params, allowed",
    [
        ("crop", {"position": "middle"}, "centre | off-centre"),
        ("rotate", {"crop_to_content": "yes"}, "false | true"),
        ("rotate", {"crop_to_content": 1}, "false | true"),
        ("pad", {"mode": "wrap"}, "solid | mirror"),
        ("caption", {"position": "left"}, "top-bottom | top | bottom"),
        ("watermark", {"corner": "centre"}, "bottom-right | bottom-left | top-right | top-left"),
        ("crop", {"positon": "centre"}, "allowed params: position"),
        ("jpeg", {"subsampling": 2}, "allowed params: none"),
    ],
)
def test_invalid_params_are_rejected_with_allowed_values(family, params, allowed):
    with pytest.raises(ConfigError) as exc:
        load_config({"hashers": ["phash"], "transforms": [{"family": family, "params": params}]})
    assert exc.value.field == "transforms[0]"
    assert allowed in exc.value.message, exc.value.message
    # the same check guards apply_transform for Python callers
    with pytest.raises(ConfigError):
        apply_transform(
            TransformSpec.make(family, get_family(family).default_sweep[0], params), np.zeros((16, 16, 3), np.uint8), 0
        )


def test_default_params_are_canonical_in_config_specs():
    cfg = load_config(
        {
            "hashers": ["phash"],
            "transforms": [
                {"family": "crop", "severities": [0.5], "params": {"position": "centre"}},
                {"family": "crop", "severities": [0.5]},
                {"family": "crop", "severities": [0.5], "params": {"position": "off-centre"}},
                {"family": "rotate", "severities": [5], "params": {"crop_to_content": True}},
            ],
        }
    )
    keys = [s.key for s in cfg.transform_specs()]
    assert keys == ["crop(0.5)", 'crop(0.5,position="off-centre")', "rotate(5,crop_to_content=true)"]


def test_params_error_from_the_command_line_exits_2_and_writes_nothing(tmp_path, capsys):
    import yaml

    path = tmp_path / "cfg.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "hashers": ["phash"],
                "output": str(tmp_path / "out"),
                "transforms": [{"family": "pad", "params": {"mode": "wrap"}}],
            }
        )
    )
    from harness.cli import main

    assert main(["run", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "transforms[0]" in err and "solid | mirror" in err
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.yaml"]


# ---------------------------------------------------------------- tiny images
@pytest.mark.parametrize("shape", [(1, 1), (2, 2), (8, 8), (3, 17), (40, 2)])
def test_tiny_images_give_a_valid_variant_or_a_transform_error(shape):
    rng = np.random.default_rng(7)
    rgb = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    made = failed = 0
    for spec in all_specs():
        try:
            pixels, applied = apply_transform(spec, rgb, 3)
        except TransformError as exc:
            assert exc.reason and spec.family not in ("jpeg", "webp", "noise", "brightness", "flip"), spec.key
            failed += 1
            continue
        assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3, spec.key
        assert pixels.shape[0] >= 1 and pixels.shape[1] >= 1 and pixels.flags.c_contiguous
        json.loads(applied)
        if get_family(spec.family).group in ("photometric", "encoding"):
            assert pixels.shape == rgb.shape, spec.key  # pixel-wise families keep the size
        made += 1
    assert made > 0
    if shape == (8, 8):
        assert failed < made  # most families work on 8x8


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "I;16", "CMYK", "1"])
def test_any_mode_the_loader_accepts_gives_8bit_rgb_variants(tmp_path, mode, photo):
    img = Image.fromarray(photo[:64, :96]).convert("RGB")
    if mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L")).astype(np.uint16) * 257)
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    img.save(path)
    rgb = load_rgb(path)
    for name in ("jpeg", "crop", "rotate", "caption", "screenshot", "colour-jitter", "chain"):
        spec = TransformSpec.make(name, get_family(name).default_sweep[-1])
        pixels, _ = apply_transform(spec, rgb, 1)
        assert pixels.dtype == np.uint8 and pixels.shape[2] == 3


def test_grey_and_rgba_arrays_are_accepted_by_apply_transform():
    grey = np.tile(np.arange(64, dtype=np.uint8), (48, 1))
    out, _ = apply_transform(TransformSpec.make("blur", 1), grey, 0)
    assert out.shape == (48, 64, 3)
    rgba = np.dstack([grey, grey, grey, np.full_like(grey, 255)])
    out2, _ = apply_transform(TransformSpec.make("blur", 1), rgba, 0)
    assert (out == out2).all()
    with pytest.raises(TransformError):
        apply_transform(TransformSpec.make("blur", 1), grey.astype(np.float32), 0)


# ------------------------------------------------------------------- exactness
def test_quarter_turns_and_flips_are_exact_pixel_permutations(photo):
    for d, k in ((90, 1), (180, 2), (270, 3), (-90, 3), (360, 0)):
        out, _ = apply_transform(TransformSpec.make("rotate", d), photo, 0)
        assert np.array_equal(out, np.rot90(photo, k)), d
    out, _ = apply_transform(TransformSpec.make("flip", "horizontal"), photo, 0)
    assert np.array_equal(out, photo[:, ::-1])
    out, _ = apply_transform(TransformSpec.make("flip", "vertical"), photo, 0)
    assert np.array_equal(out, photo[::-1])


def test_rotation_is_counter_clockwise_and_canvas_grows_without_crop(photo):
    h, w = photo.shape[:2]
    out, applied = apply_transform(TransformSpec.make("rotate", 30), photo, 0)
    c, s = np.cos(np.radians(30)), np.sin(np.radians(30))
    assert abs(out.shape[1] - (w * c + h * s)) <= 2 and abs(out.shape[0] - (w * s + h * c)) <= 2
    assert (out[0, 0] == 0).all() and (out[-1, -1] == 0).all()  # black corners
    cropped, _ = apply_transform(TransformSpec.make("rotate", 30, {"crop_to_content": True}), photo, 0)
    assert cropped.shape[0] < h and cropped.shape[1] < w
    assert (cropped.reshape(-1, 3).max(axis=1) > 0).mean() > 0.99  # no black corners left
    # counter-clockwise: the top-right corner of the photo moves up-left
    marker = np.zeros((101, 101, 3), np.uint8)
    marker[45:56, 85:96] = 255  # a white square right of centre
    rot, _ = apply_transform(TransformSpec.make("rotate", 45), marker, 0)
    ys, xs = np.nonzero(rot[..., 0] > 128)
    assert ys.mean() < rot.shape[0] / 2 - 10 and xs.mean() > rot.shape[1] / 2 + 10


def test_crop_resize_pad_aspect_sizes_and_pixels(photo):
    h, w = photo.shape[:2]
    out, _ = apply_transform(TransformSpec.make("crop", 0.5), photo, 0)
    nh, nw = round(h * 0.5**0.5), round(w * 0.5**0.5)
    y0, x0 = (h - nh) // 2, (w - nw) // 2
    assert out.shape[:2] == (nh, nw) and np.array_equal(out, photo[y0 : y0 + nh, x0 : x0 + nw])
    corners = set()
    for seed in range(12):
        spec = TransformSpec.make("crop", 0.5, {"position": "off-centre"})
        out, applied = apply_transform(spec, photo, seed)
        x1, y1, x2, y2 = json.loads(applied)["crop_coords"]
        assert (x1 == 0 or x2 == w) and (y1 == 0 or y2 == h)  # touches a corner
        assert np.array_equal(out, photo[y1:y2, x1:x2])
        corners.add((x1, y1))
    assert len(corners) >= 3  # the corner comes from the seed
    out, _ = apply_transform(TransformSpec.make("resize", 0.5), photo, 0)
    assert np.array_equal(out, cv2.resize(photo, (round(w / 2), round(h / 2)), interpolation=cv2.INTER_AREA))
    out, _ = apply_transform(TransformSpec.make("resize", 2), photo, 0)
    assert out.shape[:2] == (2 * h, 2 * w)
    out, _ = apply_transform(TransformSpec.make("aspect", 1.5), photo, 0)
    assert out.shape[:2] == (h, round(w * 1.5))
    out, _ = apply_transform(TransformSpec.make("pad", 0.1), photo, 0)
    px, py = round(0.1 * w), round(0.1 * h)
    assert out.shape[:2] == (h + 2 * py, w + 2 * px)
    assert np.array_equal(out[py : py + h, px : px + w], photo) and out[:py].max() == 0 and out[:, :px].max() == 0
    out, _ = apply_transform(TransformSpec.make("pad", 0.1, {"mode": "mirror"}), photo, 0)
    assert np.array_equal(out, np.pad(photo, ((py, py), (px, px), (0, 0)), mode="reflect"))


def test_max_size_only_downscales(photo):
    h, w = photo.shape[:2]
    same, applied = apply_transform(TransformSpec.make("max-size", 1080), photo, 0)
    assert np.array_equal(same, photo) and not np.shares_memory(same, photo)
    out, _ = apply_transform(TransformSpec.make("max-size", 200), photo, 0)
    assert max(out.shape[:2]) == 200 and out.shape[:2] == (round(h * 200 / w), 200)


def test_encodings_equal_one_opencv_round_trip_and_nothing_else_is_encoded(photo):
    bgr = cv2.cvtColor(photo, cv2.COLOR_RGB2BGR)
    for name, ext, flag, q in (
        ("jpeg", ".jpg", cv2.IMWRITE_JPEG_QUALITY, 40),
        ("webp", ".webp", cv2.IMWRITE_WEBP_QUALITY, 50),
    ):
        ok, buf = cv2.imencode(ext, bgr, [flag, q])
        expected = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        out, _ = apply_transform(TransformSpec.make(name, q), photo, 0)
        assert np.array_equal(out, expected), name
    encoders = {f.name for f in FAMILIES.values() if f.encodes}
    assert encoders == {"jpeg", "webp"}
    # lossless families leave untouched pixels bit-identical (no JPEG round trip)
    out, _ = apply_transform(TransformSpec.make("sticker", 0.1), photo, 5)
    assert (out == photo).all(axis=2).mean() > 0.95


def test_greyscale_brightness_gamma_formulas(photo):
    grey, _ = apply_transform(TransformSpec.make("greyscale", "weighted_average"), photo, 0)
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    luma = photo.astype(float) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(grey[..., 0] - luma).max() <= 1.0
    bright, _ = apply_transform(TransformSpec.make("brightness", 0.1), photo, 0)
    assert np.abs(bright.astype(int) - np.clip(photo.astype(float) + 25.5, 0, 255)).max() <= 1
    gam, _ = apply_transform(TransformSpec.make("gamma", 2), photo, 0)
    assert np.abs(gam.astype(float) - 255 * (photo / 255.0) ** 2).max() <= 1.0


def test_watermark_and_sticker_change_only_their_box(photo):
    for name, sev, params in (
        ("watermark", 0.4, {}),
        ("watermark", 0.25, {"corner": "top-left"}),
        ("sticker", 0.3, {}),
    ):
        out, applied = apply_transform(TransformSpec.make(name, sev, params), photo, 11)
        x0, y0, x1, y1 = json.loads(applied)["box"]
        changed = (out != photo).any(axis=2)
        assert changed[y0:y1, x0:x1].mean() > 0.05, name
        changed[y0:y1, x0:x1] = False
        assert not changed.any(), name
        if params.get("corner") == "top-left":
            assert x0 < photo.shape[1] * 0.05 and y0 < photo.shape[0] * 0.05


def test_screenshot_contains_the_scaled_photo_inside_a_frame(photo):
    out, applied = apply_transform(TransformSpec.make("screenshot", 0.75), photo, 0)
    a = json.loads(applied)
    x0, y0, x1, y1 = a["photo_box"]
    h, w = photo.shape[:2]
    assert out.shape[1] == w and out.shape[0] > y1 - y0
    expected = cv2.resize(photo, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    assert np.array_equal(out[y0:y1, x0:x1], expected)
    assert (out[:5] < 60).all()  # dark status bar


# ---------------------------------------------------------------------- chains
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_equals_the_composition_of_its_parts(photo, name):
    seed = variant_seed("0" * 64, TransformSpec.make("chain", name), 0)
    out, applied = apply_transform(TransformSpec.make("chain", name), photo, seed)
    pixels = photo
    for i, step in enumerate(CHAINS[name]):
        pixels, _ = apply_transform(step, pixels, chain_step_seed(seed, i, step))
    assert np.array_equal(out, pixels)
    steps = json.loads(applied)
    assert [s["step"] for s in steps] == [s.key for s in CHAINS[name]]
    # and it is not the same as a shorter composition
    assert not np.array_equal(out, photo)


def test_chain_step_contents():
    keys = {n: [s.key for s in steps] for n, steps in CHAINS.items()}
    assert keys["social"] == ["max-size(1080)", "jpeg(75)", "crop(0.95)"]
    assert keys["messenger"] == ["max-size(1600)", "jpeg(70)", "jpeg(70)", "jpeg(70)"]
    assert keys["screenshot-repost"] == ["screenshot(0.9)", "jpeg(80)"]
    big = np.random.default_rng(0).integers(0, 256, (1200, 2000, 3), dtype=np.uint8)
    out, _ = apply_transform(TransformSpec.make("chain", "social"), big, 1)
    assert max(out.shape[:2]) == round(1080 * 0.95**0.5)


# ----------------------------------------------------------------- determinism
def test_same_spec_and_seed_give_identical_bytes_and_input_is_untouched(photo):
    before = photo.copy()
    for spec in all_specs():
        a, pa = apply_transform(spec, photo, 1234)
        b, pb = apply_transform(spec, photo, 1234)
        assert a.tobytes() == b.tobytes() and pa == pb, spec.key
        assert not np.shares_memory(a, photo)
    assert np.array_equal(photo, before)


@pytest.mark.parametrize(
    "name, severity",
    [("noise", 10), ("salt-pepper", 0.02), ("motion-blur", 15), ("sticker", 0.2), ("colour-jitter", 0.3)],
)
def test_random_families_depend_on_the_seed(photo, name, severity):
    spec = TransformSpec.make(name, severity)
    outs = {apply_transform(spec, photo, s)[0].tobytes() for s in range(4)}
    assert len(outs) >= 2


def _digests_in_worker(specs_and_seeds):
    rec = next(r for r in sample_records() if r.name == "chelsea")
    rgb = load_rgb(rec.path)
    return [digest(apply_transform(TransformSpec.make(**spec), rgb, seed)[0]) for spec, seed in specs_and_seeds]


def test_byte_identical_across_two_spawned_worker_processes(photo):
    rec = next(r for r in sample_records() if r.name == "chelsea")
    jobs = [(s.to_dict(), variant_seed(rec.image_id, s, 0)) for s in all_specs(include_params=False)]
    expected = [digest(apply_transform(TransformSpec.make(**spec), photo, seed)[0]) for spec, seed in jobs]
    chunks = [jobs[0::2], jobs[1::2]]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        got = pool.map(_digests_in_worker, chunks)
    assert got[0] == expected[0::2] and got[1] == expected[1::2]


def test_variant_seed_depends_on_image_spec_and_seed():
    a = TransformSpec.make("noise", 5)
    s = variant_seed("ab" * 32, a, 0)
    assert s == variant_seed("ab" * 32, TransformSpec.make("noise", 5.0), 0)
    assert (
        len(
            {
                s,
                variant_seed("cd" * 32, a, 0),
                variant_seed("ab" * 32, a, 1),
                variant_seed("ab" * 32, TransformSpec.make("noise", 10), 0),
            }
        )
        == 4
    )


# ------------------------------------------------------------------------- CLI
# In-process `harness.cli.main` (same code path as the console script, without
# a 5-10 s interpreter start-up per call on a loaded machine).
def cli(*args) -> int:
    from harness.cli import main

    return main([str(a) for a in args])


def test_transforms_command_lists_every_family_with_meaning_and_sweep(capsys):
    assert cli("transforms") == 0
    out = capsys.readouterr().out
    for fam in FAMILIES.values():
        line = next(ln for ln in out.splitlines() if ln.split() and ln.split()[0] == fam.name)
        assert fam.severity_meaning in line
        assert "default sweep: " + ", ".join(str(s) for s in fam.default_sweep) in line
    assert "param position: centre | off-centre" in out


def test_preview_writes_a_contact_sheet_of_the_sweep(tmp_path, capsys):
    rec = next(r for r in sample_records() if r.name == "chelsea")
    out = tmp_path / "sheets" / "crop.png"
    assert cli("preview", rec.path, "--transform", "crop", "--output", out, "--cell", "128") == 0
    assert capsys.readouterr().out.strip() == str(out)
    sheet = np.asarray(Image.open(out).convert("RGB"))
    # original + 5 severities -> 2 rows of 4 cells
    assert sheet.shape[1] == 4 * (128 + 8) + 8 and sheet.shape[0] == 2 * (128 + 2 * 14 + 8 + 8) + 8
    assert sheet.std() > 20
    out2 = tmp_path / "rot.png"
    assert (
        cli(
            "preview",
            rec.path,
            "--transform",
            "rotate",
            "--severities",
            "5",
            "90",
            "--param",
            "crop_to_content=true",
            "--output",
            out2,
            "--cell",
            "64",
        )
        == 0
    )
    assert Image.open(out2).size == (3 * (64 + 8) + 8, 64 + 2 * 14 + 8 + 16)


def test_preview_default_output_name_and_unmakeable_variants(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "tiny.png"
    Image.fromarray(np.full((6, 6, 3), 128, np.uint8)).save(path)
    assert cli("preview", path, "--transform", "caption") == 0  # every caption too small: cells show why
    assert (tmp_path / "tiny-caption-preview.png").is_file()


def test_preview_through_the_console_entry_point(tmp_path):
    rec = sample_records()[0]
    res = run_cli("preview", rec.path, "--transform", "flip", "--output", tmp_path / "f.png")
    assert res.returncode == 0 and (tmp_path / "f.png").is_file(), res.stderr


@pytest.mark.parametrize(
    "args, text",
    [
        (["--transform", "wobble"], "available: "),
        (["--transform", "jpeg", "--severities", "0"], "integer in 1..100"),
        (["--transform", "crop", "--param", "position=middle"], "centre | off-centre"),
        (["--transform", "crop", "--param", "position"], "KEY=VALUE"),
        (["--transform", "crop", "--output", "x.jpg"], "--output"),
    ],
)
def test_preview_bad_arguments_exit_2_and_write_nothing(tmp_path, monkeypatch, capsys, args, text):
    monkeypatch.chdir(tmp_path)
    rec = sample_records()[0]
    assert cli("preview", rec.path, *args) == 2
    err = capsys.readouterr().err
    assert text in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_spec_key_and_series():
    spec = TransformSpec.make("crop", 0.5, {"position": "off-centre"})
    assert spec.key == 'crop(0.5,position="off-centre")'
    assert spec.series == "crop[position=off-centre]"
    assert TransformSpec.make("rotate", 5.0, {"crop_to_content": True}).series == "rotate[crop_to_content=true]"
    assert TransformSpec.make("jpeg", 40).series == "jpeg" and TransformSpec.make("jpeg", 40.0).key == "jpeg(40)"
    assert TransformSpec.make(**spec.to_dict()) == spec


def test_oversized_variants_are_refused_not_allocated(monkeypatch):
    from harness.transforms import geometry

    monkeypatch.setattr(geometry, "MAX_VARIANT_PIXELS", 10_000)
    rgb = np.zeros((60, 80, 3), np.uint8)
    for spec in (TransformSpec.make("resize", 2), TransformSpec.make("aspect", 3), TransformSpec.make("pad", 0.5)):
        with pytest.raises(TransformError, match="too large"):
            apply_transform(spec, rgb, 0)


def test_random_small_shapes_never_crash():
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    names = sorted(FAMILIES)

    @hypothesis.settings(max_examples=80, deadline=None, derandomize=True)
    @hypothesis.given(
        h=st.integers(1, 40),
        w=st.integers(1, 40),
        name=st.sampled_from(names),
        pick=st.integers(0, 10),
        seed=st.integers(0, 2**32 - 1),
    )
    def check(h, w, name, pick, seed):
        fam = get_family(name)
        severity = fam.default_sweep[pick % len(fam.default_sweep)]
        params = {k: rule[pick % len(rule)] for k, rule in fam.params_allowed.items()}
        rgb = np.random.default_rng(pick).integers(0, 256, (h, w, 3), dtype=np.uint8)
        try:
            out, _ = apply_transform(TransformSpec.make(name, severity, params), rgb, seed)
        except TransformError as exc:
            assert exc.reason
            return
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3 and min(out.shape[:2]) >= 1

    check()


def test_jpeg_matches_pillows_rgb_jpeg_unlike_albumentations_2_0_8(photo):
    """Our jpeg(q) agrees with Pillow's JPEG at the same quality (both encode
    RGB correctly); albumentations 2.0.8's ImageCompression, which hands RGB
    to OpenCV as if it were BGR, does not on a colour photo."""
    import io

    import albumentations as A

    buf = io.BytesIO()
    Image.fromarray(photo).save(buf, "JPEG", quality=40)
    pil = np.asarray(Image.open(buf).convert("RGB")).astype(np.int16)
    ours, applied = apply_transform(TransformSpec.make("jpeg", 40), photo, 0)
    alb = A.Compose([A.ImageCompression(quality_range=(40, 40), p=1, strict=True)], seed=0)(image=photo)["image"]
    assert np.abs(ours - pil).mean() < 0.5
    assert np.abs(alb - pil).mean() > 1.0
    assert json.loads(applied)["bytes"] > 1000
