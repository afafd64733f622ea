"""End-to-end run throughput (images/s) with 1 and 2 workers, against thorn's perception.

`phash-harness bench run` runs the quickstart experiment's settings (aHash,
pHash, dHash, wHash; 21 transform variants; the metrics) on a folder of real
photos, from a fresh store each time (nothing reused), with each worker
count; then perception's benchmarking pipeline on the same images with the
same transforms and hashers (its own implementations), run with the Python
of a separate venv (``--perception-python``; perception pins an older
OpenCV and must not be installed next to harness).

Throughput = source images / wall seconds of the pipeline, each run in a
fresh Python process (so each pays its own worker start-up), timed inside
the process after imports (listing, decoding, variants, hashing, metrics,
writing and report for harness; dataset, transform-to-disk, hashing and
threshold/recall for perception). perception has no report stage, so
harness is also given without its report (the same run's seconds minus the
report stage's, from run.json). Each dataset of ``--dataset`` (default
caltech101_tiny and kodak24) gets its own table. Figures go to
results/bench/run.json and run.md.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time

from harness.cli import add_output_argument

DEFAULT_DATASETS = "caltech101_tiny,kodak24"


def _datasets_root() -> str:
    from . import datasets_root

    return str(datasets_root())


def _default_dataset() -> str:
    return os.path.join(_datasets_root(), "caltech101_tiny", "images")


def _resolve_dataset(name: str) -> str:
    """A folder as given, or the images/ folder of a shared dataset by name."""
    if os.path.isdir(name):
        return name
    return os.path.join(_datasets_root(), name, "images")


def add_arguments(p) -> None:
    p.add_argument(
        "--dataset",
        default=None,
        help="comma-separated folders of photos or names of shared datasets, each measured"
        f" separately (default: {DEFAULT_DATASETS} under ../shared/datasets)",
    )
    p.add_argument("--limit", type=int, default=None, help="use only the first N images")
    p.add_argument("--workers", default="1,2", help="comma-separated worker counts (default 1,2)")
    p.add_argument(
        "--perception-python",
        default=None,
        metavar="PYTHON",
        help="python of a separate venv with perception[benchmarking] to compare against"
        " (default: perception is not run)",
    )
    add_output_argument(
        p, help="folder for run.json and run.md (default: results/bench)", default=os.path.join("results", "bench")
    )
    p.add_argument(
        "--no-cpu", dest="cpu", action="store_false", help="skip the extra inline run that measures CPU seconds"
    )
    p.add_argument(
        "--memory",
        default=None,
        metavar="N,N",
        help="instead: peak memory of a cheap run at these dataset sizes (e.g. 10000,50000);"
        " writes run_memory.json/.md",
    )
    p.add_argument("--memory-chunks", default="16,64", help="chunk sizes for --memory (default 16,64)")
    p.add_argument(
        "--memory-prefill",
        action="store_true",
        help="with --memory: the quickstart's hashers and transforms, every hash already in a store (random"
        " hashes of small stub files; nothing decoded): the driver's memory per hash row",
    )
    p.add_argument(
        "--memory-code",
        default=None,
        metavar="DIR",
        help="with --memory: run the harness package of this checkout (e.g. before a change) instead of this one",
    )
    p.add_argument(
        "--scratch",
        default=None,
        help="folder for the generated images of --memory (default: <temp>/phash-harness-memory)",
    )


def _loadavg():
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _children_cpu() -> float:
    """CPU seconds (user + system) of this process's finished, waited-for
    children and their waited-for descendants."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _harness_child(folder: str, limit, workers: int, scheduler=None) -> dict:
    """One timed run (in the process that calls it)."""
    from harness.config import load_config
    from harness.engine import run_experiment
    from harness.engine.executors import default_workers
    from harness.report import write_report

    cfg = load_config(None).model_dump()
    cfg["dataset"] = {"source": "folder", "path": folder, "limit": limit}
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        cfg["output"] = os.path.join(tmp, "out")
        t0 = time.perf_counter()
        res = run_experiment(cfg, progress=False, workers=workers, scheduler=scheduler)
        t_report = time.perf_counter()
        # as `phash-harness run` does: the report after the tables, drawn on the freed cores
        write_report(
            res, processes=1 if scheduler == "inline" else min(workers or default_workers(), default_workers())
        )
        report = time.perf_counter() - t_report
        seconds = time.perf_counter() - t0
    n = res.run_info["dataset"]["images_listed"]
    res.run_info["timings_seconds"]["report"] = round(report, 3)
    return {
        "workers": workers,
        "scheduler": scheduler,
        "images": n,
        "seconds": round(seconds, 3),
        "images_per_second": round(n / seconds, 3),
        # the same run minus its report stage (figures + documents; perception has none)
        "seconds_without_report": round(seconds - report, 3),
        "images_per_second_without_report": round(n / (seconds - report), 3),
        "hashes": int(res.run_info["counts"]["hash_rows"]),
        "hashes_per_second": round(res.run_info["counts"]["hash_rows"] / seconds, 1),
        "timings_seconds": res.run_info["timings_seconds"],
        "errors": int(res.n_errors),
    }


def _harness_run(folder: str, limit, workers: int, scheduler=None) -> dict:
    """A run in a fresh Python process (timed inside it, after imports), as
    perception's runs are: every run pays its own worker start-up. With
    scheduler="inline" everything runs in that one process, and its CPU
    seconds (imports included) are recorded too: a figure that load from
    other processes on a shared machine disturbs much less than wall time."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    code = (
        "import json, sys; from benchmarks.run import _harness_child; "
        "print(json.dumps(_harness_child(sys.argv[1], None if sys.argv[2] == 'None' else int(sys.argv[2]), "
        "int(sys.argv[3]), None if sys.argv[4] == 'None' else sys.argv[4])))"
    )
    cpu0 = _children_cpu()
    proc = subprocess.run(
        [sys.executable, "-c", code, folder, str(limit), str(workers), str(scheduler)],
        capture_output=True,
        text=True,
        env=env,
    )
    cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        raise RuntimeError("harness bench run failed: " + proc.stderr.strip()[-2000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    if scheduler == "inline":
        out["cpu_seconds"] = round(cpu, 3)
        out["images_per_cpu_second"] = round(out["images"] / cpu, 3)
    return out


def _perception_run(python: str, files: list, workers: int) -> dict:
    script = os.path.join(os.path.dirname(__file__), "perception_script.py")
    with tempfile.TemporaryDirectory(prefix="bench-perception-") as tmp:
        listing = os.path.join(tmp, "files.json")
        with open(listing, "w") as fh:
            json.dump(files, fh)
        cpu0 = _children_cpu()
        proc = subprocess.run(
            [python, script, "--files", listing, "--workers", str(workers), "--storage", os.path.join(tmp, "store")],
            capture_output=True,
            text=True,
        )
        cpu = _children_cpu() - cpu0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {"workers": workers, "error": "perception failed: " + " | ".join(tail)}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["images_per_second"] = round(out["images"] / out["total_seconds"], 3)
    if workers == 1:  # the whole process and its waited-for children, imports included
        out["cpu_seconds"] = round(cpu, 3)
        out["images_per_cpu_second"] = round(out["images"] / cpu, 3)
    return out


def _markdown(result: dict) -> str:
    lines = [
        "# `phash-harness bench run`: end-to-end throughput",
        "",
        f"Measured {result['date']} on {result['machine']['cpus']} cores "
        f"(load average before/after: {result['load_before']} / {result['load_after']}; "
        "the machine was shared, so figures are noisy).",
        "",
        "Quickstart settings: 4 hashers x (original + 21 variants), metrics included. "
        "'with report' = `run_experiment` (listing, hashing, metrics, tables) then `write_report`; "
        "'without report' = the same run minus its report stage (figures, report.md/html), timed "
        "inside the same run: perception's pipeline has no report, so that column is the like-for-like "
        "comparison.",
        "",
        f"Command: `{result['command']}`",
        "",
    ]
    for d in result["datasets"]:
        lines += [
            f"## {d['name']} (`{d['dataset']}`, {d['images']} images)",
            "",
            "| pipeline | workers | seconds | images/s | seconds without report | images/s without report |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for r in d["harness"]:
            lines.append(
                f"| phash-harness | {r['workers']} | {r['seconds']} | {r['images_per_second']} |"
                f" {r['seconds_without_report']} | {r['images_per_second_without_report']} |"
            )
        for r in d["perception"]:
            if "error" in r:
                lines.append(f"| perception | {r['workers']} | - | {r['error']} | - | - |")
            else:
                lines.append(
                    f"| perception {r['perception']} | {r['workers']} | {r['total_seconds']} |"
                    f" {r['images_per_second']} | (no report) | {r['images_per_second']} |"
                )
        lines += [
            "",
            "Where the time goes (seconds; harness: `run.json` timings, hash = decode + variants +"
            " hashing in the workers; perception: its three steps):",
            "",
            "| pipeline | workers | start workers | transform | hash | metrics | report |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in d["harness"]:
            t = r["timings_seconds"]
            lines.append(
                f"| phash-harness | {r['workers']} | {t.get('start_workers', '')} | (in hash) |"
                f" {t['hash']} | {t['metrics']} | {t.get('report', '')} |"
            )
        for r in d["perception"]:
            if "error" not in r:
                lines.append(
                    f"| perception | {r['workers']} | - | {r['transform_seconds']} (to disk) |"
                    f" {r['hash_seconds']} | {r['metrics_seconds']} | - |"
                )
        cpu_rows = [("phash-harness (inline: one process)", r) for r in d.get("cpu", [])] + [
            (f"perception {r['perception']} (1 worker)", r) for r in d["perception"] if "cpu_seconds" in r
        ]
        if cpu_rows:
            lines += [
                "",
                "CPU seconds of the whole process (imports included; load from other processes"
                " disturbs this much less than wall time):",
                "",
                "| pipeline | CPU seconds | images per CPU second |",
                "|---|---:|---:|",
            ]
            lines += [f"| {label} | {r['cpu_seconds']} | {r['images_per_cpu_second']} |" for label, r in cpu_rows]
        lines += ["", "Ratios:", ""]
        for k, v in d["ratios"].items():
            lines.append(f"- {k}: {v}")
        lines.append("")
    if result.get("perception_note"):
        lines += [result["perception_note"]]
    return "\n".join(lines).rstrip("\n") + "\n"


def _ratios(harness: list, perception: list, cpu: list | None = None) -> dict:
    ratios = {}
    p_cpu = [r for r in perception if "images_per_cpu_second" in r]
    if cpu and p_cpu:
        ratios["harness / perception, images per CPU second (inline harness vs 1-worker perception)"] = round(
            cpu[0]["images_per_cpu_second"] / p_cpu[0]["images_per_cpu_second"], 2
        )
    for suffix, label in (("", "with report"), ("_without_report", "without report")):
        h = {r["workers"]: r["images_per_second" + suffix] for r in harness}
        p = {r["workers"]: r["images_per_second"] for r in perception if "error" not in r}
        if 1 in h and 2 in h:
            ratios[f"harness speed-up 1 -> 2 workers, {label} (target >= 1.8)"] = round(h[2] / h[1], 2)
        for w in sorted(set(h) & set(p)):
            ratios[f"harness / perception at {w} worker(s), {label} (target >= 3)"] = round(h[w] / p[w], 2)
    return ratios


def _memory_main(args) -> int:
    from harness.errors import ConfigError

    from .memory import make_images, make_stubs, measure_run

    try:
        sizes = [int(x) for x in args.memory.split(",")]
        chunks = [int(x) for x in args.memory_chunks.split(",")]
    except ValueError:
        raise ConfigError("--memory", "comma-separated integers, e.g. 10000,50000") from None
    source = args.dataset or os.path.join(
        os.path.dirname(_default_dataset().rstrip(os.sep)), "..", "caltech101", "images"
    )
    prefill = bool(getattr(args, "memory_prefill", False))
    code = getattr(args, "memory_code", None)
    if code and not os.path.isdir(os.path.join(code, "harness")):
        raise ConfigError("--memory-code", f"no harness package in {code}")
    if not prefill and not os.path.isdir(source):
        raise ConfigError("--dataset", f"folder not found: {source}")
    scratch = args.scratch or os.path.join(tempfile.gettempdir(), "phash-harness-memory")
    folder = os.path.join(scratch, "stubs" if prefill else "images")
    t0 = time.perf_counter()
    if prefill:
        make_stubs(folder, max(sizes))
        print(f"{max(sizes)} stub files in {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    else:
        make_images(source, folder, max(sizes))
        print(f"{max(sizes)} re-encoded copies of {source} in {folder} ({time.perf_counter() - t0:.0f} s)", flush=True)
    workers = int(str(args.workers).split(",")[-1])
    rows = []
    for n in sizes:
        sub = os.path.join(scratch, f"first-{n}")  # hard links: the run lists only these n files
        os.makedirs(sub, exist_ok=True)
        for name in sorted(os.listdir(folder))[:n]:
            if not os.path.exists(os.path.join(sub, name)):
                os.link(os.path.join(folder, name), os.path.join(sub, name))
        for c in chunks:
            r = measure_run(sub, n, c, workers, scratch, prefill=prefill, code=code)
            print(
                f"images={n} chunk_size={c} workers={workers}: driver peak {r['driver_peak_mib']} MiB"
                f" ({r['driver_peak_rss_mib_hashing']} MiB at the end of hashing),"
                f" largest worker peak {r['largest_worker_peak_mib']} MiB"
                f" ({r['worker_peak_rss_mib_hashing']} MiB while hashing), {r['seconds']} s"
                f" (exit {r['exit_status']})",
                flush=True,
            )
            rows.append(r)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "phash-harness bench run " + " ".join(shlex.quote(a) for a in sys.argv[3:]),
        "source": "stub files (never decoded)" if prefill else os.path.abspath(source),
        "config": "quickstart hashers and transforms (88 hash rows per image), every hash pre-filled in the store"
        " (random hashes; applied-parameter texts as long as the real ones, distinct per image for jpeg, noise,"
        " crop, rotate); metrics as the quickstart's without the variant-orig negatives and the bootstrap (hours"
        " of all-pairs work at 50,000 images on 2 cores; they do not touch the hash table); the run stage alone"
        " (harness.run_experiment: no report)"
        if prefill
        else "dhash, jpeg(50); images re-encoded at scale 0.5..1.5",
        "code": os.path.abspath(code) if code else None,
        "load_after": _loadavg(),
        "runs": rows,
    }
    os.makedirs(args.output, exist_ok=True)
    stem = "run_memory_prefill" if prefill else "run_memory"
    with open(os.path.join(args.output, stem + ".json"), "w") as fh:
        json.dump(result, fh, indent=2)
    lines = [
        "# Peak memory of `phash-harness run` vs dataset size and chunk size",
        "",
        f"Measured {result['date']}; command: `{result['command']}`",
        "",
        f"Images: {'' if prefill else 're-encoded copies of '}`{result['source']}`; config: {result['config']}."
        + (f" Harness code: `{result['code']}`." if code else ""),
        "",
        "Peaks are VmHWM/ru_maxrss (resident, MiB), which include the ~250 MiB of imported libraries"
        " (numpy, pandas, OpenCV, albumentations, scipy). 'while hashing' = largest peak a worker"
        " reported at the end of a hashing task; 'whole run' also covers the metrics tasks (all-pairs"
        " kernel, which grows with n) and the driver's tables. 'close pairs': rows of the run's"
        " close_pairs.parquet, held by the driver from the metrics on (bounded by metrics.max_close_pairs,"
        " not by the hash rows).",
        "",
        "| images | hash rows | close pairs | chunk_size | workers | seconds | driver peak, end of hashing |"
        " driver peak, hash table assembled | driver peak, metrics done | driver peak, tables written |"
        " driver peak, whole run | worker peak while hashing | worker peak, whole run |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['images']} | {r['hash_rows']} | {r.get('close_pairs')} | {r['chunk_size']} | {r['workers']} |"
        f" {r['seconds']} |"
        f" {r['driver_peak_rss_mib_hashing']} | {r.get('driver_peak_rss_mib_assembled')} |"
        f" {r.get('driver_peak_rss_mib_metrics')} | {r.get('driver_peak_rss_mib_written')} |"
        f" {r['driver_peak_mib']} | {r['worker_peak_rss_mib_hashing']} | {r['largest_worker_peak_mib']} |"
        for r in rows
    ]
    lines += _slopes(rows)
    with open(os.path.join(args.output, stem + ".md"), "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"written {os.path.join(args.output, stem + '.json')} and {stem}.md")
    return 0


def _slopes(rows: list) -> list:
    """Markdown lines: the driver's peaks per hash row between consecutive
    sizes of the same chunk size (MiB difference / row difference, bytes)."""
    out = []
    stages = (
        ("driver_peak_rss_mib_assembled", "hash table assembled"),
        ("driver_peak_rss_mib_metrics", "metrics done"),
        ("driver_peak_rss_mib_written", "tables written"),
        ("driver_peak_mib", "whole run"),
    )
    for c in sorted({r["chunk_size"] for r in rows}):
        rs = sorted((r for r in rows if r["chunk_size"] == c and r.get("hash_rows")), key=lambda r: r["hash_rows"])
        for a, b in zip(rs, rs[1:]):
            if b["hash_rows"] <= a["hash_rows"]:
                continue
            per = []
            for key, name in stages:
                if a.get(key) is not None and b.get(key) is not None:
                    per.append(f"{(b[key] - a[key]) * 2**20 / (b['hash_rows'] - a['hash_rows']):.0f} ({name})")
            out.append(
                f"- chunk_size {c}, {a['hash_rows']} -> {b['hash_rows']} hash rows: driver peak grows by"
                f" {', '.join(per)} bytes per hash row"
            )
    return [""] + out if out else []


def main(args) -> int:
    from harness.datasets.folder import list_image_files
    from harness.errors import ConfigError

    if args.memory:
        return _memory_main(args)

    folders = [_resolve_dataset(x.strip()) for x in (args.dataset or DEFAULT_DATASETS).split(",") if x.strip()]
    for folder in folders:
        if not os.path.isdir(folder):
            raise ConfigError("--dataset", f"folder not found: {folder}")
    try:
        counts = [int(x) for x in str(args.workers).split(",") if x.strip()]
    except ValueError:
        raise ConfigError("--workers", f"comma-separated integers >= 1 (got {args.workers!r})") from None
    if not counts or min(counts) < 1:
        raise ConfigError("--workers", f"comma-separated integers >= 1 (got {args.workers!r})")
    py = args.perception_python or "none"
    if py != "none" and not (os.path.isfile(py) and os.access(py, os.X_OK)):
        raise ConfigError(
            "--perception-python",
            f"not an executable file: {py} (a venv's bin/python with "
            "perception[benchmarking]; omit the option to skip perception)",
        )

    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "phash-harness bench run " + " ".join(shlex.quote(a) for a in sys.argv[3:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "system": platform.platform()},
        "load_before": _loadavg(),
        "datasets": [],
    }
    for folder in folders:
        rel = list_image_files(folder)[: args.limit] if args.limit else list_image_files(folder)
        files = [[os.path.join(folder, r), os.path.dirname(r) or "all"] for r in rel]
        name = (
            os.path.basename(os.path.dirname(os.path.abspath(folder)))
            if os.path.basename(os.path.abspath(folder)) == "images"
            else os.path.basename(os.path.abspath(folder))
        )
        d = {
            "name": name,
            "dataset": os.path.realpath(folder),
            "images": len(files),
            "load_before": _loadavg(),
            "harness": [],
            "perception": [],
        }
        for w in counts:
            r = _harness_run(os.path.abspath(folder), args.limit, w)
            print(
                f"{name}: phash-harness  workers={w}: {r['images']} images in {r['seconds']:.1f} s"
                f" = {r['images_per_second']:.2f} images/s; without report {r['seconds_without_report']:.1f} s"
                f" = {r['images_per_second_without_report']:.2f} images/s",
                flush=True,
            )
            d["harness"].append(r)
        if args.cpu:
            r = _harness_run(os.path.abspath(folder), args.limit, 1, "inline")
            print(
                f"{name}: phash-harness  inline: {r['images']} images, {r['cpu_seconds']:.1f} CPU s"
                f" = {r['images_per_cpu_second']:.2f} images per CPU second",
                flush=True,
            )
            d["cpu"] = [r]
        if py != "none":
            for w in counts:
                r = _perception_run(py, files, w)
                if "error" in r:
                    print(f"{name}: perception     workers={w}: {r['error']}", flush=True)
                else:
                    print(
                        f"{name}: perception     workers={w}: {r['images']} images in {r['total_seconds']:.1f} s"
                        f" = {r['images_per_second']:.2f} images/s",
                        flush=True,
                    )
                d["perception"].append(r)
        d["load_after"] = _loadavg()
        d["ratios"] = _ratios(d["harness"], d["perception"], d.get("cpu"))
        for k, v in d["ratios"].items():
            print(f"{name}: {k}: {v}")
        result["datasets"].append(d)
    if py == "none":
        result["perception_note"] = "perception not run (no --perception-python)."
    result["load_after"] = _loadavg()
    os.makedirs(args.output, exist_ok=True)
    with open(os.path.join(args.output, "run.json"), "w") as fh:
        json.dump(result, fh, indent=2)
    with open(os.path.join(args.output, "run.md"), "w") as fh:
        fh.write(_markdown(result))
    print(f"written {os.path.join(args.output, 'run.json')} and run.md")
    return 0
