"""Property-based fuzzing with hypothesis (issue: reliability), bounded so
the whole file runs in well under a minute:

- the config parser: any dict or YAML text -> ExperimentConfig or
  ConfigError, never another exception, never a hang;
- the image loader: random bytes, and real photos (caltech101_tiny) with
  random byte mutations -> an (h, w, 3) uint8 array or DecodeError.

A longer, coverage-guided run of the loader: fuzz/fuzz_load_rgb.py (atheris,
see docs/reliability.md).
"""

from __future__ import annotations

import io
import time

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from harness.config import ExperimentConfig, load_config
from harness.errors import ConfigError, DecodeError
from harness.imageio import load_rgb
from tests.helpers import dataset_dir

FAST = settings(
    max_examples=100,
    deadline=2000,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# ------------------------------------------------------------ config parser
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["phash", "dhash", "jpeg", "crop", "folder", "sample", "/tmp", ".jpg"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)

FIELDS = ["name", "dataset", "hashers", "transforms", "seed", "output", "max_pixels", "metrics"]
SUBFIELDS = [
    "source",
    "path",
    "extensions",
    "recursive",
    "groups",
    "limit",
    "follow_symlinks",
    "name",
    "params",
    "family",
    "severities",
    "target_fpr",
    "fpr_points",
    "orig_orig",
]


def near_valid():
    """Configs built from real field names with random values: they reach the
    validators instead of stopping at 'unknown field'."""
    sub = st.dictionaries(st.sampled_from(SUBFIELDS), values, max_size=4)
    field_value = st.one_of(values, sub, st.lists(st.one_of(sub, values), max_size=3))
    return st.dictionaries(st.sampled_from(FIELDS), field_value, max_size=6)


def check_config(data, tmp_path=None):
    try:
        cfg = load_config(data)
    except ConfigError as exc:
        assert exc.field and "\n" not in str(exc)
        return
    assert isinstance(cfg, ExperimentConfig)


@FAST
@given(st.one_of(near_valid(), st.dictionaries(st.text(max_size=10), values, max_size=5)))
def test_config_dict_gives_config_or_config_error(data):
    check_config(data)


@FAST
@given(
    st.one_of(
        near_valid().map(lambda d: yaml.safe_dump(d, allow_unicode=True)),
        st.text(max_size=200),
        st.binary(max_size=200),
    )
)
def test_config_yaml_file_gives_config_or_config_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("cfg") / "c.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
    check_config(str(path))


def test_yaml_alias_bomb_is_refused_quickly(tmp_path):
    """'Billion laughs': nine levels of nine aliases is 9**9 values once
    expanded. It must be refused in bounded time, not validated."""
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    lines += ["name: *l8", "hashers: [phash]", "transforms: [{family: jpeg, params: {q: *l8}}]"]
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines))
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="too large"):
        load_config(str(path))
    # expanding 9**9 values would take minutes and tens of GB; refusing takes
    # milliseconds. The bound is for a machine of any speed, not a race.
    assert time.perf_counter() - t0 < 120


# ------------------------------------------------------------- image loader
def check_loader(data: bytes):
    try:
        out = load_rgb(data, max_pixels=4_000_000)
    except DecodeError as exc:
        assert exc.reason and "\n" not in exc.reason
        return
    assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    assert out.shape[0] * out.shape[1] <= 4_000_000


@FAST
@given(st.binary(max_size=4096))
def test_random_bytes_give_array_or_decode_error(data):
    check_loader(data)


MAGICS = [
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"MM\x00*",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
]


@FAST
@given(st.sampled_from(MAGICS), st.binary(max_size=2048))
def test_random_bytes_behind_a_magic_number_give_array_or_decode_error(magic, data):
    check_loader(magic + data)


@pytest.fixture(scope="module")
def seeds():
    """Real photos re-encoded small in each format the loader meets."""
    out = []
    for p in sorted((dataset_dir("caltech101_tiny") / "images").glob("*.jpg"))[:4]:
        with Image.open(p) as im:
            small = im.convert("RGB").resize((48, 32))
        for fmt, kw in [("JPEG", {"quality": 80}), ("PNG", {}), ("GIF", {}), ("WEBP", {}), ("BMP", {}), ("TIFF", {})]:
            buf = io.BytesIO()
            small.save(buf, fmt, **kw)
            out.append(buf.getvalue())
    return out


mutation = st.tuples(
    st.integers(0, 1 << 30),
    st.sampled_from(["flip", "set", "cut", "insert", "dup"]),
    st.binary(min_size=1, max_size=16),
)


def mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for pos, op, payload in ops:
        if not buf:
            break
        i = pos % len(buf)
        if op == "flip":
            buf[i] ^= payload[0] or 1
        elif op == "set":
            buf[i : i + len(payload)] = payload
        elif op == "cut":
            del buf[i : i + 1 + payload[0] * 8]
        elif op == "insert":
            buf[i:i] = payload
        else:
            buf[i:i] = buf[i : i + 1 + payload[0]]
    return bytes(buf)


@settings(FAST, max_examples=300)
@given(st.data())
def test_mutated_real_photos_give_array_or_decode_error(seeds, data):
    base = data.draw(st.sampled_from(seeds), label="seed")
    ops = data.draw(st.lists(mutation, min_size=1, max_size=6), label="mutations")
    check_loader(mutate(base, ops))


def test_unmutated_seeds_decode(seeds):
    """The seeds themselves decode: the mutation test starts from valid images."""
    for data in seeds:
        assert load_rgb(data).shape == (32, 48, 3)


# ------------------------------------------------- the atheris target (fuzz/)
def _fuzz_module(name):
    import importlib.util

    from tests.helpers import ROOT

    spec = importlib.util.spec_from_file_location(name, ROOT / "fuzz" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_atheris_target_property_holds_on_seeds_and_mutants():
    """The target's TestOneInput is the property; it must hold on the seed
    corpus it ships with (every seed decodes) and on mutants of it."""
    target, make = _fuzz_module("fuzz_load_rgb"), _fuzz_module("make_seeds")
    seeds = make.seeds()
    assert len(seeds) >= 40
    rng = np.random.default_rng(0)
    for name, data in seeds.items():
        assert load_rgb(data).ndim == 3, name
        target.TestOneInput(data)
        for _ in range(5):
            buf = bytearray(data)
            buf[rng.integers(len(buf))] ^= int(rng.integers(1, 256))
            target.TestOneInput(bytes(buf))


def test_atheris_target_runs(tmp_path):
    """A short real libFuzzer run of the target (docs/reliability.md shows a long one)."""
    import subprocess
    import sys

    pytest.importorskip("atheris")
    from tests.helpers import ROOT

    make = _fuzz_module("make_seeds")
    assert make.main([str(tmp_path / "corpus")]) == 0
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fuzz" / "fuzz_load_rgb.py"),
            str(tmp_path / "corpus"),
            "-runs=200",
            "-timeout=20",
            "-rss_limit_mb=4096",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Done 200 runs" in res.stderr
