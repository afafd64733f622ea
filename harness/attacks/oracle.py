"""The attacker's only access to a hasher: hash candidate images, count the calls.

One **query** is one image hashed. `QueryOracle` wraps any registered hasher
(imagehash family, PDQ, OpenCV img_hash, ONNX, plugins) and uses nothing but
``hash_batch`` (the hasher's batched path, bit-exact with ``hash``; else
``hash_many``) and the hasher's own distance:

- Hamming hashers: d = number of differing bits (0..bits);
- other hashers (``distance != "hamming"``): the raw distance is
  ``pair_distances`` and the integer distance is its bin ``quantise(raw)``,
  so "threshold t" means ``raw <= bin_edges[t]`` exactly as in the benign
  study's thresholds.csv.

Example::

    >>> import numpy as np
    >>> from harness.hashers import get_hasher
    >>> oracle = QueryOracle(get_hasher("ahash"))
    >>> flat = np.full((32, 32, 3), 128, np.uint8)
    >>> h = oracle.hash_many([flat, 255 - flat])
    >>> oracle.queries
    2
    >>> int(oracle.distances(h, h[0])[0][1])
    0
"""

from __future__ import annotations

import numpy as np


class QueryBudgetExceeded(RuntimeError):
    """Raised when an attack asks for more queries than its budget allows."""


class QueryOracle:
    """Black-box access to `hasher`, with a query counter and an optional hard budget."""

    def __init__(self, hasher, budget: int | None = None):
        self.hasher = hasher
        self.budget = budget
        self.queries = 0
        self.hamming = getattr(hasher, "distance", "hamming") == "hamming"

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else self.budget - self.queries

    def hash_many(self, images) -> np.ndarray:
        """Hash a list of (h, w, 3) uint8 RGB arrays; uint8 (n, nbytes). Counts n queries."""
        images = list(images)
        if self.budget is not None and self.queries + len(images) > self.budget:
            raise QueryBudgetExceeded(f"{self.queries} + {len(images)} queries > budget {self.budget}")
        self.queries += len(images)
        if not images:
            return np.zeros((0, (self.hasher.bits + 7) // 8), dtype=np.uint8)
        batch = getattr(self.hasher, "hash_batch", None)
        if batch is None:
            return np.asarray(self.hasher.hash_many(images), dtype=np.uint8)
        rows = batch(images)  # the hasher's batched bit-exact path
        for r in rows:
            if isinstance(r, Exception):
                raise r
        return np.stack(rows).astype(np.uint8, copy=False)

    def distances(self, hashes: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(integer distance, raw distance) of each row of `hashes` to one hash `ref`.

        Integer distance: bits for Hamming hashers, bin index for others.
        Raw distance (float64): the same bits, or ``pair_distances``."""
        hashes = np.atleast_2d(np.asarray(hashes, dtype=np.uint8))
        ref = np.asarray(ref, dtype=np.uint8).reshape(1, -1)
        if self.hamming:
            bits = np.unpackbits(np.bitwise_xor(hashes, ref), axis=1).sum(axis=1).astype(np.int64)
            return bits, bits.astype(np.float64)
        raw = np.asarray(self.hasher.pair_distances(hashes, ref), dtype=np.float64)[:, 0]
        return np.asarray(self.hasher.quantise(raw), dtype=np.int64), raw


def hash_distance(hasher, a: np.ndarray, b: np.ndarray) -> int:
    """Integer distance between two packed hashes of `hasher` (no query counted)."""
    return int(QueryOracle(hasher).distances(np.asarray(a)[None], b)[0][0])
