"""`hash_images`: hash a list of records in this process, as a table of
rows (used by `verify`, `screen` and tests).

It is a thin adapter over the run's unit of work,
`harness.engine.chunks.compute_rows` (decode each image once per decode
mode, make every variant in memory, hash it with every hasher; failures
become error rows), so decoding, fast_decode and error handling are
identical to a run's: the same function computes both.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..datasets.records import ImageRecord
from ..transforms import ORIGINAL, TransformSpec
from .chunks import Item, compute_rows

HASH_COLUMNS = [
    "image_id",
    "image_name",
    "group",
    "transform",
    "family",
    "severity",
    "hasher",
    "hasher_key",
    "hash",
    "hash_hex",
    "width",
    "height",
    "applied",
]
ERROR_COLUMNS = ["image_id", "image_name", "transform", "hasher", "stage", "reason"]


@dataclass
class WorkResult:
    rows: list
    errors: list


def hash_images(
    records: list[ImageRecord], specs: list[TransformSpec], hashers: list, seed: int, max_pixels: int
) -> WorkResult:
    """Hash the original and every variant of each record with every hasher.

    Returns hash rows (columns HASH_COLUMNS) and error rows (ERROR_COLUMNS),
    in record order. An image that cannot be decoded yields one error row
    (transform and hasher empty) and no hash rows; a variant that cannot be
    made yields one error row for that variant (hasher empty); a hasher that
    raises yields one error row (its name, the exception as reason)."""
    every = list(range(len(hashers)))
    rows, errors = [], []
    for rec in records:
        item = Item(rec.image_id, rec.path, [(spec, every) for spec in [ORIGINAL, *specs]])
        seen = set()
        for r in compute_rows([item], hashers, seed, max_pixels):
            (
                image_id,
                transform,
                hasher_key,
                _seed,
                family,
                severity,
                hasher,
                packed,
                hex_,
                w,
                h,
                applied,
                stage,
                reason,
                _condition,
            ) = r
            if stage:
                # a variant that fails under each decode mode is one error, as in a run's tables
                if (transform, hasher_key, stage) not in seen:
                    seen.add((transform, hasher_key, stage))
                    errors.append([image_id, rec.name, transform, hasher, stage, reason])
            else:
                rows.append(
                    [
                        image_id,
                        rec.name,
                        rec.group,
                        transform,
                        family,
                        severity,
                        hasher,
                        hasher_key,
                        packed,
                        hex_,
                        w,
                        h,
                        applied,
                    ]
                )
    return WorkResult(rows, errors)
