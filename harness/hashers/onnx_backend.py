"""NeuralHash-compatible learned hash through ONNX Runtime (extra ``[onnx]``).

No model is shipped. The user supplies:

- ``model``: an ONNX file taking float32 NCHW input (1, 3, 360, 360) and
  returning a 128-value embedding (any shape with 128 elements), e.g. the
  file produced by public NeuralHash extraction tools;
- ``seed``: the projection matrix file as those tools produce it
  (``neuralhash_128x96_seed1.dat``): a 128-byte header followed by 96 x 128
  float32 values (little-endian, row-major: 96 rows of 128).

Pre-processing (as the public reference scripts): Pillow ``resize((360,
360))`` of the RGB image with Pillow's default filter for RGB (BICUBIC),
``x / 255 * 2 - 1`` (scale to [-1, 1]), HWC -> NCHW float32. Hash: 96 bits,
bit i = (seed[i] . embedding >= 0), packed MSB first; hex = 24 digits, as
the reference scripts print ``'{:0{}x}'.format(int(bits, 2), 24)``.

The identity includes the sha256 of both files, so a different model or
seed is a different hasher. ONNX Runtime runs on one intra-op thread (the
engine parallelises over images).
"""
from __future__ import annotations

import os

import numpy as np
from PIL import Image

from ..errors import ConfigError
from ..imageio import sha256_file
from .base import Hasher

SEED_HEADER_BYTES = 128
SEED_SHAPE = (96, 128)
INPUT_SIZE = 360


def _sha256(path: str) -> str:
    """sha256 (hex) of a file's bytes."""
    return sha256_file(path)[0]


def load_seed(path: str) -> np.ndarray:
    """The (96, 128) float32 projection matrix from a NeuralHash seed .dat file."""
    raw = open(path, "rb").read()
    expected = SEED_HEADER_BYTES + 4 * SEED_SHAPE[0] * SEED_SHAPE[1]
    if len(raw) != expected:
        raise ValueError(f"seed file {path} has {len(raw)} bytes, expected {expected} "
                         f"(128-byte header + 96 x 128 float32)")
    return np.frombuffer(raw[SEED_HEADER_BYTES:], dtype="<f4").reshape(SEED_SHAPE).astype(np.float32)


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 RGB -> (1, 3, 360, 360) float32 in [-1, 1]."""
    img = Image.fromarray(rgb).resize((INPUT_SIZE, INPUT_SIZE), Image.Resampling.BICUBIC)
    arr = np.asarray(img).astype(np.float32) / 255.0
    arr = arr * 2.0 - 1.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


class NeuralHash(Hasher):
    name = "neuralhash"
    bits = 96

    def __init__(self, model: str | None = None, seed: str | None = None):
        for field, value in (("model", model), ("seed", seed)):
            if not value:
                raise ConfigError(f"hasher neuralhash.params.{field}",
                                  f"{field} is required: path to the user-supplied NeuralHash "
                                  f"{'ONNX model' if field == 'model' else 'seed .dat file'} (none is shipped)")
            if not os.path.isfile(value):
                raise ConfigError(f"hasher neuralhash.params.{field}", f"file not found: {value}")
        try:
            import onnxruntime as ort
        except ImportError:
            raise ConfigError("hasher neuralhash", "needs onnxruntime: pip install 'phash-harness[onnx]'") from None
        model, seed = os.path.abspath(model), os.path.abspath(seed)
        super().__init__(model=model, seed=seed)
        self.backend = f"onnxruntime {ort.__version__}"
        self.identity_files = {"model_sha256": _sha256(model), "seed_sha256": _sha256(seed)}
        self.seed_matrix = load_seed(seed)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self._session = ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    @property
    def identity(self) -> dict:
        ident = super().identity
        ident["params"] = {**self.params, **self.identity_files}
        return ident

    def embedding(self, rgb: np.ndarray) -> np.ndarray:
        """The model's 128 outputs for one image (float32)."""
        out = self._session.run(None, {self._input: preprocess(rgb)})[0]
        flat = np.asarray(out, dtype=np.float32).ravel()
        if flat.size != SEED_SHAPE[1]:
            raise ValueError(f"model output has {flat.size} values, expected {SEED_SHAPE[1]}")
        return flat

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        projection = self.seed_matrix.dot(self.embedding(rgb))
        return np.packbits(projection >= 0)
