"""Engine: chunks, the Parquet store, resume, executors (issue 8).

Small configs keep this file well under two minutes on 2 shared cores.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from harness.config import load_config
from harness.engine import run_experiment
from harness.engine.executors import InlineBackend
from harness.engine.run import analyse_by_hasher
from harness.engine.store import KEY_COLUMNS, HashStore
from harness.hashers.base import Hasher
from harness.hashers.imagehash_backend import PerceptualHash
from harness.metrics.tables import analyse
from tests.helpers import ROOT, run_cli


# ------------------------------------------------------------ test hashers
class _WrappedPHash(Hasher):
    """imagehash pHash (64 bits) with extra behaviour for tests."""

    bits = 64
    backend = "test"

    def _phash(self, rgb):
        return PerceptualHash().hash(rgb)


class DieOnceHasher(_WrappedPHash):
    """pHash whose first call anywhere kills its own process (os._exit),
    like a decoder segfault or the OOM killer; later calls hash normally.
    `marker`: a file created just before dying (shared by all workers)."""

    name = "die_once"

    def __init__(self, marker: str = ""):
        super().__init__(marker=marker)

    def hash(self, rgb):
        marker = self.params["marker"]
        if marker and not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write(str(os.getpid()))
            os._exit(13)
        return self._phash(rgb)


class HangHasher(_WrappedPHash):
    """pHash that hangs (sleeps an hour) on images of one shape."""

    name = "hang"

    def __init__(self, height: int = 0, width: int = 0):
        super().__init__(height=height, width=width)

    def hash(self, rgb):
        if rgb.shape[:2] == (self.params["height"], self.params["width"]):
            time.sleep(3600)
        return self._phash(rgb)


@pytest.fixture
def faulty_hashers(monkeypatch):
    """Register the test hashers for one test only (other test files may
    iterate over every registered hasher). Workers get the pickled objects,
    so they need no registration."""
    import harness.hashers as registry

    monkeypatch.setitem(registry._REGISTRY, "die_once", DieOnceHasher)
    monkeypatch.setitem(registry._REGISTRY, "hang", HangHasher)


def _cfg(tmp_path, name="t", **over) -> dict:
    cfg = {
        "name": name,
        "dataset": {"source": "sample"},
        "hashers": ["phash", "dhash"],
        "transforms": [{"family": "jpeg", "severities": [50]}, {"family": "rotate", "severities": [5]}],
        "seed": 0,
        "output": str(tmp_path / name),
    }
    cfg.update(over)
    return cfg


def _read(path):
    with open(path, "rb") as fh:
        return fh.read()


# --------------------------------------------------------------- executors
@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory):
    """caltech101_tiny (first 16 photos), 2 hashers, 2 transforms, run
    inline (one process), on a 2-process pool, and on a 2-worker Dask
    LocalCluster on 127.0.0.1; every run has its own store."""
    from tests.helpers import dataset_dir

    tiny = dataset_dir("caltech101_tiny")
    base = tmp_path_factory.mktemp("exec")
    out = {}
    for label, kw in (
        ("inline", {"scheduler": "inline"}),
        ("pool", {"workers": 2}),
        ("dask", {"workers": 2, "scheduler": "local"}),
    ):
        cfg = _cfg(
            base,
            name=label,
            dataset={"source": "folder", "path": str(tiny / "images"), "limit": 16},
            engine={"chunk_size": 4},
        )
        out[label] = run_experiment(cfg, progress=False, **kw)
    return out


def test_executors_give_byte_identical_tables(tiny_runs):
    inline = tiny_runs["inline"]
    assert inline.run_info["engine"]["executor"] == "inline"
    assert tiny_runs["pool"].run_info["engine"]["executor"] == "process"
    assert tiny_runs["dask"].run_info["engine"]["executor"] == "dask"
    assert tiny_runs["dask"].run_info["engine"]["dask_workers"] == 2
    for label in ("pool", "dask"):
        other = tiny_runs[label]
        for name in ("metrics.csv", "errors.csv", "images.csv"):
            assert _read(os.path.join(inline.output, name)) == _read(os.path.join(other.output, name)), (label, name)
        pd.testing.assert_frame_equal(
            pd.read_parquet(os.path.join(inline.output, "hashes.parquet")),
            pd.read_parquet(os.path.join(other.output, "hashes.parquet")),
        )
        pd.testing.assert_frame_equal(
            pd.read_parquet(os.path.join(inline.output, "histograms.parquet")),
            pd.read_parquet(os.path.join(other.output, "histograms.parquet")),
        )
    info = inline.run_info
    assert info["engine"]["chunks_total"] == 4 and info["engine"]["chunks_computed"] == 4
    assert info["counts"]["per_hasher"]["phash"] == {"images": 16, "variants": 32, "variants_planned": 32}
    assert len(inline.hashes) == 16 * 3 * 2


def test_hashes_equal_reference_library(tiny_runs):
    """The engine's hashes are imagehash's (decode, transform in a worker)."""
    import imagehash
    from PIL import Image

    from harness.datasets import load_rgb

    h = tiny_runs["dask"].hashes
    orig = h[(h["hasher"] == "phash") & (h["transform"] == "original()")]
    images = pd.read_csv(os.path.join(tiny_runs["dask"].output, "images.csv"))
    paths = dict(zip(images["image_id"], images["path"]))
    for image_id, hexstr in list(zip(orig["image_id"], orig["hash_hex"]))[:6]:
        assert hexstr == str(imagehash.phash(Image.fromarray(load_rgb(paths[image_id]))))


def test_per_hasher_analyse_equals_one_analyse_call(tiny_runs):
    """Metrics run as one task per hasher; the merged tables hold exactly the
    rows of a single analyse() over all hashers (row order: config order)."""
    res = tiny_runs["inline"]
    cfg = res.config
    hashers, specs = cfg.build_hashers(), cfg.transform_specs()
    merged = analyse_by_hasher(InlineBackend(), res.hashes, hashers, specs, cfg.metrics)
    whole = analyse(res.hashes, hashers, specs, cfg.metrics)
    assert set(merged) == set(whole)
    for name in whole:
        cols = list(whole[name].columns)
        a = merged[name].sort_values(cols).reset_index(drop=True)
        b = whole[name][cols].sort_values(cols).reset_index(drop=True)
        pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_hashers_that_do_not_pickle_are_analysed_by_workers(tiny_runs):
    """OpenCV's hashers do not pickle; their metric tasks still go to the
    executor (the worker rebuilds them from the registry) instead of
    running one after another in the driver, and give the same tables."""
    from concurrent.futures import Future

    from harness.engine.chunks import hasher_ref
    from harness.hashers import get_hasher

    class Recording:
        kind, capacity = "process", 2

        def __init__(self):
            self.names = []

        def submit(self, fn, part, ref, *args):
            self.names.append(ref.name)
            fut = Future()
            fut.set_result(fn(part, ref, *args))
            return fut

    res = tiny_runs["inline"]
    cfg = res.config
    specs = cfg.transform_specs()
    cv = get_hasher("cv_phash")
    assert hasher_ref(cv).pickled is None
    rows = res.hashes[res.hashes["hasher"] == "phash"].copy()
    cv_rows = rows.assign(hasher="cv_phash", hasher_key=cv.key)
    cv_rows["hash"] = [bytes(reversed(b)) for b in cv_rows["hash"]]  # any 64-bit hashes will do
    both = pd.concat([rows, cv_rows], ignore_index=True)
    hashers = [get_hasher("phash"), cv]
    backend = Recording()
    merged = analyse_by_hasher(backend, both, hashers, specs, cfg.metrics)
    assert backend.names == ["phash", "cv_phash"]
    whole = analyse(both, hashers, specs, cfg.metrics)
    for name in whole:
        cols = list(whole[name].columns)
        pd.testing.assert_frame_equal(
            merged[name].sort_values(cols).reset_index(drop=True),
            whole[name][cols].sort_values(cols).reset_index(drop=True),
            check_dtype=False,
        )


# ------------------------------------------------------------ store reuse
def test_rerun_and_new_experiment_reuse_the_store(tmp_path):
    store = str(tmp_path / "shared-store")
    a = run_experiment(
        _cfg(
            tmp_path,
            "a",
            hashers=["phash"],
            transforms=[{"family": "jpeg", "severities": [50]}],
            dataset={"source": "sample", "limit": 6},
            engine={"store": store, "chunk_size": 2},
        ),
        progress=False,
        scheduler="inline",
    )
    ea = a.run_info["engine"]
    assert (ea["hashes_reused"], ea["hashes_computed"], ea["chunks_computed"]) == (0, 12, 3)
    # the same experiment again: nothing computed
    again = run_experiment(
        a.config.model_copy(update={"output": str(tmp_path / "a2")}), progress=False, scheduler="inline"
    )
    e2 = again.run_info["engine"]
    assert (e2["hashes_reused"], e2["hashes_computed"], e2["chunks_reused"]) == (12, 0, 3)
    assert _read(os.path.join(a.output, "metrics.csv")) == _read(os.path.join(again.output, "metrics.csv"))
    # a new experiment sharing the store: adds a hasher and a transform
    b = run_experiment(
        _cfg(
            tmp_path,
            "b",
            hashers=["phash", "dhash"],
            transforms=[{"family": "jpeg", "severities": [50]}, {"family": "rotate", "severities": [5]}],
            dataset={"source": "sample", "limit": 6},
            engine={"store": store, "chunk_size": 2},
        ),
        progress=False,
        scheduler="inline",
    )
    eb = b.run_info["engine"]
    assert eb["hashes_reused"] == 12 and eb["hashes_computed"] == 6 * 3 * 2 - 12
    fresh = run_experiment(
        b.config.model_copy(
            update={"output": str(tmp_path / "fresh"), "engine": b.config.engine.model_copy(update={"store": None})}
        ),
        progress=False,
        scheduler="inline",
    )
    assert fresh.run_info["engine"]["hashes_reused"] == 0
    assert _read(os.path.join(b.output, "metrics.csv")) == _read(os.path.join(fresh.output, "metrics.csv"))
    pd.testing.assert_frame_equal(b.hashes, fresh.hashes)
    # a different seed changes the variants: only originals are reused
    c = run_experiment(
        b.config.model_copy(update={"seed": 7, "output": str(tmp_path / "c")}), progress=False, scheduler="inline"
    )
    assert c.run_info["engine"]["hashes_reused"] == 6 * 2


def test_bad_images_are_recorded_cached_and_exit_1(tmp_path):
    from tests.helpers import dataset_dir

    src = sorted((dataset_dir("caltech101_tiny") / "images").rglob("*.jpg"))[:3]
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, p in enumerate(src):
        (folder / f"ok{i}.jpg").write_bytes(p.read_bytes())
    (folder / "corrupt.jpg").write_bytes(src[0].read_bytes()[:300])
    (folder / "empty.png").write_bytes(b"")
    cfg = _cfg(tmp_path, "bad", dataset={"source": "folder", "path": str(folder)})
    cfg_path = tmp_path / "bad.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    res = run_cli("run", "--config", cfg_path, "--no-progress", "--workers", "1")
    assert res.returncode == 1, res.stderr
    assert "2 image(s) not hashed" in res.stderr
    errors = pd.read_csv(tmp_path / "bad" / "errors.csv")
    assert sorted(errors["image_name"]) == ["corrupt.jpg", "empty.png"]
    assert set(errors["stage"]) == {"decode"} and errors["reason"].str.len().min() > 5
    info = json.loads((tmp_path / "bad" / "run.json").read_text())
    assert info["dataset"]["images_failed"] == 2 and info["counts"]["per_hasher"]["phash"]["images"] == 3
    # decode errors are stored too: a re-run computes nothing and reports the same
    before = _read(tmp_path / "bad" / "errors.csv")
    again = run_experiment(cfg_path, progress=False)
    assert again.run_info["engine"]["images_computed"] == 0 and again.n_errors == 2
    assert _read(tmp_path / "bad" / "errors.csv") == before


# ------------------------------------------------------------ kill/resume
def _store_keys(store_dir):
    files = HashStore(store_dir).files()
    keys = []
    for f in files:
        keys += [tuple(r) for r in pq.read_table(f).to_pandas()[KEY_COLUMNS + ["stage"]].itertuples(index=False)]
    return files, keys


@pytest.mark.slow
def test_sigkill_then_resume_recomputes_no_finished_chunk(tmp_path, monkeypatch):
    """A real run subprocess is killed with SIGKILL once some chunks are in
    the store; the resumed run computes only the other chunks and its tables
    equal an uninterrupted run's. The run cannot finish before the kill on
    any machine: its first hasher (`tests.gated`) parks the worker once 3
    chunks are in the store, until the test opens the gate."""
    import harness.hashers as registry
    from tests.gated import GatedPHash, gated_config
    from tests.helpers import dataset_dir

    monkeypatch.setitem(registry._REGISTRY, GatedPHash.name, GatedPHash)
    tiny = dataset_dir("caltech101_tiny") / "images"
    N, CHUNKS = 32, 16
    store = tmp_path / "killed" / "store"
    gate, blocked = tmp_path / "gate", tmp_path / "blocked"
    cfg = _cfg(
        tmp_path,
        "killed",
        hashers=[gated_config(store, gate, blocked, after_chunks=3), "dhash"],
        dataset={"source": "folder", "path": str(tiny), "limit": N},
        transforms=[
            {"family": "jpeg", "severities": [70, 30]},
            {"family": "rotate", "severities": [5]},
            {"family": "noise", "severities": [10]},
        ],
        engine={"chunk_size": 2},
    )
    path = tmp_path / "killed.yaml"
    path.write_text(yaml.safe_dump(cfg))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    command = [sys.executable, "-m", "tests.gated", "run", "--config", str(path), "--no-progress", "--workers", "1"]
    proc = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 300  # a bound for a broken run, not a window the test relies on
    while not blocked.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert blocked.exists() and proc.poll() is None, "the run did not park at the gate"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    gate.touch()
    files_before, keys_before = _store_keys(store)
    assert 3 <= len(files_before) < CHUNKS
    contents_before = {f: _read(f) for f in files_before}
    assert not (tmp_path / "killed" / "metrics.csv").exists()

    res = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    info = json.loads((tmp_path / "killed" / "run.json").read_text())["engine"]
    assert info["chunks_total"] == CHUNKS
    assert info["chunks_reused"] == len(files_before)
    assert info["chunks_computed"] == CHUNKS - len(files_before)
    assert info["hashes_reused"] == len(keys_before)
    assert info["hashes_computed"] == N * 5 * 2 - len(keys_before)
    assert f"reused {len(files_before)} of {CHUNKS} chunks" in res.stdout
    files_after, keys_after = _store_keys(store)
    assert len(keys_after) == len(set(keys_after)) == N * 5 * 2  # nothing computed twice
    for f, blob in contents_before.items():  # finished chunks untouched
        assert _read(f) == blob

    clean = run_experiment(cfg | {"output": str(tmp_path / "clean")}, progress=False, workers=1)
    assert clean.run_info["engine"]["hashes_reused"] == 0
    for name in ("metrics.csv", "errors.csv"):
        assert _read(tmp_path / "killed" / name) == _read(tmp_path / "clean" / name)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "killed" / "hashes.parquet"), clean.hashes)


# ------------------------------------------------------- failures, timeouts
@pytest.fixture(scope="module")
def dask_address():
    """A 2-worker Dask LocalCluster on 127.0.0.1 (worker processes with
    nannies), reached like a remote cluster: --scheduler tcp://..."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


@pytest.mark.parametrize("where", ["process-pool", "dask-tcp"])
def test_worker_dying_mid_task_is_retried(tmp_path, where, request, faulty_hashers):
    executor = {"workers": 2} if where == "process-pool" else {"scheduler": request.getfixturevalue("dask_address")}
    marker = tmp_path / "died"
    base = dict(
        hashers=[{"name": "die_once", "params": {"marker": str(marker)}}],
        transforms=[{"family": "jpeg", "severities": [50]}],
        dataset={"source": "sample", "limit": 8},
        engine={"chunk_size": 2},
    )
    res = run_experiment(_cfg(tmp_path, "dies", **base), progress=False, **executor)
    assert marker.exists(), "no worker died: the test did not test anything"
    assert res.n_errors == 0 and len(res.hashes) == 8 * 2
    if "scheduler" not in executor:
        assert res.run_info["engine"]["retried"] >= 1 and res.run_info["engine"]["pool_restarts"] >= 1
    ref = run_experiment(_cfg(tmp_path, "ref", **base), progress=False, scheduler="inline")  # marker exists: no death
    assert _read(os.path.join(res.output, "metrics.csv")) == _read(os.path.join(ref.output, "metrics.csv"))
    pd.testing.assert_frame_equal(res.hashes, ref.hashes)


def test_hung_image_times_out_and_the_run_goes_on(tmp_path, faulty_hashers):
    # coins (303 x 384) is the only sample photo of that shape
    cfg = _cfg(
        tmp_path,
        "hang",
        hashers=[{"name": "hang", "params": {"height": 303, "width": 384}}],
        transforms=[{"family": "jpeg", "severities": [50]}],
        dataset={"source": "sample", "limit": 8},
        engine={"chunk_size": 4, "timeout_seconds": 3.0},
    )
    t0 = time.monotonic()
    res = run_experiment(cfg, progress=False, workers=2)
    assert time.monotonic() - t0 < 1800  # the hung hash sleeps 3600 s: the run did not wait for it
    errs = res.errors
    assert list(errs["image_name"]) == ["coins"]
    assert list(errs["stage"]) == ["timeout"] and list(errs["reason"]) == ["timeout after 3 s"]
    assert res.run_info["dataset"]["images_failed"] == 1
    assert res.hashes["image_name"].nunique() == 7 and len(res.hashes) == 7 * 2
    eng = res.run_info["engine"]
    assert eng["timeouts"] == 1 and eng["split"] == 1


def test_bad_executor_arguments_exit_2_and_write_nothing(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(_cfg(tmp_path, "out")))
    res = run_cli("run", "--config", path, "--scheduler", "nowhere")
    assert res.returncode == 2 and "--scheduler" in res.stderr and len(res.stderr.strip().splitlines()) == 1
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match="--workers: must be an integer >= 1"):
        run_experiment(path, workers=0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.yaml"]


def test_engine_config_errors_name_the_field(tmp_path):
    from harness.errors import ConfigError

    with pytest.raises(ConfigError, match=r"engine.chunk_size"):
        load_config(_cfg(tmp_path, engine={"chunk_size": 0}))
    with pytest.raises(ConfigError, match=r"engine.*allowed: chunk_size, store, timeout_seconds, retries"):
        load_config(_cfg(tmp_path, engine={"chunks": 3}))


def test_store_cleans_only_dead_processes_tmp_files(tmp_path):
    import socket

    store = HashStore(str(tmp_path / "store"))
    os.makedirs(store.tmp_dir)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    names = [
        f"{host}-{int(dead.stdout)}-abc.parquet",
        f"{host}-{os.getpid()}-def.parquet",
        f"otherhost-{int(dead.stdout)}-ghi.parquet",
    ]
    for n in names:
        (tmp_path / "store" / "tmp" / n).write_bytes(b"half")
    assert store.clean_tmp() == 1
    assert sorted(os.listdir(store.tmp_dir)) == sorted(names[1:])
    assert store.files() == []  # tmp files are never read as chunks
