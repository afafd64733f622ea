"""A test-only hasher that makes "the run is still going" true by
construction, whatever the machine's speed: tests that interrupt or kill a
real run (`python -m tests.gated run ...`) use it instead of a timing window.

`gated` is imagehash's pHash (64 bits) that, once the run's hash store holds
at least `after_chunks` finished chunk files, blocks while the file `gate`
does not exist, after creating the file `blocked` (so a test knows the run
is parked). Opening the gate (creating the file) lets the same config run
to the end, with the same hasher identity, so a re-run resumes from the
store. Blocking has an upper bound (`max_seconds`) so that a test that
fails half-way leaves no process behind for long.

Run from the command line with the hasher registered::

    python -m tests.gated run --config cfg.yaml   # = python -m harness run ..., plus `gated`
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from harness.hashers.base import Hasher
from harness.hashers.imagehash_backend import PerceptualHash


class GatedPHash(Hasher):
    name = "gated"
    bits = 64
    backend = "test"

    def __init__(
        self, store: str = "", gate: str = "", blocked: str = "", after_chunks: int = 0, max_seconds: float = 900.0
    ):
        super().__init__(store=store, gate=gate, blocked=blocked, after_chunks=after_chunks, max_seconds=max_seconds)

    def _closed(self) -> bool:
        p = self.params
        if not p["gate"] or os.path.exists(p["gate"]):
            return False
        chunks = Path(p["store"]) / "chunks"
        return (len(list(chunks.glob("*.parquet"))) if chunks.is_dir() else 0) >= p["after_chunks"]

    def hash(self, rgb):
        if self._closed():
            Path(self.params["blocked"]).touch()
            end = time.monotonic() + self.params["max_seconds"]
            while self._closed() and time.monotonic() < end:
                time.sleep(0.05)
        return PerceptualHash().hash(rgb)


def register() -> None:
    from harness.hashers import register as _register

    _register(GatedPHash.name, GatedPHash)


def gated_config(store: Path, gate: Path, blocked: Path, after_chunks: int) -> dict:
    """The `hashers:` entry of a config that uses the gated hasher."""
    return {
        "name": "gated",
        "params": {"store": str(store), "gate": str(gate), "blocked": str(blocked), "after_chunks": after_chunks},
    }


if __name__ == "__main__":
    register()
    from harness.cli import main

    sys.exit(main(sys.argv[1:]))
