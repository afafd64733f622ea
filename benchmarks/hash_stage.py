"""Hash stage alone: seconds of decode -> variants -> hash (compute_rows) in one process.

Times `harness.engine.chunks.compute_rows` (the unit of work of every run:
decode each image once, make every variant in memory, hash it with every
hasher, build the store rows) on the first ``--limit`` photos of a folder,
with the quickstart's transforms and hashers (or ``--config``), in this
process, after a warm-up on two images (imports, numba cache load). No
store, metrics or report: the figure isolates the stage this benchmark is
about.

Prints and writes wall and CPU seconds (``time.process_time``: less
disturbed by other processes on a shared machine) per round, and the
sha256 of ``repr(rows)`` (values only: bytes, strings, numbers, None; not
object identity, which pickle's memo would see): two code versions that
give the same digest on the same photos, config and seed produced
byte-identical rows (hashes, applied params, error rows), so a speed-up
can be checked to change no output. Writes ``<output>.json`` and ``<output>.md`` (default
results/bench/hash_stage).
"""

from __future__ import annotations

import hashlib
import os
import platform
import time
from datetime import datetime, timezone

from harness.errors import ConfigError

from . import datasets_root, write_results


def add_arguments(p) -> None:
    p.add_argument("--folder", default=None, help="folder of photos (default: the shared caltech101 images)")
    p.add_argument("--limit", type=int, default=300, help="photos (default: %(default)s)")
    p.add_argument(
        "--config", default=None, help="experiment config for transforms, hashers, seed (default: the quickstart)"
    )
    p.add_argument("--rounds", type=int, default=2, help="timed rounds (default: %(default)s)")
    p.add_argument("--output", default="results/bench/hash_stage", help="output path without extension")


def _default_folder() -> str | None:
    folder = datasets_root() / "caltech101" / "images"
    return str(folder) if folder.is_dir() else None


def measure(folder: str, limit: int, config=None, rounds: int = 2) -> dict:
    """Time compute_rows on the first `limit` photos of `folder`; see the module docstring."""
    from harness.config import load_config
    from harness.datasets.loader import load_records
    from harness.engine.chunks import Item, compute_rows
    from harness.transforms import ORIGINAL

    raw = load_config(config).model_dump()
    raw["dataset"] = {"source": "folder", "path": folder, "limit": int(limit)}
    cfg = load_config(raw)
    records, _ = load_records(cfg.dataset)
    specs, hashers = cfg.transform_specs(), cfg.build_hashers()
    every = list(range(len(hashers)))
    items = [Item(r.image_id, r.path, [(s, every) for s in [ORIGINAL, *specs]]) for r in records]
    compute_rows(items[:2], hashers, cfg.seed, cfg.max_pixels)  # warm-up
    out = {
        "images": len(items),
        "variants_per_image": len(specs) + 1,
        "hashers": [h.name for h in hashers],
        "rounds": [],
    }
    for _ in range(max(1, int(rounds))):
        load = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
        w0, c0 = time.perf_counter(), time.process_time()
        rows = compute_rows(items, hashers, cfg.seed, cfg.max_pixels)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()[:16]
        out["rounds"].append(
            {
                "wall_seconds": round(wall, 3),
                "cpu_seconds": round(cpu, 3),
                "load_before": load,
                "rows": len(rows),
                "rows_sha256": digest,
            }
        )
    out["rows_sha256"] = out["rounds"][0]["rows_sha256"]
    out["best_cpu_seconds"] = min(r["cpu_seconds"] for r in out["rounds"])
    return out


def main(args) -> int:
    folder = args.folder or _default_folder()
    if not folder or not os.path.isdir(folder):
        raise ConfigError("--folder", "a folder of photos is needed (the shared caltech101 was not found)")
    if args.limit < 1:
        raise ConfigError("--limit", "a positive number of photos")
    result = measure(folder, args.limit, args.config, args.rounds)
    result.update(
        {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "folder": folder,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "command": f"phash-harness bench hash_stage --limit {args.limit}"
            + (f" --config {args.config}" if args.config else ""),
        }
    )
    lines = [
        "# `phash-harness bench hash_stage`: decode -> variants -> hash, one process",
        "",
        f"Measured {result['date']} on {result['machine']['cpus']} cores, {result['images']} photos of "
        f"`{folder}`, {result['variants_per_image']} variants each (original included), hashers "
        f"{', '.join(result['hashers'])}. Rows sha256 (of repr): `{result['rows_sha256']}`.",
        "",
        f"Command: `{result['command']}`",
        "",
        "| round | wall s | CPU s | load before | rows | rows sha256 |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for i, r in enumerate(result["rounds"], 1):
        lines.append(
            f"| {i} | {r['wall_seconds']} | {r['cpu_seconds']} | {r['load_before']} | {r['rows']} |"
            f" `{r['rows_sha256']}` |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(args.output, result, text)
    return 0
