"""Does a successful attack survive ordinary processing on the way to the matcher?

For an attacked image x', each processing step P (default: JPEG re-encode at
quality 90 and 75, resize by 0.9; `harness.transforms`, deterministic) is
applied and the goal re-checked against the same reference hash:
evasion survives when d(h(P(x')), h(x)) > t, framing survives when
d(h(P(x')), h(y)) <= t. These hashes are the defender's, not queries.

Example::

    >>> import numpy as np
    >>> from harness.hashers import get_hasher
    >>> h = get_hasher("ahash"); x = np.full((64, 64, 3), 100, np.uint8)
    >>> survives(h, x, h.hash(x), 0, "framing")["survive_jpeg_90"]
    True
"""

from __future__ import annotations

from .oracle import QueryOracle

#: (column name, transform family, severity)
STEPS = (("survive_jpeg_90", "jpeg", 90), ("survive_jpeg_75", "jpeg", 75), ("survive_resize_0.9", "resize", 0.9))


def survives(hasher, attacked, ref_hash, threshold: int, goal: str, steps=STEPS, seed: int = 0) -> dict:
    """{column: bool} for each processing step (see module doc)."""
    from ..transforms import TransformSpec, apply_transform

    oracle = QueryOracle(hasher)
    out = {}
    for column, family, severity in steps:
        pixels, _ = apply_transform(TransformSpec.make(family, severity), attacked, seed)
        d = int(oracle.distances(oracle.hash_many([pixels]), ref_hash)[0][0])
        out[column] = bool(d > threshold) if goal == "evasion" else bool(d <= threshold)
    return out
