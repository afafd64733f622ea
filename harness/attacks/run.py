"""An attack study: dataset x hashers x goals x algorithms, with resume.

Output folder:

- ``attacks.parquet``: one row per image x hasher x threshold x goal x algorithm (columns
  in `COLUMNS`); ``cpu_seconds`` is the only column that differs between two
  runs of one config and seed;
  plus, per PSNR budget b of the config and "any", ``best_distance_psnr_<b>``
  / ``best_distance_any``: the best distance among the candidates with
  PSNR >= b (largest for evasion, smallest for framing; see
  `harness.attacks.search`), so success at another threshold t' reads
  ``best > t'`` (evasion) or ``best <= t'`` (framing) without re-running;
  and, for every other attacked hasher B, ``transfer_<B>``: for a success,
  whether the attacked image also meets the goal under B at B's threshold
  (evasion: d_B(x', x) > t_B; framing: d_B(x', y) <= t_B, i.e. B does not
  veto the match); NA for a failure. These hashes are not queries;
- ``attack_summary.csv``: per hasher, goal, algorithm, threshold and PSNR budget b:
  success rate = share of images whose attack succeeded with PSNR >= b
  (budget "any": within linf_cap), a 95% Clopper-Pearson interval over
  images, median queries, and the share of those successes that survive
  JPEG q90, q75 and a 0.9 resize (`harness.attacks.survival`);
- ``images/``: for the first ``save_images`` sampled images, the decoded
  original (``<n>_orig.png``) and each attacked image (PNG, lossless);
- ``cells/``: one small parquet per finished cell; a re-run skips them
  (resume) and re-assembles the tables;
- ``attack_run.json``: config, the sampled images, thresholds used;
- ``attack_transfer.csv``, ``attack_tradeoff.csv`` and ``figures/``: see
  `harness.attacks.transfer` and `harness.attacks.figures` (written at the
  end of the run, and again by ``phash-harness report FOLDER``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys

import numpy as np
import pandas as pd

from ..errors import ConfigError
from .config import AttackConfig, load_attack_config
from .distortion import distortion
from .oracle import hash_distance
from .search import attack, derive_seed
from .survival import survives

COLUMNS = [
    "image",
    "image_id",
    "hasher",
    "bits",
    "goal",
    "algorithm",
    "seed",
    "success",
    "distance",
    "raw_distance",
    "start_distance",
    "threshold",
    "threshold_source",
    "benign_fpr",
    "benign_fpr_upper",
    "target_image",
    "target_image_id",
    "rmse",
    "linf",
    "psnr",
    "ssim",
    "amplitude",
    "linf_cap",
    "budget",
    "queries",
    "queries_to_success",
    "survive_jpeg_90",
    "survive_jpeg_75",
    "survive_resize_0.9",
    "attacked_png",
    "original_png",
    "cpu_seconds",
]
SURVIVAL = ["survive_jpeg_90", "survive_jpeg_75", "survive_resize_0.9"]


def reach_column(budget) -> str:
    """Column of the best distance at PSNR >= budget (dB; "any" or -inf: every candidate)."""
    if budget == "any" or budget == -math.inf:
        return "best_distance_any"
    return f"best_distance_psnr_{float(budget):g}"


def reach_columns(psnr_budgets) -> list[str]:
    """Best-distance columns, strictest budget first, then "any"."""
    return [reach_column(b) for b in sorted(set(float(b) for b in psnr_budgets), reverse=True)] + [reach_column("any")]


def transfer_column(label: str) -> str:
    """Column telling whether a success also meets its goal under hasher `label`."""
    return f"transfer_{label}"


def sample_images(records, n, seed):
    """A seeded sample of `n` records (all when n is None), in sha256 order."""
    records = sorted(records, key=lambda r: r.image_id)
    if n is None or n >= len(records):
        return records
    idx = np.sort(np.random.default_rng(seed).choice(len(records), size=n, replace=False))
    return [records[i] for i in idx]


def pick_target(record, records, seed):
    """The framing target of `record`: a record of another group, drawn with the seed."""
    others = sorted((r for r in records if r.group != record.group), key=lambda r: r.image_id)
    if not others:
        return None
    return others[derive_seed(seed, record.image_id, "target") % len(others)]


def _settings_digest(cfg: AttackConfig, thresholds: dict, algorithm: str = "") -> str:
    """What a finished cell depends on besides its image, hasher, goal and
    algorithm: search settings, PSNR budgets, ``greedy_grid`` for a greedy
    cell, and `thresholds` = {hasher label: threshold} as the cell uses them
    (its own, and the other hashers' of its transfer columns). A cell of a
    multi-threshold run at the primary thresholds has the key of the same
    cell of a single-threshold run; adding an algorithm or a threshold keeps
    the finished cells."""
    keep = {k: getattr(cfg, k) for k in ("budget", "linf_cap", "basis", "basis_size", "batch", "seed")}
    keep["psnr_budgets"] = sorted(set(float(b) for b in cfg.psnr_budgets))
    keep["thresholds"] = {k: int(v) for k, v in sorted(thresholds.items())}
    if algorithm == "greedy":
        keep["greedy_grid"] = cfg.greedy_grid
    return hashlib.sha256(json.dumps(keep, sort_keys=True).encode()).hexdigest()[:16]


def _write_parquet(df: pd.DataFrame, path: str) -> None:
    tmp = path + ".tmp"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _save_png(rgb: np.ndarray, path: str) -> None:
    from PIL import Image

    tmp = path + ".tmp"
    Image.fromarray(rgb, mode="RGB").save(tmp, format="PNG")
    os.replace(tmp, path)


def _plan(cfg: AttackConfig):
    from ..datasets.loader import load_records

    records, errors = load_records(cfg.dataset)
    if not records:
        raise ConfigError("dataset", "no readable images")
    chosen = sample_images(records, cfg.images, cfg.seed)
    if "framing" in cfg.goals and len({r.group for r in records}) < 2:
        raise ConfigError("goals", "framing needs images of at least two groups in the dataset")
    return records, chosen, errors


def _cell_paths(cfg, hashers, thresholds, rec, cells_dir) -> dict:
    """{(hasher, threshold, goal, algorithm): cell file} (see `_settings_digest`)."""
    keys = {}
    for h in hashers:
        for e in distinct(thresholds[h.label]):
            t = e["threshold"]
            used = {b.label: t if b.label == h.label else _other_threshold(thresholds[b.label], e) for b in hashers}
            for goal in cfg.goals:
                for alg in cfg.algorithms:
                    digest = _settings_digest(cfg, used, alg)
                    key = hashlib.sha256(f"{rec.image_id}|{h.key}|{goal}|{alg}|{digest}".encode()).hexdigest()[:24]
                    keys[(h.label, t, goal, alg)] = os.path.join(cells_dir, key + ".parquet")
    return keys


def distinct(entries: list) -> list:
    """The threshold entries of one hasher to attack: the first of each threshold value."""
    seen, out = set(), []
    for e in entries:
        if e["threshold"] not in seen:
            seen.add(e["threshold"])
            out.append(e)
    return out


def _other_threshold(entries: list, entry: dict) -> int:
    """Another hasher's threshold for a transfer check: the one at the same
    target FPR, else its primary (first) one."""
    fpr = entry.get("target_fpr", float("nan"))
    for e in entries:
        if not math.isnan(fpr) and e.get("target_fpr") == fpr:
            return e["threshold"]
    return entries[0]["threshold"]


def _attack_image(cfg, thresholds, n, rec, target, keys, stop_after=None):
    """Every missing cell of one image; returns (new cells written, error or None).
    Raises KeyboardInterrupt after `stop_after` new cells (tests of resume)."""
    from ..imageio import load_rgb

    out = cfg.output
    try:
        x = load_rgb(rec.path, max_pixels=cfg.max_pixels)
        target_rgb = load_rgb(target.path, max_pixels=cfg.max_pixels) if target is not None else None
    except Exception as exc:  # noqa: BLE001 - reported, the run goes on
        return 0, f"{rec.name}: {exc}"
    save = n < cfg.save_images
    orig_png = f"images/{n:04d}_orig.png" if save else ""
    if save:
        _save_png(x, os.path.join(out, orig_png))
    new_cells = 0
    hashers = cfg.build_hashers()
    refs = {}  # the defender's hashes of x and of the target, per hasher (not queries)

    def ref(hasher, goal):
        key = (hasher.label, goal)
        if key not in refs:
            refs[key] = hasher.hash(x if goal == "evasion" else target_rgb)
        return refs[key]

    cells = [
        (hh, th, goal, alg)
        for hh in hashers
        for th in distinct(thresholds[hh.label])
        for goal in cfg.goals
        for alg in cfg.algorithms
    ]
    for h, th, goal, alg in cells:
        target_hash = ref(h, "framing") if target_rgb is not None else None
        path = keys[(h.label, th["threshold"], goal, alg)]
        if os.path.exists(path):
            continue
        if stop_after is not None and new_cells >= stop_after:
            raise KeyboardInterrupt
        r = attack(
            x,
            h,
            target_hash if goal == "framing" else None,
            th["threshold"],
            goal,
            algorithm=alg,
            budget=cfg.budget,
            linf_cap=cfg.linf_cap,
            seed=derive_seed(cfg.seed, rec.image_id, h.label, goal, alg),
            basis=cfg.basis,
            basis_size=cfg.basis_size,
            batch=cfg.batch,
            greedy_grid=cfg.greedy_grid,
            psnr_budgets=cfg.psnr_budgets,
        )
        kept = {c: None for c in SURVIVAL}
        moved = {transfer_column(b.label): None for b in hashers if b.label != h.label}
        if r.success:  # the defender's hashes, not queries
            kept = survives(h, r.image, ref(h, goal), th["threshold"], goal)
            for b in hashers:
                if b.label != h.label:
                    d = hash_distance(b, b.hash(r.image), ref(b, goal))
                    t_b = _other_threshold(thresholds[b.label], th)
                    moved[transfer_column(b.label)] = d > t_b if goal == "evasion" else d <= t_b
        reach = {reach_column(b): d for b, d in r.reach.items()}
        png = ""
        if save:
            tag = f"_t{th['threshold']}" if len(distinct(thresholds[h.label])) > 1 else ""
            png = f"images/{n:04d}_{h.label}{tag}_{goal}_{alg}.png"
            _save_png(r.image, os.path.join(out, png))
        row = {
            "image": rec.name,
            "image_id": rec.image_id,
            "hasher": h.label,
            "bits": int(h.bits),
            "goal": goal,
            "algorithm": alg,
            "seed": cfg.seed,
            "success": bool(r.success),
            "distance": r.distance,
            "raw_distance": r.raw_distance,
            "start_distance": r.start_distance,
            "threshold": th["threshold"],
            "threshold_source": th["threshold_source"],
            "benign_fpr": th["benign_fpr"],
            "benign_fpr_upper": th["benign_fpr_upper"],
            "target_image": target.name if goal == "framing" else "",
            "target_image_id": target.image_id if goal == "framing" else "",
            **distortion(x, r.image),
            "amplitude": r.amplitude,
            "linf_cap": cfg.linf_cap,
            "budget": cfg.budget,
            "queries": r.queries,
            "queries_to_success": r.queries_to_success,
            **kept,
            "attacked_png": png,
            "original_png": orig_png,
            "cpu_seconds": r.cpu_seconds,
            **reach,
            **moved,
        }
        _write_parquet(_frame([row], cfg.psnr_budgets, [b.label for b in hashers]), path)
        new_cells += 1
    return new_cells, None


def run_attack(config, quiet: bool = True, stop_after: int | None = None) -> pd.DataFrame:
    """Run the attack study of `config` (AttackConfig, dict or YAML path);
    returns the attacks table (also written to ``<output>/attacks.parquet``).
    Images are attacked by ``config.workers`` processes; every cell is seeded
    on its own, so the table does not depend on the number of workers.
    `stop_after` (one worker only): stop as if interrupted after this many new cells."""
    cfg = load_attack_config(config)
    thresholds = cfg.resolve_threshold_lists()
    hashers = cfg.build_hashers()
    records, chosen, load_errors = _plan(cfg)
    out = cfg.output
    cells_dir = os.path.join(out, "cells")
    os.makedirs(cells_dir, exist_ok=True)
    os.makedirs(os.path.join(out, "images"), exist_ok=True)
    digest = _settings_digest(cfg, {k: v[0]["threshold"] for k, v in thresholds.items()})
    with open(os.path.join(out, "attack_run.json"), "w", encoding="utf-8") as fh:
        json.dump(
            {
                "config": cfg.model_dump(mode="json"),
                "settings_digest": digest,
                "images": [{"name": r.name, "sha256": r.image_id} for r in chosen],
                "thresholds": {k: {f: x for f, x in v[0].items() if f != "target_fpr"} for k, v in thresholds.items()},
                **({"threshold_lists": thresholds} if any(len(v) > 1 for v in thresholds.values()) else {}),
                "load_errors": [list(e) for e in load_errors],
            },
            fh,
            indent=1,
            sort_keys=True,
        )
    jobs, cell_files = [], []
    for n, rec in enumerate(chosen):
        keys = _cell_paths(cfg, hashers, thresholds, rec, cells_dir)
        cell_files.append(list(keys.values()))
        if not all(os.path.exists(p) for p in keys.values()):
            target = pick_target(rec, records, cfg.seed) if "framing" in cfg.goals else None
            jobs.append((n, rec, target, keys))
    failed = set()

    def done(n, result, k):
        if result[1]:
            print(f"attack: skipped {result[1]}", file=sys.stderr)
            failed.add(n)
        if not quiet:
            print(f"attack: {k}/{len(jobs)} images", file=sys.stderr)

    if cfg.workers == 1 or len(jobs) < 2:
        left = stop_after
        for k, (n, rec, target, keys) in enumerate(jobs, 1):
            result = _attack_image(cfg, thresholds, n, rec, target, keys, left)
            left = None if left is None else left - result[0]
            done(n, result, k)
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(jobs))) as pool:
            futures = {
                pool.submit(_attack_image, cfg, thresholds, n, rec, target, keys): n for n, rec, target, keys in jobs
            }
            for k, fut in enumerate(as_completed(futures), 1):
                done(futures[fut], fut.result(), k)
    cell_files = [p for n, paths in enumerate(cell_files) if n not in failed for p in paths]
    labels = [h.label for h in hashers]
    table = (
        _frame([], cfg.psnr_budgets, labels)
        if not cell_files
        else pd.concat([pd.read_parquet(p) for p in cell_files], ignore_index=True)
    )
    table = _frame(table.to_dict("records"), cfg.psnr_budgets, labels)
    _write_parquet(table, os.path.join(out, "attacks.parquet"))
    summary = summarise(table, cfg.psnr_budgets)
    summary.to_csv(os.path.join(out, "attack_summary.csv"), index=False, float_format="%.6g")
    write_attack_outputs(out)
    return table


def write_attack_outputs(folder: str) -> list[str]:
    """attack_transfer.csv, attack_tradeoff.csv and figures/ of an attack
    folder, from its attacks.parquet and attack_run.json (the benign folder
    of the thresholds, when there is one, for FPR(t)); returns the paths."""
    from .figures import write_attack_figures
    from .transfer import transfer_table

    table = pd.read_parquet(os.path.join(folder, "attacks.parquet"))
    path = os.path.join(folder, "attack_transfer.csv")
    transfer_table(table).to_csv(path, index=False, float_format="%.6g")
    return [path] + write_attack_figures(folder)


def _frame(rows, psnr_budgets=(), labels=()) -> pd.DataFrame:
    """The attacks table with its column types; `psnr_budgets` and hasher
    `labels` name the best-distance and transfer columns."""
    reach = reach_columns(psnr_budgets) if psnr_budgets else []
    moved = [transfer_column(x) for x in labels] if len(labels) > 1 else []
    df = pd.DataFrame(rows, columns=COLUMNS + reach + moved)
    for col in ["distance", "start_distance", "queries_to_success"] + reach:
        df[col] = df[col].astype("Int64")
    for col in ("bits", "seed", "threshold", "linf", "amplitude", "linf_cap", "budget", "queries"):
        df[col] = df[col].astype("int64")
    for col in ("raw_distance", "benign_fpr", "benign_fpr_upper", "rmse", "psnr", "ssim", "cpu_seconds"):
        df[col] = df[col].astype("float64")
    df["success"] = df["success"].astype(bool)
    for col in SURVIVAL + moved:
        df[col] = df[col].astype("boolean")
    return df


def summarise(table: pd.DataFrame, psnr_budgets, confidence: float = 0.95) -> pd.DataFrame:
    """Success rate per hasher, goal, algorithm, threshold and PSNR budget (plus "any"):
    k = attacks that succeeded with psnr >= budget, n = images attacked,
    Clopper-Pearson interval (harness.metrics.intervals) over images; median
    queries over all attacks and median queries to the first success."""
    from ..metrics.intervals import clopper_pearson

    rows = []
    budgets = [f"{b:g}" for b in sorted(set(psnr_budgets), reverse=True)] + ["any"]
    for (hasher, goal, alg, _), g in table.groupby(["hasher", "goal", "algorithm", "threshold"], sort=True):
        for b in budgets:
            ok = g["success"] if b == "any" else g["success"] & (g["psnr"] >= float(b))
            k, n = int(ok.sum()), len(g)
            lo, hi = clopper_pearson(k, n, confidence)
            qs = g.loc[g["success"], "queries_to_success"].dropna()
            rows.append(
                {
                    "hasher": hasher,
                    "goal": goal,
                    "algorithm": alg,
                    "psnr_min": b,
                    "threshold": int(g["threshold"].iloc[0]),
                    "benign_fpr": g["benign_fpr"].iloc[0],
                    "successes": k,
                    "images": n,
                    "success_rate": k / n if n else float("nan"),
                    "ci_lo": float(lo),
                    "ci_hi": float(hi),
                    "median_queries": float(g["queries"].median()),
                    "median_queries_to_success": float(qs.median()) if len(qs) else float("nan"),
                    "median_psnr_success": float(g.loc[g["success"], "psnr"].median())
                    if g["success"].any()
                    else float("nan"),
                    **{
                        c.replace("survive_", "survival_"): float(g.loc[ok, c].astype(bool).mean())
                        if k
                        else float("nan")
                        for c in SURVIVAL
                    },
                }
            )
    return pd.DataFrame(rows)
