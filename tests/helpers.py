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


def run_main(*args) -> subprocess.CompletedProcess:
    """Run ``harness.cli.main(ARGS)`` in this process and capture what it
    prints, as `run_cli` would: the same exit status and messages without
    an interpreter start-up (about 1.5 s of CPU a call). For argument and
    input errors; `run_cli` stays for what needs a process of its own
    (the ``python -m harness`` entry point, signals, environment variables,
    worker pools)."""
    import contextlib
    import io

    from harness.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


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
