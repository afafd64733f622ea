"""Benchmarks (`phash-harness bench WHAT`), kept out of the installed
package: they run from a source checkout. Each module `benchmarks.<what>`
defines `add_arguments(parser)` and `main(args) -> int`, prints its figures
(pairs/s/core, images/s/core, peak memory) and writes them under
results/bench/."""

import json
import os
from pathlib import Path

#: the repository root (this folder's parent)
REPO = Path(__file__).resolve().parents[1]


def datasets_root() -> Path:
    """$HARNESS_DATASETS, else the shared datasets next to the checkout
    (``<repo>/../shared/datasets``)."""
    return Path(os.environ.get("HARNESS_DATASETS") or REPO.parent / "shared" / "datasets")


def write_results(output: str, result: dict, markdown: str) -> None:
    """Write a benchmark's figures as ``<output>.json`` and ``<output>.md``
    (creating the folder)."""
    os.makedirs(os.path.dirname(output) or ".", exist_ok=True)
    with open(output + ".json", "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    with open(output + ".md", "w", encoding="utf-8") as fh:
        fh.write(markdown)
