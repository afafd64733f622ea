"""Attacks stage: black-box evasion and framing attacks on any registered hasher.

An attack only hashes candidate images through `QueryOracle` (one query = one
image hashed) and uses the hasher's own distance; nothing is hasher-specific.
It sits beside the engine: it imports datasets, hashers and metrics, and
nothing below imports it.

- `evade`, `frame`, `attack`: one image (see `harness.attacks.search`);
- `run_attack(config)`: a dataset x hashers x goals x algorithms study
  writing attacks.parquet and attack_summary.csv (see `harness.attacks.run`);
- `distortion`: rmse, linf, psnr, ssim.
"""
from .basis import BASES, Basis
from .distortion import distortion
from .oracle import QueryBudgetExceeded, QueryOracle, hash_distance
from .search import ALGORITHMS, GOALS, AttackResult, attack, derive_seed, evade, frame

__all__ = ["ALGORITHMS", "BASES", "GOALS", "AttackResult", "Basis", "QueryBudgetExceeded", "QueryOracle",
           "attack", "derive_seed", "distortion", "evade", "frame", "hash_distance", "run_attack"]


def run_attack(config, **kwargs):
    """Run an attack study from an `AttackConfig`, a dict or a YAML path (see harness.attacks.run)."""
    from .run import run_attack as _run
    return _run(config, **kwargs)
