"""Exact Hamming-distance histograms over packed hashes.

Hashes are uint8 arrays of shape (n, nbytes). The distance between two
hashes is popcount(a XOR b), an integer number of bits in 0..bits with
bits = 8 * nbytes (padding bits are zero in both hashes, so they never
count; `bits=` checks that and trims the histogram to a hasher's length).
All pairs are counted exactly, in blocks, so memory stays
O(n * nbytes + block^2): by the numba kernels in kernel.py for large
inputs, by numpy (`np.bitwise_count` on blocks) for small ones, without
numba, or with HARNESS_NO_NUMBA=1. Same-group pairs are excluded exactly.
"""

from __future__ import annotations

import numpy as np

from ..compiled import numba_enabled

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


def hamming_matrix(a, b, dtype=np.int64, block: int = 256) -> np.ndarray:
    """All Hamming distances between two sets of packed hashes.

    ``D[i, j] = popcount(a[i] XOR b[j])`` in bits (0..8 * nbytes), for
    ``a`` (n, nbytes) and ``b`` (m, nbytes) uint8 arrays; returns an
    (n, m) array of `dtype` (any integer or float type holds these small
    integers exactly). Rows are computed `block` at a time, so memory
    beyond the result is O(block * m * nbytes). This is the one dense
    distance matrix of the harness; `pair_histogram` and friends count
    pairs without materialising it.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.array([[0b1111_0000], [0b0000_0000]], dtype=np.uint8)
    >>> hamming_matrix(a, a)
    array([[0, 4],
           [4, 0]])
    """
    a = _as_packed(a, "a")
    b = _as_packed(b, "b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same number of bytes per hash, got {a.shape[1]} and {b.shape[1]}")
    out = np.empty((len(a), len(b)), dtype=dtype)
    for i0 in range(0, len(a), block):
        xor = np.bitwise_xor(a[i0 : i0 + block, None, :], b[None, :, :])
        out[i0 : i0 + block] = np.bitwise_count(xor).sum(axis=2, dtype=np.int32)
    return out


def pair_histogram_numpy(a, b=None, groups_a=None, groups_b=None, block: int = DEFAULT_BLOCK) -> np.ndarray:
    """Reference implementation of `pair_histogram` in plain numpy
    (``np.bitwise_count`` on blocks of the distance matrix; slower, used when
    numba is unavailable and as an independent check)."""
    a, b, within, ca, cb = _sides(a, b, groups_a, groups_b)
    bits = 8 * a.shape[1]
    hist = np.zeros(bits + 1, dtype=np.int64)
    for i0 in range(0, len(a), block):
        i1 = min(i0 + block, len(a))
        j_start = i0 if within else 0
        for j0 in range(j_start, len(b), block):
            j1 = min(j0 + block, len(b))
            d = hamming_matrix(a[i0:i1], b[j0:j1], block=max(1, i1 - i0))
            keep = np.ones(d.shape, dtype=bool)
            if within and j0 == i0:
                keep &= np.triu(np.ones(d.shape, dtype=bool), k=1)
            if ca is not None:
                keep &= ca[i0:i1, None] != cb[None, j0:j1]
            hist += np.bincount(d[keep], minlength=bits + 1)[: bits + 1]
    return hist


#: below this many pairs the numpy path is used (starting threads costs more)
SMALL_PAIRS = 1_000_000


def _kernel(n_pairs: int | None = None):
    """The numba kernels, or None (then numpy is used): for fewer than
    SMALL_PAIRS pairs, or when HARNESS_NO_NUMBA=1. Both paths are exact."""
    if not numba_enabled() or (n_pairs is not None and n_pairs < SMALL_PAIRS):
        return None
    from . import kernel

    return kernel


def _n_pairs(a, b) -> int:
    n = len(a)
    return n * (n - 1) // 2 if b is None else n * len(b)


def _sides(a, b, groups_a, groups_b):
    a = _as_packed(a, "a")
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
    return a, b, within, ca, cb


def _group_index(codes: np.ndarray, n_codes: int):
    """Rows sorted by group code and the start of each code's run."""
    order = np.argsort(codes, kind="stable").astype(np.int64)
    start = np.zeros(n_codes + 1, dtype=np.int64)
    np.cumsum(np.bincount(codes, minlength=n_codes), out=start[1:])
    return order, start


def _same_group_histogram(K, X, Y, within, ca, cb, nbins):
    """Histogram of the pairs that share a group (to be subtracted)."""
    n_codes = int(max(ca.max(initial=-1), cb.max(initial=-1))) + 1
    a_order, a_start = _group_index(ca, n_codes)
    if within:
        b_order, b_start = a_order, a_start
    else:
        b_order, b_start = _group_index(cb, n_codes)
    return K.same_group_hist(X, Y, a_order, a_start, b_order, b_start, within, nbins)


def _finish(hist, nbytes, bits):
    full = 8 * nbytes
    hist = hist[: full + 1]
    if bits is not None:
        if bits > full:
            raise ValueError(f"bits={bits} exceeds the {full} bits stored in {nbytes} bytes")
        if hist[bits + 1 :].any():
            raise ValueError(f"distances above bits={bits}: the padding bits of the hashes are not zero")
        hist = hist[: bits + 1]
    return np.ascontiguousarray(hist, dtype=np.int64)


def padding_positions(packed: np.ndarray, bits: int) -> np.ndarray:
    """Positions (in np.unpackbits order, 0 = most significant bit of byte
    0) of the 8 * nbytes - bits padding bits of hashes of `bits` bits.
    Backends pad differently: right-aligned MSB-first (imagehash: the top
    bits of byte 0), left-aligned MSB-first (the low bits of the last byte)
    or LSB-first (the top bits of the last byte, e.g. OpenCV). The first
    layout whose bits are zero in every row is taken; ValueError if none
    is (then padding bits would count in distances)."""
    nbytes = packed.shape[1]
    if not 8 * (nbytes - 1) < bits <= 8 * nbytes:
        raise ValueError(f"bits={bits} does not fit {nbytes} bytes per hash")
    spare = 8 * nbytes - bits
    if spare == 0:
        return np.zeros(0, np.int64)
    last = 8 * (nbytes - 1)
    layouts = (np.arange(spare), np.arange(8 * nbytes - spare, 8 * nbytes), np.arange(last, last + spare))
    if not len(packed):
        return layouts[0]
    seen = np.bitwise_or.reduce(np.asarray(packed, np.uint8), axis=0)
    seen_bits = np.unpackbits(seen)
    for pos in layouts:
        if not seen_bits[pos].any():
            return pos
    raise ValueError(
        f"the {spare} padding bit(s) are not zero in any known layout "
        "(top of the first byte, bottom or top of the last byte)"
    )


def check_padding(packed: np.ndarray, bits: int, name: str = "a") -> None:
    """Raise ValueError when hashes of `bits` bits have non-zero padding
    bits (they would count in every distance); see padding_positions."""
    try:
        padding_positions(packed, bits)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def _words_for_histogram(K, packed):
    """uint64 words for the histogram and counting kernels; 3 words are
    zero-padded to 4, because the specialised 4-word loops are faster than
    the generic 3-word one (measured with `hist_kernel(..., variant=)`; the
    zero word adds 0 bits)."""
    X = K.to_words(packed)
    if X.shape[1] == 3:
        X = np.concatenate([X, np.zeros((len(X), 1), np.uint64)], axis=1)
    return X


def pair_histogram(
    a, b=None, groups_a=None, groups_b=None, block: int = DEFAULT_BLOCK, bits: int | None = None
) -> np.ndarray:
    """Histogram of Hamming distances over pairs, as int64 counts for
    distances 0..bits (length bits + 1; bits = 8 * nbytes unless given, e.g.
    a hasher's `bits` when its last byte has unused zero padding).

    - ``b is None``: all n*(n-1)/2 unordered pairs of distinct rows of `a`.
    - otherwise: all len(a) * len(b) pairs (row of a, row of b).
    Pairs whose group labels are equal are excluded exactly (never
    negatives); with ``b is None`` give `groups_a` only.

    Computed by the numba kernel (harness.metrics.kernel: all pairs counted,
    then the histogram of same-group pairs subtracted), or by
    `pair_histogram_numpy` when numba is unavailable. `block` only applies
    to the numpy path.
    """
    if bits is not None:
        check_padding(_as_packed(a, "a"), bits, "a")
        if b is not None:
            check_padding(_as_packed(b, "b"), bits, "b")
    K = _kernel(_n_pairs(a, b))
    if K is None:
        a = _as_packed(a, "a")
        return _finish(pair_histogram_numpy(a, b, groups_a, groups_b, block), a.shape[1], bits)
    a, b, within, ca, cb = _sides(a, b, groups_a, groups_b)
    X = _words_for_histogram(K, a)
    Y = X if within else _words_for_histogram(K, b)
    nbins = 64 * X.shape[1] + 1
    if len(a) == 0 or len(b) == 0:
        return _finish(np.zeros(nbins, np.int64), a.shape[1], bits)
    hist = K.hist_kernel(X, Y, within, nbins)
    if ca is not None:
        hist = hist - _same_group_histogram(K, X, Y, within, ca, cb, nbins)
    return _finish(hist, a.shape[1], bits)


def count_within(a, b=None, threshold: int = 0, groups_a=None, groups_b=None) -> int:
    """Number of pairs (as in `pair_histogram`) with distance <= threshold:
    the counting path for a single threshold, no histogram."""
    if threshold < 0:
        return 0
    K = _kernel(_n_pairs(a, b))
    if K is None:
        return int(pair_histogram(a, b, groups_a, groups_b)[: threshold + 1].sum())
    a, b, within, ca, cb = _sides(a, b, groups_a, groups_b)
    if len(a) == 0 or len(b) == 0:
        return 0
    X = _words_for_histogram(K, a)
    Y = X if within else _words_for_histogram(K, b)
    count = int(K.count_kernel(X, Y, within, int(threshold)).sum())
    if ca is not None:
        same = _same_group_histogram(K, X, Y, within, ca, cb, 64 * X.shape[1] + 1)
        count -= int(same[: threshold + 1].sum())
    return count


def close_pairs(a, b=None, max_distance: int = 0, groups_a=None, groups_b=None, expected: int | None = None):
    """Every pair (as in `pair_histogram`, same-group pairs excluded) whose
    distance is <= max_distance, as int64 arrays (i, j, distance) sorted by
    (distance, i, j); i indexes `a`, j indexes `b` (or `a` when b is None,
    with i < j).

    `expected`: how many pairs there are, when the caller knows it from the
    histogram (same-group pairs excluded). Then the pairs are collected in
    one pass over all pairs, each kernel task into room for a few times
    its share; only if a task overflows (pairs cluster, or many same-group
    pairs) are they counted first and then collected (two passes, as
    without `expected`). The result is the same either way."""
    empty = (np.zeros(0, np.int64),) * 3
    if max_distance < 0:
        return empty
    a, b, within, ca, cb = _sides(a, b, groups_a, groups_b)
    if len(a) == 0 or len(b) == 0:
        return empty
    K = _kernel(_n_pairs(a, None if within else b))
    if K is None:
        i_all, j_all, d_all = [], [], []
        for i0 in range(0, len(a), DEFAULT_BLOCK):
            d = hamming_matrix(a[i0 : i0 + DEFAULT_BLOCK], b, block=DEFAULT_BLOCK)
            ii, jj = np.nonzero(d <= max_distance)
            ii = ii + i0
            if within:
                keep = jj > ii
                ii, jj = ii[keep], jj[keep]
            i_all.append(ii)
            j_all.append(jj)
            d_all.append(d[ii - i0, jj])
        I, J, D = (np.concatenate(x).astype(np.int64) for x in (i_all, j_all, d_all))
    else:
        X = K.to_words(a)
        Y = X if within else K.to_words(b)
        I = None
        if expected is not None:
            tasks = max(1, K.tasks(len(X), within))
            cap = 2 * (int(expected) // tasks) + 64
            I, J, D, counts = K.close_pairs_capped_kernel(X, Y, within, int(max_distance), cap)
            I, J, D = _filled_slots(I, J, D, counts, cap)
        if I is None:
            counts = K.count_kernel(X, Y, within, int(max_distance))
            I, J, D = K.close_pairs_kernel(X, Y, within, int(max_distance), counts)
    return _other_group_sorted(I, J, D, ca, cb)


def _filled_slots(I, J, D, counts, cap):
    """The pairs a capped kernel wrote (task k: slots k*cap .. k*cap +
    counts[k]), or (None, None, None) when a task had more than cap."""
    if counts.max(initial=0) > cap:
        return None, None, None
    slots = (np.arange(cap)[None, :] < counts[:, None]).ravel()
    return I[slots], J[slots], D[slots]


def _other_group_sorted(I, J, D, ca, cb):
    """Pairs of different groups (all when there are no groups), sorted by
    (distance, i, j)."""
    if ca is not None:
        keep = ca[I] != cb[J]
        I, J, D = I[keep], J[keep], D[keep]
    order = np.lexsort((J, I, D))
    return I[order], J[order], D[order]


def histogram_and_close_pairs(
    a,
    b=None,
    max_distance: int = -1,
    groups_a=None,
    groups_b=None,
    bits: int | None = None,
    room: int = 0,
    fallback: bool = True,
):
    """`pair_histogram(a, b, groups_a, groups_b, bits=bits)` and
    `close_pairs(a, b, max_distance, groups_a, groups_b)` from one pass over
    all pairs: the histogram loops also collect the pairs at distance <=
    max_distance (harness.metrics.kernel.hist_close_kernel), each kernel
    task into room for 4 x its share of `room` (the number of such pairs
    the caller expects, e.g. from a sample) + 256. If a task overflows,
    the pairs are collected again (close_pairs, with their exact number
    from the histogram); with fallback=False the pairs are None instead
    (the caller collects them later, e.g. at a lower threshold). Either
    way the result equals the two calls.

    >>> import numpy as np
    >>> h, (i, j, d) = histogram_and_close_pairs(np.array([[0], [1], [3]], np.uint8), max_distance=1)
    >>> h.tolist()[:3], i.tolist(), j.tolist(), d.tolist()
    ([0, 2, 1], [0, 1], [1, 2], [1, 1])
    """
    t = int(max_distance)
    K = _kernel(_n_pairs(a, b))
    if K is None or t < 0:
        hist = pair_histogram(a, b, groups_a, groups_b, bits=bits)
        return hist, close_pairs(a, b, t, groups_a, groups_b, expected=int(hist[: t + 1].sum()) if t >= 0 else None)
    if bits is not None:
        check_padding(_as_packed(a, "a"), bits, "a")
        if b is not None:
            check_padding(_as_packed(b, "b"), bits, "b")
    a, b, within, ca, cb = _sides(a, b, groups_a, groups_b)
    X = _words_for_histogram(K, a)
    Y = X if within else _words_for_histogram(K, b)
    nbins = 64 * X.shape[1] + 1
    cap = 4 * (max(0, int(room)) // max(1, K.tasks(len(X), within))) + 256
    hist, I, J, D, counts = K.hist_close_kernel(X, Y, within, nbins, t, cap)
    if ca is not None:
        hist = hist - _same_group_histogram(K, X, Y, within, ca, cb, nbins)
    hist = _finish(hist, a.shape[1], bits)
    I, J, D = _filled_slots(I, J, D, counts, cap)
    if I is None and not fallback:
        return hist, None
    if I is None:
        expected = int(hist[: t + 1].sum())
        return hist, close_pairs(a, None if within else b, t, ca, None if within else cb, expected=expected)
    return hist, _other_group_sorted(I, J, D, ca, cb)


def nearest_other(a, b, groups_a, groups_b):
    """For each row of `a`: the smallest distance to a row of `b` in a
    different group, and how many rows of `b` are at that distance
    (-1, 0 when there is none). int64 arrays."""
    a, b, _, ca, cb = _sides(a, b, groups_a, groups_b)
    if ca is None:
        raise ValueError("nearest_other needs groups for both sides")
    K = _kernel(_n_pairs(a, b))
    if K is None:
        mins = np.full(len(a), -1, np.int64)
        counts = np.zeros(len(a), np.int64)
        for i0 in range(0, len(a), DEFAULT_BLOCK):
            d = hamming_matrix(a[i0 : i0 + DEFAULT_BLOCK], b, dtype=np.float64, block=DEFAULT_BLOCK)
            d[ca[i0 : i0 + DEFAULT_BLOCK, None] == cb[None, :]] = np.inf
            m = d.min(axis=1, initial=np.inf)
            ok = np.isfinite(m)
            mins[i0 : i0 + len(m)][ok] = m[ok]
            counts[i0 : i0 + len(m)] = np.where(ok, (d == m[:, None]).sum(axis=1), 0)
        return mins, counts
    if len(a) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    return K.row_min_kernel(K.to_words(a), K.to_words(b), ca.astype(np.int64), cb.astype(np.int64))


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
