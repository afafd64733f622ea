"""Shared test helpers (import as `from tests.helpers import ...`).

Real photographs live in ../shared/datasets (relative to the project root).
Tests that need them skip with a reason in a plain checkout and FAIL when
HARNESS_REQUIRE_DATA=1 (set by .ci/run).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("HARNESS_DATASETS", ROOT.parent / "shared" / "datasets"))


def dataset_dir(name: str) -> Path:
    """Folder of a shared dataset (its images/ subfolder holds the files);
    skip, or fail under HARNESS_REQUIRE_DATA=1, when it is missing."""
    path = DATASETS / name
    if not (path / "images").is_dir():
        message = f"dataset {name!r} not found at {path} (see ../shared/datasets/README.md)"
        if os.environ.get("HARNESS_REQUIRE_DATA") == "1":
            pytest.fail(message + " and HARNESS_REQUIRE_DATA=1")
        pytest.skip(message)
    return path


def run_cli(*args: str, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run `python -m harness ARGS` in a subprocess with this checkout on the path."""
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
