"""One interface over the two kinds of distance a hasher can have.

- `HammingMetric`: binary hashes, distance = number of differing bits
  (integer 0..bits); histograms have bits + 1 bins; the numba kernels.
- `HasherMetric`: any other distance (OpenCV RadialVariance "pcc",
  ColorMoment "l2", imagehash crop-resistant "multi-segment", ...). The
  hasher provides ``pair_distances(a, b) -> float64 (len(a), len(b))``
  (lower = more similar; row = query, column = reference; it may be
  asymmetric, e.g. imagehash's crop-resistant ``query - reference``),
  ``n_bins``, ``quantise(d) -> int64 bin in 0..n_bins-1`` (non-decreasing
  in d) and ``bin_edges`` (length n_bins, ``bin_edges[t]`` = the largest
  distance in bin t). Distances are computed block by block (memory
  O(block^2)) and binned; "threshold t" then means bin index t, i.e.
  distance <= bin_edges[t]. Histograms have n_bins bins. Within one set
  (orig-orig) an unordered pair {i, j} gets the smaller of the two
  directions' bins (either photo could be the query); across sets the row
  (the variant) is the query.

Both expose: nbins, hist(a, b, ga, gb), close(a, b, t, ga, gb),
paired(a, b) and nearest(a, b, ga, gb), with the semantics of the
functions in hamming.py (b=None: all pairs i < j of a; same-group pairs
excluded).
"""

from __future__ import annotations

import numpy as np

from . import hamming

GENERIC_BLOCK = 1024
#: largest pair count (len(a) x len(b)) whose bins `HasherMetric` keeps in
#: memory between its passes (2-byte bins: at most 128 MiB); larger sets
#: are recomputed block by block in every pass
CACHE_PAIRS = 1 << 26


class HammingMetric:
    kind = "hamming"

    def __init__(self, bits: int):
        self.bits = int(bits)
        self.nbins = self.bits + 1

    def hist(self, a, b=None, ga=None, gb=None):
        return hamming.pair_histogram(a, b, ga, gb, bits=self.bits)

    def close(self, a, b, t, ga=None, gb=None, expected=None):
        """Pairs at distance <= t (`hamming.close_pairs`; `expected`: their
        number when known from the histogram, for the one-pass kernel)."""
        return hamming.close_pairs(a, b, t, ga, gb, expected=expected)

    def paired(self, a, b):
        return hamming.paired_distances(a, b)

    def nearest(self, a, b, ga, gb):
        return hamming.nearest_other(a, b, ga, gb)

    def nearest_within(self, a, ga):
        """Per row of `a`: the smallest distance to another row of `a` in a
        different group (-1 when none); the pair distance of `hist(a)`."""
        return hamming.nearest_other(a, a, ga, ga)[0]

    def label(self, t: int) -> str:
        return f"{t} bits"


class HasherMetric:
    kind = "binned"

    def __init__(self, hasher):
        for attr in ("pair_distances", "quantise", "n_bins"):
            if not hasattr(hasher, attr):
                raise ValueError(f"hasher {hasher.name!r} has distance {hasher.distance!r} but no {attr}")
        self.hasher = hasher
        self.nbins = int(hasher.n_bins)
        self.bits = self.nbins - 1
        self.edges = np.asarray(getattr(hasher, "bin_edges", np.arange(self.nbins)), dtype=float)
        # the bins of the last (a, b) pair of sets, block by block: hist,
        # close and nearest of one negative set then compute each distance
        # once instead of once per pass (the arrays are held, so `is`
        # identifies them; analyse never changes them in place)
        self._cached = None  # (a, b, {(i0, j0): bins})

    def _cached_blocks(self, a, b):
        c = self._cached
        if c is not None and c[0] is a and c[1] is b:
            return c[2]
        return None

    def bins(self, x, y):
        """Bin indices (int64, (len(x), len(y))) of hash rows x (queries)
        against y (references): the hasher's pair_distances, quantised."""
        return self._bins(x, y)

    def _bins(self, x, y):
        d = np.asarray(self.hasher.pair_distances(x, y), dtype=np.float64)
        q = np.asarray(self.hasher.quantise(d), dtype=np.int64)
        if q.size and (q.min() < 0 or q.max() >= self.nbins):
            raise ValueError(f"{self.hasher.name}.quantise returned bins outside 0..{self.nbins - 1}")
        return q

    def _blocks(self, a, b, ga, gb):
        """Yield (i0, j0, bins, keep) per block; keep masks same-group pairs
        and (b is None) the lower triangle."""
        within = b is None
        if within:
            b, gb = a, ga
        ca, cb = hamming._group_codes(ga, gb, len(a), len(b))
        key_b = None if within else b
        cached = self._cached_blocks(a, key_b)
        filling = {} if cached is None and len(a) * len(b) <= CACHE_PAIRS else None
        for i0 in range(0, len(a), GENERIC_BLOCK):
            i1 = min(i0 + GENERIC_BLOCK, len(a))
            for j0 in range(i0 if within else 0, len(b), GENERIC_BLOCK):
                j1 = min(j0 + GENERIC_BLOCK, len(b))
                if cached is not None:
                    q = cached[(i0, j0)].astype(np.int64)
                else:
                    q = self._bins(a[i0:i1], b[j0:j1])
                    if within:  # unordered pair: the smaller of both directions
                        q = np.minimum(q, self._bins(b[j0:j1], a[i0:i1]).T)
                    if filling is not None:
                        filling[(i0, j0)] = q.astype(np.int16 if self.nbins <= 32767 else np.int32)
                keep = np.ones(q.shape, dtype=bool)
                if within:
                    keep &= np.arange(i0, i1)[:, None] < np.arange(j0, j1)[None, :]
                if ca is not None:
                    keep &= ca[i0:i1, None] != cb[None, j0:j1]
                yield i0, j0, q, keep
        if filling is not None:  # only a complete pass is kept
            self._cached = (a, key_b, filling)

    def hist(self, a, b=None, ga=None, gb=None):
        h = np.zeros(self.nbins, dtype=np.int64)
        for _, _, q, keep in self._blocks(a, b, ga, gb):
            h += np.bincount(q[keep], minlength=self.nbins)
        return h

    def close(self, a, b, t, ga=None, gb=None, expected=None):
        out = ([], [], [])
        for i0, j0, q, keep in self._blocks(a, b, ga, gb):
            ii, jj = np.nonzero(keep & (q <= t))
            out[0].append(ii + i0), out[1].append(jj + j0), out[2].append(q[ii, jj])
        if not out[0]:
            return (np.zeros(0, np.int64),) * 3
        I, J, D = (np.concatenate(x).astype(np.int64) for x in out)
        order = np.lexsort((J, I, D))
        return I[order], J[order], D[order]

    def paired(self, a, b):
        return np.array([self._bins(a[i : i + 1], b[i : i + 1])[0, 0] for i in range(len(a))], dtype=np.int64)

    def nearest(self, a, b, ga, gb):
        mins = np.full(len(a), -1, np.int64)
        counts = np.zeros(len(a), np.int64)
        ca, cb = hamming._group_codes(ga, gb, len(a), len(b))
        cached = self._cached_blocks(a, b)
        for i0 in range(0, len(a), GENERIC_BLOCK):
            if cached is not None:  # the row block's column blocks, side by side
                q = np.concatenate([cached[(i0, j0)] for j0 in range(0, len(b), GENERIC_BLOCK)], axis=1).astype(
                    np.float64
                )
            else:
                q = self._bins(a[i0 : i0 + GENERIC_BLOCK], b).astype(np.float64)
            q[ca[i0 : i0 + GENERIC_BLOCK, None] == cb[None, :]] = np.inf
            m = q.min(axis=1, initial=np.inf)
            ok = np.isfinite(m)
            mins[i0 : i0 + len(m)][ok] = m[ok]
            counts[i0 : i0 + len(m)] = np.where(ok, (q == m[:, None]).sum(axis=1), 0)
        return mins, counts

    def nearest_within(self, a, ga):
        """Per row of `a`: the smallest bin to another row of `a` in a
        different group (-1 when none), with the pair bins of `hist(a)` (the
        smaller of the two directions), from the cached blocks when `hist`
        of the same set ran just before."""
        big = np.iinfo(np.int64).max
        mins = np.full(len(a), big, np.int64)
        for i0, j0, q, keep in self._blocks(a, None, ga, None):
            v = np.where(keep, q, big)
            if v.size:
                np.minimum(mins[i0 : i0 + v.shape[0]], v.min(axis=1), out=mins[i0 : i0 + v.shape[0]])
                np.minimum(mins[j0 : j0 + v.shape[1]], v.min(axis=0), out=mins[j0 : j0 + v.shape[1]])
        mins[mins == big] = -1
        return mins

    def label(self, t: int) -> str:
        if 0 <= t < len(self.edges):
            return f"bin {t}: {self.hasher.distance} <= {self.edges[t]:g}"
        return f"bin {t}"


def metric_for(hasher):
    """HammingMetric for binary hashers, HasherMetric otherwise."""
    if getattr(hasher, "distance", "hamming") == "hamming":
        return HammingMetric(hasher.bits)
    return HasherMetric(hasher)
