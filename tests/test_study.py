"""Reference study (issue 11): pieces the study needs beyond the engine."""
from __future__ import annotations

import numpy as np
import pytest

from harness.metrics import pair_histogram


def test_lsb_first_padding_of_opencv_blockmean1_is_accepted_and_exact():
    """cv_blockmean1 packs 961 bits least-significant-bit first, so its 7
    unused bits are the HIGH bits of byte 120: the histogram equals brute
    force over the unpacked bits, and garbage in both ends still fails."""
    from harness.hashers import get_hasher
    h = get_hasher("cv_blockmean1")
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (60 + 7 * i, 80, 3), dtype=np.uint8) for i in range(12)]
    a = np.stack([h.hash(x) for x in imgs])
    assert a.shape[1] == 121 and not (a[:, -1] & 0xFE).any()
    hist = pair_histogram(a, bits=961)
    bits = np.unpackbits(a, axis=1, bitorder="little")[:, :961]
    d = [int((bits[i] != bits[j]).sum()) for i in range(12) for j in range(i + 1, 12)]
    assert np.array_equal(hist, np.bincount(d, minlength=962))
    bad = a.copy()
    bad[0, -1] |= 0x81
    with pytest.raises(ValueError, match="padding"):
        pair_histogram(bad, bits=961)


@pytest.mark.parametrize("name", ["colorhash", "whash_db4"])
def test_right_aligned_imagehash_padding_is_accepted_and_exact(name):
    """imagehash hashers whose bit count is not a multiple of 8 are packed
    right-aligned: the unused bits are the high bits of the FIRST byte."""
    from harness.hashers import get_hasher
    h = get_hasher(name)
    rng = np.random.default_rng(2)
    a = np.stack([h.hash(rng.integers(0, 256, (64, 64 + 5 * i, 3), dtype=np.uint8)) for i in range(10)])
    spare = 8 * a.shape[1] - h.bits
    assert not (a[:, 0] >> (8 - spare)).any()
    hist = pair_histogram(a, bits=h.bits)
    bits = np.unpackbits(a, axis=1)[:, spare:]
    d = [int((bits[i] != bits[j]).sum()) for i in range(10) for j in range(i + 1, 10)]
    assert np.array_equal(hist, np.bincount(d, minlength=h.bits + 1))
