"""All-pairs Hamming histogram speed and memory (harness.metrics kernels).

`phash-harness bench pairs --n 1000000 --bits 64` hashes nothing: it draws
n random hashes of `bits` bits (seeded), times the exact all-pairs
histogram (n(n-1)/2 pairs), reports pairs per second per core and the
process's peak resident memory (resource.getrusage), compares with scipy's
pdist(metric='hamming') at a size scipy handles (same hashes, both timed
in this run), and times the single-threshold counting path against faiss's
IndexBinaryFlat.range_search when faiss is installed. Results are appended
to results/bench/pairs.json and rendered to results/bench/pairs.md; figures
measured at n < 1,000,000 are also extrapolated to 1,000,000 (labelled).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import time

import numpy as np

FULL_N = 1_000_000


def add_arguments(p) -> None:
    p.add_argument("--n", type=int, default=FULL_N, help="number of random hashes (default 1000000)")
    p.add_argument("--bits", type=int, default=64, help="bits per hash (any length, e.g. 64, 144, 256)")
    p.add_argument("--threads", type=int, default=None, help="numba/faiss threads (default: all cores)")
    p.add_argument("--scipy-n", type=int, default=8000, help="hashes for the scipy pdist comparison")
    p.add_argument(
        "--count-n",
        type=int,
        default=100_000,
        help="hashes for the threshold-counting comparison with faiss (0 = skip)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--joint",
        type=int,
        default=None,
        metavar="BITS2",
        help="instead: time the joint histogram of two hashers (--bits and BITS2 bits) against "
        "each one's own histogram on the same pairs (writes pairs_joint.json)",
    )
    p.add_argument("--output", default="results/bench", help="folder for pairs.json and pairs.md")


def random_hashes(n: int, bits: int, seed: int = 0) -> np.ndarray:
    """(n, ceil(bits/8)) uint8, uniformly random bits, zero padding bits."""
    rng = np.random.default_rng(seed)
    nbytes = (bits + 7) // 8
    a = rng.integers(0, 256, (n, nbytes), dtype=np.uint8)
    spare = 8 * nbytes - bits
    if spare:
        a[:, -1] &= np.uint8((0xFF << spare) & 0xFF)
    return a


def _cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def _count_threshold(bits: int) -> int:
    """A screening threshold: the largest t with P(Bin(bits, 1/2) <= t) <= 1e-6."""
    from scipy.stats import binom

    t = np.arange(bits + 1)
    ok = np.nonzero(binom.cdf(t, bits, 0.5) <= 1e-6)[0]
    return int(ok[-1]) if len(ok) else 0


def run(
    n: int, bits: int, threads: int | None = None, scipy_n: int = 8000, count_n: int = 100_000, seed: int = 0
) -> dict:
    import numba

    from harness.errors import ConfigError
    from harness.metrics.hamming import count_within, pair_histogram

    if n < 2:
        raise ConfigError("--n", f"must be an integer >= 2 (got {n})")
    if bits < 1:
        raise ConfigError("--bits", f"must be an integer >= 1 (got {bits})")
    if threads is not None:
        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise ConfigError("--threads", f"must be in 1..{numba.config.NUMBA_NUM_THREADS} (got {threads})")
        numba.set_num_threads(threads)
    threads = numba.get_num_threads()
    out = {
        "n": n,
        "bits": bits,
        "threads": threads,
        "seed": seed,
        "pairs": n * (n - 1) // 2,
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "loadavg_before": list(os.getloadavg()),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # compile outside the timing
    warm = random_hashes(3000, bits, seed + 1)
    pair_histogram(warm, bits=bits)
    import harness.metrics.hamming as hamming

    small, hamming.SMALL_PAIRS = hamming.SMALL_PAIRS, 0
    try:
        pair_histogram(warm[:50], bits=bits)
        count_within(warm[:50], None, 3)
        a = random_hashes(n, bits, seed)
        out["rss_before_mb"] = round(_peak_mb(), 1)
        cpu0 = _cpu_seconds()
        t0 = time.perf_counter()
        hist = pair_histogram(a, bits=bits)
        dt = time.perf_counter() - t0
        cpu = _cpu_seconds() - cpu0
        assert int(hist.sum()) == out["pairs"]
        out["histogram_seconds"] = round(dt, 3)
        out["pairs_per_second"] = out["pairs"] / dt
        out["pairs_per_second_per_core"] = out["pairs"] / dt / threads
        # CPU time is what the threads actually got: on a shared machine this
        # is the better per-core figure (wall time includes waiting for a core)
        out["cpu_seconds"] = round(cpu, 3)
        out["pairs_per_cpu_second"] = out["pairs"] / cpu
        out["idle_machine_estimate_full_seconds"] = round(
            FULL_N * (FULL_N - 1) / 2 / (out["pairs_per_cpu_second"] * threads), 1
        )
        out["peak_rss_mb"] = round(_peak_mb(), 1)  # the histogram's peak (before scipy runs)
        if n < FULL_N:
            out["extrapolated_full_seconds"] = round(FULL_N * (FULL_N - 1) / 2 / out["pairs_per_second"], 1)

        # scipy pdist on the same hashes (a subset scipy can hold in memory)
        from scipy.spatial.distance import pdist

        m = min(scipy_n, n)
        sub = a[:m]
        unpacked = np.unpackbits(sub, axis=1)[:, :bits].astype(bool)
        t0 = time.perf_counter()
        d = pdist(unpacked, metric="hamming")
        ref = np.bincount(np.rint(d * bits).astype(np.int64), minlength=bits + 1)
        t_scipy = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours = pair_histogram(sub, bits=bits)
        t_ours = time.perf_counter() - t0
        assert (ours == ref).all(), "kernel and scipy disagree"
        sp = m * (m - 1) // 2
        out["scipy"] = {
            "n": m,
            "pairs": sp,
            "scipy_pdist_seconds": round(t_scipy, 4),
            "kernel_seconds": round(t_ours, 4),
            "scipy_pairs_per_second": sp / t_scipy,
            "kernel_pairs_per_second": sp / t_ours,
            "kernel_pairs_per_second_full_run": out["pairs_per_second"],
            "speedup_same_size": t_scipy / t_ours,
            "speedup_vs_full_run_rate": out["pairs_per_second"] / (sp / t_scipy),
            "histograms_equal": True,
        }

        # single-threshold counting: ours vs faiss range_search
        if count_n:
            c = min(count_n, n)
            sub = a[:c]
            t = _count_threshold(bits)
            cp = c * (c - 1) // 2
            t0 = time.perf_counter()
            k = count_within(sub, None, t)
            t_count = time.perf_counter() - t0
            t0 = time.perf_counter()
            hk = pair_histogram(sub, bits=bits)
            t_hist = time.perf_counter() - t0
            assert int(hk[: t + 1].sum()) == k
            res = {
                "n": c,
                "pairs": cp,
                "threshold": t,
                "count": k,
                "count_seconds": round(t_count, 4),
                "histogram_seconds": round(t_hist, 4),
                "count_pairs_per_second": cp / t_count,
                "histogram_pairs_per_second": cp / t_hist,
            }
            res |= _faiss_count(sub, bits, t, threads, k)
            out["threshold_count"] = res
    finally:
        hamming.SMALL_PAIRS = small
    out["peak_rss_mb_after_comparisons"] = round(_peak_mb(), 1)  # includes scipy's n^2/2 float64 matrix
    out["loadavg_after"] = list(os.getloadavg())
    return out


def _faiss_count(sub: np.ndarray, bits: int, t: int, threads: int, expect: int) -> dict:
    try:
        import faiss
    except ImportError:
        return {"faiss": "not installed"}
    if bits % 8:
        return {"faiss": f"skipped: IndexBinaryFlat needs a multiple of 8 bits (got {bits})"}
    faiss.omp_set_num_threads(threads)
    index = faiss.IndexBinaryFlat(bits)
    index.add(sub)
    t0 = time.perf_counter()
    lims, _, _ = index.range_search(sub, t + 1)  # faiss keeps distances < radius
    dt = time.perf_counter() - t0
    found = (int(lims[-1]) - len(sub)) // 2  # drop self-matches, count each pair once
    cp = len(sub) * (len(sub) - 1) // 2
    return {
        "faiss_version": faiss.__version__,
        "faiss_range_search_seconds": round(dt, 4),
        "faiss_pairs_per_second": cp / dt,
        "faiss_count": found,
        "faiss_agrees": found == expect,
    }


def render_markdown(entries: list[dict]) -> str:
    lines = [
        "# Pair-kernel benchmark (`phash-harness bench pairs`)",
        "",
        "Random hashes, exact all-pairs Hamming histogram. Timings are wall clock on a machine",
        "shared with other jobs unless the load average says otherwise; re-run on a quiet machine.",
        "`extrapolated` = time for n = 1,000,000 at the measured wall-clock rate (not measured);",
        "`pairs/CPU-s` = pairs per second of CPU time the threads actually got, and `idle estimate`",
        "= n = 1,000,000 on `threads` idle cores at that rate (an estimate, not a measurement).",
        "",
        "Peak RSS is the whole process (Python, numba, scipy imports: `rss_before_mb`) at the end of the",
        "histogram, before the scipy comparison runs.",
        "",
        "| date (UTC) | n | bits | threads | pairs | seconds | pairs/s/core | pairs/CPU-s | peak RSS MB | "
        "extrapolated 1e6 s | idle estimate 1e6 s | load before/after |",
        "|" + "---|" * 12,
    ]
    for e in entries:
        lines.append(
            f"| {e['date_utc']} | {e['n']} | {e['bits']} | {e['threads']} | {e['pairs']:.3g} | "
            f"{e['histogram_seconds']} | {e['pairs_per_second_per_core']:.3g} | "
            f"{e.get('pairs_per_cpu_second', float('nan')):.3g} | {e['peak_rss_mb']} | "
            f"{e.get('extrapolated_full_seconds', '(measured)')} | "
            f"{e.get('idle_machine_estimate_full_seconds', 'n/a')} | "
            f"{e['loadavg_before'][0]:.1f} / {e['loadavg_after'][0]:.1f} |"
        )
    lines += [
        "",
        "## scipy pdist(metric='hamming') on the same hashes",
        "",
        "| n | bits | scipy pairs/s | kernel pairs/s (same n) | speed-up same n | speed-up vs full-run rate |",
        "|---|---|---|---|---|---|",
    ]
    for e in entries:
        s = e.get("scipy")
        if s:
            lines.append(
                f"| {s['n']} | {e['bits']} | {s['scipy_pairs_per_second']:.3g} | "
                f"{s['kernel_pairs_per_second']:.3g} | {s['speedup_same_size']:.0f}x | "
                f"{s['speedup_vs_full_run_rate']:.0f}x |"
            )
    lines += [
        "",
        "## Counting under one threshold (no histogram) vs faiss IndexBinaryFlat.range_search",
        "",
        "| n | bits | t | count | count pairs/s | histogram pairs/s | faiss pairs/s | faiss agrees |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in entries:
        c = e.get("threshold_count")
        if c:
            fps = c.get("faiss_pairs_per_second")
            lines.append(
                f"| {c['n']} | {e['bits']} | {c['threshold']} | {c['count']} | "
                f"{c['count_pairs_per_second']:.3g} | {c['histogram_pairs_per_second']:.3g} | "
                f"{(f'{fps:.3g}' if fps else c.get('faiss'))} | {c.get('faiss_agrees', 'n/a')} |"
            )
    lines.append("")
    return "\n".join(lines)


def run_joint(n: int, bits1: int, bits2: int, threads: int | None = None, seed: int = 0) -> dict:
    """Wall-clock and CPU pairs per second of the joint histogram
    (harness.metrics.joint, both distances per pair) against each hasher's
    own all-pairs histogram, on n random hashes per hasher."""
    import numba

    import harness.metrics.hamming as hamming
    from harness.errors import ConfigError
    from harness.metrics.joint import joint_pair_histogram

    if n < 2:
        raise ConfigError("--n", f"must be an integer >= 2 (got {n})")
    for name, b in (("--bits", bits1), ("--joint", bits2)):
        if b < 1:
            raise ConfigError(name, f"must be an integer >= 1 (got {b})")
    if threads is not None:
        if not 1 <= threads <= numba.config.NUMBA_NUM_THREADS:
            raise ConfigError("--threads", f"must be in 1..{numba.config.NUMBA_NUM_THREADS} (got {threads})")
        numba.set_num_threads(threads)
    a1, a2 = random_hashes(n, bits1, seed), random_hashes(n, bits2, seed + 1)
    pairs = n * (n - 1) // 2
    out = {
        "n": n,
        "bits": [bits1, bits2],
        "threads": numba.get_num_threads(),
        "pairs": pairs,
        "loadavg_before": list(os.getloadavg()),
        "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    small, hamming.SMALL_PAIRS = hamming.SMALL_PAIRS, 0
    try:
        joint_pair_histogram(a1[:600], a2[:600], bits1=bits1, bits2=bits2)  # compile outside the timing
        hamming.pair_histogram(a1[:600], bits=bits1)
        hamming.pair_histogram(a2[:600], bits=bits2)
        for key, fn in (
            ("joint", lambda: joint_pair_histogram(a1, a2, bits1=bits1, bits2=bits2)),
            (f"single_{bits1}", lambda: hamming.pair_histogram(a1, bits=bits1)),
            (f"single_{bits2}", lambda: hamming.pair_histogram(a2, bits=bits2)),
        ):
            cpu0, t0 = _cpu_seconds(), time.perf_counter()
            h = fn()
            dt, cpu = time.perf_counter() - t0, _cpu_seconds() - cpu0
            assert int(h.sum()) == pairs
            out[key] = {"seconds": round(dt, 3), "pairs_per_second": pairs / dt, "pairs_per_cpu_second": pairs / cpu}
    finally:
        hamming.SMALL_PAIRS = small
    slower = min(out[f"single_{bits1}"]["pairs_per_cpu_second"], out[f"single_{bits2}"]["pairs_per_cpu_second"])
    out["joint_share_of_slower_single"] = out["joint"]["pairs_per_cpu_second"] / slower
    out["loadavg_after"] = list(os.getloadavg())
    return out


def main_joint(args) -> int:
    res = run_joint(args.n, args.bits, args.joint, args.threads, args.seed)
    os.makedirs(args.output, exist_ok=True)
    jpath = os.path.join(args.output, "pairs_joint.json")
    entries = []
    if os.path.isfile(jpath):
        with open(jpath, encoding="utf-8") as fh:
            entries = json.load(fh)
    entries.append(res)
    with open(jpath, "w", encoding="utf-8") as fh:
        json.dump(entries, fh, indent=2)
    b1, b2 = res["bits"]
    print(
        f"n={res['n']} ({res['pairs']:.3g} pairs), {b1} x {b2} bits, {res['threads']} threads "
        f"(load {res['loadavg_before'][0]:.1f}): pairs per CPU-second joint "
        f"{res['joint']['pairs_per_cpu_second']:.3g}, "
        f"{b1}-bit alone {res[f'single_{b1}']['pairs_per_cpu_second']:.3g}, "
        f"{b2}-bit alone {res[f'single_{b2}']['pairs_per_cpu_second']:.3g}; joint = "
        f"{100 * res['joint_share_of_slower_single']:.0f}% of the slower single histogram"
    )
    print(f"written: {jpath}")
    return 0


def main(args) -> int:
    if getattr(args, "joint", None) is not None:
        return main_joint(args)
    res = run(args.n, args.bits, args.threads, args.scipy_n, args.count_n, args.seed)
    os.makedirs(args.output, exist_ok=True)
    jpath = os.path.join(args.output, "pairs.json")
    entries = []
    if os.path.isfile(jpath):
        with open(jpath, encoding="utf-8") as fh:
            entries = json.load(fh)
    entries.append(res)
    with open(jpath, "w", encoding="utf-8") as fh:
        json.dump(entries, fh, indent=2)
    with open(os.path.join(args.output, "pairs.md"), "w", encoding="utf-8") as fh:
        fh.write(render_markdown(entries))
    print(
        f"n={res['n']} bits={res['bits']} threads={res['threads']}: {res['pairs']:.3g} pairs in "
        f"{res['histogram_seconds']} s = {res['pairs_per_second_per_core']:.3g} pairs/s/core; "
        f"peak RSS {res['peak_rss_mb']} MB (load {res['loadavg_before'][0]:.1f})"
    )
    print(f"CPU time {res['cpu_seconds']} s = {res['pairs_per_cpu_second']:.3g} pairs per CPU-second")
    if "extrapolated_full_seconds" in res:
        print(
            f"extrapolated (not measured) to n=1,000,000: {res['extrapolated_full_seconds']} s at this wall-clock "
            f"rate; {res['idle_machine_estimate_full_seconds']} s on {res['threads']} idle cores "
            "at the CPU-time rate"
        )
    s = res["scipy"]
    print(
        f"scipy pdist at n={s['n']}: {s['scipy_pairs_per_second']:.3g} pairs/s; kernel "
        f"{s['speedup_same_size']:.0f}x faster at that size, "
        f"{s['speedup_vs_full_run_rate']:.0f}x at the full-run rate"
    )
    c = res.get("threshold_count")
    if c:
        print(
            f"count d<={c['threshold']} at n={c['n']}: {c['count_pairs_per_second']:.3g} pairs/s "
            f"(histogram {c['histogram_pairs_per_second']:.3g}); faiss "
            f"{c.get('faiss_pairs_per_second', c.get('faiss'))}"
        )
    print(f"written: {jpath}, {os.path.join(args.output, 'pairs.md')}")
    return 0
