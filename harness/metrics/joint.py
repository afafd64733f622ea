"""Joint distance histograms of two hashers over the same pairs of photos.

For two hashers H1 and H2 and a set of pairs (i, j), the joint histogram
J[d1, d2] counts the pairs whose H1 distance is d1 and whose H2 distance
is d2 (bits for Hamming hashers, bin indices for the others). Its row sums
are H1's own pair histogram and its column sums H2's, exactly; any rule on
the two distances (AND, OR: harness.metrics.cascade) is a sum of its cells.

Row r of ``a1`` and row r of ``a2`` are the two hashers' hashes of the same
photo (or variant), likewise for ``b1``, ``b2``. The pairs are those of
`harness.metrics.pair_histogram`: all i < j of a when ``b1 is None``, else
every (row of a, row of b); pairs whose group labels are equal are
excluded.

A Hamming hasher gives packed uint8 hashes (distance = popcount of the
XOR). Any other hasher joins through its bins: pass ``bins1`` (or
``bins2``), a callable ``bins(x, y) -> int array (len(x), len(y))`` of bin
indices for hash rows x (queries) against y (references), e.g.
``lambda x, y: h.quantise(h.pair_distances(x, y))``, together with
``bits1`` (the last bin index, n_bins - 1). Within one set an unordered
pair takes the smaller bin of its two directions (either photo could be
the query), as in harness.metrics.distances.

Two Hamming hashers run on a numba kernel that computes both distances of
each pair in one blocked pass (joint_kernel.py; same-group pairs are
subtracted afterwards); small inputs, binned hashers and
``HARNESS_NO_NUMBA=1`` use a blocked numpy pass. Both are exact.
"""

from __future__ import annotations

import numpy as np

from . import hamming

BLOCK = 1024


def _n_bins(packed, bins, bits, name):
    if bins is not None:
        if bits is None:
            raise ValueError(f"{name}: give the last bin index (bits{name[-1]}) with a bins callable")
        return int(bits) + 1
    full = 8 * packed.shape[1]
    if bits is None:
        return full + 1
    if bits > full:
        raise ValueError(f"{name}: bits={bits} exceeds the {full} bits stored in {packed.shape[1]} bytes")
    hamming.check_padding(packed, int(bits), name)
    return int(bits) + 1


def _side(a, bins, name):
    return a if bins is not None else hamming._as_packed(a, name)


def _distances(x, y, bins, within_block):
    """Distance (or bin) matrix of rows x against y; for a binned hasher
    within one set, the smaller bin of the two directions."""
    if bins is None:
        return hamming.hamming_matrix(x, y, block=max(1, len(x)))
    q = np.asarray(bins(x, y), dtype=np.int64)
    if within_block:
        q = np.minimum(q, np.asarray(bins(y, x), dtype=np.int64).T)
    return q


def joint_pair_histogram_numpy(
    a1,
    a2,
    b1=None,
    b2=None,
    groups_a=None,
    groups_b=None,
    bins1=None,
    bins2=None,
    bits1=None,
    bits2=None,
    block: int = BLOCK,
) -> np.ndarray:
    """`joint_pair_histogram` by a blocked numpy pass (the reference, the
    path for binned hashers and for small inputs)."""
    within = b1 is None
    a1, a2 = _side(a1, bins1, "a1"), _side(a2, bins2, "a2")
    if len(a1) != len(a2):
        raise ValueError(f"a1 and a2 must have one row per photo each (got {len(a1)} and {len(a2)})")
    if within:
        b1, b2 = a1, a2
        gb = groups_a if groups_b is None else groups_b
    else:
        b1, b2 = _side(b1, bins1, "b1"), _side(b2, bins2, "b2")
        if b2 is None or len(b1) != len(b2):
            raise ValueError("b1 and b2 must both be given, with one row per photo each")
        gb = groups_b
    n1 = _n_bins(a1, bins1, bits1, "a1")
    n2 = _n_bins(a2, bins2, bits2, "a2")
    if not within:
        _n_bins(b1, bins1, bits1, "b1"), _n_bins(b2, bins2, bits2, "b2")
    ca, cb = hamming._group_codes(groups_a, gb, len(a1), len(b1))
    out = np.zeros(n1 * n2, dtype=np.int64)
    for i0 in range(0, len(a1), block):
        i1 = min(i0 + block, len(a1))
        for j0 in range(i0 if within else 0, len(b1), block):
            j1 = min(j0 + block, len(b1))
            d1 = _distances(a1[i0:i1], b1[j0:j1], bins1, within)
            d2 = _distances(a2[i0:i1], b2[j0:j1], bins2, within)
            keep = np.ones(d1.shape, dtype=bool)
            if within:
                keep &= np.arange(i0, i1)[:, None] < np.arange(j0, j1)[None, :]
            if ca is not None:
                keep &= ca[i0:i1, None] != cb[None, j0:j1]
            x, y = d1[keep], d2[keep]
            if x.size and (x.min() < 0 or x.max() >= n1 or y.min() < 0 or y.max() >= n2):
                raise ValueError(f"distances outside 0..{n1 - 1} x 0..{n2 - 1} (bins, or non-zero padding bits)")
            out += np.bincount(x * n2 + y, minlength=n1 * n2)
    return out.reshape(n1, n2)


def joint_pair_histogram(
    a1, a2, b1=None, b2=None, groups_a=None, groups_b=None, bins1=None, bins2=None, bits1=None, bits2=None
) -> np.ndarray:
    """Joint histogram of two hashers' distances over the same pairs.

    Returns an int64 array J of shape (bits1 + 1, bits2 + 1): J[d1, d2] =
    number of pairs (as in `pair_histogram`: i < j within `a` when `b1` is
    None, else a x b; same-group pairs excluded) at distance d1 under the
    first hasher and d2 under the second. ``J.sum(axis=1)`` is the first
    hasher's pair histogram, ``J.sum(axis=0)`` the second's. bits default to
    8 * nbytes for packed hashes; non-Hamming hashers pass a ``bins``
    callable and their last bin index (see the module docstring).

    Examples
    --------
    >>> import numpy as np
    >>> a1 = np.array([[0b0000], [0b0001], [0b0011]], dtype=np.uint8)  # 4-bit hashes
    >>> a2 = np.array([[0b00], [0b11], [0b01]], dtype=np.uint8)        # 2-bit hashes
    >>> J = joint_pair_histogram(a1, a2, bits1=4, bits2=2)
    >>> [(int(d1), int(d2)) for d1, d2 in zip(*np.nonzero(J))]  # pairs (0,1), (0,2), (1,2)
    [(1, 1), (1, 2), (2, 1)]
    >>> int(joint_pair_histogram(a1, a2, groups_a=["x", "x", "y"], bits1=4, bits2=2).sum())
    2
    """
    if bins1 is not None or bins2 is not None:
        return joint_pair_histogram_numpy(a1, a2, b1, b2, groups_a, groups_b, bins1, bins2, bits1, bits2)
    a1, a2 = hamming._as_packed(a1, "a1"), hamming._as_packed(a2, "a2")
    within = b1 is None
    n_pairs = len(a1) * (len(a1) - 1) // 2 if within else len(a1) * len(b1)
    K = hamming._kernel(n_pairs)
    if K is None or len(a1) != len(a2) or (not within and (b2 is None or len(b1) != len(b2))):
        return joint_pair_histogram_numpy(a1, a2, b1, b2, groups_a, groups_b, None, None, bits1, bits2)
    from . import joint_kernel as JK

    n1 = _n_bins(a1, None, bits1, "a1")
    n2 = _n_bins(a2, None, bits2, "a2")
    if within:
        b1, b2 = a1, a2
        gb = groups_a if groups_b is None else groups_b
    else:
        b1, b2 = hamming._as_packed(b1, "b1"), hamming._as_packed(b2, "b2")
        if b1.shape[1] != a1.shape[1] or b2.shape[1] != a2.shape[1]:
            raise ValueError("a and b must have the same hash length per hasher")
        _n_bins(b1, None, bits1, "b1"), _n_bins(b2, None, bits2, "b2")
        gb = groups_b
    ca, cb = hamming._group_codes(groups_a, gb, len(a1), len(b1))
    X1, X2 = K.to_words(a1), K.to_words(a2)
    Y1, Y2 = (X1, X2) if within else (K.to_words(b1), K.to_words(b2))
    f1, f2 = 64 * X1.shape[1] + 1, 64 * X2.shape[1] + 1
    if len(a1) == 0 or len(b1) == 0:
        return np.zeros((n1, n2), np.int64)
    if X1.shape[1] == 4 and X2.shape[1] in (1, 2):  # the register-blocked pass wants the 256-bit hasher second
        flat = JK.joint_hist_kernel(X2, Y2, X1, Y1, within, f2, f1).reshape(f2, f1).T.ravel()
    else:
        flat = JK.joint_hist_kernel(X1, Y1, X2, Y2, within, f1, f2)
    if ca is not None:
        n_codes = int(max(ca.max(initial=-1), cb.max(initial=-1))) + 1
        a_order, a_start = hamming._group_index(ca, n_codes)
        b_order, b_start = (a_order, a_start) if within else hamming._group_index(cb, n_codes)
        flat = flat - JK.same_group_joint_hist(X1, Y1, X2, Y2, a_order, a_start, b_order, b_start, within, f1, f2)
    full = flat.reshape(f1, f2)
    if full[n1:].any() or full[:, n2:].any():
        raise ValueError("distances above bits1/bits2: the padding bits of the hashes are not zero")
    return np.ascontiguousarray(full[:n1, :n2])
