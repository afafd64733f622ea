"""Executors: where chunks run. One engine code path, three backends, all
used through the `concurrent.futures` interface (``submit -> Future``):

- ``process`` (default): a `ProcessPoolExecutor` of ``workers`` processes
  (default: every core), started with ``forkserver`` so that workers fork
  from a process that has already imported the decoders and transforms.
- ``dask``: `distributed.Client(...).get_executor()`; ``scheduler="local"``
  starts a `LocalCluster` of ``workers`` single-threaded worker processes on
  127.0.0.1, ``scheduler="tcp://HOST:PORT"`` connects to a running
  scheduler (Slurm, Kubernetes, ... see docs/scaling.md).
- ``inline``: runs every task in the calling process (debugging, tests);
  timeouts cannot be enforced there.

`run_work` drives them: it keeps at most ``capacity`` chunks in flight,
gives each a deadline of ``timeout_seconds x images`` (plus a small grace),
and handles the two ways a chunk can go wrong:

- it runs past its deadline (a hung decode): the local pool's processes are
  killed and the pool restarted (other in-flight chunks are resubmitted, not
  counted as failures); on Dask the future is cancelled. The chunk is then
  split into one task per image, each with a budget of ``timeout_seconds``;
  an image that runs out of it gets an error row ``timeout after N s``.
- its worker dies (a crash in a decoder, the OOM killer, a lost Dask worker)
  or the task raises: the chunk is retried (``retries`` times), then split
  into single images, each retried alone; an image that keeps failing gets
  an error row with the reason. Retried work runs alone, so a crash is
  blamed on the right image.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..errors import ConfigError
from . import chunks as chunks_mod


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


# ------------------------------------------------------------------ backends
class InlineBackend:
    kind = "inline"
    can_kill = False

    def __init__(self):
        self.capacity = 1
        self.grace = 0.0

    def submit(self, fn, *args) -> Future:
        fut = Future()
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - handed to the driver like a worker's failure
            fut.set_exception(exc)
        return fut

    def is_broken(self, exc) -> bool:
        return False

    def reset(self):
        pass

    def abandon(self, futures):
        pass

    def close(self):
        pass

    def abort(self):
        pass

    def describe(self) -> dict:
        return {"executor": "inline", "workers": 1}


#: imported once by the forkserver; every worker forks from it
PRELOAD = ["harness.engine.chunks", "harness.engine.run", "harness.hashers"]


def prestart() -> None:
    """Start the forkserver now (it imports PRELOAD in its own process while
    the driver lists images), so that the pool starts fast later."""
    from multiprocessing import forkserver

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    try:
        forkserver.ensure_running()
    except Exception:  # an optimisation only
        pass


class ProcessBackend:
    kind = "process"
    can_kill = True

    def __init__(self, workers: int):
        self.capacity = workers
        self.grace = 2.0
        self.restarts = 0
        self._ctx = multiprocessing.get_context("forkserver")
        self._ctx.set_forkserver_preload(PRELOAD)
        self._pool = None
        self._start()

    def _start(self):
        self._pool = ProcessPoolExecutor(max_workers=self.capacity, mp_context=self._ctx)
        # make every worker process exist and import the work code before
        # any deadline starts counting
        futs = [self._pool.submit(chunks_mod.warm_up, 0.2) for _ in range(self.capacity)]
        wait(futs, timeout=300)

    def submit(self, fn, *args) -> Future:
        """The pool's future; if the pool broke since the last check (a worker
        died while other results were being collected), a future that fails
        with BrokenProcessPool, so run_work handles it like any dead worker
        (retry after a reset) instead of the run stopping."""
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool as exc:
            fut = Future()
            fut.set_exception(exc)
            return fut

    def is_broken(self, exc) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def _kill(self):
        """Kill every worker process (tasks in flight are lost, not waited
        for) and shut the pool down."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for proc in list(getattr(pool, "_processes", {}).values()):
            try:
                proc.kill()
            except Exception:
                pass
        pool.shutdown(wait=True, cancel_futures=True)

    def reset(self):
        """Kill every worker process and start a fresh pool."""
        self._kill()
        self.restarts += 1
        self._start()

    def abandon(self, futures):
        self.reset()

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def abort(self):
        """Stop now (Ctrl-C, an error in the driver): kill the workers
        instead of waiting for the chunks they are hashing; finished chunks
        are already in the store."""
        self._kill()

    def describe(self) -> dict:
        return {"executor": "process", "workers": self.capacity, "pool_restarts": self.restarts}


class DaskBackend:
    kind = "dask"
    can_kill = False

    def __init__(self, scheduler: str, workers: int, retries: int):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise ConfigError("--scheduler", "Dask is not installed; pip install 'phash-harness[dask]'") from None
        self.cluster = None
        self.scheduler = scheduler
        self.grace = 5.0
        if scheduler == "local":
            self.cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
            )
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as exc:
                raise ConfigError("--scheduler", f"cannot connect to {scheduler}: {exc}") from None
        self.executor = self.client.get_executor(pure=False, retries=retries)
        self.capacity = max(1, sum(self.client.nthreads().values()))
        self.n_workers = len(self.client.nthreads())

    def submit(self, fn, *args) -> Future:
        return self.executor.submit(fn, *args)

    def is_broken(self, exc) -> bool:
        return False

    def reset(self):
        pass

    def abandon(self, futures):
        # Dask cannot stop a running task; the hung thread stays busy until
        # its worker is restarted (a LocalCluster we started is closed at the
        # end of the run).
        for f in futures:
            f.cancel()
        # each hung thread is one slot less: do not queue work (whose
        # deadline is already running) behind it
        self.capacity = max(1, self.capacity - len(futures))

    def close(self):
        try:
            self.executor.shutdown(wait=False)
        except Exception:
            pass
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    def abort(self):
        """Dask cannot kill a running task; closing the client (and a
        LocalCluster we started) is the fastest stop there is."""
        self.close()

    def describe(self) -> dict:
        return {
            "executor": "dask",
            "scheduler": self.scheduler,
            "workers": self.capacity,
            "dask_workers": self.n_workers,
        }


def check_executor_args(workers: int | None, scheduler: str | None) -> None:
    """ConfigError for a bad --workers / --scheduler (before anything runs)."""
    if workers is not None and (not isinstance(workers, int) or workers < 1):
        raise ConfigError("--workers", f"must be an integer >= 1 (got {workers})")
    if scheduler not in (None, "", "inline", "local") and not str(scheduler).startswith(("tcp://", "tls://", "ucx://")):
        raise ConfigError("--scheduler", f"must be 'local' or tcp://HOST:PORT (got {scheduler!r})")


def make_backend(workers: int | None = None, scheduler: str | None = None, retries: int = 2):
    """The executor for a run: `scheduler` None -> local process pool of
    `workers` (default: every core); "local" -> Dask LocalCluster;
    "tcp://HOST:PORT" -> existing Dask scheduler; "inline" -> this process."""
    check_executor_args(workers, scheduler)
    if scheduler in (None, ""):
        return ProcessBackend(workers or default_workers())
    if scheduler == "inline":
        return InlineBackend()
    return DaskBackend(scheduler, workers or default_workers(), retries)


# -------------------------------------------------------------------- driver
@dataclass
class Work:
    chunk: int  # index of the chunk it belongs to
    items: list  # chunks_mod.Item
    attempt: int = 0
    single: bool = False  # split out of a chunk: one image

    @property
    def suspect(self) -> bool:
        return self.attempt > 0


@dataclass
class WorkStats:
    tasks: int = 0
    retried: int = 0
    split: int = 0
    timeouts: int = 0
    crashed: int = 0
    worker_peak_rss_kib: int = 0  # largest peak RSS a hashing task reported


def run_work(
    backend, chunk_list, hashers, seed: int, max_pixels: int, timeout: float, retries: int, on_rows, on_progress=None
) -> WorkStats:
    """Run every chunk with missing work; call ``on_rows(work, rows)`` in the
    driver for each finished task (the store write) and
    ``on_progress(work)`` when a task is done (progress)."""
    stats = WorkStats()
    queue = deque(Work(c.index, c.items) for c in chunk_list if not c.done)
    inflight: dict = {}  # future -> (work, deadline)

    def submit(w: Work):
        fut = backend.submit(chunks_mod.compute_chunk, w.items, hashers, seed, max_pixels)
        inflight[fut] = (w, time.monotonic() + timeout * len(w.items) + backend.grace)
        stats.tasks += 1

    def give_up(w: Work, rows):
        on_rows(w, rows)
        if on_progress:
            on_progress(w)

    def failed(w: Work, reason: str):
        """A task raised or its worker died."""
        if w.attempt < retries:
            stats.retried += 1
            queue.appendleft(Work(w.chunk, w.items, w.attempt + 1, w.single))
        elif len(w.items) > 1:
            stats.split += 1
            for it in reversed(w.items):
                queue.appendleft(Work(w.chunk, [it], 1, True))
        else:
            stats.crashed += 1
            give_up(
                w,
                [chunks_mod.image_error_row(w.items[0].image_id, "worker", f"{reason} ({w.attempt + 1} attempts)", "")],
            )

    def timed_out(w: Work):
        if len(w.items) > 1:
            stats.split += 1
            for it in reversed(w.items):
                queue.appendleft(Work(w.chunk, [it], 0, True))
        else:
            stats.timeouts += 1
            give_up(w, [chunks_mod.timeout_row(w.items[0].image_id, timeout)])

    while queue or inflight:
        # retried work runs alone so that a crash is blamed on the right image
        while queue and len(inflight) < backend.capacity:
            if queue[0].suspect and inflight:
                break
            w = queue.popleft()
            submit(w)
            if w.suspect:
                break
        now = time.monotonic()
        next_deadline = min(d for _, d in inflight.values())
        done, _ = wait(list(inflight), timeout=max(0.05, min(next_deadline - now, 1.0)), return_when=FIRST_COMPLETED)
        broken = False
        for fut in done:
            w, _ = inflight.pop(fut)
            try:
                out = fut.result()
                rows = out["rows"]
                stats.worker_peak_rss_kib = max(stats.worker_peak_rss_kib, out["peak_rss_kib"])
            except Exception as exc:  # noqa: BLE001
                if backend.is_broken(exc):
                    broken = True
                    failed(w, "worker process died")
                else:
                    failed(w, f"{type(exc).__name__}: {exc}".strip())
                continue
            on_rows(w, rows)
            if on_progress:
                on_progress(w)
        if broken:
            # every other in-flight task of the pool is lost too
            for _fut, (w, _) in list(inflight.items()):
                failed(w, "worker process died")
            inflight.clear()
            backend.reset()
            continue
        now = time.monotonic()
        expired = [f for f, (_, d) in inflight.items() if now > d and not f.done()]
        if expired:
            if backend.can_kill:  # keep what finished before the pool is killed
                for fut in [f for f in inflight if f.done() and f not in expired]:
                    w, _ = inflight.pop(fut)
                    try:
                        rows = fut.result()["rows"]
                    except Exception:  # noqa: BLE001
                        queue.appendleft(w)
                        continue
                    on_rows(w, rows)
                    if on_progress:
                        on_progress(w)
            backend.abandon(expired)
            for fut in expired:
                w, _ = inflight.pop(fut)
                timed_out(w)
            if backend.can_kill:  # the pool was restarted: resubmit the rest
                for _fut, (w, _) in list(inflight.items()):
                    queue.appendleft(w)
                inflight.clear()
    return stats
