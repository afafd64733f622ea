"""Compiled (numba) kernels for joint Hamming-distance histograms of two
hashers over the same pairs.

Row r of X1 and row r of X2 are the two hashers' hashes of the same photo
(likewise Y1, Y2). For every pair (i, j) both distances are computed in the
same pass, d1 = popcount(X1[i] ^ Y1[j]) and d2 = popcount(X2[i] ^ Y2[j])
(bits, summed over uint64 words, see kernel.py), and cell d1 * nb2 + d2 of
a flat (nb1 x nb2) int64 histogram is incremented. Tasks, row blocks and
the within-set balancing are those of kernel.hist_kernel; each task keeps
its own histogram. Groups are never looked at: same-group pairs are
subtracted afterwards (same_group_joint_hist), as for one hasher.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernel import COL_BLOCK, ROW_BLOCK, _task_rows, popcount64


@njit(inline="always")
def _d(X, i, Y, j, W):
    d = 0
    for w in range(W):
        d += popcount64(X[i, w] ^ Y[j, w])
    return d


@njit(inline="always")
def _joint_block(X1, Y1, X2, Y2, a0, a1, within, ny, nb2, h):
    W1 = X1.shape[1]
    W2 = X2.shape[1]
    c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
    for c0 in range(c_first, ny, COL_BLOCK):
        c1 = min(c0 + COL_BLOCK, ny)
        for i in range(a0, a1):
            j = c0
            if within and j <= i:
                j = i + 1
            if W1 == 1 and W2 == 1:
                x1 = X1[i, 0]
                x2 = X2[i, 0]
                while j < c1:
                    h[popcount64(x1 ^ Y1[j, 0]) * nb2 + popcount64(x2 ^ Y2[j, 0])] += 1
                    j += 1
            else:
                while j < c1:
                    h[_d(X1, i, Y1, j, W1) * nb2 + _d(X2, i, Y2, j, W2)] += 1
                    j += 1


@njit(parallel=True, cache=True)
def joint_hist_kernel(X1, Y1, X2, Y2, within, nb1, nb2):
    """Flat int64 joint histogram (nb1 * nb2 cells, nb = 64 W + 1) of the
    distance pairs (d1, d2): all pairs i < j of the rows when `within`
    (then Y1 is X1 and Y2 is X2), else every (i, j) of X x Y."""
    n = X1.shape[0]
    ny = Y1.shape[0]
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    ntasks = (nb + 1) // 2 if within else nb
    cells = nb1 * nb2
    out = np.zeros((max(ntasks, 1), cells), dtype=np.int64)
    for t in prange(ntasks):
        a0, a1, b0, b1 = _task_rows(t, nb, within, n)
        _joint_block(X1, Y1, X2, Y2, a0, a1, within, ny, nb2, out[t])
        if b1 > b0:
            _joint_block(X1, Y1, X2, Y2, b0, b1, within, ny, nb2, out[t])
    res = np.zeros(cells, dtype=np.int64)
    for t in range(out.shape[0]):
        for c in range(cells):
            res[c] += out[t, c]
    return res


@njit(cache=True)
def same_group_joint_hist(X1, Y1, X2, Y2, a_order, a_start, b_order, b_start, within, nb1, nb2):
    """Flat joint histogram of the pairs that share a group (rows sorted by
    group code, see kernel.same_group_hist)."""
    W1 = X1.shape[1]
    W2 = X2.shape[1]
    h = np.zeros(nb1 * nb2, dtype=np.int64)
    for g in range(len(a_start) - 1):
        for p in range(a_start[g], a_start[g + 1]):
            i = a_order[p]
            q0 = p + 1 if within else b_start[g]
            for q in range(q0, b_start[g + 1]):
                j = b_order[q]
                h[_d(X1, i, Y1, j, W1) * nb2 + _d(X2, i, Y2, j, W2)] += 1
    return h
