"""The hasher protocol.

A hasher turns 8-bit RGB pixels into a hash stored as packed bytes in the
reference implementation's bit order, so that `to_hex` equals the reference
library's hex string. Distances between two hashes of one hasher are Hamming
distances in bits (integers 0..bits) unless `distance` says otherwise.
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, Iterable

import numpy as np


class Hasher(ABC):
    #: registry name, e.g. "phash"
    name: str = ""
    #: changes whenever the output for the same pixels could change
    version: str = "1"
    #: hash length in bits
    bits: int = 0
    #: "hamming" for binary hashes; anything else needs `pair_distance`
    distance: str = "hamming"
    #: human-readable backend, e.g. "imagehash 4.3.2"
    backend: str = ""

    def __init__(self, **params: Any):
        self.params = dict(sorted(params.items()))

    @property
    def nbytes(self) -> int:
        return (self.bits + 7) // 8

    @property
    def identity(self) -> dict:
        """Everything that determines the output; part of every cache key."""
        return {"name": self.name, "version": self.version, "params": self.params,
                "backend": self.backend}

    @property
    def key(self) -> str:
        """Stable string form of `identity` (used as a column value)."""
        return json.dumps(self.identity, sort_keys=True, separators=(",", ":"))

    @abstractmethod
    def hash(self, rgb: np.ndarray) -> np.ndarray:
        """Hash one (h, w, 3) uint8 RGB array; returns uint8 array (nbytes,)."""

    def hash_many(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Hash a batch; returns uint8 array (n, nbytes)."""
        rows = [self.hash(im) for im in images]
        if not rows:
            return np.zeros((0, self.nbytes), dtype=np.uint8)
        return np.stack(rows).astype(np.uint8, copy=False)

    def to_hex(self, packed: np.ndarray) -> str:
        """Hex string of one packed hash (as the reference library prints it)."""
        return bytes(np.asarray(packed, dtype=np.uint8)).hex()

    def describe(self) -> dict:
        return {"name": self.name, "bits": self.bits, "distance": self.distance,
                "backend": self.backend, "version": self.version,
                "params": json.dumps(self.params, sort_keys=True)}

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({p})"


def pack_bool_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean array (any shape, flattened row-major) into bytes,
    most significant bit first (numpy.packbits' default, which is the order
    imagehash's hex strings use when the bit count is a multiple of 8)."""
    return np.packbits(np.asarray(bits, dtype=bool).ravel())
