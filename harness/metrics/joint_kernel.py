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

#: rows of X processed together by the register-blocked kernels (each row
#: of Y is loaded once for that many pairs)
JOINT_ROWS = 16


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


def _make_rows_block(W1):
    """The register-blocked pass for W1 (1 or 2) words under hasher 1 and 4
    words under hasher 2 (64- or 96/128-bit hashes against 256-bit ones,
    e.g. pHash or NeuralHash against PDQ): JOINT_ROWS rows of X at a time,
    row-major layout, both distances per pair in registers. W1 is a
    compile-time constant (a closure variable), so the unused word is never
    read. 1.4x the pairs per CPU-second of `_joint_block` on 64 x 256-bit
    hashes (measured with ``bench pairs --joint``)."""
    R = JOINT_ROWS

    @njit(inline="always")
    def d1_of(x1, r, z0, z1):
        d = popcount64(x1[r, 0] ^ z0)
        if W1 == 2:
            d += popcount64(x1[r, 1] ^ z1)
        return d

    @njit(inline="always")
    def cell(X1, i, Y1, j, X2, Y2, nb2):
        d = popcount64(X1[i, 0] ^ Y1[j, 0])
        if W1 == 2:
            d += popcount64(X1[i, 1] ^ Y1[j, 1])
        return d * nb2 + (
            popcount64(X2[i, 0] ^ Y2[j, 0])
            + popcount64(X2[i, 1] ^ Y2[j, 1])
            + popcount64(X2[i, 2] ^ Y2[j, 2])
            + popcount64(X2[i, 3] ^ Y2[j, 3])
        )

    @njit(inline="always")
    def block(X1, Y1, X2, Y2, a0, a1, within, ny, nb2, h):
        c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
        for c0 in range(c_first, ny, COL_BLOCK):
            c1 = min(c0 + COL_BLOCK, ny)
            i = a0
            while i + R <= a1:
                j = c0
                if within and j < i + R:  # pairs inside the square of these rows, one by one
                    for r in range(R):
                        for jj in range(max(c0, i + r + 1), min(c1, i + R)):
                            h[r & 3, cell(X1, i + r, Y1, jj, X2, Y2, nb2)] += 1
                    j = i + R
                x1 = X1[i : i + R]
                xs = X2[i : i + R]
                while j < c1:
                    z0 = Y1[j, 0]
                    z1 = Y1[j, W1 - 1]
                    y0 = Y2[j, 0]
                    y1 = Y2[j, 1]
                    y2 = Y2[j, 2]
                    y3 = Y2[j, 3]
                    for r in range(R):  # R is a constant: fully unrolled
                        h[
                            r & 3,
                            d1_of(x1, r, z0, z1) * nb2
                            + popcount64(xs[r, 0] ^ y0)
                            + popcount64(xs[r, 1] ^ y1)
                            + popcount64(xs[r, 2] ^ y2)
                            + popcount64(xs[r, 3] ^ y3),
                        ] += 1
                    j += 1
                i += R
            while i < a1:
                j = c0
                if within and j <= i:
                    j = i + 1
                while j < c1:
                    h[0, cell(X1, i, Y1, j, X2, Y2, nb2)] += 1
                    j += 1
                i += 1

    return block


_rows_block_w1 = _make_rows_block(1)
_rows_block_w2 = _make_rows_block(2)


@njit(parallel=True, cache=True)
def joint_hist_kernel(X1, Y1, X2, Y2, within, nb1, nb2):
    """Flat int64 joint histogram (nb1 * nb2 cells, nb = 64 W + 1) of the
    distance pairs (d1, d2): all pairs i < j of the rows when `within`
    (then Y1 is X1 and Y2 is X2), else every (i, j) of X x Y."""
    n = X1.shape[0]
    ny = Y1.shape[0]
    W1 = X1.shape[1]
    rows = X2.shape[1] == 4 and (W1 == 1 or W1 == 2)  # the register-blocked passes
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
        for lo, hi in ((a0, a1), (b0, b1)):
            if hi <= lo:
                continue
            if rows and W1 == 1:
                _rows_block_w1(X1, Y1, X2, Y2, lo, hi, within, ny, nb2, h)
            elif rows:
                _rows_block_w2(X1, Y1, X2, Y2, lo, hi, within, ny, nb2, h)
            else:
                _joint_block(X1t, Y1t, X2t, Y2t, lo, hi, within, ny, nb2, h, buf)
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
