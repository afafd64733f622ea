"""The unit of work: decode each image once, make every variant in memory,
hash the original and every variant with every hasher.

`hash_images` is a pure-ish function of its inputs (it reads the image files)
and returns plain rows, so any executor (a process pool, Dask) can run it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datasets.decode import load_rgb
from ..datasets.records import ImageRecord
from ..errors import DecodeError, TransformError
from ..transforms import ORIGINAL, TransformSpec, apply_transform, variant_seed

HASH_COLUMNS = ["image_id", "image_name", "group", "transform", "family", "severity",
                "hasher", "hasher_key", "hash", "hash_hex", "width", "height", "applied"]
ERROR_COLUMNS = ["image_id", "image_name", "transform", "hasher", "stage", "reason"]


@dataclass
class WorkResult:
    rows: list
    errors: list


def _severity_text(spec: TransformSpec) -> str:
    return "" if spec.severity is None else str(spec.severity)


def hash_images(records: list[ImageRecord], specs: list[TransformSpec], hashers: list,
                seed: int, max_pixels: int) -> WorkResult:
    """Hash the original and every variant of each record with every hasher.

    Returns hash rows (columns HASH_COLUMNS) and error rows (ERROR_COLUMNS).
    An image that cannot be decoded yields one error row and no hash rows; a
    variant that cannot be made yields one error row for that variant."""
    rows, errors = [], []
    # a hasher with fast_decode needs its own reduced-size decode: one decode per distinct mode
    by_decode: dict[tuple, list] = {}
    for hasher in hashers:
        by_decode.setdefault(tuple(sorted(getattr(hasher, "decode_options", {}).items())), []).append(hasher)
    for rec in records:
        for decode_opts, group in by_decode.items():
            try:
                rgb = load_rgb(rec.path, max_pixels=max_pixels, **dict(decode_opts))
            except DecodeError as exc:
                errors.append([rec.image_id, rec.name, "", "", "decode", exc.reason])
                break  # one error row per image
            _hash_variants(rec, rgb, specs, group, seed, rows, errors)
    return WorkResult(rows, errors)


def _hash_variants(rec, rgb, specs, hashers, seed, rows, errors) -> None:
    """Hash the original pixels and every variant of one record with `hashers`."""
    for spec in [ORIGINAL, *specs]:
        try:
            pixels, applied = apply_transform(spec, rgb, variant_seed(rec.image_id, spec, seed))
        except TransformError as exc:
            errors.append([rec.image_id, rec.name, spec.key, "", "transform", exc.reason])
            continue
        h, w = pixels.shape[:2]
        for hasher in hashers:
            try:
                packed = np.asarray(hasher.hash(pixels), dtype=np.uint8)
            except Exception as exc:  # a hasher failing on one image must not stop the run
                errors.append([rec.image_id, rec.name, spec.key, hasher.name, "hash",
                               f"{type(exc).__name__}: {exc}"])
                continue
            rows.append([rec.image_id, rec.name, rec.group, spec.key, spec.family,
                         _severity_text(spec), hasher.name, hasher.key, packed.tobytes(),
                         hasher.to_hex(packed), w, h, applied])
