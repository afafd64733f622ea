"""Matching through dihedral versions: a query matches a reference by the
smallest distance over its V versions (V = 8 for the rotations by 0, 90,
180 and 270 degrees, the two flips and the two transposes).

For query versions q[i, 0..V-1] (row 0: the photo as it is) and a
reference r[j], the distance is ``min_k popcount(q[i, k] XOR r[j])`` in
bits. Histograms count every pair once, as `pair_histogram` does: all
pairs i < j of one set (query versions of i against row 0 of j) or every
(query, reference) of two sets; same-group pairs excluded. V times the
comparisons of plain matching, computed in blocks (memory O(block^2)).
"""

from __future__ import annotations

import numpy as np

from . import hamming


def _versions(q) -> np.ndarray:
    q = np.asarray(q)
    if q.dtype != np.uint8 or q.ndim != 3:
        raise ValueError(f"query versions must be a uint8 array (n, versions, nbytes), got {q.dtype} {q.shape}")
    return np.ascontiguousarray(q)


def dihedral_matrix(q, r) -> np.ndarray:
    """``D[i, j] = min_k popcount(q[i, k] XOR r[j])`` (int64, bits) for query
    versions q (n, V, nbytes) and references r (m, nbytes): the distance of
    dihedral matching, query i against reference j (not symmetric).

    >>> import numpy as np
    >>> q = np.array([[[0b0000_1111], [0b1111_0000]]], dtype=np.uint8)
    >>> dihedral_matrix(q, np.array([[0b1111_0001]], dtype=np.uint8)).tolist()
    [[1]]
    """
    q = _versions(q)
    out = hamming.hamming_matrix(q[:, 0], r)
    for k in range(1, q.shape[1]):
        np.minimum(out, hamming.hamming_matrix(q[:, k], r), out=out)
    return out


def dihedral_paired_distances(q, r) -> np.ndarray:
    """Row-wise min over versions: ``min_k d(q[i, k], r[i])`` (int64, bits)."""
    q = _versions(q)
    r = hamming._as_packed(r, "r")
    d = np.stack([hamming.paired_distances(q[:, k], r) for k in range(q.shape[1])], axis=1)
    return d.min(axis=1) if len(d) else np.zeros(0, np.int64)


def dihedral_pair_histogram(
    q, r=None, groups_q=None, groups_r=None, bits: int | None = None, block: int = 1024
) -> np.ndarray:
    """Histogram (int64, bits + 1) of the smallest distance over the query's
    versions, over the pairs of `pair_histogram`: ``r is None``: pairs
    i < j of one set (versions of i against version 0 of j); else every
    (row of q, row of r). Same-group pairs excluded.

    Examples
    --------
    >>> import numpy as np
    >>> q = np.array([[[0b0000_1111], [0b1111_0000]],      # photo 0 and its flipped version
    ...               [[0b1111_0001], [0b0001_1111]]], dtype=np.uint8)
    >>> dihedral_pair_histogram(q).nonzero()[0].tolist()  # min(7, 1) = 1 bit
    [1]
    """
    q = _versions(q)
    within = r is None
    r = q[:, 0] if within else hamming._as_packed(r, "r")
    if groups_q is not None and within and groups_r is None:
        groups_r = groups_q
    cq, cr = hamming._group_codes(groups_q, groups_r, len(q), len(r))
    nbytes = q.shape[2]
    full = 8 * nbytes
    if bits is not None:
        hamming.check_padding(q.reshape(-1, nbytes), bits, "q")
        hamming.check_padding(r, bits, "r")
    n = (bits if bits is not None else full) + 1
    hist = np.zeros(full + 1, np.int64)
    for i0 in range(0, len(q), block):
        i1 = min(i0 + block, len(q))
        for j0 in range(i0 if within else 0, len(r), block):
            j1 = min(j0 + block, len(r))
            d = dihedral_matrix(q[i0:i1], r[j0:j1])
            keep = np.ones(d.shape, dtype=bool)
            if within:
                keep &= np.arange(i0, i1)[:, None] < np.arange(j0, j1)[None, :]
            if cq is not None:
                keep &= cq[i0:i1, None] != cr[None, j0:j1]
            hist += np.bincount(d[keep], minlength=full + 1)
    return hist[:n]
