"""Ctrl-C (SIGINT) on a real `python -m harness run` (issue: reliability).

The child's stderr is a pseudo-terminal, so it shows its progress bar. The
run cannot finish before the signal by construction, on any machine: its
hasher (`tests.gated`) parks every worker once two chunks are in the store,
so the signal always lands while hashing is under way, however fast the
machine is. Expected: exit status 130 (promptly: the parked workers are
killed, not waited for), a message saying how to resume, no half-written
results (only the hash store, which holds the finished chunks) and no stale
`.tmp-*` folder; a re-run resumes from the finished chunks.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time

import yaml

from tests.gated import gated_config
from tests.helpers import ROOT, dataset_dir

#: what shows that hashing has started: the progress bar ("hashing: 3/96")
PROGRESS = rb"hashing|\d+/\d+"


def read_until(fd: int, pattern: bytes, timeout: float) -> bytes:
    buf, end = b"", time.monotonic() + timeout
    while not re.search(pattern, buf) and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    return buf


def wait_for_file(path, proc, fd: int, timeout: float) -> bytes:
    """Read the pty until `path` exists (or the child ended, or timeout: a
    bound for a broken run, not a window the test relies on)."""
    buf, end = b"", time.monotonic() + timeout
    while not path.exists() and proc.poll() is None and time.monotonic() < end:
        buf += read_until(fd, b"\x00never", timeout=0.2)
    return buf


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_sigint_stops_cleanly_with_resume_message(tmp_path):
    tiny = dataset_dir("caltech101_tiny") / "images"
    out = tmp_path / "results" / "run"
    gate, blocked = tmp_path / "gate", tmp_path / "blocked"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "name": "interrupt",
                "dataset": {"source": "folder", "path": str(tiny), "limit": 24},
                "hashers": [gated_config(out / "store", gate, blocked, after_chunks=2)],
                "transforms": [{"family": "jpeg", "severities": [50]}],
                "engine": {"chunk_size": 2},
                "output": str(out),
            }
        )
    )
    master, slave = pty.openpty()
    # a window size, or progress bars print nothing
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.gated", "run", "--config", str(cfg), "--workers", "2"],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,  # never read: a full pipe would block the run it interrupts
        stderr=slave,
        env=env,
        # SIGINT as at a terminal: a child inherits an ignored SIGINT (a test
        # run started in the background of a non-interactive shell ignores
        # it), and a run that ignores Ctrl-C is right not to stop on it
        preexec_fn=_default_sigint,
    )
    os.close(slave)
    try:
        seen = wait_for_file(blocked, proc, master, timeout=300)
        assert blocked.exists(), "the run never reached the gate: " + seen.decode(errors="replace")[-2000:]
        assert proc.poll() is None, "the run ended at the gate: " + seen.decode(errors="replace")[-2000:]
        assert re.search(PROGRESS, seen), seen.decode(errors="replace")
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=120)  # the gate is still closed: only killing the workers ends the run
        rest = read_until(master, b"\x00never", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    message = (seen + rest).decode(errors="replace")
    assert rc == 130, message[-2000:]
    assert "interrupted" in message and "resume" in message and "Traceback" not in message
    # nothing half-written: the output folder holds only the store of finished
    # chunks (kept on purpose: the re-run resumes from it), no results tables,
    # and no stale temporary folder lies beside it
    assert sorted(p.name for p in out.iterdir()) == ["store"]
    assert set(p.name for p in (out / "store").iterdir()) <= {"chunks", "tmp"}
    finished = sorted((out / "store" / "chunks").glob("*.parquet"))
    assert len(finished) >= 2
    leftovers = [p.name for p in (tmp_path / "results").iterdir()]
    assert [n for n in leftovers if n.startswith(".tmp-")] == [] and set(leftovers) <= {"run"}

    # the gate open, the same command resumes from the finished chunks
    gate.touch()
    res = subprocess.run(
        [sys.executable, "-m", "tests.gated", "run", "--config", str(cfg), "--workers", "2", "--no-progress"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"reused {len(finished)} of " in res.stdout, res.stdout
    assert (out / "metrics.csv").exists()
