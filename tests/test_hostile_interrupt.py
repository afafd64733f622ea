"""Ctrl-C (SIGINT) on a real `python -m harness run` (issue: reliability).

The child's stderr is a pseudo-terminal, so it shows its progress bar; the
signal is sent once hashing has visibly started. Expected: exit status 130, a
message saying how to resume, no half-written results (only the hash store,
which holds the finished chunks a re-run resumes from) and no stale `.tmp-*`
folder.
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

from tests.helpers import ROOT, dataset_dir

#: what shows that hashing has started: the progress bar ("hashing: 3/7807")
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


def test_sigint_stops_cleanly_with_resume_message(tmp_path):
    caltech = dataset_dir("caltech101") / "images"
    out = tmp_path / "results" / "run"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "interrupt", "dataset": {"source": "folder", "path": str(caltech)},
        "hashers": ["phash"], "transforms": [{"family": "jpeg", "severities": [50]}],
        "output": str(out)}))
    master, slave = pty.openpty()
    # a window size, or progress bars print nothing
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--config", str(cfg)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave, env=env)
    os.close(slave)
    try:
        seen = read_until(master, PROGRESS, timeout=180)
        assert re.search(PROGRESS, seen), seen.decode(errors="replace")
        time.sleep(1.0)  # well inside the hashing of 7807 images
        assert proc.poll() is None, "the run finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=60)
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
    assert not out.exists() or sorted(p.name for p in out.iterdir()) == ["store"]
    if (out / "store").exists():  # finished chunks only; store/tmp/ is cleaned by the next run
        assert set(p.name for p in (out / "store").iterdir()) <= {"chunks", "tmp"}
    leftovers = [p.name for p in (tmp_path / "results").iterdir()] if (tmp_path / "results").exists() else []
    assert [n for n in leftovers if n.startswith(".tmp-")] == [] and set(leftovers) <= {"run"}
