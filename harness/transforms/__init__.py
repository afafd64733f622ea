"""Transforms stage: named families with a severity, applied deterministically.

``apply_transform(spec, rgb, seed)`` returns the variant pixels (uint8 RGB,
kept in memory; never re-encoded unless the transform is an encoding) and the
parameters albumentations actually applied.
"""
from __future__ import annotations

import hashlib
import json

import albumentations as A
import numpy as np

from ..errors import TransformError
from .families import FAMILIES, Family, get_family, list_families, register_family
from .spec import ORIGINAL, TransformSpec, variant_seed


def _jsonable(value):
    if isinstance(value, np.ndarray):
        if value.size <= 16:
            return np.round(value.astype(float), 6).tolist()
        # large arrays (e.g. a noise map) are summarised, not stored
        return {"array_shape": list(value.shape), "dtype": str(value.dtype),
                "sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:16]}
    if isinstance(value, (np.floating, float)):
        return round(float(value), 6)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return repr(value)


def apply_transform(spec: TransformSpec, rgb: np.ndarray, seed: int) -> tuple[np.ndarray, str]:
    """Make the variant of `rgb` described by `spec`, with random state `seed`.

    Returns (pixels, applied) where `applied` is a JSON string of the
    parameters albumentations reports it applied. Raises TransformError if
    the variant cannot be made (e.g. the image is too small)."""
    if spec.family == "original":
        return rgb, "{}"
    family = get_family(spec.family)
    h, w = rgb.shape[:2]
    transform = family.build(spec.severity, spec.params_dict, (h, w))
    pipeline = A.Compose([transform], seed=int(seed), save_applied_params=True, strict=True)
    try:
        out = pipeline(image=rgb)
    except TransformError:
        raise
    except Exception as exc:  # albumentations/cv2 refuse odd shapes with various errors
        raise TransformError(f"{spec.key} failed on {w}x{h} image: {exc}") from None
    image = np.ascontiguousarray(out["image"], dtype=np.uint8)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    applied = {name: {k: v for k, v in params.items() if k not in ("shape",)}
               for name, params in out.get("applied_transforms", [])}
    return image, json.dumps(_jsonable(applied), sort_keys=True)


__all__ = [
    "FAMILIES", "Family", "ORIGINAL", "TransformSpec", "apply_transform",
    "get_family", "list_families", "register_family", "variant_seed",
]
