"""Census: exact pair statistics of hashes a user already has (no image
decoded).

Input files (Parquet or CSV) have the columns ``id``, ``hash`` (hex, 4 bits
per digit, so any bit length that is a multiple of 4), optional ``group``
(default: the id, so every photo is its own group) and optional ``hasher``
(several hashers in one file are counted separately). They are read in
Arrow batches straight into packed uint8 arrays (two hex digits a byte; an
odd number of digits gets a zero top nibble, which never counts in a
distance), so the driver holds n * ceil(bits / 8) bytes of hashes plus the
ids and groups, and nothing that grows with the number of pairs.

Negative pairs:

- no queries (``orig-orig``): all n(n-1)/2 distinct pairs of the set whose
  groups differ;
- with queries (``variant-orig``): every query x database entry whose
  groups differ.

The all-pairs histogram is split into tiles of `tile` rows x `tile`
columns (within one set: the upper triangle, diagonal tiles included);
each tile is one task on the executor (`harness.engine.executors`) and its
partial int64 histogram is checkpointed in ``<output>/tiles/`` (written to a
temporary name and moved into place with os.replace), so a killed census
resumes without recomputing finished tiles. Partial histograms are summed
exactly, so the tables do not depend on the tile size.

From the histogram: FPR(t) = (pairs at distance <= t) / pairs, with the
metrics stage's default interval (pairs that share a photo are dependent:
harness.metrics.intervals.dependent_pair_interval, deterministic, from the
pairs at or under keep_below, collected in the histogram pass up to a
threshold a sample predicts, see `speculative_keep`, else in a second tiled
pass; keep_below covers the largest target FPR), and as labelled cross-checks the Clopper-Pearson
interval (valid only if pairs were independent) and the image-level
Poisson bootstrap; the recommended threshold per target FPR from the
default upper bound (harness.metrics.intervals.recommend_threshold);
and the per-photo false-match rate: the share of photos (queries) with at
least one photo of another group at distance <= t, exact for
t <= keep_below (the nearest other-group distance is known there) and not
measured (empty) above.

Examples
--------
>>> import numpy as np
>>> from harness.engine.census import hex_to_packed
>>> hex_to_packed(np.array(["0f", "ff"]))
array([[ 15],
       [255]], dtype=uint8)
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..metrics.hamming import close_pairs, histogram_and_close_pairs, pair_histogram
from ..metrics.intervals import bootstrap_fpr, clopper_pearson, dependent_pair_interval, recommend_threshold
from ..metrics.tables import HISTOGRAM_COLUMNS, ORIGINAL_KEY, _seed, choose_keep_below
from .run import library_versions

COLUMNS = ("id", "hash", "group", "hasher")
REQUIRED = ("id", "hash")
DEFAULT_TILE = 32768
BATCH_ROWS = 65536
#: rows sampled (evenly spaced) to estimate keep_below before the histogram
SAMPLE_ROWS = 20_000
#: the histogram pass collects the pairs up to the threshold where a sample
#: predicts this many times the pairs at the predicted keep_below
ROOM_FACTOR = 4
#: test hook: the census process kills itself (SIGKILL) after checkpointing
#: this many tiles (to test resume without a timing race)
ENV_STOP_AFTER = "HARNESS_CENSUS_STOP_AFTER_TILES"
QUERY_KEY = "queries"
FPR_COLUMNS = [
    "hasher",
    "bits",
    "negatives",
    "threshold",
    "fp",
    "n_neg",
    "fpr",
    "fpr_lo",
    "fpr_hi",
    "fpr_cp_lo",
    "fpr_cp_hi",
    "fpr_boot_lo",
    "fpr_boot_hi",
    "fpr_upper",
]
PHOTO_COLUMNS = ["hasher", "bits", "negatives", "threshold", "n_photos", "photos_matched", "photo_rate"]
THRESHOLD_COLUMNS = [
    "hasher",
    "bits",
    "negatives",
    "target_fpr",
    "recommended_threshold",
    "fp",
    "n_neg",
    "fpr",
    "fpr_upper",
    "photo_rate",
]

_HEX = np.full(256, 255, np.uint8)
for _i, _c in enumerate("0123456789abcdef"):
    _HEX[ord(_c)] = _i
    _HEX[ord(_c.upper())] = _i


# ---------------------------------------------------------------- reading
def hex_to_packed(hexes) -> np.ndarray:
    """Hex strings of one length L -> (n, ceil(L/2)) uint8, two digits a
    byte, most significant first; an odd L gets a zero top nibble in byte 0.
    ValueError naming the first bad row (0-based) for a non-hex digit or
    another length."""
    hx = [str(x) for x in hexes]
    if not hx:
        return np.zeros((0, 0), np.uint8)
    lengths = np.fromiter((len(x) for x in hx), np.int64, len(hx))
    wrong = np.nonzero(lengths != lengths[0])[0]
    if len(wrong):
        raise ValueError(f"row {wrong[0]}: {lengths[wrong[0]]} hex digits, row 0 has {lengths[0]}")
    packed, bad = _pack_hex(hx, int(lengths[0]))
    if bad >= 0:
        raise ValueError(f"row {bad}: {hx[bad]!r} is not hexadecimal")
    return packed


def _pack_hex(hx, width: int) -> tuple[np.ndarray, int]:
    """(packed, -1), or (None, first bad row) when a digit is not hex."""
    raw = np.frombuffer("".join(hx).encode("ascii", "replace"), np.uint8).reshape(len(hx), width)
    nib = _HEX[raw]
    bad = np.nonzero((nib == 255).any(axis=1))[0]
    if len(bad):
        return None, int(bad[0])
    if width % 2:
        nib = np.concatenate([np.zeros((len(nib), 1), np.uint8), nib], axis=1)
    return (nib[:, 0::2] << 4) | nib[:, 1::2], -1


@dataclass
class HashSet:
    """The hashes of one hasher from one side (database or queries)."""

    bits: int
    parts: list = field(default_factory=list)  # packed blocks
    ids: list = field(default_factory=list)
    groups: list = field(default_factory=list)
    where: list = field(default_factory=list)  # (file, first row) per block

    def packed(self) -> np.ndarray:
        return np.concatenate(self.parts) if self.parts else np.zeros((0, (self.bits // 4 + 1) // 2), np.uint8)


def _is_url(path: str) -> bool:
    """An fsspec URL (``s3://``, ``gs://``, ``https://``, ``memory://``,
    ``file://`` ...) rather than a local path."""
    return "://" in path


def _open(path: str, mode: str = "rb", **kwargs):
    """A local file, or an fsspec URL opened through fsspec (the protocol's
    own package, e.g. s3fs or gcsfs, must be installed)."""
    if not _is_url(path):
        return open(path, mode, **kwargs)
    import fsspec

    try:
        return fsspec.open(path, mode, **kwargs).open()
    except (ImportError, ValueError) as exc:  # unknown protocol, or its package missing
        raise ConfigError(path, f"cannot open this URL ({str(exc).splitlines()[0]})") from None


def _open_text(path: str):
    """The file as text (UTF-8, BOM dropped), gzip-decompressed when it ends in .gz."""
    kwargs = {"encoding": "utf-8-sig", "errors": "replace", "newline": ""}
    if _is_url(path):
        return _open(path, "r", compression="infer", **kwargs)
    if path.lower().endswith(".gz"):
        import gzip

        return gzip.open(path, "rt", **kwargs)
    return open(path, **kwargs)


def _exists(path: str) -> bool:
    if not _is_url(path):
        return os.path.isfile(path)
    import fsspec

    try:
        fs, inner = fsspec.core.url_to_fs(path)
    except (ImportError, ValueError) as exc:
        raise ConfigError(path, f"cannot open this URL ({str(exc).splitlines()[0]})") from None
    return fs.isfile(inner)


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with _open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _batches(path: str):
    """(batch, first row) of a Parquet or CSV file, every column as read."""
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if path.lower().endswith((".parquet", ".pq")):
        try:
            pf = pq.ParquetFile(_open(path) if _is_url(path) else path)
        except (pa.ArrowException, OSError) as exc:
            raise ConfigError(path, f"not a readable Parquet file ({str(exc).splitlines()[0]})") from None
        names = pf.schema_arrow.names
        _check_columns(path, names)
        row = 0
        for batch in pf.iter_batches(batch_size=BATCH_ROWS):
            yield batch, row
            row += batch.num_rows
        return
    if path.lower().endswith((".csv", ".csv.gz")):
        try:
            with _open_text(path) as fh:
                header = next(csv.reader([fh.readline()]), [])
            _check_columns(path, header)
            reader = pcsv.open_csv(
                _open(path, "rb", compression="infer") if _is_url(path) else path,
                read_options=pcsv.ReadOptions(block_size=1 << 22),
                convert_options=pcsv.ConvertOptions(
                    column_types={c: pa.string() for c in header}, strings_can_be_null=False
                ),
            )
            row = 0
            for batch in reader:
                yield batch, row
                row += batch.num_rows
        except pa.ArrowInvalid as exc:
            raise ConfigError(path, f"not a readable CSV file ({str(exc).splitlines()[0]})") from None
        return
    raise ConfigError(path, "unknown file type (allowed: .parquet, .pq, .csv, .csv.gz)")


def _check_columns(path, names):
    for c in names:
        if c not in COLUMNS:
            raise ConfigError(path, f"unknown column {c!r} (allowed: {', '.join(COLUMNS)})")
    for c in REQUIRED:
        if c not in names:
            raise ConfigError(path, f"missing column {c!r} (required: id, hash; optional: group, hasher)")


def _strings(col, path, row0, name) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col.null_count:
        bad = int(np.nonzero(pc.is_null(col).to_numpy(zero_copy_only=False))[0][0])
        raise ConfigError(f"{path} row {row0 + bad + 1}", f"empty {name}")
    if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type) or pa.types.is_nested(col.type):
            raise ConfigError(path, f"column {name!r} must hold text (hex for hash), not {col.type}")
        col = col.cast(pa.string())
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=object)


def read_hashes(paths: list[str], hasher: str | None, default_name: str, role: str) -> tuple[dict, list]:
    """{hasher: HashSet} from the files, and [{path, sha256, rows}] for
    census.json. Rows are numbered from 1 after the header (CSV) / from 1
    (Parquet) in error messages. ConfigError on any bad input."""
    sets: dict[str, HashSet] = {}
    inputs = []
    for path in paths:
        if not _exists(path):
            raise ConfigError(path, "no such file")
        rows = 0
        for batch, row0 in _batches(path):
            names = batch.schema.names
            n = batch.num_rows
            rows += n
            if not n:
                continue
            ids = _strings(batch.column(names.index("id")), path, row0, "id")
            hexes = _strings(batch.column(names.index("hash")), path, row0, "hash")
            groups = _strings(batch.column(names.index("group")), path, row0, "group") if "group" in names else ids
            labels = (
                _strings(batch.column(names.index("hasher")), path, row0, "hasher")
                if "hasher" in names
                else np.full(n, hasher or default_name, dtype=object)
            )
            for label in pd.unique(labels):
                rows_of = np.nonzero(labels == label)[0]
                if hasher is not None and label != hasher:
                    continue
                hx = hexes[rows_of]
                lengths = np.fromiter((len(x) for x in hx), np.int64, len(hx))
                hs = sets.get(label)
                want = lengths[0] if hs is None else hs.bits // 4
                wrong = np.nonzero(lengths != want)[0]
                if want == 0 or len(wrong):
                    r = wrong[0] if len(wrong) else 0
                    raise ConfigError(
                        f"{path} row {row0 + rows_of[r] + 1}",
                        f"hash of hasher {label!r} has {lengths[r]} hex digits, earlier rows have {want}"
                        if want
                        else "empty hash",
                    )
                packed, r = _pack_hex(hx, int(want))
                if r >= 0:
                    raise ConfigError(f"{path} row {row0 + rows_of[r] + 1}", f"hash {hx[r]!r} is not hexadecimal")
                if hs is None:
                    hs = sets[label] = HashSet(bits=4 * int(want))
                hs.parts.append(packed)
                hs.ids.append(ids[rows_of])
                hs.groups.append(groups[rows_of])
                hs.where.append((path, row0 + rows_of + 1))
        inputs.append({"role": role, "path": path, "sha256": _sha256(path), "rows": rows})
    for label, hs in sets.items():
        ids = pd.Index(np.concatenate(hs.ids))
        dup = np.nonzero(ids.duplicated())[0]
        if len(dup):
            file, row = _locate(hs, int(dup[0]))
            raise ConfigError(f"{file} row {row}", f"duplicate id {ids[dup[0]]!r} (hasher {label!r}, {role})")
    if hasher is not None and not sets and paths:
        raise ConfigError("--hasher", f"no rows of hasher {hasher!r} in the {role} files")
    if not sets:
        raise ConfigError(paths[-1], f"no hash rows in the {role} files")
    return sets, inputs


def _locate(hs: HashSet, k: int):
    for path, rows in hs.where:
        if k < len(rows):
            return path, int(rows[k])
        k -= len(rows)
    raise IndexError(k)


# ------------------------------------------------------------------ tiles
def tiles(n: int, m: int | None, tile: int) -> list[tuple[int, int, int, int]]:
    """Tiles (i0, i1, j0, j1) covering the pairs: within one set of n
    (m None) the upper triangle of row x column blocks, diagonal included;
    else every block of the n x m rectangle."""
    rows = [(i, min(i + tile, n)) for i in range(0, n, tile)]
    if m is None:
        return [(a0, a1, b0, b1) for k, (a0, a1) in enumerate(rows) for (b0, b1) in rows[k:]]
    cols = [(j, min(j + tile, m)) for j in range(0, m, tile)]
    return [(a0, a1, b0, b1) for (a0, a1) in rows for (b0, b1) in cols]


def _tile_task(what, a, b, ga, gb, bits, keep, threads, expected=None):
    """One tile: its int64 histogram (what == 'hist'), with keep >= 0 also
    its pairs at distance <= keep from the same pass (a tuple; `expected`:
    how many the caller expects, for room), or only its pairs at distance
    <= keep (`expected`: their number, from the tile's histogram). Pairs
    are an (3, k) int32 array of local (i, j, d)."""
    if threads:
        from .run import limit_kernel_threads

        limit_kernel_threads(threads)
    if what == "hist" and keep < 0:
        return pair_histogram(a, b, ga, gb, bits=bits)
    if what == "hist":
        hist, pairs = histogram_and_close_pairs(a, b, keep, ga, gb, bits=bits, room=expected or 0, fallback=False)
        return hist, INCOMPLETE if pairs is None else _local_pairs(*pairs)
    return _local_pairs(*close_pairs(a, b, keep, ga, gb, expected=expected))


#: the close pairs of a 'hist' tile whose kernel tasks ran out of room
#: (collected afterwards, at the threshold the histogram gives)
INCOMPLETE = np.zeros((0, 0), np.int32)


def _local_pairs(i, j, d) -> np.ndarray:
    """int32 (3, k): tile-local indices and distances (12 bytes a pair in
    memory and on disk)."""
    return np.stack([i, j, d]).astype(np.int32) if len(i) else np.zeros((3, 0), np.int32)


def _save_atomic(path: str, arr: np.ndarray) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as fh:
        np.save(fh, arr)
    os.replace(tmp, path)


class _Stopper:
    """The test hook of ENV_STOP_AFTER."""

    def __init__(self):
        v = os.environ.get(ENV_STOP_AFTER)
        self.left = int(v) if v else None

    def tick(self):
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                os.kill(os.getpid(), signal.SIGKILL)


def run_tiles(
    backend, what, folder, tile_list, X, Y, ga, gb, bits, keep, threads, stopper, stats, expected=None, also=None
):
    """Every tile's result, from its checkpoint file or computed on the
    backend (at most 2 x capacity tiles in flight); returns {name: {tile:
    array}} for the name `what` and, when the task also returns a second
    array (the close pairs of a 'hist' task with keep >= 0), the name
    `also`. `also` is written first, so a tile whose `what` file exists has
    both. `expected`: {tile: pairs at distance <= keep} (exact for a
    close-pair pass, an estimate for room in a 'hist' pass)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    names = [what, also] if also else [what]  # the task's results, in this order
    os.makedirs(folder, exist_ok=True)
    for name in os.listdir(folder):  # half-written files of a killed census
        if ".npy.tmp" in name:
            os.remove(os.path.join(folder, name))
    out, todo = {name: {} for name in names}, []
    for t in tile_list:
        paths = [os.path.join(folder, f"{name}-{t[0]}-{t[2]}.npy") for name in names]
        if all(os.path.exists(p) for p in paths):
            for name, p in zip(names, paths):
                out[name][t] = np.load(p)
            stats["tiles_reused"] += 1
        else:
            todo.append((t, paths))
    pending = {}
    it = iter(todo)

    def submit_next():
        nxt = next(it, None)
        if nxt is None:
            return False
        (i0, i1, j0, j1), _ = nxt
        within = Y is None and i0 == j0
        a = X[i0:i1]
        b = None if within else (X if Y is None else Y)[j0:j1]
        gbb = None if within else (ga if Y is None else gb)[j0:j1]
        exp = None if expected is None else expected[(i0, i1, j0, j1)]
        pending[backend.submit(_tile_task, what, a, b, ga[i0:i1], gbb, bits, keep, threads, exp)] = nxt
        return True

    for _ in range(2 * max(1, backend.capacity)):
        if not submit_next():
            break
    while pending:
        done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
        for fut in done:
            t, paths = pending.pop(fut)
            arrays = fut.result() if also else (fut.result(),)
            for name, p, arr in reversed(list(zip(names, paths, arrays))):  # `what` saved last
                _save_atomic(p, arr)
                out[name][t] = arr
            stats["tiles_computed"] += 1
            stopper.tick()
            submit_next()
    return out


# ---------------------------------------------------------------- census
@dataclass
class CensusSettings:
    tile: int = DEFAULT_TILE
    target_fpr: float = 1e-3
    fpr_points: tuple = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
    confidence: float = 0.95
    bootstrap_replicates: int = 1000
    bootstrap_seed: int = 0
    keep_fpr: float = 1e-4
    max_close_pairs: int = 2_000_000
    collision_k: int = 25


def _tile_pairs(t, within: bool) -> int:
    """Pairs in tile t = (i0, i1, j0, j1)."""
    i0, i1, j0, j1 = t
    if within and i0 == j0:
        return (i1 - i0) * (i1 - i0 - 1) // 2
    return (i1 - i0) * (j1 - j0)


def _sample_rows(n: int) -> np.ndarray:
    """At most SAMPLE_ROWS row numbers of n, evenly spaced."""
    if not n:
        return np.zeros(0, np.int64)
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE_ROWS)).round().astype(np.int64))


def speculative_keep(X, Y, ga, gb, bits: int, keep_args) -> tuple[int, float]:
    """(t, pairs): a threshold up to which the histogram pass collects close
    pairs, and how many pairs at distance <= t it should expect. From the
    histogram of a sample of rows scaled to all pairs: keep_below as
    `choose_keep_below(hist, *keep_args)` would choose it, raised to the
    largest t the sample predicts ROOM_FACTOR times as many pairs for.
    Only a guess: if the true keep_below is larger, or a tile has more
    close pairs than room, those pairs are collected in a second pass; the
    tables do not depend on it."""
    ra = _sample_rows(len(X))
    if Y is None:
        h = pair_histogram(X[ra], None, ga[ra], bits=bits)
        scale = len(X) * (len(X) - 1) / max(1, len(ra) * (len(ra) - 1))
    else:
        rb = _sample_rows(len(Y))
        h = pair_histogram(X[ra], Y[rb], ga[ra], gb[rb], bits=bits)
        scale = len(X) * len(Y) / max(1, len(ra) * len(rb))
    est = np.round(h * scale).astype(np.int64)
    k = choose_keep_below(est, *keep_args)
    if k < 0:
        return -1, 0.0
    cum = np.cumsum(est)
    t = max(k, int(np.searchsorted(cum, ROOM_FACTOR * max(int(cum[k]), 1), side="right")) - 1)
    return t, float(cum[t])


def _global_pairs(close: dict, tile_list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tiles' local (i, j, d) as global int64 arrays sorted by (d, i, j);
    each tile's array is freed as it is copied."""
    total = sum(close[t].shape[1] for t in tile_list if t in close)
    pi, pj, pd_ = (np.empty(total, np.int64) for _ in range(3))
    at = 0
    for t in tile_list:
        part = close.pop(t, None)
        if part is None:
            continue
        k = part.shape[1]
        pi[at : at + k] = part[0] + t[0]
        pj[at : at + k] = part[1] + t[2]
        pd_[at : at + k] = part[2]
        at += k
    order = np.lexsort((pj, pi, pd_))
    return pi[order], pj[order], pd_[order]


def _codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    uniq, codes = np.unique(values.astype(str), return_inverse=True)
    return uniq, codes.astype(np.int64)


def _input_key(inputs, label, kind, settings: CensusSettings) -> str:
    blob = json.dumps([sorted((i["role"], i["sha256"]) for i in inputs), label, kind, settings.tile])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def census_hasher(
    label, db: HashSet, queries: HashSet | None, settings: CensusSettings, backend, threads, tiles_root, inputs, stopper
) -> dict:
    """Tables and counts of one hasher (see the module docstring)."""
    bits = db.bits
    X = db.packed()
    db_ids = np.concatenate(db.ids)
    db_groups = np.concatenate(db.groups)
    kind = "orig-orig" if queries is None else "variant-orig"
    if queries is None:
        _, g = _codes(db_groups)
        ga, gb, Y = g, None, None
        n_a, n_b = len(X), None
    else:
        Y = X
        X = queries.packed()
        q_groups = np.concatenate(queries.groups)
        _, g = _codes(np.concatenate([q_groups, db_groups]))
        ga, gb = g[: len(X)], g[len(X) :]
        n_a, n_b = len(X), len(Y)
    tile_list = tiles(n_a, n_b, max(1, settings.tile))
    folder = os.path.join(tiles_root, f"{_input_key(inputs, label, kind, settings)}")
    stats = {"tiles_total": len(tile_list), "tiles_computed": 0, "tiles_reused": 0}
    clock = [time.perf_counter()]

    def lap():
        clock.append(time.perf_counter())
        return round(clock[-1] - clock[-2], 3)

    keep_args = (
        settings.keep_fpr,
        max(settings.target_fpr, *settings.fpr_points) if settings.fpr_points else settings.target_fpr,
        settings.max_close_pairs,
        settings.collision_k if queries is None else 0,
    )
    # one pass: the histogram, and the close pairs up to a threshold a sample predicts
    spec, spec_pairs = speculative_keep(X, Y, ga, gb, bits, keep_args)
    seconds = {"sample": lap()}
    total_pairs = n_a * (n_a - 1) / 2 if Y is None else n_a * n_b
    room = {t: int(spec_pairs * _tile_pairs(t, Y is None) / max(total_pairs, 1)) for t in tile_list}
    also = f"close{spec}" if spec >= 0 else None
    parts = run_tiles(backend, "hist", folder, tile_list, X, Y, ga, gb, bits, spec, threads, stopper, stats, room, also)
    hist = np.zeros(bits + 1, np.int64)
    for t in tile_list:
        hist += parts["hist"][t]
    n = int(hist.sum())
    seconds["histogram"] = lap()
    keep = choose_keep_below(hist, *keep_args)
    close = {}
    if keep >= 0:
        if keep <= spec:  # from the histogram pass; tiles that ran out of room again
            close = {t: p[:, p[2] <= keep] for t, p in parts[also].items() if p.shape[0]}
        redo = [t for t in tile_list if t not in close]
        if redo:
            stats["tiles_total"] += len(redo)  # tile tasks of the close-pair pass
            expected = {t: int(parts["hist"][t][: keep + 1].sum()) for t in redo}
            close.update(
                run_tiles(
                    backend, f"close{keep}", folder, redo, X, Y, ga, gb, bits, keep, threads, stopper, stats, expected
                )[f"close{keep}"]
            )
    parts = None
    pi, pj, pd_ = _global_pairs(close, tile_list)
    seconds["close_pairs"] = lap()
    # photos: database rows; a query whose id is in the database is that image
    if queries is None:
        img_a, img_b, group_of_image = np.arange(n_a), None, ga
    else:
        q_ids = np.concatenate(queries.ids)
        pos = {v: k for k, v in enumerate(db_ids)}
        extra = [i for i in q_ids if i not in pos]
        extra_pos = {v: len(db_ids) + k for k, v in enumerate(extra)}
        img_a = np.array([pos.get(i, extra_pos.get(i)) for i in q_ids], np.int64)
        img_b = np.arange(len(db_ids))
        group_of_image = np.zeros(len(db_ids) + len(extra), np.int64)
        group_of_image[img_b] = gb
        group_of_image[img_a] = ga
    # the default interval: deterministic, pairs sharing a photo dependent
    dep_lo = dep_hi = np.zeros(0)
    if keep >= 0 and n:
        dep_lo, dep_hi = dependent_pair_interval(img_a, img_b, group_of_image, pi, pj, pd_, keep, settings.confidence)
    seconds["interval"] = lap()
    # image-level bootstrap, a seeded cross-check
    boot_lo = boot_hi = np.zeros(0)
    if settings.bootstrap_replicates > 0 and keep >= 0 and n:
        seed = _seed(settings.bootstrap_seed, label, ORIGINAL_KEY if queries is None else QUERY_KEY)
        boot_lo, boot_hi, _ = bootstrap_fpr(
            img_a, img_b, group_of_image, pi, pj, pd_, keep, settings.bootstrap_replicates, seed, settings.confidence
        )
    seconds["bootstrap"] = lap()
    fp = np.cumsum(hist)
    with np.errstate(invalid="ignore", divide="ignore"):
        fpr = fp / n if n else np.full(len(fp), np.nan)
    if n:
        cp_lo, cp_hi = clopper_pearson(fp, n, settings.confidence)
    else:
        cp_lo = cp_hi = np.full(len(fp), np.nan)
    b_lo = np.full(len(hist), np.nan)
    b_hi = np.full(len(hist), np.nan)
    b_lo[: len(boot_lo)] = boot_lo
    b_hi[: len(boot_hi)] = boot_hi
    d_lo = np.full(len(hist), np.nan)
    d_hi = np.full(len(hist), np.nan)
    d_lo[: len(dep_lo)] = dep_lo
    d_hi[: len(dep_hi)] = dep_hi
    upper = d_hi
    # per-photo: nearest other-group distance known for t <= keep
    nearest = np.full(n_a, np.iinfo(np.int64).max)
    np.minimum.at(nearest, pi, pd_)
    if queries is None:
        np.minimum.at(nearest, pj, pd_)
    thresholds = np.arange(bits + 1)
    measured = thresholds <= keep
    matched = np.cumsum(np.bincount(nearest[nearest <= bits], minlength=bits + 1)[: bits + 1])
    photo_rate = np.where(measured, matched / max(n_a, 1), np.nan)
    matched_col = pd.array(matched, dtype="Int64")
    matched_col[~measured] = pd.NA
    transform, family = (ORIGINAL_KEY, "original") if queries is None else (QUERY_KEY, "queries")
    nz = np.nonzero(hist)[0]
    histograms = pd.DataFrame(
        {
            "hasher": label,
            "bits": bits,
            "transform": transform,
            "family": family,
            "severity": "",
            "kind": kind,
            "distance": nz.astype(np.int64),
            "count": hist[nz],
        },
        columns=HISTOGRAM_COLUMNS,
    )
    fpr_table = pd.DataFrame(
        {
            "hasher": label,
            "bits": bits,
            "negatives": kind,
            "threshold": thresholds,
            "fp": fp,
            "n_neg": n,
            "fpr": fpr,
            "fpr_lo": d_lo,
            "fpr_hi": d_hi,
            "fpr_cp_lo": cp_lo,
            "fpr_cp_hi": cp_hi,
            "fpr_boot_lo": b_lo,
            "fpr_boot_hi": b_hi,
            "fpr_upper": upper,
        }
    )
    photo = pd.DataFrame(
        {
            "hasher": label,
            "bits": bits,
            "negatives": kind,
            "threshold": thresholds,
            "n_photos": n_a,
            "photos_matched": matched_col,
            "photo_rate": photo_rate,
        }
    )
    rows = []
    for target in sorted(set(settings.fpr_points) | {settings.target_fpr}, reverse=True):
        t = recommend_threshold(upper, target)
        rows.append(
            (
                label,
                bits,
                kind,
                target,
                t,
                int(fp[t]) if t >= 0 else 0,
                n,
                float(fpr[t]) if t >= 0 else 0.0,
                float(upper[t]) if t >= 0 else 0.0,
                float(photo_rate[t]) if t >= 0 else 0.0,
            )
        )
    counts = {
        "hasher": label,
        "bits": bits,
        "negatives": kind,
        "n_database": len(db_ids),
        "n_queries": None if queries is None else n_a,
        "pairs": n,
        "keep_below": keep,
        "close_pairs": len(pi),
        **stats,
        "seconds": seconds,
    }
    return {
        "histograms": histograms,
        "fpr": fpr_table,
        "per_photo": photo,
        "thresholds": pd.DataFrame(rows, columns=THRESHOLD_COLUMNS),
        "counts": counts,
    }


def run_census(
    files: list[str],
    output: str,
    queries: list[str] | None = None,
    hasher: str | None = None,
    settings: CensusSettings | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
) -> dict:
    """Read, validate (ConfigError before anything is written), count every
    negative pair per hasher in tiles, and write histograms.parquet,
    fpr.csv, thresholds.csv, per_photo.csv and census.json into `output`.
    Returns the census.json content."""
    from .executors import InlineBackend, check_executor_args, default_workers, make_backend

    settings = settings or CensusSettings()
    if settings.tile < 1:
        raise ConfigError("--tile", f"must be an integer >= 1 (got {settings.tile})")
    check_executor_args(workers, scheduler)
    if not files:
        raise ConfigError("HASHES", "give at least one hash file")
    started = time.perf_counter()
    db_sets, inputs = read_hashes(files, hasher, hasher or "hashes", "database")
    q_sets = None
    if queries:
        q_sets, q_inputs = read_hashes(queries, hasher, hasher or "hashes", "queries")
        inputs += q_inputs
        for label, qs in q_sets.items():
            if label not in db_sets:
                raise ConfigError("--queries", f"hasher {label!r} has queries but no database rows")
            if qs.bits != db_sets[label].bits:
                raise ConfigError(
                    "--queries", f"hasher {label!r}: queries have {qs.bits} bits, the database {db_sets[label].bits}"
                )
        for label in db_sets:
            if label not in q_sets:
                raise ConfigError("--queries", f"hasher {label!r} has database rows but no queries")
    read_seconds = time.perf_counter() - started
    os.makedirs(output, exist_ok=True)
    tiles_root = os.path.join(output, "tiles")
    if scheduler is None and (workers or default_workers()) == 1:
        backend, threads = InlineBackend(), None
    else:
        backend = make_backend(workers, scheduler)
        threads = max(1, default_workers() // max(1, backend.capacity))
    stopper = _Stopper()
    results = []
    try:
        for label in db_sets:
            results.append(
                census_hasher(
                    label,
                    db_sets[label],
                    q_sets[label] if q_sets else None,
                    settings,
                    backend,
                    threads,
                    tiles_root,
                    inputs,
                    stopper,
                )
            )
    finally:
        backend.close()

    def cat(name):
        return pd.concat([r[name] for r in results], ignore_index=True)

    cat("histograms").to_parquet(os.path.join(output, "histograms.parquet"), index=False)
    cat("fpr").to_csv(os.path.join(output, "fpr.csv"), index=False, float_format="%.6g")
    cat("thresholds").to_csv(os.path.join(output, "thresholds.csv"), index=False, float_format="%.6g")
    cat("per_photo").to_csv(os.path.join(output, "per_photo.csv"), index=False, float_format="%.6g")
    info = {
        "inputs": inputs,
        "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.__dict__.items()},
        "hashers": [r["counts"] for r in results],
        "intervals": {
            "fpr_cp": "Clopper-Pearson, valid only if pairs were independent (they are not)",
            "fpr_boot": "image-level Poisson bootstrap (as in the metrics stage), t <= keep_below",
            "fpr": "default interval fpr_lo..fpr_hi: pairs sharing a photo are dependent "
            "(harness.metrics.intervals.dependent_pair_interval), deterministic, t <= keep_below",
            "fpr_upper": "fpr_hi: the bound every recommendation uses",
            "photo_rate": "share of photos (queries) with a photo of another group within t; "
            "measured for t <= keep_below",
        },
        "executor": backend.describe(),
        "versions": library_versions(),
        "timings_seconds": {"read": round(read_seconds, 3), "total": round(time.perf_counter() - started, 3)},
    }
    with open(os.path.join(output, "census.json"), "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=2)
    return info
