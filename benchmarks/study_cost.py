"""What cv_radialvariance and crop_resistant would cost in the Caltech-101
reference study (results/caltech101/experiment.yaml): hashing per image and
the all-pairs distance work, measured on part of the work and extrapolated.

Measured (CPU seconds of this process, ``time.process_time``; numba and
numpy single-threaded here):

- hashing: ``hasher.hash(load_rgb(path))`` per image (decode included) on
  ``--hash-images`` photos (all 7,807 for cv_radialvariance by default,
  ``--slow-images`` for crop_resistant; a part is evenly spaced over the
  name-sorted list, so every category is in it);
- distances: ``HasherMetric(h).hist(rows, all)``, the metrics stage's own
  blocked path (pair_distances + quantise + bincount in 1024 x 1024 blocks),
  for ``--rows`` (default 1,000) query hashes against all N hashes.

Extrapolated (labelled as such in the output), with t1 = seconds per
(query x reference) evaluation from the measurement:

- orig-orig, within one set: every unordered pair is evaluated in both
  directions (compare is asymmetric; the smaller is kept), block by block
  (diagonal blocks whole), so one pass is `within_evaluations(N)` (about
  N^2 + N x 1024) evaluations; the stage needs two passes (histogram, then
  the close pairs at or under keep_below), but computes them once when the
  set fits `harness.metrics.distances.CACHE_PAIRS` (N x N pairs): passes x
  within_evaluations(N) x t1;
- variant-orig: per transform spec, the variants (variant_sample images)
  against all N originals, three passes (histogram, close pairs, nearest
  neighbour for retrieval), computed once when sample x N fits
  CACHE_PAIRS: passes x specs x sample x N x t1;
- hashing the study's variants is estimated at the per-image hashing cost
  of originals (transforms themselves are not included).

crop_resistant is hashed on ``--slow-images`` photos (default: all; its
hashing was ~236 ms of CPU per image before the compiled segmentation). If
that is fewer than N, its N reference hashes for the distance timing are
those hashes repeated to N rows (labelled "tiled"): the cost per pair
depends on the segment counts, whose distribution the repetition keeps.
For comparison, ``--reference-images`` of those photos (evenly spaced) are
also hashed by imagehash itself (``hasher.reference_hash``, decode
included), reported as ``reference_hash_cpu_ms_per_image``.

Writes ``<output>.json`` and ``<output>.md`` (default results/bench/study_cost).
"""

from __future__ import annotations

import os
import platform
import time
from datetime import datetime, timezone

import numpy as np

from harness.errors import ConfigError

from . import datasets_root, write_results


def add_arguments(p) -> None:
    p.add_argument("--dataset", default=None, help="folder of photos (default: the shared caltech101/images)")
    p.add_argument(
        "--config",
        default="results/caltech101/experiment.yaml",
        help="study config, for the number of specs and variant_sample (default: %(default)s)",
    )
    p.add_argument(
        "--hashers", default="cv_radialvariance,crop_resistant", help="comma-separated (default: %(default)s)"
    )
    p.add_argument("--hash-images", type=int, default=0, help="photos to hash for the fast hashers (0 = all)")
    p.add_argument("--slow-images", type=int, default=0, help="photos to hash for crop_resistant (0 = all)")
    p.add_argument(
        "--reference-images",
        type=int,
        default=40,
        help="photos also hashed by imagehash itself, crop_resistant only (default: %(default)s)",
    )
    p.add_argument(
        "--rows", type=int, default=1000, help="query rows of the timed distance block (default: %(default)s)"
    )
    p.add_argument("--output", default="results/bench/study_cost", help="output path without extension")


def _dataset(path: str | None) -> str:
    if path:
        return path
    return str(datasets_root() / "caltech101" / "images")


def within_evaluations(n: int) -> int:
    """Ordered (query, reference) evaluations of one all-pairs pass over n
    hashes as HasherMetric makes it: block pairs (i0 <= j0) of
    GENERIC_BLOCK rows, each evaluated in both directions (about n^2 plus
    the diagonal blocks)."""
    from harness.metrics.distances import GENERIC_BLOCK

    sizes = [min(GENERIC_BLOCK, n - i) for i in range(0, n, GENERIC_BLOCK)]
    return sum(2 * sizes[i] * sizes[j] for i in range(len(sizes)) for j in range(i, len(sizes)))


def passes(n_query: int, n_reference: int, uncached: int) -> int:
    """Distance passes the metrics stage makes over one negative set: 1
    when HasherMetric keeps its bins between passes (the set has at most
    CACHE_PAIRS pairs), else `uncached` (2 within one set, 3 across)."""
    from harness.metrics.distances import CACHE_PAIRS

    return 1 if n_query * n_reference <= CACHE_PAIRS else uncached


def _cpu(fn):
    t0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.process_time() - t0, time.perf_counter() - w0


def _spread(paths: list[str], n: int) -> list[str]:
    """n paths evenly spaced over the list (all of them if n is 0 or >= len)."""
    return [paths[int(k * len(paths) / n)] for k in range(n)] if 0 < n < len(paths) else paths


def measure(
    hasher_name: str, paths: list[str], n_hash: int, rows: int, specs: int, sample: int, n_reference: int = 0
) -> dict:
    from harness.hashers import get_hasher
    from harness.imageio import load_rgb
    from harness.metrics.distances import metric_for

    h = get_hasher(hasher_name)
    # a part: evenly spaced over the name-sorted list, so every category is represented
    todo = _spread(paths, n_hash)
    hashes, errors = [], 0

    def hash_all():
        nonlocal errors
        for p in todo:
            try:
                hashes.append(h.hash(load_rgb(p)))
            except Exception:  # noqa: BLE001 - counted, not fatal for a cost estimate
                errors += 1

    _, hash_cpu, hash_wall = _cpu(hash_all)
    reference = {}
    if n_reference > 0 and hasattr(h, "reference_hash"):
        ref_todo = _spread(todo, n_reference)

        def reference_all():
            for p in ref_todo:
                try:
                    h.reference_hash(load_rgb(p))
                except Exception:  # noqa: BLE001 - the same images fail in both paths
                    pass

        _, ref_cpu, _ = _cpu(reference_all)
        reference = {
            "reference_images_hashed": len(ref_todo),
            "reference_hash_cpu_ms_per_image": round(1000 * ref_cpu / len(ref_todo), 3),
        }
    H = np.stack(hashes)
    n_total = len(paths)
    tiled = len(H) < n_total
    ref = np.resize(H, (n_total, H.shape[1])) if tiled else H  # repeats rows when tiled
    metric = metric_for(h)
    q = ref[:rows]
    metric.hist(q[:8], ref[:64])  # warm-up (numba compilation is not timed)
    hist, d_cpu, d_wall = _cpu(lambda: metric.hist(q, ref))
    assert int(hist.sum()) == len(q) * len(ref)
    t1 = d_cpu / (len(q) * len(ref))
    per_img = hash_cpu / max(1, len(H))
    oo = passes(n_total, n_total, 2) * within_evaluations(n_total) * t1
    vo = passes(sample, n_total, 3) * specs * sample * n_total * t1
    out = {
        "hasher": hasher_name,
        "images_listed": n_total,
        "images_hashed": len(H),
        "hash_errors": errors,
        "hash_cpu_seconds": round(hash_cpu, 2),
        "hash_wall_seconds": round(hash_wall, 2),
        "hash_cpu_ms_per_image": round(1000 * per_img, 3),
        **reference,
        "distance_block": f"{len(q)} x {len(ref)}"
        + (" (reference rows tiled from the hashed images)" if tiled else ""),
        "distance_cpu_seconds": round(d_cpu, 2),
        "distance_wall_seconds": round(d_wall, 2),
        "pairs_per_cpu_second": round(1 / t1),
        "extrapolated_orig_orig_cpu_minutes": round(oo / 60, 1),
        "extrapolated_variant_orig_cpu_minutes": round(vo / 60, 1),
        "extrapolated_hashing_cpu_minutes": round(per_img * (n_total + specs * sample) / 60, 1),
    }
    out["extrapolated_total_cpu_minutes"] = round(
        out["extrapolated_orig_orig_cpu_minutes"]
        + out["extrapolated_variant_orig_cpu_minutes"]
        + out["extrapolated_hashing_cpu_minutes"],
        1,
    )
    return out


def main(args) -> int:
    from harness.config import load_config
    from harness.datasets import folder_records

    folder = _dataset(args.dataset)
    if not os.path.isdir(folder):
        raise ConfigError("--dataset", f"not a folder: {folder}")
    if args.rows < 1:
        raise ConfigError("--rows", f"must be >= 1 (got {args.rows})")
    cfg = load_config(args.config)
    specs, sample = len(cfg.transform_specs()), cfg.variant_sample
    records, _ = folder_records(folder)
    paths = [r.path for r in sorted(records, key=lambda r: r.name)]
    sample = sample or len(paths)
    entries = []
    load = os.getloadavg()
    for name in [x.strip() for x in args.hashers.split(",") if x.strip()]:
        slow = name == "crop_resistant"
        n_hash = args.slow_images if slow else args.hash_images
        e = measure(name, paths, n_hash, args.rows, specs, sample, args.reference_images if slow else 0)
        e |= {"specs": specs, "variant_sample": sample, "loadavg_before": [round(x, 2) for x in load]}
        entries.append(e)
        print(
            f"{name}: hashing {e['hash_cpu_ms_per_image']} ms/image CPU ({e['images_hashed']} images); "
            f"distances {e['distance_block']}: {e['distance_cpu_seconds']} s CPU = "
            f"{e['pairs_per_cpu_second']:.3g} pairs/CPU-s"
        )
        if "reference_hash_cpu_ms_per_image" in e:
            print(
                f"  imagehash itself (reference): {e['reference_hash_cpu_ms_per_image']} ms/image CPU "
                f"({e['reference_images_hashed']} of the same images)"
            )
        print(
            f"  EXTRAPOLATED for the study (N={e['images_listed']}, {specs} specs x {sample} images): "
            f"orig-orig {e['extrapolated_orig_orig_cpu_minutes']} CPU-min, variant-orig "
            f"{e['extrapolated_variant_orig_cpu_minutes']} CPU-min, hashing "
            f"{e['extrapolated_hashing_cpu_minutes']} CPU-min; total {e['extrapolated_total_cpu_minutes']} CPU-min "
            f"(load before: {load[0]:.2f})"
        )
    res = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "command": "phash-harness bench study_cost",
        "entries": entries,
    }
    write_results(args.output, res, render_markdown(res))
    return 0


def render_markdown(res: dict) -> str:
    lines = [
        "# Study cost of cv_radialvariance and crop_resistant",
        "",
        f"`{res['command']}` at {res['when']} ({res['machine']}, {res['cpus']} CPUs, shared: see load). "
        "Hashing and the distance block are MEASURED (CPU seconds); the study figures are EXTRAPOLATED "
        "(formulas in benchmarks/study_cost.py).",
        "",
        "| hasher | hash ms/image (CPU) | images hashed | distance block | pairs/CPU-s | orig-orig CPU-min "
        "(extrap.) | variant-orig CPU-min (extrap.) | hashing CPU-min (extrap.) "
        "| total CPU-min (extrap.) | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in res["entries"]:
        lines.append(
            f"| {e['hasher']} | {e['hash_cpu_ms_per_image']} | {e['images_hashed']} | {e['distance_block']} | "
            f"{e['pairs_per_cpu_second']:.3g} | {e['extrapolated_orig_orig_cpu_minutes']} | "
            f"{e['extrapolated_variant_orig_cpu_minutes']} | {e['extrapolated_hashing_cpu_minutes']} | "
            f"{e['extrapolated_total_cpu_minutes']} | {e['loadavg_before'][0]} |"
        )
    refs = [e for e in res["entries"] if "reference_hash_cpu_ms_per_image" in e]
    if refs:
        lines.append("")
        for e in refs:
            lines.append(
                f"{e['hasher']} hashed by imagehash itself (`hasher.reference_hash`, decode included) on "
                f"{e['reference_images_hashed']} of the same photos: "
                f"{e['reference_hash_cpu_ms_per_image']} ms/image CPU (MEASURED)."
            )
    return "\n".join(lines) + "\n"
