"""Reusing built albumentations pipelines (harness.transforms.base.PIPELINES)
gives exactly what a pipeline built afresh with the variant seed gives:
same pixels, same applied params, for every albumentations family at every
default severity and every value of its params, on real photos, whatever
the order in which variants are made."""

from __future__ import annotations

import json
import threading

import albumentations as A
import numpy as np
import pytest

from harness.datasets import load_rgb
from harness.errors import TransformError
from harness.transforms import TransformSpec, apply_transform, base, variant_seed
from harness.transforms.apply import jsonable
from harness.transforms.families import FAMILIES
from tests.helpers import dataset_dir


def fresh_run(family, severity, params, rgb, seed):
    """Family.run as it was before the cache: a new A.Compose(seed=seed) per variant."""
    built = family.build(severity, params, rgb.shape[:2])
    steps = list(built) if isinstance(built, (list, tuple)) else [built]
    out = A.Compose(steps, seed=int(seed), save_applied_params=True, strict=True)(image=rgb)
    applied = [
        {"transform": name, **{k: v for k, v in p.items() if k != "shape"}}
        for name, p in out.get("applied_transforms", [])
    ]
    return out["image"], applied[0] if len(applied) == 1 else applied


def cases():
    """(family, severity, params) for every albumentations family, every default
    severity, with default params and with each non-default param value."""
    out = []
    for fam in FAMILIES.values():
        if fam.build is None:
            continue
        variants = [{}]
        for key, rule in fam.params_allowed.items():
            if isinstance(rule, tuple):
                variants += [{key: v} for v in rule[1:]]
        for sev in fam.default_sweep:
            for params in variants:
                out.append((fam, sev, params))
    return out


@pytest.fixture(scope="module")
def photos():
    files = sorted(p for p in (dataset_dir("caltech101_tiny") / "images").iterdir() if p.is_file())
    images = [load_rgb(str(p)) for p in files[::32]]
    assert len({im.shape for im in images}) >= 2
    return images


def _check(order, images, label):
    for k, (fam, sev, params) in enumerate(order):
        for i, rgb in enumerate(images):
            seed = variant_seed(f"{label}-{i}", TransformSpec.make(fam.name, sev, params), k % 3)
            got_px, got_applied = fam.run(sev, params, rgb, seed)
            ref_px, ref_applied = fresh_run(fam, sev, params, rgb, seed)
            where = (label, fam.name, sev, params, rgb.shape)
            assert got_px.dtype == ref_px.dtype and np.array_equal(got_px, ref_px), where
            assert json.dumps(jsonable(got_applied), sort_keys=True) == json.dumps(
                jsonable(ref_applied), sort_keys=True
            ), where


def test_cached_pipelines_equal_fresh_ones_in_two_orders(photos):
    all_cases = cases()
    assert len(all_cases) > 60
    families = {f.name for f, _, _ in all_cases}
    assert {"noise", "rotate", "crop", "resize", "colour-jitter", "motion-blur"} <= families
    base.PIPELINES.clear()
    _check(all_cases, photos, "forward")
    # the cache now holds used pipelines: run them again, reversed, with other seeds
    rng = np.random.default_rng(0)
    shuffled = [all_cases[i] for i in rng.permutation(len(all_cases))]
    _check(list(reversed(all_cases)), photos, "reversed")
    _check(shuffled, photos[::-1], "shuffled")


def test_engine_variants_equal_fresh_pipelines_whatever_the_order(photos):
    """apply_transform (the engine's entry point) on the quickstart-like specs
    gives the same bytes in forward and reverse order, cache cold and warm."""
    specs = [TransformSpec.make(f.name, s, p) for f, s, p in cases()]
    rgb = photos[0]

    def run(order):
        return {s.key: apply_transform(s, rgb, variant_seed("img", s, 0)) for s in order}

    base.PIPELINES.clear()
    a = run(specs)
    b = run(specs[::-1])
    base.PIPELINES.clear()
    c = run(specs[::-1])
    for key in a:
        assert np.array_equal(a[key][0], b[key][0]) and a[key][1] == b[key][1], key
        assert np.array_equal(a[key][0], c[key][0]) and a[key][1] == c[key][1], key


SHAPES = [(2, 2), (3, 7), (4, 4), (17, 9), (128, 192), (192, 128), (480, 640), (1001, 333)]


def test_shape_key_names_everything_the_build_reads_of_the_shape():
    """Two shapes with the same shape_key build the same pipeline (same
    serialised transforms), so a cache hit across shapes is exact."""
    checked = 0
    for fam, sev, params in cases():
        if fam.shape_key is None:
            continue
        by_key = {}
        for shape in SHAPES:
            try:
                desc = json.dumps(fam._compose(sev, params, shape).to_dict(), sort_keys=True, default=repr)
            except TransformError:
                desc = "error"  # the message names the shape
            key = fam.shape_key(sev, params, shape)
            if key in by_key:
                assert by_key[key][1] == desc, (fam.name, sev, params, shape, by_key[key][0])
            else:
                by_key[key] = (shape, desc)
            checked += 1
    assert checked > 300


def test_a_failing_build_is_not_cached_and_fails_every_time():
    rot = FAMILIES["rotate"]
    tiny = np.zeros((3, 3, 3), np.uint8)
    for _ in range(2):
        with pytest.raises(TransformError):
            rot.run(10, {"crop_to_content": True}, tiny, 1)
    out, applied = rot.run(10, {"crop_to_content": True}, np.zeros((8, 8, 3), np.uint8), 1)
    assert out.ndim == 3 and applied["transform"] == "Rotate"


def test_cache_is_per_thread_and_bounded():
    cache = base.PipelineCache(size=3)
    made = []

    def make(k):
        made.append(k)
        return object()

    first = cache.get("a", lambda: make("a"))
    assert cache.get("a", lambda: make("a")) is first
    other = []
    t = threading.Thread(target=lambda: other.append(cache.get("a", lambda: make("a"))))
    t.start()
    t.join()
    assert other[0] is not first and made == ["a", "a"]
    for k in "bcd":
        cache.get(k, lambda k=k: make(k))
    assert len(cache._entries()) == 3
    assert cache.get("a", lambda: make("a")) is not first  # evicted (least recently used)


def chain_jsonable(value):
    """jsonable as it was (one chain of isinstance checks): the reference."""
    import hashlib

    if isinstance(value, np.ndarray):
        if value.size <= 16:
            return np.round(value.astype(float), 6).tolist()
        return {
            "array_shape": list(value.shape),
            "dtype": str(value.dtype),
            "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16],
        }
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): chain_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [chain_jsonable(v) for v in value]
    if isinstance(value, (str, int)) or value is None:
        return value
    return repr(value)


def _same_json(value):
    a = json.dumps(jsonable(value), sort_keys=True)
    b = json.dumps(chain_jsonable(value), sort_keys=True)
    assert a == b, (a, b)
    return a


def test_jsonable_equals_the_isinstance_chain_on_every_family(photos):
    """The recorded applied-params JSON is byte-identical to the former
    implementation for every family (albumentations and not) at every
    default severity and param value."""
    import enum

    n = 0
    for fam in FAMILIES.values():
        variants = [{}] + [
            {k: v} for k, rule in fam.params_allowed.items() if isinstance(rule, tuple) for v in rule[1:]
        ]
        for sev in fam.default_sweep:
            for params in variants:
                spec = TransformSpec.make(fam.name, sev, params)
                try:
                    _, applied = fam.run(sev, params, photos[1], variant_seed("j", spec, 0))
                except TransformError:
                    continue
                text = _same_json(applied)
                assert apply_transform(spec, photos[1], variant_seed("j", spec, 0))[1] == text
                n += 1
    assert n > 100

    class Flag(enum.IntEnum):
        A = 3

    odd = {
        1: np.float32(0.1234567),
        "b": np.int64(7),
        "c": np.bool_(True),
        "d": (1, [2.00000049, None]),
        "e": np.arange(20, dtype=">i4"),
        "f": np.zeros((3, 4, 5), np.float32)[:, ::2],
        "g": np.eye(3) / 3,
        "h": Flag.A,
        "i": object.__new__(type("Odd", (), {"__repr__": lambda s: "odd"})),
        "j": float("inf"),
        "k": np.arange(20).astype("datetime64[s]"),
        "l": np.zeros((0, 40)),
        "m": True,
        "n": -0.0,
    }
    _same_json(odd)


def test_cached_pipelines_keep_no_image_arrays(photos):
    """After a variant is made, no cached transform still holds an array
    (GaussNoise would keep its full-size noise map in ``params``)."""
    base.PIPELINES.clear()
    for fam, sev, params in cases():
        fam.run(sev, params, photos[0], 5)

    def arrays(obj, depth=0):
        if isinstance(obj, np.ndarray):
            return obj.size > 16
        if isinstance(obj, dict):
            return any(arrays(v, depth + 1) for v in obj.values())
        if isinstance(obj, (list, tuple)):
            return any(arrays(v, depth + 1) for v in obj)
        return False

    def walk(t):
        yield t
        for c in getattr(t, "transforms", ()):
            yield from walk(c)

    entries = base.PIPELINES._entries()
    assert len(entries) > 30
    for pipeline in entries.values():
        for t in walk(pipeline):
            assert not arrays(getattr(t, "params", {})), type(t).__name__
    _, applied = FAMILIES["noise"].run(5, {}, photos[0], 5)  # the returned params still have the map
    assert applied["noise_map"].shape == photos[0].shape
