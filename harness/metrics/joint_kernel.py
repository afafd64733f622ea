"""Compiled (numba) kernels for joint Hamming-distance histograms of two
hashers over the same pairs.

Row r of X1 and row r of X2 are the two hashers' hashes of the same photo
(likewise Y1, Y2). For every pair (i, j) both distances are computed in the
same pass over the pairs, d1 = popcount(X1[i] ^ Y1[j]) and d2 = popcount(X2[i] ^ Y2[j])
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
def _joint_block(X1t, Y1t, X2t, Y2t, a0, a1, within, ny, nb2, h, buf):
    """Rows a0..a1 against Y (all of it, or j > i), word-major layout
    (X1t[w, i]): per row and column block, first the cell index
    d1 * nb2 + d2 of every column into `buf` (loops LLVM vectorises), then
    the increments, spread over 4 sub-histograms (about twice the pairs per
    CPU-second of one pair at a time, measured on 64 x 256-bit hashes)."""
    W1 = X1t.shape[0]
    W2 = X2t.shape[0]
    c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
    for c0 in range(c_first, ny, COL_BLOCK):
        c1 = min(c0 + COL_BLOCK, ny)
        for i in range(a0, a1):
            j0 = c0
            if within and j0 <= i:
                j0 = i + 1
            if j0 >= c1:
                continue
            m = c1 - j0
            x = X1t[0, i]
            for j in range(m):
                buf[j] = popcount64(x ^ Y1t[0, j0 + j])
            for w in range(1, W1):
                x = X1t[w, i]
                for j in range(m):
                    buf[j] += popcount64(x ^ Y1t[w, j0 + j])
            for j in range(m):
                buf[j] *= nb2
            for w in range(W2):
                x = X2t[w, i]
                for j in range(m):
                    buf[j] += popcount64(x ^ Y2t[w, j0 + j])
            j = 0
            while j + 4 <= m:
                h[0, buf[j]] += 1
                h[1, buf[j + 1]] += 1
                h[2, buf[j + 2]] += 1
                h[3, buf[j + 3]] += 1
                j += 4
            while j < m:
                h[0, buf[j]] += 1
                j += 1


@njit(parallel=True, cache=True)
def joint_hist_kernel(X1, Y1, X2, Y2, within, nb1, nb2):
    """Flat int64 joint histogram (nb1 * nb2 cells, nb = 64 W + 1) of the
    distance pairs (d1, d2): all pairs i < j of the rows when `within`
    (then Y1 is X1 and Y2 is X2), else every (i, j) of X x Y."""
    n = X1.shape[0]
    ny = Y1.shape[0]
    X1t = np.ascontiguousarray(X1.T)
    Y1t = np.ascontiguousarray(Y1.T)
    X2t = np.ascontiguousarray(X2.T)
    Y2t = np.ascontiguousarray(Y2.T)
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    ntasks = (nb + 1) // 2 if within else nb
    cells = nb1 * nb2
    out = np.zeros((max(ntasks, 1), cells), dtype=np.int64)
    for t in prange(ntasks):
        h = np.zeros((4, cells), dtype=np.int64)
        buf = np.empty(COL_BLOCK, dtype=np.int64)
        a0, a1, b0, b1 = _task_rows(t, nb, within, n)
        _joint_block(X1t, Y1t, X2t, Y2t, a0, a1, within, ny, nb2, h, buf)
        if b1 > b0:
            _joint_block(X1t, Y1t, X2t, Y2t, b0, b1, within, ny, nb2, h, buf)
        for k in range(4):
            for c in range(cells):
                out[t, c] += h[k, c]
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
