"""Attack throughput: queries per CPU second (= per core) on real photos.

``queries_per_cpu_second(hasher, images, algorithm, budget)`` runs one
evasion attack per image with an unreachable threshold (the hasher's full
distance range, so every attack spends its whole budget) and divides the
queries by the process CPU seconds; the rate includes building the
perturbed candidates and the optimiser's own work, i.e. what a study pays.

Example::

    >>> import numpy as np
    >>> from harness.hashers import get_hasher
    >>> rate = queries_per_cpu_second(get_hasher("dhash"), [np.zeros((60, 80, 3), np.uint8)], budget=32)
    >>> rate["queries"]
    32
"""
from __future__ import annotations

import time

from .search import attack


def _warm_up() -> None:
    import cma  # noqa: F401 - import time is not attack time


def queries_per_cpu_second(hasher, images, algorithm: str = "random", budget: int = 500,
                           linf_cap: int = 16, seed: int = 0) -> dict:
    """{"queries", "cpu_seconds", "queries_per_cpu_second"} over one full-budget evasion per image."""
    _warm_up()
    unreachable = int(getattr(hasher, "n_bins", hasher.bits + 1))   # d > t is impossible
    queries, t0 = 0, time.process_time()
    for x in images:
        r = attack(x, hasher, None, unreachable, "evasion", algorithm=algorithm, budget=budget,
                   linf_cap=linf_cap, seed=seed)
        queries += r.queries
    cpu = time.process_time() - t0
    return {"queries": queries, "cpu_seconds": cpu, "queries_per_cpu_second": queries / cpu if cpu else float("nan")}
