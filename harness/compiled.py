"""Whether the compiled (numba) kernels may be used: the one check every
stage asks.

numba is a dependency; the kernels are skipped when it cannot be imported
or when the environment variable ``HARNESS_NO_NUMBA`` is ``1``. Every
compiled kernel has an exact numpy (or pure Python) path, so results are
identical either way; only the speed differs.

Examples
--------
>>> import os
>>> os.environ["HARNESS_NO_NUMBA"] = "1"
>>> numba_enabled()
False
>>> del os.environ["HARNESS_NO_NUMBA"]
"""

from __future__ import annotations

import functools
import os

#: set to "1" to use the numpy paths instead of the compiled kernels
ENV_NO_NUMBA = "HARNESS_NO_NUMBA"


@functools.lru_cache(maxsize=1)
def _numba_importable() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:  # pragma: no cover - numba is a dependency
        return False
    return True


def numba_enabled() -> bool:
    """True when numba imports and ``HARNESS_NO_NUMBA`` is not ``1`` (read
    at every call, so a test or a user can switch it within a process)."""
    return os.environ.get(ENV_NO_NUMBA) != "1" and _numba_importable()
