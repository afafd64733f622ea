"""Dihedral matching: a hasher option (``dihedral: true`` in a config's
hasher entry) under which a query matches a reference by the smallest
distance over the query's 8 dihedral versions.

The versions, in this order (VERSIONS; row 0 is the image as it is), as
numpy operations on an (h, w, 3) array: original, ``np.rot90(x, 1)``,
``np.rot90(x, 2)``, ``np.rot90(x, 3)`` (quarter turns counter-clockwise),
``x[::-1]`` (upside down), ``x[:, ::-1]`` (mirror), ``x.transpose(1, 0,
2)`` (about the main diagonal), ``np.rot90(x, 2).transpose(1, 0, 2)``
(about the other diagonal); exact pixel permutations. It is the order of
``pdqhash.compute_dihedral`` (`harness.hashers.pdq.DIHEDRAL_ORDER`).

`DihedralHasher` wraps a Hamming hasher. Its hash of an image is the 8
versions' hashes, concatenated in that order (8 x nbytes bytes; the first
nbytes are the plain hash). A hasher with its own dihedral computation
(``hash_versions(rgb) -> (8, nbytes)``, PDQ's from one DCT as Meta's
tooling does) uses it; any other hashes the 8 transformed arrays one by one
through its normal path. 8x the hashing cost.

Distance (`pair_distances`, in bits): query i against reference j is
``min_k popcount(q_i[k] XOR r_j[0])``: the query's versions against the
reference's version 0 (what a database holds). Not symmetric; within one
set (orig-orig) the metrics stage takes the smaller of the two directions,
as for every asymmetric distance. The bins are the bits (``quantise`` is
the identity), so thresholds, tables and figures read in bits as usual,
at 8x (16x within one set) the comparisons.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..metrics.dihedral import dihedral_matrix
from .base import Hasher

#: (name, operation) of the 8 dihedral versions, row 0 the image as it is
VERSIONS = (
    ("original", lambda x: x),
    ("rotate-90", lambda x: np.rot90(x, 1)),
    ("rotate-180", lambda x: np.rot90(x, 2)),
    ("rotate-270", lambda x: np.rot90(x, 3)),
    ("flip-x", lambda x: x[::-1]),
    ("flip-y", lambda x: x[:, ::-1]),
    ("flip-plus-1", lambda x: x.transpose(1, 0, 2)),
    ("flip-minus-1", lambda x: np.rot90(x, 2).transpose(1, 0, 2)),
)
DIHEDRAL_ORDER = tuple(name for name, _ in VERSIONS)


def dihedral_versions(rgb: np.ndarray) -> list:
    """The 8 versions of an (h, w, 3) array in VERSIONS order (contiguous copies)."""
    return [np.ascontiguousarray(op(rgb)) for _, op in VERSIONS]


class DihedralHasher(Hasher):
    """`inner` hashed in its 8 dihedral versions (see the module docstring).

    >>> import numpy as np, harness
    >>> h = harness.get_hasher("phash", dihedral=True)
    >>> h.label, h.bits, h.nbytes, h.distance
    ('phash[dihedral]', 64, 64, 'dihedral-hamming')
    >>> rgb = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    >>> q, r = h.hash(rgb[:, ::-1]), h.hash(rgb)   # a mirrored query, the reference
    >>> int(h.pair_distances(q[None], r[None])[0, 0])
    0
    """

    distance = "dihedral-hamming"

    def __init__(self, inner: Hasher):
        if inner.distance != "hamming":
            raise ConfigError("dihedral", f"needs a Hamming hasher, {inner.name} has distance {inner.distance!r}")
        self.inner = inner
        self.name, self.version, self.bits, self.backend = inner.name, inner.version, inner.bits, inner.backend
        for attr in ("reference_decode", "fast_decode_suitable", "min_decode_side", "distance_granularity"):
            setattr(self, attr, getattr(inner, attr))
        self.params = dict(sorted({**inner.params, "dihedral": True}.items()))
        self.n_bins = inner.bits + 1
        self.bin_edges = np.arange(self.n_bins, dtype=np.float64)

    @property
    def nbytes(self) -> int:
        """Bytes of one stored hash: the 8 versions."""
        return len(VERSIONS) * self.inner.nbytes

    @property
    def label(self) -> str:
        """The inner hasher's label with ``dihedral`` first in brackets:
        ``phash[dihedral]``, ``pdq[dihedral,min_quality=50]``."""
        inner = self.inner.label
        return f"{inner[:-1].replace('[', '[dihedral,', 1)}]" if inner.endswith("]") else f"{inner}[dihedral]"

    def versions(self, rgb: np.ndarray) -> np.ndarray:
        """The 8 versions' packed hashes, uint8 (8, inner nbytes)."""
        own = getattr(self.inner, "hash_versions", None)
        if own is not None:
            return np.asarray(own(rgb), dtype=np.uint8)
        return np.stack([np.asarray(self.inner.hash(v), dtype=np.uint8) for v in dihedral_versions(rgb)])

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        return self.versions(rgb).reshape(-1)

    def pair_distances(self, a, b) -> np.ndarray:
        """(len(a), len(b)) float64: queries a (their 8 versions) against the
        version 0 of references b, in bits (see the module docstring)."""
        n = self.inner.nbytes
        a = np.asarray(a, dtype=np.uint8).reshape(len(a), len(VERSIONS), n)
        b = np.ascontiguousarray(np.asarray(b, dtype=np.uint8).reshape(len(b), -1)[:, :n])
        return dihedral_matrix(a, b).astype(np.float64)

    def quantise(self, d) -> np.ndarray:
        """Bins are bits: the distance itself."""
        return np.asarray(d, dtype=np.int64)
