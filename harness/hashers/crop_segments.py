"""imagehash's crop_resistant_hash segmentation (``_find_all_segments``),
compiled, with the same result: the same segments (pixel count and
bounding box) in the same order, and the same IndexError where imagehash
raises one.

What imagehash 4.3.2 computes, for ``pixels`` of shape (W, H) (imagehash
calls shape[0] the width) and ``hill = pixels > segment_threshold``:

1. Hill regions: while some hill pixel is unassigned, the region is the
   4-connected component (within the unassigned hill pixels) of the first
   such pixel in row-major order (``numpy.nonzero`` order). All hill pixels
   end up in a region.
2. Valley regions likewise on the unassigned non-hill pixels, but the loop
   runs ``while len(already_segmented) < W * H``. ``already_segmented``
   starts with the 2 * (W + H) pixels just outside the image, and a region
   adds its pixels to it as they are reached from a neighbour; the start
   pixel is reached again only when the region has another pixel, so a
   region of n pixels adds n if n > 1 and 0 if n == 1. Hence the loop stops
   as soon as ``2(W+H) + sum of those additions >= W*H`` (possibly before the
   last valley regions are found), and when every pixel is in a region but
   the count is still below W*H (more than 2(W+H) single-pixel regions), the
   next ``_find_region`` indexes an empty ``numpy.nonzero`` and raises
   IndexError.
3. A region is kept (a segment) when its pixel count is > min_segment_size.

The region search is the only part of crop_resistant_hash replaced here
(`label_regions`: one row-major scan per phase with an explicit stack, so
components and their discovery order are those above; O(W*H) instead of
imagehash's Python set operations). Everything else (Pillow's conversion,
resize, blur and median filter, the bounding boxes, the crops and dHash)
is done by the caller exactly as imagehash does it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _label_regions(hill):  # pragma: no cover - compiled
    h, w = hill.shape
    n = h * w
    flat = hill.ravel()
    seen = np.zeros(n, np.bool_)
    stack = np.empty(n, np.int64)
    size = np.empty(n, np.int64)
    min_r = np.empty(n, np.int64)
    min_c = np.empty(n, np.int64)
    max_r = np.empty(n, np.int64)
    max_c = np.empty(n, np.int64)
    k = 0
    n_hill = 0
    for phase in range(2):
        want = phase == 0  # hills first, then valleys
        for start in range(n):
            if seen[start] or flat[start] != want:
                continue
            seen[start] = True
            stack[0] = start
            top = 1
            cnt = 0
            r0, c0 = start // w, start % w
            r1, c1 = r0, c0
            while top > 0:
                top -= 1
                p = stack[top]
                r = p // w
                c = p - r * w
                cnt += 1
                if r < r0:
                    r0 = r
                if r > r1:
                    r1 = r
                if c < c0:
                    c0 = c
                if c > c1:
                    c1 = c
                if r > 0:
                    q = p - w
                    if not seen[q] and flat[q] == want:
                        seen[q] = True
                        stack[top] = q
                        top += 1
                if r < h - 1:
                    q = p + w
                    if not seen[q] and flat[q] == want:
                        seen[q] = True
                        stack[top] = q
                        top += 1
                if c > 0:
                    q = p - 1
                    if not seen[q] and flat[q] == want:
                        seen[q] = True
                        stack[top] = q
                        top += 1
                if c < w - 1:
                    q = p + 1
                    if not seen[q] and flat[q] == want:
                        seen[q] = True
                        stack[top] = q
                        top += 1
            size[k] = cnt
            min_r[k] = r0
            min_c[k] = c0
            max_r[k] = r1
            max_c[k] = c1
            k += 1
        if phase == 0:
            n_hill = k
    return n_hill, size[:k].copy(), min_r[:k].copy(), min_c[:k].copy(), max_r[:k].copy(), max_c[:k].copy()


class Regions(NamedTuple):
    """Regions in discovery order (hills first); int64 arrays of equal length."""

    size: np.ndarray
    min_row: np.ndarray
    min_col: np.ndarray
    max_row: np.ndarray
    max_col: np.ndarray
    n_hill: int


def label_regions(hill: np.ndarray) -> Regions:
    """Every 4-connected region of ``hill`` (bool (rows, cols)) and of its
    complement, hills first, each phase in row-major order of the region's
    first pixel: pixel count and bounding box (rows/cols, inclusive)."""
    hill = np.ascontiguousarray(hill, dtype=np.bool_)
    if hill.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {hill.shape}")
    n_hill, *arrays = _label_regions(hill)
    return Regions(*arrays, n_hill=int(n_hill))


def regions_imagehash_visits(regions: Regions, shape: tuple) -> int | None:
    """How many regions (hills, then valleys in order) imagehash's
    ``_find_all_segments`` finds for a mask of ``shape`` (step 2 of the
    module docstring), or None where it raises IndexError."""
    w, h = shape
    total = w * h
    added = np.where(regions.size > 1, regions.size, 0)
    count = 2 * (w + h) + int(added[: regions.n_hill].sum())
    # already_segmented's size before each valley region, and after the last
    before = count + np.concatenate(([0], np.cumsum(added[regions.n_hill :])))
    n_valley = len(regions.size) - regions.n_hill
    done = int(np.count_nonzero(before[:n_valley] < total))
    if done == n_valley and before[n_valley] < total:
        return None  # the loop goes on with no pixel left: IndexError
    return regions.n_hill + done


def find_segments(pixels: np.ndarray, segment_threshold, min_segment_size) -> Regions | None:
    """The segments imagehash's ``_find_all_segments(pixels, segment_threshold,
    min_segment_size)`` returns, as `Regions` in its order (n_hill counts the
    hill segments), or None where it raises IndexError."""
    pixels = np.asarray(pixels)
    regions = label_regions(pixels > segment_threshold)
    n = regions_imagehash_visits(regions, pixels.shape)
    if n is None:
        return None
    keep = np.flatnonzero(regions.size[:n] > min_segment_size)
    return Regions(*(a[keep] for a in regions[:5]), n_hill=int(np.count_nonzero(keep < regions.n_hill)))


def imagehash_index_error(shape: tuple) -> IndexError:
    """The IndexError imagehash's ``_find_region`` raises when no pixel is
    left (``numpy.transpose(numpy.nonzero(remaining))[0]`` on an all-False
    array), made by the same numpy expression so its message is identical."""
    try:
        np.transpose(np.nonzero(np.zeros(shape, dtype=bool)))[0]
    except IndexError as exc:
        return exc
    raise AssertionError("numpy indexed an empty array")  # pragma: no cover
