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


#: runs `python -m harness ARGS` and writes the peak RSS (MiB) of that
#: process and of its largest waited-for worker to the file argv[1]
_PEAK_CHILD = """
import json, resource, runpy, sys
out = sys.argv.pop(1)
sys.argv[0] = "harness"
try:
    runpy.run_module("harness", run_name="__main__", alter_sys=True)
finally:
    peaks = {who: resource.getrusage(w).ru_maxrss / 1024.0
             for who, w in (("self", resource.RUSAGE_SELF), ("workers", resource.RUSAGE_CHILDREN))}
    with open(out, "w") as fh:
        json.dump(peaks, fh)
"""


def run_harness_measured(args: list, peak_file: str) -> tuple[float, dict]:
    """Run ``python -m harness ARGS`` in a child process (stdout discarded;
    CalledProcessError if it fails); returns (wall seconds, {"self": peak
    RSS MiB of the child, "workers": of its largest waited-for worker})."""
    import json
    import subprocess
    import sys
    import time

    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", _PEAK_CHILD, peak_file, *map(str, args)], check=True, stdout=subprocess.DEVNULL
    )
    wall = time.perf_counter() - t0
    with open(peak_file, encoding="utf-8") as fh:
        return wall, json.load(fh)
