"""crop_resistant: CPU time per image of imagehash itself (the reference)
and of the harness's fast path (compiled segmentation), on the same decoded
photos, with a check that every hash is equal.

For each dataset (default: caltech101_tiny and kodak24 from the shared
datasets folder) every photo is decoded once (``load_rgb``, not timed), then
hashed by both paths back to back, the order alternating from photo to photo:

- ``reference``: ``imagehash.crop_resistant_hash(Image.fromarray(rgb),
  limit_segments=16)`` packed (``hasher.reference_hash``);
- ``fast``: ``hasher.hash(rgb)`` (what a run does).

Times are CPU seconds of this process (``time.process_time``) divided by the
number of photos; the compiled kernel is loaded before timing. ``equal`` counts
photos whose two hex strings are equal (or which raise the same exception).

Writes ``<output>.json`` and ``<output>.md`` (default results/bench/crop_resistant).
"""

from __future__ import annotations

import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import ConfigError

from . import datasets_root, write_results


def add_arguments(p) -> None:
    p.add_argument(
        "--datasets",
        default="caltech101_tiny,kodak24",
        help="comma-separated dataset names under the shared datasets folder, or folders (default: %(default)s)",
    )
    p.add_argument("--images", type=int, default=0, help="photos per dataset, evenly spaced (0 = all)")
    p.add_argument("--output", default="results/bench/crop_resistant", help="output path without extension")


def _folder(name: str) -> Path:
    p = Path(name)
    if p.is_dir():
        return p / "images" if (p / "images").is_dir() else p
    root = datasets_root()
    if (root / name / "images").is_dir():
        return root / name / "images"
    raise ConfigError("--datasets", f"{name!r} is neither a folder nor a dataset under {root}")


def _outcome(fn, rgb):
    try:
        return fn(rgb), None
    except Exception as exc:  # noqa: BLE001 - compared between the two paths
        return None, f"{type(exc).__name__}: {exc}"


def measure(folder: Path, n_images: int) -> dict:
    from harness.hashers import get_hasher
    from harness.imageio import load_rgb

    paths = sorted(str(p) for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    if 0 < n_images < len(paths):
        paths = [paths[int(k * len(paths) / n_images)] for k in range(n_images)]
    h = get_hasher("crop_resistant")
    images = [load_rgb(p) for p in paths]
    h.hash(images[0])  # load the compiled kernel before timing
    cpu = {"reference": 0.0, "fast": 0.0}
    equal = errors = 0
    for i, rgb in enumerate(images):
        order = ("reference", "fast") if i % 2 == 0 else ("fast", "reference")
        got = {}
        for path in order:
            fn = h.reference_hash if path == "reference" else h.hash
            t0 = time.process_time()
            got[path] = _outcome(fn, rgb)
            cpu[path] += time.process_time() - t0
        (ref, ref_err), (fast, fast_err) = got["reference"], got["fast"]
        errors += ref_err is not None
        if ref_err is not None or fast_err is not None:
            equal += ref_err == fast_err
        else:
            equal += h.to_hex(ref) == h.to_hex(fast)
    n = len(images)
    ref_ms, fast_ms = 1000 * cpu["reference"] / n, 1000 * cpu["fast"] / n
    sizes = sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images}, key=lambda s: -images_count(images, s))
    return {
        "folder": str(folder),
        "images": n,
        "typical_size": sizes[0],
        "reference_cpu_ms_per_image": round(ref_ms, 2),
        "fast_cpu_ms_per_image": round(fast_ms, 2),
        "speedup": round(ref_ms / fast_ms, 1) if fast_ms else None,
        "equal": equal,
        "reference_errors": errors,
    }


def images_count(images, size: str) -> int:
    return sum(1 for im in images if f"{im.shape[1]}x{im.shape[0]}" == size)


def main(args) -> int:
    if args.images < 0:
        raise ConfigError("--images", f"must be >= 0 (got {args.images})")
    folders = [(name.strip(), _folder(name.strip())) for name in args.datasets.split(",") if name.strip()]
    if not folders:
        raise ConfigError("--datasets", "give at least one dataset name or folder")
    entries = []
    for name, folder in folders:
        load = [round(x, 2) for x in os.getloadavg()]
        e = {
            "dataset": name,
            **measure(folder, args.images),
            "loadavg_before": load,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
        entries.append(e)
        print(
            f"{name}: {e['images']} photos ({e['typical_size']} typical): imagehash "
            f"{e['reference_cpu_ms_per_image']} ms/image CPU, harness {e['fast_cpu_ms_per_image']} ms/image CPU "
            f"({e['speedup']}x); equal {e['equal']}/{e['images']} (load {load[0]:.2f} -> "
            f"{e['loadavg_after'][0]:.2f})"
        )
    res = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "command": "phash-harness bench crop_resistant",
        "entries": entries,
    }
    write_results(args.output, res, render_markdown(res))
    bad = sum(e["images"] - e["equal"] for e in entries)
    if bad:
        print(f"NOT EQUAL: {bad} photos hash differently")
        return 1
    return 0


def render_markdown(res: dict) -> str:
    lines = [
        "# crop_resistant: imagehash vs the harness's fast path",
        "",
        f"`{res['command']}` at {res['when']} ({res['machine']}, {res['cpus']} CPUs, shared: see load). "
        "CPU milliseconds per photo (decode not included), both paths on the same decoded photos; "
        "`equal` = photos whose hashes (or exceptions) are equal.",
        "",
        "| dataset | photos | typical size | imagehash ms/image (CPU) | harness ms/image (CPU) | speed-up "
        "| equal | load before -> after |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in res["entries"]:
        lines.append(
            f"| {e['dataset']} | {e['images']} | {e['typical_size']} | {e['reference_cpu_ms_per_image']} | "
            f"{e['fast_cpu_ms_per_image']} | {e['speedup']}x | {e['equal']}/{e['images']} | "
            f"{e['loadavg_before'][0]} -> {e['loadavg_after'][0]} |"
        )
    return "\n".join(lines) + "\n"
