"""Exact Hamming-distance histograms over packed hashes.

Hashes are uint8 arrays of shape (n, nbytes). The distance between two
hashes is popcount(a XOR b), an integer number of bits in 0..bits with
bits = 8 * nbytes (padding bits are zero in both hashes, so they never
count). All pairs are counted exactly, in blocks, so memory stays
O(n * nbytes + block^2).
"""
from __future__ import annotations

import numpy as np

DEFAULT_BLOCK = 2048


def _as_packed(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.dtype != np.uint8 or a.ndim != 2:
        raise ValueError(f"{name} must be a uint8 array of shape (n, nbytes), got {a.dtype} {a.shape}")
    return np.ascontiguousarray(a)


def _group_codes(groups_a, groups_b, n_a, n_b):
    """Map group labels of both sides to shared integer codes (or None)."""
    if groups_a is None and groups_b is None:
        return None, None
    if groups_a is None or groups_b is None:
        raise ValueError("give groups for both sides, or for neither")
    ga, gb = np.asarray(groups_a), np.asarray(groups_b)
    if len(ga) != n_a or len(gb) != n_b:
        raise ValueError("groups must have one label per hash")
    _, codes = np.unique(np.concatenate([ga, gb]), return_inverse=True)
    return codes[:n_a], codes[n_a:]


def _block_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(len(x), len(y)) int matrix of Hamming distances."""
    xor = np.bitwise_xor(x[:, None, :], y[None, :, :])
    return np.bitwise_count(xor).sum(axis=2, dtype=np.int64)


def pair_histogram(a, b=None, groups_a=None, groups_b=None, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Histogram of Hamming distances over pairs, as int64 counts for
    distances 0..bits (length bits + 1, bits = 8 * nbytes).

    - ``b is None``: all n*(n-1)/2 unordered pairs of distinct rows of `a`.
    - otherwise: all len(a) * len(b) pairs (row of a, row of b).
    Pairs whose group labels are equal are excluded (never negatives); with
    ``b is None`` give `groups_a` only.
    """
    a = _as_packed(a, "a")
    bits = 8 * a.shape[1]
    hist = np.zeros(bits + 1, dtype=np.int64)
    within = b is None
    if within:
        b = a
        if groups_a is not None and groups_b is None:
            groups_b = groups_a
    else:
        b = _as_packed(b, "b")
        if b.shape[1] != a.shape[1]:
            raise ValueError(f"a and b must have the same hash length ({a.shape[1]} vs {b.shape[1]} bytes)")
    ca, cb = _group_codes(groups_a, groups_b, len(a), len(b))
    for i0 in range(0, len(a), block):
        i1 = min(i0 + block, len(a))
        j_start = i0 if within else 0
        for j0 in range(j_start, len(b), block):
            j1 = min(j0 + block, len(b))
            d = _block_distances(a[i0:i1], b[j0:j1])
            keep = np.ones(d.shape, dtype=bool)
            if within and j0 == i0:
                keep &= np.triu(np.ones(d.shape, dtype=bool), k=1)
            if ca is not None:
                keep &= ca[i0:i1, None] != cb[None, j0:j1]
            hist += np.bincount(d[keep], minlength=bits + 1)[: bits + 1]
    return hist


def paired_distances(a, b) -> np.ndarray:
    """Row-wise Hamming distances between a[i] and b[i] (int64, bits)."""
    a, b = _as_packed(a, "a"), _as_packed(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=1, dtype=np.int64)


def distance_histogram(distances, bits: int) -> np.ndarray:
    """int64 counts of integer distances 0..bits."""
    d = np.asarray(distances, dtype=np.int64)
    if d.size and (d.min() < 0 or d.max() > bits):
        raise ValueError(f"distances must lie in 0..{bits}")
    return np.bincount(d, minlength=bits + 1).astype(np.int64)


def count_pairs(n: int, groups=None) -> int:
    """Exact number of unordered pairs of n items in different groups:
    n(n-1)/2 - sum over groups of g(g-1)/2."""
    total = n * (n - 1) // 2
    if groups is not None:
        _, sizes = np.unique(np.asarray(groups), return_counts=True)
        total -= int((sizes * (sizes - 1) // 2).sum())
    return total
