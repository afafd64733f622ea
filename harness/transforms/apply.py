"""`apply_transform`: make one variant in memory.

The output is always a C-contiguous (h, w, 3) uint8 RGB array that shares
no memory with the input; it is never re-encoded unless the family is an
encoding (jpeg, webp). The applied parameters are returned as a JSON string
(large arrays such as noise masks are summarised by shape, dtype and a
sha256 prefix).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from ..errors import ConfigError, TransformError
from .base import get_family
from .spec import TransformSpec


def jsonable(value):
    """Plain JSON data from albumentations' applied params: numpy arrays of
    at most 16 elements as lists rounded with ``np.round(x, 6)``, larger ones
    as {array_shape, dtype, sha256: first 16 hex digits of the sha256 of the
    C-order bytes}; floats (and numpy floats) ``round(float(x), 6)``; numpy
    integers and bools as Python ones; dict keys as strings; tuples as
    lists; anything else as its repr.

    Values whose exact type is a builtin (float, int, bool, str, None, dict,
    list, tuple: nearly all of them) take a dispatch on ``type(value)``
    instead of the chain of isinstance checks; each handler is the branch
    the chain would take for that type, so the result is the same (tests
    compare it with the chain on every family's applied params)."""
    handler = _BY_TYPE.get(type(value))
    if handler is not None:
        return handler(value)
    return _jsonable_other(value)


def _array_digest(value: np.ndarray) -> str:
    """First 16 hex digits of sha256 of the array's C-order bytes (hashed
    through the buffer protocol, without the copy ``tobytes`` makes; the
    bytes are the same)."""
    arr = np.ascontiguousarray(value)
    try:
        digest = hashlib.sha256(memoryview(arr).cast("B"))
    except (TypeError, ValueError):  # dtypes without a buffer format (e.g. datetime64)
        digest = hashlib.sha256(arr.tobytes())
    return digest.hexdigest()[:16]


def _jsonable_other(value):
    if isinstance(value, np.ndarray):
        if value.size <= 16:
            return np.round(value.astype(float), 6).tolist()
        return {"array_shape": list(value.shape), "dtype": str(value.dtype), "sha256": _array_digest(value)}
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (str, int)) or value is None:
        return value
    return repr(value)


def _same(value):
    return value


_BY_TYPE = {
    float: lambda v: round(v, 6),
    int: _same,
    bool: _same,
    str: _same,
    type(None): _same,
    dict: lambda v: {str(k): jsonable(x) for k, x in v.items()},
    list: lambda v: [jsonable(x) for x in v],
    tuple: lambda v: [jsonable(x) for x in v],
}


def as_rgb8(image: np.ndarray) -> np.ndarray:
    """(h, w) or (h, w, 1|3|4) uint8 -> C-contiguous (h, w, 3) uint8 (grey
    repeated, alpha dropped). Other dtypes are refused."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TransformError(f"expected uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or 0 in image.shape:
        raise TransformError(f"expected an (h, w, 3) RGB array, got shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return np.ascontiguousarray(image)


def apply_transform(spec: TransformSpec, rgb: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """Make the variant of `rgb` described by `spec`, with random state `seed`.

    Returns (pixels, applied): pixels an (h', w', 3) uint8 array, applied a
    JSON string of the parameters actually used. Raises ConfigError for an
    invalid spec and TransformError if the variant cannot be made (e.g. the
    image is too small; the engine records the reason in errors.csv)."""
    if spec.family == "original":
        return rgb, "{}"
    family = get_family(spec.family)
    params = spec.params_dict
    family.validate(spec.severity, where=f"transform {spec.key}")
    family.validate_params(params, where=f"transform {spec.key}")
    src = as_rgb8(rgb)
    h, w = src.shape[:2]
    try:
        image, applied = family.run(spec.severity, params, src, seed)
    except (TransformError, ConfigError):
        raise
    except Exception as exc:  # albumentations/cv2/PIL refuse odd shapes with various errors
        raise TransformError(f"{spec.key} failed on {w}x{h} image: {type(exc).__name__}: {exc}") from None
    image = as_rgb8(image)
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise TransformError(f"{spec.key} gave an empty image from {w}x{h}")
    if np.shares_memory(image, rgb):
        image = image.copy()
    return image, json.dumps(jsonable(applied), sort_keys=True)
