"""Compiled (numba) kernels for exact Hamming-distance pair statistics.

Hashes arrive as packed uint8 arrays of shape (n, nbytes). They are viewed
as W = ceil(nbytes / 8) little-endian uint64 words per hash, zero-padded, so
that distance(x, y) = sum_w popcount(x[w] XOR y[w]) in bits, for any bit
length (padding bits are zero on both sides and never count).

Work is split into row-block *tasks*; each task keeps its own histogram
(4 interleaved sub-histograms so consecutive increments do not wait on one
another) and the tasks run in parallel (numba prange). Within one task the
columns are visited in cache-sized blocks. Memory: the word arrays
(n * 8W bytes) plus (tasks x (max_distance+1)) counters; no n x n matrix.

For the all-pairs case (one array, pairs i < j) task t handles row blocks t
and nb-1-t, so every task does about the same amount of work.

Kernels never look at groups: exact same-group exclusion is done by
subtracting the (cheap) histogram of same-group pairs, see hamming.py.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

ROW_BLOCK = 256
COL_BLOCK = 4096
# rows of X sharing each load of a row of Y (measured best on AMD EPYC / AVX2;
# ROW_BLOCK must be a multiple of each)
HIST_ROWS_W4 = 32
COUNT_ROWS_W1 = 32
COUNT_ROWS_W4 = 8


@intrinsic
def popcount64(typingctx, x):
    """LLVM ctpop on a uint64 (one POPCNT instruction on x86-64), as int64
    (so comparisons with int64 thresholds stay integer)."""
    if not isinstance(x, types.Integer):
        return None
    sig = types.int64(types.uint64)

    def codegen(context, builder, signature, args):
        return builder.ctpop(args[0])

    return sig, codegen


def to_words(packed: np.ndarray) -> np.ndarray:
    """(n, nbytes) uint8 -> (n, W) uint64, zero-padded to whole words."""
    packed = np.ascontiguousarray(packed, dtype=np.uint8)
    n, nbytes = packed.shape
    w = max(1, (nbytes + 7) // 8)
    if nbytes == 8 * w:
        return packed.view("<u8").reshape(n, w).copy()
    padded = np.zeros((n, 8 * w), dtype=np.uint8)
    padded[:, :nbytes] = packed
    return padded.view("<u8").reshape(n, w)


# ----------------------------------------------------------------- helpers
@njit(inline="always")
def _dist(X, i, Y, j, W):
    d = 0
    for w in range(W):
        d += popcount64(X[i, w] ^ Y[j, w])
    return d


def tasks(n: int, within: bool) -> int:
    """How many row-block tasks a kernel splits n rows of X into."""
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    return (nb + 1) // 2 if within else nb


@njit(inline="always")
def _task_rows(t, nb, within, n):
    """Row ranges (a0, a1, b0, b1) handled by task t; (b0 == b1) if none."""
    a0 = t * ROW_BLOCK
    a1 = min(a0 + ROW_BLOCK, n)
    if within:
        u = nb - 1 - t
        if u > t:
            b0 = u * ROW_BLOCK
            return a0, a1, b0, min(b0 + ROW_BLOCK, n)
    return a0, a1, 0, 0


@njit(inline="always")
def _take(I, J, D, pos, c, end, t, i, j, d):
    """Collection step: when d <= t, write (i, j, d) into slot pos + c (if
    it is below `end`) and return c + 1; else return c."""
    if d <= t:
        k = pos + c
        if k < end:
            I[k] = i
            J[k] = j
            D[k] = d
        return c + 1
    return c


@njit(inline="always")
def _low(h, t):
    """Pairs counted so far at distance <= t (all sub-histograms)."""
    s = 0
    for q in range(4):
        for d in range(t + 1):
            s += h[q, d]
    return s


@njit(inline="always")
def _collect_row(X, Y, W, i, j0, j1, t, I, J, D, pos, c, end):
    """Collect the pairs (i, j), j0 <= j < j1, at distance <= t."""
    for j in range(j0, j1):
        c = _take(I, J, D, pos, c, end, t, i, j, _dist(X, i, Y, j, W))
    return c


# The histogram loops also collect the pairs at distance <= t (t = -1:
# none) as (i, j, d) into slots pos .. end of I, J, D and return how many
# there are (more than end - pos: the slots overflowed). So that the
# increment loops stay as fast as without collecting, a row (or row pair)
# is looked at again only when its pass over a column block raised the
# count of pairs at distance <= t; such pairs are rare.
@njit(inline="always")
def _hist_block(X, Y, W, a0, a1, within, ny, h, t, I, J, D, pos, end):
    """Histogram of rows a0..a1 of X against Y (all of Y, or only j > i)."""
    c = 0
    seen = _low(h, t) if t >= 0 else 0
    c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
    for c0 in range(c_first, ny, COL_BLOCK):
        c1 = min(c0 + COL_BLOCK, ny)
        for i in range(a0, a1):
            j = c0
            if within and j <= i:
                j = i + 1
            j0 = j
            while j + 4 <= c1:
                h[0, _dist(X, i, Y, j, W)] += 1
                h[1, _dist(X, i, Y, j + 1, W)] += 1
                h[2, _dist(X, i, Y, j + 2, W)] += 1
                h[3, _dist(X, i, Y, j + 3, W)] += 1
                j += 4
            while j < c1:
                h[0, _dist(X, i, Y, j, W)] += 1
                j += 1
            if t >= 0:
                s = _low(h, t)
                if s != seen:
                    seen = s
                    c = _collect_row(X, Y, W, i, j0, c1, t, I, J, D, pos, c, end)
    return c


@njit(inline="always")
def _hist_block_w1(X1, Y1, a0, a1, within, ny, h, t, I, J, D, pos, end):
    """The same for one word per hash (64-bit hashes or shorter). Two rows
    of X are processed together so each load of Y serves two pairs (about
    20% more pairs per CPU-second than one row at a time, measured)."""
    c = 0
    seen = _low(h, t) if t >= 0 else 0
    c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
    for c0 in range(c_first, ny, COL_BLOCK):
        c1 = min(c0 + COL_BLOCK, ny)
        i = a0
        while i + 1 < a1:
            x = X1[i]
            y = X1[i + 1]
            j = c0
            if within and j <= i + 1:
                if c0 <= i + 1 < c1:  # the pair (i, i+1) itself, once
                    d = popcount64(x ^ Y1[i + 1])
                    h[0, d] += 1
                    c = _take(I, J, D, pos, c, end, t, i, i + 1, d)
                    seen += d <= t
                j = i + 2
            j0 = j
            while j + 2 <= c1:
                y0 = Y1[j]
                y1 = Y1[j + 1]
                h[0, popcount64(x ^ y0)] += 1
                h[1, popcount64(y ^ y0)] += 1
                h[2, popcount64(x ^ y1)] += 1
                h[3, popcount64(y ^ y1)] += 1
                j += 2
            while j < c1:
                h[0, popcount64(x ^ Y1[j])] += 1
                h[1, popcount64(y ^ Y1[j])] += 1
                j += 1
            if t >= 0:
                s = _low(h, t)
                if s != seen:
                    seen = s
                    for jj in range(j0, c1):
                        c = _take(I, J, D, pos, c, end, t, i, jj, popcount64(x ^ Y1[jj]))
                        c = _take(I, J, D, pos, c, end, t, i + 1, jj, popcount64(y ^ Y1[jj]))
            i += 2
        while i < a1:
            x = X1[i]
            j = c0
            if within and j <= i:
                j = i + 1
            while j < c1:
                d = popcount64(x ^ Y1[j])
                h[0, d] += 1
                c = _take(I, J, D, pos, c, end, t, i, j, d)
                seen += d <= t
                j += 1
            i += 1
    return c


@njit(inline="always")
def _dist4(X, i, Y, j):
    return (
        popcount64(X[i, 0] ^ Y[j, 0])
        + popcount64(X[i, 1] ^ Y[j, 1])
        + popcount64(X[i, 2] ^ Y[j, 2])
        + popcount64(X[i, 3] ^ Y[j, 3])
    )


def _w4_block(collect: bool):
    """_hist_block_w4 with (collect True) or without (False, for t < 0:
    the smallest-distance bookkeeping would slow a pure histogram down)
    the collection step; `collect` is a compile-time constant."""

    @njit(inline="always")
    def block(X, Y, a0, a1, within, ny, h, t, I, J, D, pos, end):
        """The same for four words per hash (256-bit hashes such as PDQ).
        HIST_ROWS_W4 rows of X are processed together, so each row of Y is
        loaded once for that many pairs (1.9x the pairs per CPU-second of two
        rows at a time, measured with `bench pairs`). Pairs inside the square
        of those rows (j <= i + HIST_ROWS_W4 - 1, `within` only) are counted
        first, one by one. Collecting: the smallest distance of each row of Y
        to the block's rows is kept, and only a row of Y within t is looked
        at again; `collect` False leaves that out (t < 0)."""
        c = 0
        R = HIST_ROWS_W4
        c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
        for c0 in range(c_first, ny, COL_BLOCK):
            c1 = min(c0 + COL_BLOCK, ny)
            i = a0
            while i + R <= a1:
                j = c0
                if within and j < i + R:
                    for r in range(R):
                        for jj in range(max(c0, i + r + 1), min(c1, i + R)):
                            d = _dist4(X, i + r, Y, jj)
                            h[r & 3, d] += 1
                            c = _take(I, J, D, pos, c, end, t, i + r, jj, d)
                    j = i + R
                xs = X[i : i + R]
                while j < c1:
                    y0 = Y[j, 0]
                    y1 = Y[j, 1]
                    y2 = Y[j, 2]
                    y3 = Y[j, 3]
                    lo = 1 << 20
                    for r in range(R):  # R is a constant: fully unrolled
                        d = (
                            popcount64(xs[r, 0] ^ y0)
                            + popcount64(xs[r, 1] ^ y1)
                            + popcount64(xs[r, 2] ^ y2)
                            + popcount64(xs[r, 3] ^ y3)
                        )
                        h[r & 3, d] += 1
                        if collect:
                            lo = min(lo, d)
                    if collect and lo <= t:
                        for r in range(R):
                            c = _take(I, J, D, pos, c, end, t, i + r, j, _dist4(xs, r, Y, j))
                    j += 1
                i += R
            while i < a1:
                j = c0
                if within and j <= i:
                    j = i + 1
                while j < c1:
                    d = _dist4(X, i, Y, j)
                    h[0, d] += 1
                    c = _take(I, J, D, pos, c, end, t, i, j, d)
                    j += 1
                i += 1
        return c

    return block


_hist_block_w4 = _w4_block(True)
_hist_block_w4_count = _w4_block(False)


@njit(inline="always")
def _hist_block_t(Xt, Yt, W, a0, a1, within, ny, h, buf, t, I, J, D, pos, end):
    """Several words per hash, word-major layout (Xt[w, i]): first the
    distances of one row against a column block (a loop LLVM vectorises),
    then the histogram increments."""
    c = 0
    seen = _low(h, t) if t >= 0 else 0
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
            x = Xt[0, i]
            for j in range(m):
                buf[j] = popcount64(x ^ Yt[0, j0 + j])
            for w in range(1, W):
                x = Xt[w, i]
                for j in range(m):
                    buf[j] += popcount64(x ^ Yt[w, j0 + j])
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
            if t >= 0:
                s = _low(h, t)
                if s != seen:
                    seen = s
                    for j in range(m):
                        c = _take(I, J, D, pos, c, end, t, i, j0 + j, buf[j])
    return c


@njit(inline="always")
def _hist_rows(X, Y, X1, Y1, Xt, Yt, W, a0, a1, within, ny, h, buf, variant, t, I, J, D, pos, end):
    """One row block with the loop `variant` selects (see hist_kernel)."""
    if W == 1:
        return _hist_block_w1(X1, Y1, a0, a1, within, ny, h, t, I, J, D, pos, end)
    if (variant == 1 or (variant == 0 and W == 4)) and t >= 0:
        return _hist_block_w4(X, Y, a0, a1, within, ny, h, t, I, J, D, pos, end)
    if variant == 1 or (variant == 0 and W == 4):
        return _hist_block_w4_count(X, Y, a0, a1, within, ny, h, t, I, J, D, pos, end)
    if variant == 2:
        return _hist_block(X, Y, W, a0, a1, within, ny, h, t, I, J, D, pos, end)
    return _hist_block_t(Xt, Yt, W, a0, a1, within, ny, h, buf, t, I, J, D, pos, end)


@njit(parallel=True, cache=True)
def hist_close_kernel(X, Y, within, nbins, t, cap, variant=0):
    """One pass over all pairs (i < j of X when `within`, else X x Y): the
    int64 histogram (nbins = 64 W + 1) of distances, and the pairs at
    distance <= t (t = -1: none), task k writing its pairs as (i, j, d)
    into slots k*cap .. (k+1)*cap of I, J, D and their number into
    counts[k] (counts[k] > cap: the task's slots overflowed, only the
    first cap were written). For W > 1, `variant` selects the inner loop
    (0 = automatic: row-major for W = 4, word-major otherwise; 1 =
    row-major W = 4; 2 = generic row-major; 3 = word-major); all give the
    same counts and pairs. Returns (hist, I, J, D, counts)."""
    n = X.shape[0]
    W = X.shape[1]
    ny = Y.shape[0]
    X1 = X[:, 0].copy()
    Y1 = Y[:, 0].copy() if W == 1 else X1[:0]
    Xt = np.ascontiguousarray(X.T) if W > 1 else X[:0]
    Yt = np.ascontiguousarray(Y.T) if W > 1 else X[:0]
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    ntasks = (nb + 1) // 2 if within else nb
    out = np.zeros((max(ntasks, 1), nbins), dtype=np.int64)
    counts = np.zeros(max(ntasks, 1), dtype=np.int64)
    slots = max(ntasks, 1) * cap if t >= 0 else 0
    I = np.empty(slots, dtype=np.int64)
    J = np.empty(slots, dtype=np.int64)
    D = np.empty(slots, dtype=np.int64)
    for k in prange(ntasks):
        h = np.zeros((4, nbins), dtype=np.int64)
        buf = np.empty(COL_BLOCK if W > 1 else 0, dtype=np.int64)
        a0, a1, b0, b1 = _task_rows(k, nb, within, n)
        start = k * cap if t >= 0 else 0
        end = start + cap if t >= 0 else 0
        c = _hist_rows(X, Y, X1, Y1, Xt, Yt, W, a0, a1, within, ny, h, buf, variant, t, I, J, D, start, end)
        if b1 > b0:
            c += _hist_rows(X, Y, X1, Y1, Xt, Yt, W, b0, b1, within, ny, h, buf, variant, t, I, J, D, start + c, end)
        counts[k] = c
        for q in range(4):
            for d in range(nbins):
                out[k, d] += h[q, d]
    res = np.zeros(nbins, dtype=np.int64)
    for k in range(out.shape[0]):
        for d in range(nbins):
            res[d] += out[k, d]
    return res, I, J, D, counts


def hist_kernel(X, Y, within, nbins, variant=0):
    """int64 histogram (nbins = 64 W + 1) of distances: all pairs i < j of X
    when `within`, else all (i, j) of X x Y (hist_close_kernel without
    collecting pairs; `variant` as there)."""
    return hist_close_kernel(X, Y, within, nbins, -1, 0, variant)[0]


# ------------------------------------------------------ threshold counting
@njit(inline="always")
def _put(I, J, D, k, end, i, j, d):
    if k < end:
        I[k] = i
        J[k] = j
        D[k] = d


@njit(inline="always")
def _scan_block(X, Y, X1, Y1, W, a0, a1, within, ny, t, I, J, D, pos, end):
    """Pairs of rows a0..a1 (against all of Y, or j > i) at distance <= t:
    returns how many, and writes the first (end - pos) of them as (i, j, d)
    into I, J, D from pos on (end == pos: counting only). Y is visited in
    cache-sized column blocks. For W = 1 and W = 4, blocks of
    COUNT_ROWS_W1 / COUNT_ROWS_W4 rows share each load of a row of Y and
    the count over those rows vectorises (2.2x and 2.7x the pairs per
    CPU-second of one row at a time, measured); only a row of Y with a hit
    is looked at again to write it. Other W: one row at a time."""
    c = 0
    c_first = (a0 + 1) - ((a0 + 1) % COL_BLOCK) if within else 0
    R = COUNT_ROWS_W1 if W == 1 else COUNT_ROWS_W4
    for c0 in range(c_first, ny, COL_BLOCK):
        c1 = min(c0 + COL_BLOCK, ny)
        i = a0
        if W == 1 or W == 4:
            while i + R <= a1:
                j = c0
                if within and j < i + R:
                    for r in range(R):
                        for jj in range(max(c0, i + r + 1), min(c1, i + R)):
                            d = _dist(X, i + r, Y, jj, W)
                            if d <= t:
                                _put(I, J, D, pos + c, end, i + r, jj, d)
                                c += 1
                    j = i + R
                if W == 1:
                    xs1 = X1[i : i + COUNT_ROWS_W1]
                    while j < c1:
                        y = Y1[j]
                        m = 0
                        for r in range(COUNT_ROWS_W1):
                            m += popcount64(xs1[r] ^ y) <= t
                        if m and pos + c < end:
                            k = pos + c
                            for r in range(COUNT_ROWS_W1):
                                d = popcount64(xs1[r] ^ y)
                                if d <= t:
                                    _put(I, J, D, k, end, i + r, j, d)
                                    k += 1
                        c += m
                        j += 1
                else:
                    xs = X[i : i + COUNT_ROWS_W4]
                    while j < c1:
                        y0 = Y[j, 0]
                        y1 = Y[j, 1]
                        y2 = Y[j, 2]
                        y3 = Y[j, 3]
                        m = 0
                        for r in range(COUNT_ROWS_W4):
                            m += (
                                popcount64(xs[r, 0] ^ y0)
                                + popcount64(xs[r, 1] ^ y1)
                                + popcount64(xs[r, 2] ^ y2)
                                + popcount64(xs[r, 3] ^ y3)
                            ) <= t
                        if m and pos + c < end:
                            k = pos + c
                            for r in range(COUNT_ROWS_W4):
                                d = _dist4(xs, r, Y, j)
                                if d <= t:
                                    _put(I, J, D, k, end, i + r, j, d)
                                    k += 1
                        c += m
                        j += 1
                i += R
        for i in range(i, a1):
            j0 = c0
            if within and j0 <= i:
                j0 = i + 1
            if W == 1:
                x = X1[i]
                for j in range(j0, c1):
                    d = popcount64(x ^ Y1[j])
                    if d <= t:
                        _put(I, J, D, pos + c, end, i, j, d)
                        c += 1
            else:
                for j in range(j0, c1):
                    d = _dist(X, i, Y, j, W)
                    if d <= t:
                        _put(I, J, D, pos + c, end, i, j, d)
                        c += 1
    return c


@njit(inline="always")
def _scan_setup(X, Y, within):
    """(n, W, ny, X1, Y1, nb, ntasks) of the threshold kernels: sizes, the
    first words of X and Y as 1-d arrays, row blocks and tasks."""
    n = X.shape[0]
    nb = (n + ROW_BLOCK - 1) // ROW_BLOCK
    ntasks = (nb + 1) // 2 if within else nb
    return n, X.shape[1], Y.shape[0], X[:, 0].copy(), Y[:, 0].copy(), nb, ntasks


@njit(parallel=True, cache=True)
def count_kernel(X, Y, within, t):
    """Number of pairs (i < j of X when `within`, else X x Y) with
    distance <= t, per task. No histogram: the comparison vectorises."""
    n, W, ny, X1, Y1, nb, ntasks = _scan_setup(X, Y, within)
    out = np.zeros(max(ntasks, 1), dtype=np.int64)
    none = np.zeros(0, dtype=np.int64)
    for k in prange(ntasks):
        a0, a1, b0, b1 = _task_rows(k, nb, within, n)
        c = _scan_block(X, Y, X1, Y1, W, a0, a1, within, ny, t, none, none, none, 0, 0)
        if b1 > b0:
            c += _scan_block(X, Y, X1, Y1, W, b0, b1, within, ny, t, none, none, none, 0, 0)
        out[k] = c
    return out


# --------------------------------------------------------- close pairs
@njit(parallel=True, cache=True)
def close_pairs_kernel(X, Y, within, t, task_counts):
    """Every pair with distance <= t as arrays (i, j, d), in task order;
    `task_counts` is count_kernel's output for the same t (offsets)."""
    n, W, ny, X1, Y1, nb, ntasks = _scan_setup(X, Y, within)
    offsets = np.zeros(len(task_counts) + 1, dtype=np.int64)
    for k in range(len(task_counts)):
        offsets[k + 1] = offsets[k] + task_counts[k]
    total = offsets[-1]
    I = np.empty(total, dtype=np.int64)
    J = np.empty(total, dtype=np.int64)
    D = np.empty(total, dtype=np.int64)
    for k in prange(ntasks):
        a0, a1, b0, b1 = _task_rows(k, nb, within, n)
        end = offsets[k + 1]
        c = _scan_block(X, Y, X1, Y1, W, a0, a1, within, ny, t, I, J, D, offsets[k], end)
        if b1 > b0:
            _scan_block(X, Y, X1, Y1, W, b0, b1, within, ny, t, I, J, D, offsets[k] + c, end)
    return I, J, D


@njit(parallel=True, cache=True)
def close_pairs_capped_kernel(X, Y, within, t, cap):
    """One pass: task k writes its pairs with distance <= t into slots
    k*cap .. (k+1)*cap of I, J, D and its count into counts[k]; a task with
    more than `cap` pairs writes only the first cap (the caller sees
    counts[k] > cap and falls back to count_kernel + close_pairs_kernel)."""
    n, W, ny, X1, Y1, nb, ntasks = _scan_setup(X, Y, within)
    counts = np.zeros(max(ntasks, 1), dtype=np.int64)
    I = np.empty(max(ntasks, 1) * cap, dtype=np.int64)
    J = np.empty(max(ntasks, 1) * cap, dtype=np.int64)
    D = np.empty(max(ntasks, 1) * cap, dtype=np.int64)
    for k in prange(ntasks):
        a0, a1, b0, b1 = _task_rows(k, nb, within, n)
        start = k * cap
        c = _scan_block(X, Y, X1, Y1, W, a0, a1, within, ny, t, I, J, D, start, start + cap)
        if b1 > b0:
            c += _scan_block(X, Y, X1, Y1, W, b0, b1, within, ny, t, I, J, D, start + c, start + cap)
        counts[k] = c
    return I, J, D, counts


# ------------------------------------------------------- same-group pairs
@njit(cache=True)
def same_group_hist(X, Y, a_order, a_start, b_order, b_start, within, nbins):
    """Histogram of pairs that share a group. Rows of X sorted by group code
    are a_order, code g occupying a_order[a_start[g]:a_start[g+1]] (same for
    Y). `within`: X is Y and only pairs of distinct rows count once."""
    W = X.shape[1]
    h = np.zeros(nbins, dtype=np.int64)
    for g in range(len(a_start) - 1):
        for p in range(a_start[g], a_start[g + 1]):
            i = a_order[p]
            q0 = p + 1 if within else b_start[g]
            for q in range(q0, b_start[g + 1]):
                h[_dist(X, i, Y, b_order[q], W)] += 1
    return h


# ------------------------------------------------------- nearest neighbour
@njit(parallel=True, cache=True)
def row_min_kernel(X, Y, ga, gb):
    """For each row i of X: the smallest distance to a row j of Y in a
    different group (ga[i] != gb[j]) and how many rows of Y reach it.
    (-1, 0) when every row of Y shares the group."""
    n = X.shape[0]
    W = X.shape[1]
    ny = Y.shape[0]
    mins = np.full(n, -1, dtype=np.int64)
    counts = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        best = 1 << 30
        c = 0
        for j in range(ny):
            if ga[i] == gb[j]:
                continue
            d = _dist(X, i, Y, j, W)
            if d < best:
                best = d
                c = 1
            elif d == best:
                c += 1
        if c > 0:
            mins[i] = best
            counts[i] = c
    return mins, counts


# ------------------------------------------------------------- bootstrap
# Bootstrap weights are Poisson counts: small non-negative integers. Every
# sum below is a sum of integer products, accumulated in int64, so it is
# exact, and equal (as a float) to any other order of summation.
# Single-threaded: a call takes a few ms (1,000 replicates x 10,000 pairs:
# 3 ms), less than waking a thread pool costs when other processes share
# the cores.
REP_BLOCK = 256  # replicates (columns of wt) per pass over the pairs


@njit(cache=True)
def weighted_pair_sums(wt, pa, pb, ends):
    """out[r, t] = sum over pairs p < ends[t] of wt[pa[p], r] * wt[pb[p], r]
    (the bootstrap numerator: pairs sorted by distance, ends[t] = number of
    pairs at distance <= t). wt: (images, replicates) integer weights,
    C-contiguous, so each pair reads two contiguous rows. Exact (int64)."""
    reps = wt.shape[1]
    n_t = len(ends)
    out = np.zeros((reps, n_t))
    nblocks = (reps + REP_BLOCK - 1) // REP_BLOCK
    for k in range(nblocks):
        r0 = k * REP_BLOCK
        r1 = min(reps, r0 + REP_BLOCK)
        acc = np.zeros(r1 - r0, dtype=np.int64)
        p = 0
        for t in range(n_t):
            while p < ends[t]:
                a = pa[p]
                b = pb[p]
                for r in range(r0, r1):
                    acc[r - r0] += np.int64(wt[a, r]) * np.int64(wt[b, r])
                p += 1
            for r in range(r0, r1):
                out[r, t] = acc[r - r0]
    return out


@njit(cache=True)
def group_weight_sums(wt, count_a, count_b, order, group_sorted):
    """Per replicate r (exact, int64):
    s_a[r] = sum_i count_a[i] * wt[i, r], s_b likewise, and
    cross[r] = sum_g (sum_{i in g} count_a[i] wt[i, r]) * (sum_{i in g} count_b[i] wt[i, r]).
    `order` lists the images sorted by group, group_sorted their groups."""
    reps = wt.shape[1]
    s_a = np.zeros(reps, dtype=np.int64)
    s_b = np.zeros(reps, dtype=np.int64)
    cross = np.zeros(reps, dtype=np.int64)
    nblocks = (reps + REP_BLOCK - 1) // REP_BLOCK
    n = len(order)
    for k in range(nblocks):
        r0 = k * REP_BLOCK
        r1 = min(reps, r0 + REP_BLOCK)
        ga = np.zeros(r1 - r0, dtype=np.int64)
        gb = np.zeros(r1 - r0, dtype=np.int64)
        for q in range(n):
            i = order[q]
            ca = np.int64(count_a[i])
            cb = np.int64(count_b[i])
            for r in range(r0, r1):
                v = np.int64(wt[i, r])
                ga[r - r0] += ca * v
                gb[r - r0] += cb * v
            if q == n - 1 or group_sorted[q + 1] != group_sorted[q]:
                for r in range(r0, r1):
                    s_a[r] += ga[r - r0]
                    s_b[r] += gb[r - r0]
                    cross[r] += ga[r - r0] * gb[r - r0]
                    ga[r - r0] = 0
                    gb[r - r0] = 0
    return s_a, s_b, cross
