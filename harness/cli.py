"""Command line: ``phash-harness`` (also ``python -m harness``).

A thin front end: each subcommand parses its arguments and calls a stage
package. Exit status: 0 success, 1 finished with per-item errors recorded,
2 bad usage or invalid config (nothing written).
"""

from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, HarnessError


# ---------------------------------------------------------- shared options
class _DeprecatedSpelling(argparse.Action):
    """An old option spelling, accepted for one release: stores into the new
    option's destination and says on stderr which spelling to use."""

    def __init__(self, option_strings, dest, new: str = "", **kwargs):
        self.new = new
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(
            f"{parser.prog}: warning: {option_string} is deprecated and will be removed in the next release; "
            f"use {self.new}",
            file=sys.stderr,
        )
        setattr(namespace, self.dest, values)


def add_output_argument(p, help: str, default=None, metavar: str = "DIR") -> None:
    """``--output`` (every command spells its output option this way), and
    the old ``--out`` of `screen`, `risk` and `bench run`, deprecated."""
    p.add_argument("--output", default=default, metavar=metavar, help=help)
    p.add_argument(
        "--out", dest="output", metavar=metavar, action=_DeprecatedSpelling, new="--output", help=argparse.SUPPRESS
    )


# --------------------------------------------------------------------------- run
def _add_run(sub):
    p = sub.add_parser("run", help="run an experiment (default: the quickstart on the built-in sample)")
    p.add_argument("--config", help="experiment YAML file (default: the built-in quickstart)")
    p.add_argument("--output", help="override the config's output folder")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: every core); with --scheduler local: Dask workers",
    )
    p.add_argument(
        "--scheduler",
        default=None,
        help="Dask: 'local' (a LocalCluster on 127.0.0.1) or tcp://HOST:PORT (a running scheduler);"
        " default: a local process pool",
    )
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--svg", action="store_true", help="also write every report figure as SVG (figures/*.svg)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from .config import load_config
    from .engine import run_experiment
    from .engine.executors import default_workers
    from .report import first_screen_summary, write_report
    from .report.markdown import summary_pivot

    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers", f"must be an integer >= 1 (got {args.workers})")
    config = load_config(args.config)
    results = run_experiment(
        config,
        output=args.output,
        progress=False if args.no_progress else None,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    # the workers are gone by now: their cores draw the figures (same bytes)
    processes = 1 if args.scheduler == "inline" else min(args.workers or default_workers(), default_workers())
    write_report(results, processes=processes, svg=args.svg)
    print(summary_pivot(results.metrics))
    info = results.run_info
    ds, eng = info["dataset"], info["engine"]
    print(
        f"\nimages: {ds['images_listed']} listed, {ds['images_hashed']} hashed, {ds['images_failed']} failed;"
        f" {info['counts']['hash_rows']} hashes; target FPR {results.config.metrics.target_fpr:g};"
        f" {info['timings_seconds']['total']:.1f} s"
    )
    print(
        f"store {eng['store']}: reused {eng['chunks_reused']} of {eng['chunks_total']} chunks"
        f" ({eng['hashes_reused']} hashes), computed {eng['chunks_computed']}"
        f" ({eng['hashes_computed']} hashes) on {eng['workers']} {eng['executor']} worker(s)"
    )
    print(f"results written to {results.output}/ (report.html, report.md, metrics.csv, figures)")
    print("\n" + first_screen_summary(results))
    if results.n_errors:
        failed = ds["images_failed"]
        print(
            f"{results.n_errors} item(s) failed ({failed} image(s) not hashed at all);"
            f" reasons in {results.output}/errors.csv",
            file=sys.stderr,
        )
        return 1
    return 0


# ------------------------------------------------------------------------ census
def _add_census(sub):
    p = sub.add_parser(
        "census", help="exact pair statistics of hashes you already have (hex in Parquet/CSV; no image decoded)"
    )
    p.add_argument(
        "hashes",
        nargs="+",
        metavar="HASHES",
        help="Parquet or CSV files (paths or fsspec URLs) with columns id, hash (hex), optional group, optional hasher",
    )
    p.add_argument(
        "--queries",
        action="append",
        default=None,
        metavar="FILE",
        help="query hashes (same columns) counted against HASHES as the database (variant-orig); "
        "repeatable; default: all pairs within HASHES (orig-orig)",
    )
    add_output_argument(
        p,
        "folder for histograms.parquet, fpr.csv, thresholds.csv, per_photo.csv, census.json "
        "and the tile checkpoints (default: census)",
        default="census",
    )
    p.add_argument(
        "--hasher",
        default=None,
        metavar="NAME",
        help="only the rows of this hasher (files with a hasher column); the name of the hashes "
        "otherwise (default: 'hashes')",
    )
    p.add_argument(
        "--tile",
        type=int,
        default=None,
        metavar="N",
        help="rows (and columns) per tile of the pair count (default 32768)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes for the tiles (default: every core; 1: in this process)",
    )
    p.add_argument("--scheduler", default=None, help="Dask: 'local' or tcp://HOST:PORT (default: a local process pool)")
    p.add_argument("--target-fpr", type=float, default=1e-3, help="FPR the recommended threshold stays under")
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        metavar="N",
        help="image-level bootstrap replicates (0: Clopper-Pearson only)",
    )
    p.set_defaults(func=_cmd_census)


def _cmd_census(args) -> int:
    from .engine.census import DEFAULT_TILE, CensusSettings, run_census

    if not 0 < args.target_fpr < 1:
        raise ConfigError("--target-fpr", f"must be in (0, 1) (got {args.target_fpr})")
    if args.bootstrap < 0:
        raise ConfigError("--bootstrap", f"must be an integer >= 0 (got {args.bootstrap})")
    settings = CensusSettings(
        tile=DEFAULT_TILE if args.tile is None else args.tile,
        target_fpr=args.target_fpr,
        bootstrap_replicates=args.bootstrap,
    )
    info = run_census(
        args.hashes,
        args.output,
        queries=args.queries,
        hasher=args.hasher,
        settings=settings,
        workers=args.workers,
        scheduler=args.scheduler,
    )
    for c in info["hashers"]:
        shape = (
            f"{c['n_queries']} queries x {c['n_database']} database"
            if c["n_queries"] is not None
            else f"{c['n_database']} hashes"
        )
        print(
            f"{c['hasher']} ({c['bits']} bits, {c['negatives']}): {shape}, {c['pairs']} negative pairs;"
            f" tile tasks {c['tiles_computed']} computed, {c['tiles_reused']} reused"
        )
    print(
        f"results written to {args.output}/ (histograms.parquet, fpr.csv, thresholds.csv, per_photo.csv,"
        f" census.json); {info['timings_seconds']['total']:.1f} s"
    )
    return 0


# -------------------------------------------------------------------------- hash
def _add_hash(sub):
    p = sub.add_parser("hash", help="print HEX  PATH for each file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--hasher", default="phash", help="hasher name (see `phash-harness hashers`)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="hasher parameter (YAML value), e.g. --param hash_size=16; repeatable",
    )
    p.add_argument(
        "--fast-decode",
        action="store_true",
        help="reduced-size JPEG decoding (faster, not bit-exact; a different hasher identity)",
    )
    p.set_defaults(func=_cmd_hash)


def _parse_params(items: list[str]) -> dict:
    import yaml

    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--param", f"expected KEY=VALUE, got {item!r}")
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError("--param", f"value of {key} is not a valid YAML scalar: {value!r}") from None
    return params


def _cmd_hash(args) -> int:
    from .errors import DecodeError
    from .hashers import get_hasher

    params = _parse_params(args.param)
    if args.fast_decode:
        params["fast_decode"] = True
    hasher = get_hasher(args.hasher, **params)
    status = 0
    for path in args.files:
        try:
            packed = hasher.hash_file(path)
        except DecodeError as exc:
            print(f"{path}: {exc.reason}", file=sys.stderr)
            status = 1
            continue
        except Exception as exc:  # e.g. PDQ quality under min_quality
            print(f"{path}: {type(exc).__name__}: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{hasher.to_hex(packed)}  {path}")
    return status


# ---------------------------------------------------------------------- hashers
def _add_hashers(sub):
    p = sub.add_parser("hashers", help="list the available hashers")
    p.set_defaults(func=_cmd_hashers)


def _cmd_hashers(args) -> int:
    from .hashers import get_hasher, list_hashers

    print(f"{'name':<20} {'bits':>5}  {'distance':<14} backend")
    for name in list_hashers():
        try:
            h = get_hasher(name)
            print(f"{name:<20} {h.bits:>5}  {h.distance:<14} {h.backend}")
        except ConfigError as exc:  # e.g. needs a user-supplied model
            print(f"{name:<20} {'?':>5}  {'':<14} (needs parameters: {exc})")
    return 0


# ------------------------------------------------------------------- transforms
def _add_transforms(sub):
    p = sub.add_parser("transforms", help="list the transform families and their severity meaning")
    p.set_defaults(func=_cmd_transforms)


def _cmd_transforms(args) -> int:
    from .transforms import families_in_order

    print("family         severity meaning; default sweep (mildest first); params (first value = default)")
    group = None
    for fam in families_in_order():
        if fam.group != group:
            group = fam.group
            print(f"[{group}]")
        sweep = ", ".join(str(s) for s in fam.default_sweep)
        print(f"  {fam.name:<14} {fam.severity_meaning}; default sweep: {sweep}")
        for key, rule in fam.params_allowed.items():
            values = " | ".join(str(v).lower() if isinstance(v, bool) else str(v) for v in rule)
            print(f"  {'':<14}   param {key}: {values}")
    return 0


# ----------------------------------------------------------------------- report
def _add_report(sub):
    p = sub.add_parser(
        "report",
        help="(re)write report.md, report.html and the figures of a results folder "
        "(of an attack folder: its figures, transfer and trade-off tables, attack_report.md and .html)",
    )
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--svg", action="store_true", help="also write every figure as SVG (figures/*.svg)")
    p.set_defaults(func=_cmd_report)


def _results_folder(field: str, path: str) -> None:
    import os

    for name in ("metrics.csv", "histograms.parquet", "run.json"):
        if not os.path.isfile(os.path.join(path, name)):
            raise ConfigError(field, f"not a results folder (no {name}): {path}")


def _cmd_report(args) -> int:
    import os

    from .report import write_report

    if os.path.isfile(os.path.join(args.dir, "attacks.parquet")) and not os.path.isfile(
        os.path.join(args.dir, "metrics.csv")
    ):
        from .attacks.run import write_attack_outputs
        from .report.attack import write_attack_report

        for path in write_attack_outputs(args.dir) + write_attack_report(args.dir):
            print(path)
        return 0
    _results_folder("DIR", args.dir)
    md = write_report(args.dir, svg=args.svg)
    print(md)
    print(os.path.join(args.dir, "report.html"))
    return 0


# ------------------------------------------------- preview (transforms stage)
def _add_preview(sub):
    p = sub.add_parser("preview", help="write a contact sheet PNG of one image across a transform's sweep")
    p.add_argument("image", metavar="IMAGE", help="an image file")
    p.add_argument("--transform", required=True, metavar="NAME", help="family name (see `phash-harness transforms`)")
    p.add_argument("--severities", nargs="+", metavar="S", help="severities (default: the family's default sweep)")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="family param, e.g. position=off-centre (repeatable)",
    )
    p.add_argument("--seed", type=int, default=0, help="experiment seed (default 0), as in a run")
    p.add_argument("--output", metavar="PNG", help="output file (default: IMAGESTEM-NAME-preview.png here)")
    p.add_argument("--cell", type=int, default=256, help="cell size in pixels (default 256)")
    p.set_defaults(func=_cmd_preview)


def _cmd_preview(args) -> int:
    import hashlib
    import os

    import yaml

    from .errors import DecodeError
    from .imageio import load_rgb
    from .transforms.preview import contact_sheet, sweep_specs

    if not os.path.isfile(args.image):
        raise ConfigError("IMAGE", f"file not found: {args.image}")
    if not 32 <= args.cell <= 2048:
        raise ConfigError("--cell", f"must be an integer in 32..2048 (got {args.cell})")
    if args.seed < 0 or args.seed > 2**32 - 1:
        raise ConfigError("--seed", f"must be an integer in 0..{2**32 - 1} (got {args.seed})")
    params = {}
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError("--param", f"expected KEY=VALUE (got {item!r})")
        params[key.strip()] = yaml.safe_load(value)
    severities = [yaml.safe_load(s) for s in args.severities] if args.severities else None
    specs = sweep_specs(args.transform, severities, params)
    output = args.output or (os.path.splitext(os.path.basename(args.image))[0] + f"-{args.transform}-preview.png")
    if not output.lower().endswith(".png"):
        raise ConfigError("--output", f"must end in .png (got {output})")
    try:
        rgb = load_rgb(args.image)
    except DecodeError as exc:
        print(f"{args.image}: {exc.reason}", file=sys.stderr)
        return 1
    with open(args.image, "rb") as fh:
        image_id = hashlib.sha256(fh.read()).hexdigest()
    sheet = contact_sheet(rgb, specs, image_id=image_id, seed=args.seed, cell=args.cell)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    sheet.save(output)
    print(output)
    return 0


# ------------------------------------------------ fetch, screen (datasets stage)
def _add_fetch(sub):
    p = sub.add_parser(
        "fetch",
        help="download, verify (sha256) and safely extract a catalogued dataset",
        description="fetch NAME [--dest DIR], or fetch --url URL --sha256 HEX --name NAME "
        "--dest DIR. `fetch --list` shows the catalogue (see datasets.md).",
    )
    p.add_argument("dataset", nargs="?", metavar="NAME", help="catalogue name (see --list)")
    p.add_argument(
        "--dest",
        help="parent folder; the dataset goes to DEST/NAME (default: $HARNESS_DATA or ~/.cache/phash-harness/datasets)",
    )
    p.add_argument(
        "--url",
        action="append",
        help="archive URL (http, https, ftp or file); repeat for a dataset with several archives",
    )
    p.add_argument("--sha256", action="append", help="expected sha256 of the archive (repeat per archive)")
    p.add_argument("--name", help="folder name for an archive given with --url")
    p.add_argument("--images-dir", default="", help="with --url: folder inside the archive that holds the images")
    p.add_argument("--force", action="store_true", help="replace an existing copy that does not verify")
    p.add_argument("--keep-archive", action="store_true", help="keep the downloaded archive(s)")
    p.add_argument("--retries", type=int, default=3, help="resume attempts after a dropped connection (default 3)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--list", action="store_true", help="list the catalogue and exit")
    p.set_defaults(func=_cmd_fetch)


def _cmd_fetch(args) -> int:
    import os
    import urllib.parse

    from .datasets.catalog import CATALOG, default_dest, get_entry, list_catalog
    from .datasets.fetch import ad_hoc_entry, fetch

    if args.list:
        for name in list_catalog():
            e = CATALOG[name]
            note = (
                "you supply the archive"
                if e.user_supplied or not all(a.url for a in e.archives)
                else ("sha256 verified" if e.verified else "needs --sha256")
            )
            print(f"{name:<26} {e.count or '?':>6} images  {e.size:<40} ({note})")
        return 0
    if args.retries < 0:
        raise ConfigError("--retries", f"must be >= 0 (got {args.retries})")
    for url in args.url or []:
        if urllib.parse.urlparse(url).scheme.lower() not in ("http", "https", "ftp", "file"):
            raise ConfigError("--url", f"must start with http://, https://, ftp:// or file:// (got {url!r})")
    if args.dataset:
        entry = get_entry(args.dataset)
        if args.name:
            raise ConfigError("--name", "only with --url and no NAME (a catalogue entry has its own name)")
        dest = args.dest or default_dest()
    else:
        missing = [
            f
            for f, v in (("--url", args.url), ("--sha256", args.sha256), ("--name", args.name), ("--dest", args.dest))
            if not v
        ]
        if missing:
            raise ConfigError(missing[0], "give NAME (see `fetch --list`) or all of --url, --sha256, --name, --dest")
        if len(args.url) != 1 or len(args.sha256) != 1:
            raise ConfigError("--url", "give one --url and one --sha256 without NAME")
        entry = ad_hoc_entry(args.name, args.url[0], args.sha256[0], args.images_dir)
        dest = args.dest
    if os.path.exists(dest) and not os.path.isdir(dest):
        raise ConfigError("--dest", f"exists and is not a folder: {dest}")
    fetch(
        entry,
        dest,
        urls=args.url if args.dataset else None,
        sha256s=args.sha256 if args.dataset else None,
        force=args.force,
        keep_archives=args.keep_archive,
        retries=args.retries,
        progress=False if args.no_progress else None,
    )
    return 0


def _add_screen(sub):
    p = sub.add_parser("screen", help="find exact and near-duplicate images; write groups.csv and a contact sheet")
    p.add_argument("target", metavar="NAME|DIR", help="a fetched catalogue name, a folder, or a MANIFEST.csv")
    p.add_argument("--dest", help="where catalogue datasets were fetched (as for fetch)")
    add_output_argument(p, help="output folder (default: results/screen-<name>)")
    p.add_argument(
        "--hashers",
        help="comma-separated Hamming hashers that propose candidate pairs, or 'all' (default: all, every "
        "registered Hamming hasher that needs no user model)",
    )
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="HASHER=BITS",
        help="candidate threshold per hasher in bits (repeatable; default 2 for phash/dhash/ahash/whash, 24 for "
        "pdq, round(bits/32) for the others)",
    )
    p.add_argument(
        "--min-agree", type=int, default=None, help="hashers that must agree to propose a candidate (default 1)"
    )
    p.add_argument(
        "--min-similarity",
        default=None,
        metavar="R",
        help="pixel check: SSIM of the 64x64 grey thumbnails that confirms a candidate, in [-1, 1] (default 0.9)",
    )
    p.add_argument("--extensions", default=None, help="comma-separated extensions for a folder")
    p.add_argument("--workers", type=int, default=1, help="processes for decoding and hashing (default 1)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=_cmd_screen)


def _cmd_screen(args) -> int:
    from .screen import DEFAULT_MIN_SIMILARITY, check_min_similarity, run_screen

    given = args.min_similarity
    min_similarity = check_min_similarity(DEFAULT_MIN_SIMILARITY if given is None else given)
    if args.workers < 1:
        raise ConfigError("--workers", f"must be an integer >= 1 (got {args.workers})")
    thresholds = {}
    for item in args.threshold:
        name, _, bits = item.partition("=")
        if not name or not bits.isdigit():
            raise ConfigError("--threshold", f"must be HASHER=BITS, e.g. phash=4 (got {item!r})")
        thresholds[name] = int(bits)
    hashers = [h.strip() for h in args.hashers.split(",") if h.strip()] if args.hashers else None
    exts = [e.strip() for e in args.extensions.split(",") if e.strip()] if args.extensions else None
    result, out = run_screen(
        args.target,
        out=args.output,
        dest=args.dest,
        hashers=hashers,
        thresholds=thresholds or None,
        min_agree=args.min_agree,
        extensions=exts,
        progress=False if args.no_progress else None,
        workers=args.workers,
        min_similarity=min_similarity,
    )
    c = result.counts
    print(
        f"{c['images']} images screened with {', '.join(result.hasher_names)} "
        f"(candidate: at least {result.min_agree} within {result.threshold_text()})"
    )
    print(f"exact duplicates: {c['exact_duplicate_images']} images in {c['exact_duplicate_groups']} groups")
    print(
        f"candidates:       {c['candidate_pairs']} pairs; {c['confirmed_pairs']} confirmed "
        f"(pixel SSIM >= {result.min_similarity:g}), {c['rejected_pairs']} rejected"
    )
    print(
        f"near duplicates:  {c['near_duplicate_pairs']} pairs; {c['near_duplicate_images']} images "
        f"in {c['near_duplicate_groups']} groups"
    )
    print(f"all duplicate groups: {c['duplicate_groups']} groups, {c['images_in_duplicate_groups']} images")
    print(f"written to {out}/ (groups.csv, pairs.csv, contact sheets, screen.json)")
    if result.errors:
        print(f"{len(result.errors)} image(s) could not be read; reasons in {out}/errors.csv", file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------- risk (risk.py)
def _add_risk(sub):
    p = sub.add_parser("risk", help="innocent accounts flagged per year, from a measured or given false-positive rate")
    from . import risk_cli

    risk_cli.add_arguments(p)
    add_output_argument(
        p, help="where to write risk.csv and risk.png (default: the results folder; required with --fpr / --image-rate)"
    )
    p.set_defaults(func=_cmd_risk)


def _cmd_risk(args) -> int:
    from . import risk_cli

    return risk_cli.main(args)


# ------------------------------------------------------- compare (report stage)
def _add_compare(sub):
    p = sub.add_parser(
        "compare", help="two results folders side by side; flags metrics that differ beyond their intervals"
    )
    p.add_argument("dir_a", metavar="DIR_A")
    p.add_argument("dir_b", metavar="DIR_B")
    p.add_argument("--output", default="compare.md", help="markdown file to write (default: ./compare.md)")
    p.set_defaults(func=_cmd_compare)


def _cmd_compare(args) -> int:
    import os

    from .report.compare import compare_folders

    for field, path in (("DIR_A", args.dir_a), ("DIR_B", args.dir_b)):
        if not os.path.isfile(os.path.join(path, "metrics.csv")):
            raise ConfigError(field, f"not a results folder (no metrics.csv): {path}")
    if os.path.isdir(args.output):
        raise ConfigError("--output", f"is a folder, expected a file path: {args.output}")
    text, summary, _ = compare_folders(args.dir_a, args.dir_b)
    parent = os.path.dirname(os.path.abspath(args.output))
    os.makedirs(parent, exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as fh:
        fh.write(text)
    print(summary)
    print(f"written to {args.output}")
    return 0


# --------------------------------------------------------- verify (reliability)
def _add_verify(sub):
    from .verify import DEFAULT_SAMPLE

    p = sub.add_parser(
        "verify", help="re-hash a sample of a results folder and report drift (did a library upgrade change hashes?)"
    )
    p.add_argument("dir", metavar="DIR", help="a results folder written by `run`")
    p.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"number of images to re-hash, 0 = all (default: {DEFAULT_SAMPLE})",
    )
    p.add_argument("--seed", type=int, default=None, help="seed for the sample (default: the run's seed)")
    p.add_argument(
        "--strict-versions", action="store_true", help="also exit 1 when a library version differs from the run's"
    )
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args) -> int:
    from .verify import format_report, verify_results

    report = verify_results(args.dir, sample=args.sample, seed=args.seed)
    print(format_report(report))
    return report.exit_status(strict_versions=args.strict_versions)


# ------------------------------------------------------------------------ bench
BENCHMARKS = (
    "hashers",
    "pairs",
    "census",
    "run",
    "study_cost",
    "hash_stage",
    "crop_resistant",
    "transforms",
    "attacks",
    "coverage",
    "report",
)
#: benchmarks whose module name differs from the command (benchmarks.<module>)
BENCHMARK_MODULES = {"coverage": "interval_coverage"}
#: a benchmarks/ folder to use instead of the source checkout's
ENV_BENCHMARKS = "HARNESS_BENCHMARKS"


def benchmarks_folder():
    """The ``benchmarks/`` folder of a source checkout, or None. Benchmarks
    are not installed with the package: $HARNESS_BENCHMARKS when set, else
    ``benchmarks/`` next to the ``harness`` package (a source or editable
    checkout), else ``./benchmarks``."""
    import os
    from pathlib import Path

    if os.environ.get(ENV_BENCHMARKS):
        folder = Path(os.environ[ENV_BENCHMARKS])
        return folder.resolve() if (folder / "__init__.py").is_file() else None
    for checkout in (Path(__file__).resolve().parents[1], Path.cwd()):
        # a checkout of this repository, not some other package's benchmarks/ in site-packages
        if (checkout / "pyproject.toml").is_file() and (checkout / "benchmarks" / "__init__.py").is_file():
            return (checkout / "benchmarks").resolve()
    return None


def _no_benchmarks(args) -> int:
    where = (
        f"${ENV_BENCHMARKS}={args.benchmarks_env}"
        if args.benchmarks_env
        else "no benchmarks/ folder next to the harness package or in the current folder"
    )
    raise ConfigError(
        "bench",
        f"benchmarks need a source checkout ({where}); run from a clone of the repository or set {ENV_BENCHMARKS}=DIR",
    )


def _add_attack(sub):
    p = sub.add_parser(
        "attack",
        help="black-box evasion and framing attacks at the benign study's thresholds; "
        "writes attacks.parquet and attack_summary.csv (resumes)",
    )
    p.add_argument("--config", required=True, help="attack YAML (see harness.attacks.config)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_cmd_attack)


def _cmd_attack(args) -> int:
    from .attacks.config import load_attack_config
    from .attacks.run import run_attack

    cfg = load_attack_config(args.config)  # ConfigError -> exit 2 before anything is written
    table = run_attack(cfg, quiet=args.quiet)
    print(
        f"{len(table)} attacks -> {cfg.output}/attacks.parquet, attack_summary.csv, attack_transfer.csv, "
        f"attack_tradeoff.csv, figures/"
    )
    for (hasher, goal, alg, t), g in table.groupby(["hasher", "goal", "algorithm", "threshold"], sort=True):
        print(
            f"  {hasher:<18} {goal:<8} {alg:<6} success {int(g['success'].sum())}/{len(g)} "
            f"(t={int(t)}), median queries {g['queries'].median():.0f}"
        )
    return 0


def _add_bench(sub):
    import importlib
    import os

    p = sub.add_parser("bench", help="speed and memory benchmarks (source checkout only): " + ", ".join(BENCHMARKS))
    folder = benchmarks_folder()
    if folder is None:
        p.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        p.set_defaults(func=_no_benchmarks, benchmarks_env=os.environ.get(ENV_BENCHMARKS))
        return
    if str(folder.parent) not in sys.path:
        sys.path.insert(0, str(folder.parent))
    bench_sub = p.add_subparsers(dest="benchmark", metavar="WHAT", required=True)
    for what in BENCHMARKS:
        try:
            module = importlib.import_module(f"benchmarks.{BENCHMARK_MODULES.get(what, what)}")
        except ImportError:
            continue
        bp = bench_sub.add_parser(what, help=(module.__doc__ or "").strip().splitlines()[0])
        module.add_arguments(bp)
        bp.set_defaults(func=module.main)


# ----------------------------------------------------------------------- parser
def _commands():
    """Every `_add_<command>` function of this module, in definition order."""
    return [fn for name, fn in globals().items() if name.startswith("_add_") and callable(fn)]


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(
        prog="phash-harness", description="Measure how perceptual image hashes behave on benign public photographs."
    )
    parser.add_argument("--version", action="version", version=f"phash-harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _commands():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # file names that are not UTF-8 (bytes on Linux) must print, not crash
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="surrogateescape")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"phash-harness {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; finished chunks are kept and a re-run resumes from them", file=sys.stderr)
        return 130
    except HarnessError as exc:
        print(f"phash-harness {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_status


if __name__ == "__main__":
    sys.exit(main())
