"""One implementation of each shared helper: the Clopper-Pearson interval
(`harness.metrics.clopper_pearson`, also public as
`harness.risk.clopper_pearson`), the dense Hamming distance matrix
(`harness.metrics.hamming_matrix`) and the numba switch
(`harness.compiled.numba_enabled`), checked against independent oracles."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import harness.metrics as metrics
import harness.risk as risk
from harness.compiled import numba_enabled
from harness.errors import ConfigError
from harness.metrics import clopper_pearson, hamming, hamming_matrix


def test_one_clopper_pearson():
    assert risk.clopper_pearson is metrics.clopper_pearson


@pytest.mark.parametrize(
    "k, n", [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (1, 238), (57, 64), (0, 4560), (4560, 4560), (12, 30_500_000)]
)
@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_clopper_pearson_equals_scipy_exact(k, n, confidence):
    ci = stats.binomtest(k, n).proportion_ci(confidence, method="exact")
    lo, hi = clopper_pearson(k, n, confidence)
    assert isinstance(lo, float) and isinstance(hi, float)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), rel=1e-6, abs=1e-15)  # binomtest finds roots to ~1e-7
    if k == 0:
        assert lo == 0.0
    if k == n:
        assert hi == 1.0


def test_clopper_pearson_no_trials_is_the_whole_unit_interval():
    # n = 0 carries no information: [0, 1] (scipy's binomtest refuses n = 0,
    # so the oracle is the limit of its interval: k = 0 gives lo = 0, k = n gives hi = 1)
    assert clopper_pearson(0, 0) == (0.0, 1.0)
    lo, hi = clopper_pearson(np.array([0, 0, 3]), np.array([0, 5, 10]))
    assert lo[0] == 0.0 and hi[0] == 1.0
    for j, (k, n) in enumerate([(0, 5), (3, 10)]):
        ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
        # binomtest finds its roots to ~1e-7
        assert (lo[j + 1], hi[j + 1]) == pytest.approx((ci.low, ci.high), rel=1e-6, abs=1e-15)


def test_clopper_pearson_vector_equals_scalar():
    n = 200
    ks = np.arange(n + 1)
    lo, hi = clopper_pearson(ks, n)
    for k in (0, 1, 17, 199, 200):
        assert (lo[k], hi[k]) == clopper_pearson(int(k), n)


@pytest.mark.parametrize(
    "k, n, conf", [(5, 4, 0.95), (-1, 4, 0.95), (1.5, 4, 0.95), (1, 4, 1.0), (1, 4, 0.0), (np.array([1, 5]), 4, 0.95)]
)
def test_clopper_pearson_rejects_bad_counts(k, n, conf):
    with pytest.raises(ConfigError) as info:
        clopper_pearson(k, n, conf)
    assert "\n" not in str(info.value)


def test_hamming_matrix_equals_bit_by_bit_count():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (37, 8), dtype=np.uint8)
    b = rng.integers(0, 256, (23, 8), dtype=np.uint8)
    bits_a, bits_b = np.unpackbits(a, axis=1), np.unpackbits(b, axis=1)
    want = (bits_a[:, None, :] != bits_b[None, :, :]).sum(axis=2)
    for block in (1, 5, 256):
        for dtype in (np.int64, np.int32, np.float32):
            got = hamming_matrix(a, b, dtype=dtype, block=block)
            assert got.dtype == dtype and got.shape == (37, 23)
            assert (got == want).all()
    assert hamming_matrix(a[:0], b).shape == (0, 23)
    with pytest.raises(ValueError):
        hamming_matrix(a, b[:, :4])


def test_screen_and_risk_use_the_one_matrix():
    import harness.screen as screen

    assert screen.hamming_matrix is hamming_matrix
    assert risk.hamming_matrix is hamming_matrix


def test_one_numba_switch(monkeypatch):
    from harness.hashers import imagehash_backend
    from harness.metrics import intervals

    monkeypatch.setenv("HARNESS_NO_NUMBA", "1")
    assert not numba_enabled()
    assert hamming._kernel(10**9) is None
    assert intervals._kernel_module() is None
    assert imagehash_backend._haar_jit() is None
    monkeypatch.delenv("HARNESS_NO_NUMBA")
    assert numba_enabled()  # numba is a dependency
    assert hamming._kernel(10**9) is not None
    assert intervals._kernel_module() is not None
    assert imagehash_backend._haar_jit() is not None


@pytest.mark.parametrize(
    "module",
    ["harness.imageio", "harness.compiled", "harness.metrics.hamming", "harness.metrics.intervals", "harness.risk"],
)
def test_examples_in_docstrings_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
