"""Screening a dataset for duplicates, and hygiene counts for a run.

This package sits above the hashers (it hashes every image with the
screening hashers) and beside the engine; `phash-harness screen` is its
front end.

Two images are
- **exact duplicates** when their bytes are identical (same sha256);
- a **candidate pair** when at least `min_agree` of the screening hashers
  (default 1: any one) put them within a small Hamming distance
  (``distance <= threshold``, bits);
- **near duplicates** when a candidate pair is *confirmed* by a pixel check
  that uses none of the hashers: the SSIM of the two images' 64 x 64 grey
  thumbnails is at least `min_similarity` (default
  DEFAULT_MIN_SIMILARITY; `harness.screen.pixels`). Candidates below it are
  *rejected* and listed, not grouped.

Defaults (chosen from measurements on Caltech-101, see datasets.md):
- hashers ``all``: every registered Hamming hasher that needs no user model
  (`all_hasher_names`); thresholds 2 bits of 64 for pHash/dHash/aHash/wHash
  and 24 bits of 256 for PDQ, round(bits / 32) for the others; one hasher
  suffices to propose a pair, the pixel check decides.
- colorhash is left out of ``all`` (NOT_IN_ALL): it hashes the colour mix
  only, and on Caltech-101 it proposed 844,634 pairs within 1 bit.
- Hashers with a non-Hamming distance (cv_radialvariance, cv_colormoment,
  crop_resistant) are not screening hashers: their distances are not bit
  counts, so "round(bits / 32)" means nothing for them and no
  near-duplicate threshold has been measured. neuralhash needs model files
  the harness does not ship.
The screening hashers are the hashers a study measures, so a group they
alone formed would not be independent of the measurement; the pixel check
is what makes each exclusion checkable (every confirmed pair is drawn on a
contact sheet with its similarity).

Groups are the connected components of "exact duplicate or confirmed
pair" (union find), so a chain a~b~c is one group even if a and c are far
apart. All pairs are compared exactly in blocks (numpy XOR + popcount),
O(n^2) work and O(block^2) memory.

`phash-harness screen` writes groups.csv (columns image,group,name; image
is the sha256, which every loader accepts, so an experiment can use
``dataset.groups: groups.csv``), pairs.csv (every candidate, with its
similarity, confirmed yes/no and the hashers that proposed it),
contact_sheet.png (groups), contact_sheet_NNN.png (every confirmed pair),
rejected_sheet_NNN.png (the rejected candidates, most similar first),
screen.json and errors.csv.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np

from ..datasets.records import ImageRecord
from ..errors import ConfigError, DecodeError
from ..hashers import get_hasher, list_hashers
from ..imageio import DEFAULT_MAX_PIXELS, load_rgb, load_rgb_modes
from ..metrics.hamming import hamming_matrix
from .pixels import PIXEL_SIZE, grey_thumbnail, pair_measures
from .sheets import group_sheet, pair_sheets

#: near-duplicate thresholds in bits; other hashers: round(bits / 32)
DEFAULT_THRESHOLDS = {"phash": 2, "dhash": 2, "ahash": 2, "whash": 2, "pdq": 24}
#: hygiene counts (no pixel check): hashers that must agree when pdq is one
DEFAULT_MIN_AGREE = 2
#: screen: hashers that must agree to propose a candidate (the pixel check decides)
SCREEN_MIN_AGREE = 1
#: screen: SSIM of the 64 x 64 grey thumbnails that confirms a candidate (measured: datasets.md)
DEFAULT_MIN_SIMILARITY = 0.9
#: `--hashers all`: registered hashers left out, with the reason
NOT_IN_ALL = {
    "neuralhash": "needs model files the harness does not ship",
    "colorhash": "a colour histogram, not a near-duplicate detector: photos with the same colour mix (every "
    "grey photo) share it; on Caltech-101 it proposed 844,634 pairs within 1 bit",
}
BLOCK = 1024
#: rejected candidates drawn on the rejected sheets (most similar first); all are in pairs.csv
MAX_REJECTED_DRAWN = 200
PAIRS_PER_SHEET = 40


def all_hasher_names() -> list[str]:
    """``--hashers all``: every registered hasher with a Hamming distance
    that needs no user model (NOT_IN_ALL), sorted.

    >>> names = all_hasher_names()
    >>> {"phash", "dhash", "pdq"} <= set(names) and "cv_radialvariance" not in names
    True
    """
    out = []
    for name in list_hashers():
        if name in NOT_IN_ALL:
            continue
        try:
            h = get_hasher(name)
        except ConfigError:  # a plugin that cannot be built with defaults
            continue
        if getattr(h, "distance", "hamming") == "hamming":
            out.append(name)
    return out


def default_hasher_names() -> list[str]:
    """The screen's default hashers: ``all`` (`all_hasher_names`)."""
    return all_hasher_names()


def expand_hasher_names(names) -> list[str]:
    """`names` with ``all`` replaced by `all_hasher_names` (None -> the default)."""
    if not names:
        return default_hasher_names()
    out = []
    for n in names:
        for m in all_hasher_names() if n == "all" else [n]:
            if m not in out:
                out.append(m)
    return out


def default_min_agree(names) -> int:
    """2 when PDQ is among the hashers, else all of them."""
    names = list(names)
    return DEFAULT_MIN_AGREE if "pdq" in names else len(names)


def default_threshold(bits: int, name: str = "") -> int:
    """Near-duplicate threshold in bits (DEFAULT_THRESHOLDS, else bits / 32)."""
    if name in DEFAULT_THRESHOLDS and bits == (256 if name == "pdq" else 64):
        return DEFAULT_THRESHOLDS[name]
    return max(1, int(round(bits / 32)))


def build_hashers(names: list[str] | None = None, thresholds: dict | None = None):
    """(hashers, {name: threshold bits}) for screening; ConfigError for an
    unknown or non-Hamming hasher or a threshold out of range."""

    if names and "all" not in names and len(set(names)) != len(names):
        raise ConfigError("--hashers", f"each hasher once (got {','.join(names)})")
    names = expand_hasher_names(names)
    hashers = [get_hasher(n) for n in names]
    out = {}
    for h in hashers:
        if getattr(h, "distance", "hamming") != "hamming":
            raise ConfigError(
                "--hashers",
                f"{h.name} uses {h.distance!r} distance; screening needs Hamming hashers "
                "(thresholds in bits; see datasets.md)",
            )
        out[h.name] = default_threshold(h.bits, h.name)
    for name, t in (thresholds or {}).items():
        if name not in out:
            raise ConfigError("--threshold", f"{name!r} is not one of the screening hashers: {', '.join(out)}")
        bits = next(h.bits for h in hashers if h.name == name)
        if not 0 <= int(t) <= bits:
            raise ConfigError("--threshold", f"{name} threshold must be in 0..{bits} bits (got {t})")
        out[name] = int(t)
    return hashers, out


def near_pairs(
    packed: dict[str, np.ndarray],
    thresholds: dict[str, int],
    min_agree: int,
    other: dict[str, np.ndarray] | None = None,
    block: int = BLOCK,
):
    """Pairs within threshold for at least `min_agree` hashers.

    packed: {hasher: uint8 (n, nbytes)}, rows aligned across hashers.
    other: the same for a second set; then pairs are (row of packed, row of
    other), otherwise unordered pairs i < j within `packed`.
    Returns (i, j, distances) with distances an int array (n_pairs,
    n_hashers) in the order of `thresholds`."""
    names = list(thresholds)
    if not names:
        raise ValueError("no hashers")
    if not 1 <= min_agree <= len(names):
        raise ConfigError("--min-agree", f"must be in 1..{len(names)} (number of hashers)")
    a = [np.ascontiguousarray(packed[n]) for n in names]
    b = a if other is None else [np.ascontiguousarray(other[n]) for n in names]
    within = other is None
    na, nb = len(a[0]), len(b[0])
    out_i, out_j, out_d = [], [], []
    for i0 in range(0, na, block):
        i1 = min(i0 + block, na)
        for j0 in range(i0 if within else 0, nb, block):
            j1 = min(j0 + block, nb)
            votes = np.zeros((i1 - i0, j1 - j0), np.int16)
            ds = []
            for k, n in enumerate(names):
                d = hamming_matrix(a[k][i0:i1], b[k][j0:j1], dtype=np.int32)
                votes += d <= thresholds[n]
                ds.append(d)
            if within and i0 == j0:
                votes[np.tril_indices(i1 - i0, 0, j1 - j0)] = 0
            ii, jj = np.nonzero(votes >= min_agree)
            if len(ii):
                out_i.append(ii + i0)
                out_j.append(jj + j0)
                out_d.append(np.stack([d[ii, jj] for d in ds], axis=1))
    if not out_i:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, len(names)), np.int32)
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


class _UnionFind:
    def __init__(self, n):
        self.parent = list(range(n))

    def find(self, x):
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, x, y):
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[max(rx, ry)] = min(rx, ry)


def exact_duplicate_counts(image_ids) -> dict:
    """Counts of exact duplicates among image ids (sha256): images that share
    their bytes with another image, and the number of such groups."""
    _, counts = np.unique(np.asarray(list(image_ids)), return_counts=True)
    dup = counts[counts > 1]
    return {
        "exact_duplicate_images": int(dup.sum()),
        "exact_duplicate_groups": int(len(dup)),
        "exact_duplicate_extra_copies": int((dup - 1).sum()),
    }


@dataclass
class ScreenPair:
    """One listed pair (rows i < j of ScreenResult.records). kind: "exact"
    (same sha256), "near" (a confirmed candidate) or "rejected" (a candidate
    under the pixel cutoff); distances: bits per screening hasher;
    similarity: SSIM of the 64 x 64 grey thumbnails (the check; 1.0 for
    exact); correlation: their Pearson correlation (reported); proposed_by:
    the hashers within their threshold (`harness.screen.pixels`)."""

    i: int
    j: int
    kind: str
    distances: list
    similarity: float
    correlation: float
    confirmed: bool
    proposed_by: list


@dataclass
class ScreenResult:
    records: list  # ImageRecords that were hashed (row order of `packed`)
    packed: dict  # {hasher: (n, nbytes) uint8}
    thresholds: dict  # {hasher: bits}
    min_agree: int
    pairs: list  # ScreenPair, every candidate and exact pair, sorted by (i, j)
    groups: list  # lists of record indices, size >= 2, sorted
    errors: list = field(default_factory=list)  # (name, reason)
    counts: dict = field(default_factory=dict)
    hasher_identities: list = field(default_factory=list)
    seconds: dict = field(default_factory=dict)
    min_similarity: float = DEFAULT_MIN_SIMILARITY

    @property
    def hasher_names(self) -> list[str]:
        return list(self.thresholds)

    def threshold_text(self) -> str:
        return ", ".join(f"{n}<={t}" for n, t in self.thresholds.items())

    def group_labels(self) -> dict[int, str]:
        """{record index: group label} for records in a duplicate group."""
        width = max(4, len(str(len(self.groups))))
        return {i: f"dup-{g + 1:0{width}d}" for g, members in enumerate(self.groups) for i in members}


def _hash_one(rec, hashers, max_pixels):
    try:
        # one decode; each hasher gets its reference tool's mode conversion
        convert = [getattr(h, "conversion", "pillow") for h in hashers]
        arrays = load_rgb_modes(rec.path, convert, max_pixels=max_pixels)
        return [np.asarray(h.hash(arrays[c]), dtype=np.uint8) for h, c in zip(hashers, convert)], None
    except DecodeError as exc:
        return None, exc.reason
    except Exception as exc:  # a hasher failing on one image must not stop the screen
        return None, f"{type(exc).__name__}: {exc}"


def _hash_chunk(records, names, max_pixels):
    """Worker: rebuild the hashers by name (default parameters) and hash."""

    hashers = [get_hasher(n) for n in names]
    return [_hash_one(r, hashers, max_pixels) for r in records]


def hash_records(
    records,
    hashers,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | None = None,
    workers: int = 1,
    chunk: int = 256,
):
    """Decode each record once and hash it with every hasher. Returns
    (kept records, {hasher: (n, nbytes)}, errors [(name, reason)]).
    With workers > 1, chunks of records are hashed in a process pool (the
    hashers are rebuilt by name there, so they must use default parameters);
    the result is the same as with one worker, in the same order."""
    from tqdm.auto import tqdm

    show = sys.stderr.isatty() if progress is None else progress
    bar = tqdm(total=len(records), desc="screening", unit="img", disable=not show, leave=False)
    results = []
    if workers > 1 and len(records) > chunk:
        from concurrent.futures import ProcessPoolExecutor

        names = [h.name for h in hashers]
        chunks = [records[i : i + chunk] for i in range(0, len(records), chunk)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            for part in pool.map(_hash_chunk, chunks, [names] * len(chunks), [max_pixels] * len(chunks)):
                results.extend(part)
                bar.update(len(part))
    else:
        for rec in records:
            results.append(_hash_one(rec, hashers, max_pixels))
            bar.update(1)
    bar.close()
    kept, rows, errors = [], {h.name: [] for h in hashers}, []
    for rec, (hashes, reason) in zip(records, results):
        if hashes is None:
            errors.append((rec.name, reason))
            continue
        kept.append(rec)
        for h, v in zip(hashers, hashes):
            rows[h.name].append(v)
    packed = {h.name: (np.stack(rows[h.name]) if rows[h.name] else np.zeros((0, h.nbytes), np.uint8)) for h in hashers}
    return kept, packed, errors


def check_min_similarity(value) -> float:
    """`value` as a float in [-1, 1] (an SSIM); ConfigError
    naming ``--min-similarity`` otherwise."""
    try:
        r = float(value)
    except (TypeError, ValueError):
        r = float("nan")
    if not -1.0 <= r <= 1.0:
        raise ConfigError("--min-similarity", f"must be an SSIM in [-1, 1] (got {value!r})")
    return r


def pixel_thumbnails(records, rows, max_pixels: int = DEFAULT_MAX_PIXELS, size: int = PIXEL_SIZE) -> dict:
    """{row: `grey_thumbnail`} for each record in `rows` (decoded again with
    `load_rgb`); None for an image that no longer decodes."""
    out = {}
    for r in sorted(set(int(x) for x in rows)):
        try:
            out[r] = grey_thumbnail(load_rgb(records[r].path, max_pixels=max_pixels), size)
        except DecodeError:
            out[r] = None
    return out


def screen_records(
    records: list[ImageRecord],
    hashers=None,
    thresholds=None,
    min_agree: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: bool | None = None,
    block: int = BLOCK,
    workers: int = 1,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
) -> ScreenResult:
    """Find exact duplicates and confirmed near-duplicate groups among
    `records`: candidates from the hashers (at least `min_agree`, default
    SCREEN_MIN_AGREE, within their thresholds), each confirmed when the
    Pearson correlation of the grey thumbnails is >= `min_similarity`."""
    hasher_objs, thr = build_hashers(hashers, thresholds)
    min_similarity = check_min_similarity(min_similarity)
    min_agree = SCREEN_MIN_AGREE if min_agree is None else min_agree
    if not 1 <= min_agree <= len(hasher_objs):
        raise ConfigError("--min-agree", f"must be in 1..{len(hasher_objs)} (number of hashers)")
    names = list(thr)
    limits = np.array([thr[n] for n in names])
    t0 = time.perf_counter()
    kept, packed, errors = hash_records(records, hasher_objs, max_pixels, progress, workers=workers)
    t1 = time.perf_counter()
    ii, jj, dd = near_pairs(packed, thr, min_agree, block=block)
    t2 = time.perf_counter()
    n = len(kept)
    ids = [r.image_id for r in kept]
    found = {(i, j): k for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist()))}
    # exact duplicates are always listed, even if no hasher proposed them (they cannot fail to: same bytes)
    by_digest = {}
    for idx, digest in enumerate(ids):
        by_digest.setdefault(digest, []).append(idx)
    extra = [
        (m[x], m[y])
        for m in by_digest.values()
        for x in range(len(m))
        for y in range(x + 1, len(m))
        if (m[x], m[y]) not in found
    ]
    thumbs = pixel_thumbnails(kept, list(ii) + list(jj), max_pixels)
    sim, corr = pair_measures(thumbs, ii, jj)
    del thumbs
    t3 = time.perf_counter()
    pairs = []
    for k, (i, j) in enumerate(zip(ii.tolist(), jj.tolist())):
        d = dd[k]
        exact = ids[i] == ids[j]
        confirmed = exact or bool(sim[k] >= min_similarity)
        kind = "exact" if exact else ("near" if confirmed else "rejected")
        proposed = [nm for nm, x, t in zip(names, d, limits) if x <= t]
        s, r = (1.0, 1.0) if exact else (float(sim[k]), float(corr[k]))
        pairs.append(ScreenPair(i, j, kind, d.tolist(), s, r, confirmed, proposed))
    for i, j in extra:
        pairs.append(ScreenPair(i, j, "exact", [0] * len(names), 1.0, 1.0, True, []))
    pairs.sort(key=lambda p: (p.i, p.j))
    uf = _UnionFind(n)
    for p in pairs:
        if p.confirmed:
            uf.union(p.i, p.j)
    comps = {}
    for idx in range(n):
        comps.setdefault(uf.find(idx), []).append(idx)
    groups = sorted((sorted(m) for m in comps.values() if len(m) > 1), key=lambda m: kept[m[0]].name)
    exact_counts = exact_duplicate_counts(ids)
    near_only = [p for p in pairs if p.kind == "near"]
    near_images = {i for p in near_only for i in (p.i, p.j)}
    candidates = [p for p in pairs if p.proposed_by]
    counts = {
        "images": n,
        "images_failed": len(errors),
        **exact_counts,
        "candidate_pairs": len(candidates),
        "candidate_pairs_by_hasher": {nm: sum(nm in p.proposed_by for p in candidates) for nm in names},
        "candidate_pairs_proposed_by_one_hasher_only": sum(len(p.proposed_by) == 1 for p in candidates),
        "confirmed_pairs": sum(p.confirmed for p in candidates),
        "confirmed_pairs_by_hasher": {nm: sum(nm in p.proposed_by and p.confirmed for p in candidates) for nm in names},
        "rejected_pairs": sum(not p.confirmed for p in candidates),
        "near_duplicate_pairs": len(near_only),
        "near_duplicate_images": len(near_images),
        "near_duplicate_groups": sum(1 for g in groups if any(i in near_images for i in g)),
        "duplicate_groups": len(groups),
        "images_in_duplicate_groups": sum(len(g) for g in groups),
        "largest_group": max((len(g) for g in groups), default=0),
    }
    return ScreenResult(
        kept,
        packed,
        thr,
        min_agree,
        pairs,
        groups,
        errors,
        counts,
        [h.identity | {"bits": h.bits} for h in hasher_objs],
        {"hash": round(t1 - t0, 3), "pairs": round(t2 - t1, 3), "pixel_check": round(t3 - t2, 3)},
        min_similarity,
    )


# ------------------------------------------------------------------- hygiene
def _original_packed(hashes_df, names):
    orig = hashes_df[hashes_df["transform"] == "original()"]
    ids = None
    packed = {}
    for name in names:
        hh = orig[orig["hasher"] == name].sort_values("image_id").drop_duplicates("image_id")
        if ids is None:
            ids = list(hh["image_id"])
        elif list(hh["image_id"]) != ids:
            common = sorted(set(ids) & set(hh["image_id"]))
            ids = common
        packed[name] = hh
    ids = ids or []
    out = {}
    for name, hh in packed.items():
        hh = hh.set_index("image_id").loc[ids]
        out[name] = (
            np.stack([np.frombuffer(b, np.uint8) for b in hh["hash"]]) if len(hh) else np.zeros((0, 1), np.uint8)
        )
    return ids, out


def _hygiene_setup(hashers, thresholds, min_agree):
    """Hamming hashers of the run with thresholds; min_agree defaults as for
    screening, and is capped at the number of hashers."""
    thr = {}
    for h in hashers:
        if getattr(h, "distance", "hamming") == "hamming":
            thr[h.name] = int((thresholds or {}).get(h.name, default_threshold(h.bits, h.name)))
    k = min(default_min_agree(thr) if min_agree is None else min_agree, len(thr))
    return thr, k


def hygiene_counts(hashes_df, hashers, image_ids=None, thresholds=None, min_agree: int | None = None) -> dict:
    """Duplicate counts of a run's image set, from its hashes table (pure:
    no I/O). `hashers`: the run's Hasher objects (non-Hamming ones are
    skipped); `image_ids`: sha256 of every listed image, duplicates
    included (default: the ids in the table, which cannot show exact
    duplicates if the table was de-duplicated). Near duplicates use the
    originals' hashes with min(min_agree, number of Hamming hashers) agreeing.

    Returns {images, exact_duplicate_images, exact_duplicate_groups,
    exact_duplicate_extra_copies, near_duplicate_pairs, near_duplicate_images,
    hashers, thresholds, min_agree}."""
    thr, k = _hygiene_setup(hashers, thresholds, min_agree)
    ids, packed = _original_packed(hashes_df, list(thr))
    all_ids = list(image_ids) if image_ids is not None else ids
    out = {"images": len(all_ids), **exact_duplicate_counts(all_ids)}
    if thr and ids:
        ii, jj, _ = near_pairs(packed, thr, k)
        out["near_duplicate_pairs"] = int(len(ii))
        out["near_duplicate_images"] = int(len(set(ii.tolist()) | set(jj.tolist())))
    else:
        out["near_duplicate_pairs"] = out["near_duplicate_images"] = 0
    out.update(hashers=list(thr), thresholds=thr, min_agree=k)
    return out


def overlap_counts(query_df, reference_df, hashers, thresholds=None, min_agree: int | None = None) -> dict:
    """Overlap between a query set and a reference set, from their hashes
    tables (pure). Returns {query_images, reference_images,
    exact_overlap_images (query images whose sha256 is in the reference set),
    near_overlap_pairs, near_overlap_query_images, hashers, thresholds,
    min_agree}."""
    thr, k = _hygiene_setup(hashers, thresholds, min_agree)
    qids, qp = _original_packed(query_df, list(thr))
    rids, rp = _original_packed(reference_df, list(thr))
    rset = set(rids)
    out = {
        "query_images": len(qids),
        "reference_images": len(rids),
        "exact_overlap_images": sum(1 for q in qids if q in rset),
    }
    if thr and qids and rids:
        ii, jj, _ = near_pairs(qp, thr, k, other=rp)
        out["near_overlap_pairs"] = int(len(ii))
        out["near_overlap_query_images"] = int(len(set(ii.tolist())))
    else:
        out["near_overlap_pairs"] = out["near_overlap_query_images"] = 0
    out.update(hashers=list(thr), thresholds=thr, min_agree=k)
    return out


# ------------------------------------------------------------------- outputs
contact_sheet = group_sheet  # the earlier name


def _stale_sheets(out_dir: str) -> list[str]:
    """Sheet pages of an earlier screen in `out_dir` (replaced by this one)."""
    if not os.path.isdir(out_dir):
        return []
    return [
        f
        for f in os.listdir(out_dir)
        if f.endswith(".png") and f.startswith(("contact_sheet_", "rejected_sheet_")) and f[-7:-4].isdigit()
    ]


def write_screen(result: ScreenResult, out_dir: str, source: str = "") -> None:
    """Write groups.csv, pairs.csv, contact_sheet.png (groups),
    contact_sheet_NNN.png (every confirmed pair), rejected_sheet_NNN.png
    (up to MAX_REJECTED_DRAWN rejected candidates, most similar first),
    screen.json and errors.csv into `out_dir` (all at once: written to a
    temporary folder, then moved; sheet pages of an earlier screen there
    are removed)."""
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise ConfigError("--output", f"exists and is not a folder: {out_dir}")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".tmp-screen-", dir=parent)
    try:
        labels = result.group_labels()
        recs = result.records
        with open(os.path.join(tmp, "groups.csv"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["image", "group", "name"])
            for g in result.groups:
                for i in g:
                    w.writerow([recs[i].image_id, labels[i], recs[i].name])
        with open(os.path.join(tmp, "pairs.csv"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(
                [
                    "image_a",
                    "image_b",
                    "sha256_a",
                    "sha256_b",
                    "kind",
                    "group",
                    *[f"distance_{n}" for n in result.thresholds],
                    "similarity",
                    "correlation",
                    "confirmed",
                    "proposed_by",
                ]
            )
            for p in result.pairs:
                a, b = recs[p.i], recs[p.j]
                w.writerow(
                    [
                        a.name,
                        b.name,
                        a.image_id,
                        b.image_id,
                        p.kind,
                        labels.get(p.i, "") if p.confirmed else "",
                        *p.distances,
                        f"{p.similarity:.6f}",
                        f"{p.correlation:.6f}",
                        "yes" if p.confirmed else "no",
                        "+".join(p.proposed_by),
                    ]
                )
        with open(os.path.join(tmp, "errors.csv"), "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(["image_name", "reason"])
            w.writerows(result.errors)
        drawn = group_sheet(result, os.path.join(tmp, "contact_sheet.png"))
        confirmed = [p for p in result.pairs if p.confirmed]
        rejected = sorted((p for p in result.pairs if not p.confirmed), key=lambda p: (-p.similarity, p.i, p.j))
        cutoff = f"SSIM >= {result.min_similarity:g}"
        confirmed_files = pair_sheets(
            result, confirmed, tmp, "contact_sheet", f"confirmed (excluded) pairs, {cutoff}", PAIRS_PER_SHEET
        )
        rejected_files = pair_sheets(
            result,
            rejected[:MAX_REJECTED_DRAWN],
            tmp,
            "rejected_sheet",
            f"rejected candidates (not {cutoff}), most similar first",
            PAIRS_PER_SHEET,
        )
        info = {
            "source": source,
            "counts": result.counts,
            "hashers": result.hasher_identities,
            "thresholds_bits": result.thresholds,
            "min_agree": result.min_agree,
            "pixel_check": {
                "similarity": "SSIM (scikit-image structural_similarity, data_range 255, defaults) of the two "
                f"images' grey levels (Pillow convert('L')) resized to {PIXEL_SIZE}x{PIXEL_SIZE} with LANCZOS",
                "correlation": "Pearson correlation of the same thumbnails (reported, not used)",
                "min_similarity": result.min_similarity,
            },
            "rule": "candidate: at least min_agree hashers with Hamming distance <= threshold; "
            "confirmed (near duplicate): candidate whose similarity (SSIM of the grey thumbnails) >= min_similarity; "
            "groups: connected components of exact duplicate (same sha256) or confirmed pairs",
            "contact_sheet_groups": drawn,
            "contact_sheets_confirmed": confirmed_files,
            "contact_sheets_rejected": rejected_files,
            "rejected_pairs_drawn": min(len(rejected), MAX_REJECTED_DRAWN),
            "timings_seconds": result.seconds,
        }
        with open(os.path.join(tmp, "screen.json"), "w", encoding="utf-8") as fh:
            json.dump(info, fh, indent=2, sort_keys=True)
        os.makedirs(out_dir, exist_ok=True)
        for name in _stale_sheets(out_dir):
            os.remove(os.path.join(out_dir, name))
        for name in sorted(os.listdir(tmp)):
            os.replace(os.path.join(tmp, name), os.path.join(out_dir, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def resolve_target(target: str, dest: str | None = None, extensions=None):
    """Records for `screen NAME|DIR`: a folder (its MANIFEST.csv if it has
    one next to images/, else every image file under it), a manifest CSV,
    an fsspec URL, or a catalogue dataset fetched under `dest`."""
    from ..datasets.catalog import CATALOG, default_dest
    from ..datasets.folder import DEFAULT_EXTENSIONS, folder_records
    from ..datasets.manifest import manifest_records

    exts = extensions or DEFAULT_EXTENSIONS
    if "://" in target:
        from ..datasets.remote import check_url, fsspec_records

        check_url(target, "NAME|DIR")
        return fsspec_records(target, exts)
    if os.path.isdir(target):
        manifest = os.path.join(target, "MANIFEST.csv")
        if os.path.isfile(manifest) and os.path.isdir(os.path.join(target, "images")) and not extensions:
            return manifest_records(manifest)
        return folder_records(target, exts)
    if os.path.isfile(target) and target.lower().endswith(".csv"):
        return manifest_records(target)
    folder = os.path.join(os.path.expanduser(dest or default_dest()), target)
    if os.path.isfile(os.path.join(folder, "MANIFEST.csv")):
        return manifest_records(os.path.join(folder, "MANIFEST.csv"))
    hint = f"; fetch it first: phash-harness fetch {target}" if target in CATALOG else ""
    raise ConfigError(
        "NAME|DIR",
        f"{target!r} is not a folder, a manifest CSV, or a dataset fetched under {dest or default_dest()}{hint}",
    )


def run_screen(
    target: str,
    out: str | None = None,
    dest: str | None = None,
    hashers=None,
    thresholds=None,
    min_agree: int | None = None,
    extensions=None,
    progress: bool | None = None,
    workers: int = 1,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
):
    """Screen `target` and write the outputs; returns (ScreenResult, out)."""
    objs, thr = build_hashers(hashers, thresholds)  # validate before any work
    min_similarity = check_min_similarity(min_similarity)
    min_agree = SCREEN_MIN_AGREE if min_agree is None else min_agree
    if not 1 <= min_agree <= len(objs):
        raise ConfigError("--min-agree", f"must be in 1..{len(objs)} (number of hashers)")
    records, list_errors = resolve_target(target, dest, extensions)
    if not records and not list_errors:
        raise ConfigError("NAME|DIR", f"no images found in {target}")
    base = os.path.basename(os.path.normpath(target.split("://")[-1])) or "dataset"
    if base == "images":
        base = os.path.basename(os.path.dirname(os.path.normpath(target)))
    out = out or os.path.join("results", f"screen-{base}")
    t0 = time.perf_counter()
    result = screen_records(
        records, hashers, thresholds, min_agree, progress=progress, workers=workers, min_similarity=min_similarity
    )
    result.errors = list(list_errors) + result.errors
    result.counts["images_failed"] = len(result.errors)
    result.seconds["total"] = round(time.perf_counter() - t0, 3)
    write_screen(result, out, source=target)
    return result, out
