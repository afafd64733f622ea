"""Attacks stage: black-box evasion and framing attacks on any registered hasher.

An attack only hashes candidate images through `QueryOracle` (one query = one
image hashed) and uses the hasher's own distance; nothing is hasher-specific.
It sits beside the engine: it imports datasets, hashers and metrics, and
nothing below imports it.

- `evade`, `frame`, `attack`: one image (see `harness.attacks.search`);
- `run_attack(config)`: a dataset x hashers x goals x algorithms study
  writing attacks.parquet and attack_summary.csv (see `harness.attacks.run`);
- `distortion`: rmse, linf, psnr, ssim;
- `tradeoff_table`, `transfer_table`: the threshold trade-off and the
  transfer matrix from an attacks table; `write_attack_figures(folder)`:
  figures/ and attack_tradeoff.csv of an attack folder.
"""

from .basis import BASES, Basis
from .distortion import distortion
from .figures import write_attack_figures
from .oracle import QueryBudgetExceeded, QueryOracle, hash_distance
from .search import ALGORITHMS, GOALS, AttackResult, attack, derive_seed, evade, frame
from .tradeoff import tradeoff_table
from .transfer import transfer_table

__all__ = [
    "ALGORITHMS",
    "BASES",
    "GOALS",
    "AttackResult",
    "Basis",
    "QueryBudgetExceeded",
    "QueryOracle",
    "attack",
    "derive_seed",
    "distortion",
    "evade",
    "frame",
    "hash_distance",
    "run_attack",
    "tradeoff_table",
    "transfer_table",
    "write_attack_figures",
]


def run_attack(config, **kwargs):
    """Run an attack study from an `AttackConfig`, a dict or a YAML path (see harness.attacks.run)."""
    from .run import run_attack as _run

    return _run(config, **kwargs)
