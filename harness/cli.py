"""Command line: ``phash-harness`` (also ``python -m harness``).

A thin front end: each subcommand parses its arguments and calls a stage
package. Exit status: 0 success, 1 finished with per-item errors recorded,
2 bad usage or invalid config (nothing written).
"""
from __future__ import annotations

import argparse
import sys

from .errors import ConfigError, HarnessError


# --------------------------------------------------------------------------- run
def _add_run(sub):
    p = sub.add_parser("run", help="run an experiment (default: the quickstart on the built-in sample)")
    p.add_argument("--config", help="experiment YAML file (default: the built-in quickstart)")
    p.add_argument("--output", help="override the config's output folder")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--scheduler", default=None, help="'local' or tcp://HOST:PORT for Dask (optional)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args) -> int:
    from .config import load_config
    from .engine import run_experiment
    from .report.markdown import summary_pivot

    if args.workers is not None and args.workers < 1:
        raise ConfigError("--workers", f"must be an integer >= 1 (got {args.workers})")
    config = load_config(args.config)
    results = run_experiment(config, output=args.output, progress=False if args.no_progress else None)
    print(summary_pivot(results.metrics))
    info = results.run_info
    ds = info["dataset"]
    print(f"\nimages: {ds['images_listed']} listed, {ds['images_hashed']} hashed, {ds['images_failed']} failed;"
          f" {info['counts']['hash_rows']} hashes; target FPR {results.config.metrics.target_fpr:g};"
          f" {info['timings_seconds']['total']:.1f} s")
    print(f"results written to {results.output}/ (report.md, metrics.csv, roc.png)")
    if results.n_errors:
        print(f"{results.n_errors} item(s) failed; reasons in {results.output}/errors.csv", file=sys.stderr)
        return 1
    return 0


# -------------------------------------------------------------------------- hash
def _add_hash(sub):
    p = sub.add_parser("hash", help="print HEX  PATH for each file")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--hasher", default="phash", help="hasher name (see `phash-harness hashers`)")
    p.set_defaults(func=_cmd_hash)


def _cmd_hash(args) -> int:
    from .datasets.decode import load_rgb
    from .errors import DecodeError
    from .hashers import get_hasher

    hasher = get_hasher(args.hasher)
    status = 0
    for path in args.files:
        try:
            packed = hasher.hash(load_rgb(path))
        except DecodeError as exc:
            print(f"{path}: {exc.reason}", file=sys.stderr)
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

    print(f"{'name':<22} {'bits':>5}  {'distance':<10} backend")
    for name in list_hashers():
        try:
            h = get_hasher(name)
            print(f"{name:<22} {h.bits:>5}  {h.distance:<10} {h.backend}")
        except ConfigError as exc:  # e.g. needs a user-supplied model
            print(f"{name:<22} {'?':>5}  {'':<10} ({exc.message})")
    return 0


# ------------------------------------------------------------------- transforms
def _add_transforms(sub):
    p = sub.add_parser("transforms", help="list the transform families and their severity meaning")
    p.set_defaults(func=_cmd_transforms)


def _cmd_transforms(args) -> int:
    from .transforms import FAMILIES

    for name in sorted(FAMILIES):
        fam = FAMILIES[name]
        sweep = ", ".join(str(s) for s in fam.default_sweep)
        print(f"{name:<18} {fam.severity_meaning}; default sweep: {sweep}")
    return 0


# ----------------------------------------------------------------------- report
def _add_report(sub):
    p = sub.add_parser("report", help="(re)write the report of a results folder")
    p.add_argument("dir", metavar="DIR")
    p.set_defaults(func=_cmd_report)


def _cmd_report(args) -> int:
    import os

    from .report import write_report

    if not os.path.isfile(os.path.join(args.dir, "metrics.csv")):
        raise ConfigError("DIR", f"not a results folder (no metrics.csv): {args.dir}")
    print(write_report(args.dir))
    return 0


# ------------------------------------------------- preview (transforms stage)

# ------------------------------------------------ fetch, screen (datasets stage)

# ------------------------------------------------------------- risk (risk.py)

# ------------------------------------------------------- compare (report stage)

# --------------------------------------------------------- verify (reliability)
def _add_verify(sub):
    from .verify import DEFAULT_SAMPLE

    p = sub.add_parser("verify", help="re-hash a sample of a results folder and report drift "
                                      "(did a library upgrade change hashes?)")
    p.add_argument("dir", metavar="DIR", help="a results folder written by `run`")
    p.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, metavar="N",
                   help=f"number of images to re-hash, 0 = all (default: {DEFAULT_SAMPLE})")
    p.add_argument("--seed", type=int, default=None, help="seed for the sample (default: the run's seed)")
    p.add_argument("--strict-versions", action="store_true",
                   help="also exit 1 when a library version differs from the run's")
    p.set_defaults(func=_cmd_verify)


def _cmd_verify(args) -> int:
    from .verify import format_report, verify_results

    report = verify_results(args.dir, sample=args.sample, seed=args.seed)
    print(format_report(report))
    return report.exit_status(strict_versions=args.strict_versions)


# ------------------------------------------------------------------------ bench
BENCHMARKS = ("hashers", "pairs", "run")


def _add_bench(sub):
    p = sub.add_parser("bench", help="speed and memory benchmarks: hashers, pairs, run")
    bench_sub = p.add_subparsers(dest="benchmark", metavar="WHAT", required=True)
    import importlib
    for what in BENCHMARKS:
        try:
            module = importlib.import_module(f"harness.bench.{what}")
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
        prog="phash-harness",
        description="Measure how perceptual image hashes behave on benign public photographs.")
    parser.add_argument("--version", action="version", version=f"phash-harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _commands():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
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
