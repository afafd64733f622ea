"""Re-hash a sample of a results folder and report drift.

``phash-harness verify DIR [--sample N]`` answers: "with the libraries
installed now, do I still get the hashes this run recorded?" It is how a
user tells whether a library upgrade (Pillow's decoders, imagehash, OpenCV,
numpy, scipy, albumentations...) changed hashes.

What it reads from DIR (nothing is written):

- ``run.json``: seed, max_pixels, the hashers' parameters, the transform specs
  and the library versions of the run;
- ``images.csv``: image sha256 -> path (read in place);
- ``hashes.parquet``: the recorded hash of every (image, transform, hasher).

For each sampled image (``--sample N`` images drawn without replacement
with a seeded generator; 0 = all) the source file is read, its sha256 must
still equal the recorded image_id (otherwise the image is *unverifiable*:
the input changed, not the libraries), and the image goes through the same
unit of work as a run (``harness.engine.hash_images``: decode, every variant
with its recorded seed, every hasher). Every recorded item of the image is
compared byte for byte; an item whose hash differs, or that is now missing
or new, is *drift* (with the Hamming distance in bits where both exist).
Library versions that differ from run.json are listed.

Exit status (command line): 0 no drift; 1 drift found or an image could not
be verified (or, with ``--strict-versions``, a library version differs);
2 DIR is not a results folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .errors import ConfigError
from .imageio import sha256_file

#: default number of images to re-hash
DEFAULT_SAMPLE = 20

REQUIRED_FILES = ("run.json", "hashes.parquet", "images.csv")


@dataclass
class DriftReport:
    folder: str
    images_in_run: int
    images_sampled: list[str]
    images_verified: int
    items_checked: int
    #: one row per drifted item: image_name, transform, hasher, recorded, now, distance_bits
    drift: pd.DataFrame
    #: (image name, reason) for sampled images that could not be re-hashed
    unverifiable: list[tuple[str, str]] = field(default_factory=list)
    #: library -> (recorded version, installed version), only where they differ
    version_changes: dict[str, tuple] = field(default_factory=dict)

    @property
    def has_drift(self) -> bool:
        return len(self.drift) > 0

    def exit_status(self, strict_versions: bool = False) -> int:
        if self.has_drift or self.unverifiable or self.images_verified == 0:
            return 1
        if strict_versions and self.version_changes:
            return 1
        return 0


DRIFT_COLUMNS = ["image_name", "transform", "hasher", "recorded", "now", "distance_bits"]


def _load_folder(folder: str):
    missing = [f for f in REQUIRED_FILES if not os.path.isfile(os.path.join(folder, f))]
    if missing:
        raise ConfigError("DIR", f"not a results folder (missing {', '.join(missing)}): {folder}")
    with open(os.path.join(folder, "run.json"), encoding="utf-8") as fh:
        run = json.load(fh)
    hashes = pd.read_parquet(os.path.join(folder, "hashes.parquet"))
    images = pd.read_csv(
        os.path.join(folder, "images.csv"),
        keep_default_na=False,
        dtype={"image_id": str, "name": str, "path": str, "group": str},
    )
    return run, hashes, images


def _resolve_path(text: str) -> str:
    """The recorded path, or, if it does not exist, the path with its ``\\xNN``
    escapes (written for names that are not UTF-8) turned back into bytes."""
    if os.path.exists(text) or "\\x" not in text:
        return text
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), text.encode("utf-8"))
    return os.fsdecode(raw)


def _sha256(path: str) -> str:
    """sha256 (hex) of a file's bytes."""
    return sha256_file(path)[0]


def _rebuild_hashers(hashes: pd.DataFrame) -> dict:
    """recorded hasher_key -> hasher built now from the recorded name and params."""
    from .hashers import get_hasher

    out = {}
    for key in sorted(hashes["hasher_key"].unique()):
        ident = json.loads(key)
        out[key] = get_hasher(ident["name"], **ident.get("params", {}))
    return out


def _rebuild_specs(run: dict, keys) -> dict:
    """recorded transform key -> TransformSpec rebuilt from run.json."""
    from .transforms import ORIGINAL, TransformSpec

    specs = {ORIGINAL.key: ORIGINAL}
    for t in run.get("transforms", []):
        spec = TransformSpec.make(t["family"], t.get("severity"), t.get("params") or {})
        specs[t.get("key", spec.key)] = spec
    unknown = sorted(set(keys) - set(specs))
    if unknown:
        raise ConfigError("DIR", f"run.json does not describe transform(s) {', '.join(unknown)}")
    return specs


def version_changes(recorded: dict) -> dict[str, tuple]:
    """Libraries whose installed version differs from `recorded` (run.json
    ``versions``): {name: (recorded, installed)}."""
    from .engine import library_versions

    now = library_versions()
    return {k: (recorded.get(k), now.get(k)) for k in sorted(set(recorded) | set(now)) if recorded.get(k) != now.get(k)}


def sample_names(names, n: int, seed: int) -> list[str]:
    """`n` names drawn without replacement (all when n <= 0 or n >= len),
    reproducibly from `seed`; returned sorted."""
    names = sorted(names)
    if n <= 0 or n >= len(names):
        return names
    rng = np.random.default_rng(seed)
    return sorted(names[i] for i in rng.choice(len(names), size=n, replace=False))


def verify_results(folder: str, sample: int = DEFAULT_SAMPLE, seed: int | None = None) -> DriftReport:
    """Re-hash `sample` images of the results folder (0 = all) and compare
    with the recorded hashes. `seed` picks the sample (default: the run's)."""
    from .datasets.records import ImageRecord
    from .engine import hash_images

    if sample < 0:
        raise ConfigError("--sample", f"must be an integer >= 0 (got {sample})")
    run, hashes, images = _load_folder(folder)
    run_seed = int(run.get("seed", 0))
    max_pixels = int(run.get("config", {}).get("max_pixels") or 0) or None
    hashers = _rebuild_hashers(hashes)
    specs = _rebuild_specs(run, hashes["transform"].unique())
    hashed_names = set(hashes["image_name"])
    rows_by_name = {n: images.loc[images["name"] == n].iloc[0] for n in images["name"] if n in hashed_names}
    chosen = sample_names(rows_by_name, sample, run_seed if seed is None else seed)

    drift, unverifiable, verified, checked = [], [], 0, 0
    for name in chosen:
        info = rows_by_name[name]
        path = _resolve_path(info["path"])
        try:
            if _sha256(path) != info["image_id"]:
                unverifiable.append((name, "file changed since the run (sha256 differs)"))
                continue
        except OSError as exc:
            unverifiable.append((name, f"cannot read {info['path']}: {exc.strerror or exc}"))
            continue
        recorded = hashes[hashes["image_name"] == name]
        want_specs = [specs[k] for k in sorted(recorded["transform"].unique()) if k != "original()"]
        keys = sorted(recorded["hasher_key"].unique())
        rec = ImageRecord(info["image_id"], name, path, str(info.get("group", "")), 0)
        kwargs = {"max_pixels": max_pixels} if max_pixels else {}
        result = hash_images([rec], want_specs, [hashers[k] for k in keys], run_seed, **kwargs)
        now_key_to_recorded = {hashers[k].key: k for k in keys}
        now = {}
        for row in result.rows:
            r = dict(zip(_hash_columns(), row))
            now[(r["transform"], now_key_to_recorded.get(r["hasher_key"], r["hasher_key"]))] = r
        failures = {(e[2], e[3]): e[5] for e in result.errors}
        verified += 1
        for _, r in recorded.iterrows():
            checked += 1
            item = (r["transform"], r["hasher_key"])
            got = now.pop(item, None)
            if got is None:
                reason = (
                    failures.get((r["transform"], r["hasher"]))
                    or failures.get(("", ""))
                    or failures.get((r["transform"], ""))
                    or "not produced"
                )
                drift.append([name, r["transform"], r["hasher"], r["hash_hex"], f"(error: {reason})", None])
            elif bytes(got["hash"]) != bytes(r["hash"]):
                d = _hamming(bytes(r["hash"]), bytes(got["hash"]))
                drift.append([name, r["transform"], r["hasher"], r["hash_hex"], got["hash_hex"], d])
        for (transform, _key), r in now.items():  # produced now, absent from the run
            drift.append([name, transform, r["hasher"], "(absent)", r["hash_hex"], None])

    return DriftReport(
        folder=folder,
        images_in_run=len(rows_by_name),
        images_sampled=chosen,
        images_verified=verified,
        items_checked=checked,
        drift=pd.DataFrame(drift, columns=DRIFT_COLUMNS).astype({"distance_bits": "Int64"}),
        unverifiable=unverifiable,
        version_changes=version_changes(run.get("versions", {})),
    )


def _hash_columns():
    from .engine.work import HASH_COLUMNS

    return HASH_COLUMNS


def _hamming(a: bytes, b: bytes) -> int | None:
    if len(a) != len(b):
        return None
    x = np.bitwise_xor(np.frombuffer(a, np.uint8), np.frombuffer(b, np.uint8))
    return int(np.unpackbits(x).sum())


def format_report(rep: DriftReport, max_rows: int = 50) -> str:
    """Human-readable summary (what the command prints)."""
    lines = [
        f"verified {rep.images_verified} of {len(rep.images_sampled)} sampled images "
        f"({rep.images_in_run} in the run), {rep.items_checked} recorded hashes re-computed"
    ]
    if rep.has_drift:
        lines.append(f"DRIFT: {len(rep.drift)} hash(es) differ from the recorded ones:")
        shown = rep.drift.head(max_rows)
        for _, r in shown.iterrows():
            d = "" if pd.isna(r["distance_bits"]) else f"  ({r['distance_bits']} bits)"
            lines.append(f"  {r['image_name']}  {r['transform']}  {r['hasher']}: {r['recorded']} -> {r['now']}{d}")
        if len(rep.drift) > max_rows:
            lines.append(f"  ... and {len(rep.drift) - max_rows} more")
    elif rep.images_verified:
        lines.append("no drift: every re-computed hash equals the recorded one")
    else:
        lines.append("nothing could be verified")
    for name, reason in rep.unverifiable:
        lines.append(f"unverifiable: {name}: {reason}")
    if rep.version_changes:
        lines.append("library versions differ from the run:")
        for lib, (was, now) in rep.version_changes.items():
            lines.append(f"  {lib}: recorded {was}, installed {now}")
    else:
        lines.append("library versions: identical to the run")
    return "\n".join(lines)
