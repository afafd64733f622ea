"""The run's hash table in compact form: small integer codes instead of
per-row strings, hashes as their bytes.

A store chunk (an Arrow table in STORE_COLUMNS) is encoded as soon as it is
read or arrives from a worker (`CompactRows.add`), so the driver never
holds the store's rows as strings:

- image_id, transform, hasher_key, seed: codes into one list of distinct
  values per column (each image id and key held once);
- family and severity: one value per transform key, hasher (the name) one
  per hasher key (they are functions of the key);
- applied (the transform's parameters as JSON text, distinct per variant
  for most transforms): each chunk's distinct texts, zstd-compressed, and a
  code per row (`AppliedTexts`);
- width, height: the smallest integer type that holds them;
- hash: Arrow binary (the bytes plus a 4-byte offset);
- error rows (few) stay a small pandas table.

`CompactRows.hash_table` then applies the run's rules (those of
`_assemble` in run.py: images, variant sample, seeds, hashers; the first
copy of a key wins, stored files in order, then new chunks), joins the
records and sorts (hasher, hasher_key, transform, image_id, image_name),
giving a `HashTable`: per row the record, transform and hasher-key codes,
the hash, width, height and the applied code; image_id, image_name,
group, family, severity and hasher are made from the codes, as pandas
Categoricals over sorted categories (sorting by code = sorting by text),
for the rows asked for. `write_hashes` writes hashes.parquet from it one
row group at a time, byte for byte the file ``DataFrame.to_parquet``
writes from the plain table (``hash_hex`` recomputed with each hasher's
``to_hex``).

Bytes per hash row of the table: record 4 (2 under 32,768 records),
transform and hasher key 2 x 1, the hash (its bytes when every hash of the
run has one length, else + 4 for the offset), width, height 2 x 2 (under
32,768 pixels), applied 4 + its compressed text shared by the hashers of a
variant: 14 bytes beyond the hash bytes at 50,000 images, and about 3
for the compressed texts.
"""

from __future__ import annotations

import functools
import os
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..transforms import ORIGINAL
from .store import KEY_COLUMNS, STORE_COLUMNS

#: rows per row group of the other Parquet tables (pyarrow's default for
#: write_table), and the slice the table is built in
ROW_GROUP = 1024 * 1024
#: rows per row group of hashes.parquet (see `write_hashes`)
HASHES_ROW_GROUP = 128 * 1024
#: columns of the compact table held as categoricals
CATEGORICAL = ["image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hasher_key"]
_CODEC = "zstd" if pa.Codec.is_available("zstd") else None


def _small(a: np.ndarray) -> np.ndarray:
    """Integers in the smallest signed type that holds them."""
    if not len(a):
        return a.astype(np.int8)
    lo, hi = int(a.min()), int(a.max())
    for t in (np.int8, np.int16, np.int32):
        if np.iinfo(t).min <= lo and hi <= np.iinfo(t).max:
            return a.astype(t, copy=False)
    return a.astype(np.int64, copy=False)


def _concat(parts: list) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, np.int8)


def release_memory() -> None:
    """Return freed memory to the system: the pages Arrow's allocator keeps
    after tables are freed (mimalloc and jemalloc hold them for reuse) and,
    with glibc, the free pages of the C heap (`malloc_trim`: freed numpy
    arrays under glibc's mmap threshold, up to 32 MiB each, stay in the
    heap and count towards the resident set otherwise)."""
    try:
        pa.default_memory_pool().release_unused()
    except AttributeError:  # pragma: no cover - older pyarrow
        pass
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


#: glibc's mallopt parameter for the mmap threshold
_M_MMAP_THRESHOLD = -3


def map_large_blocks(threshold: int = 1 << 20) -> bool:
    """With glibc: every allocation of at least `threshold` bytes (default
    1 MiB) gets a memory mapping of its own, given back to the system as
    soon as it is freed. By default glibc raises that threshold, up to 32
    MiB, each time a mapped block is freed; after that, the freed arrays of
    1-32 MiB (numpy columns, pickled task parts, unpickled results) stay in
    the heaps of the threads that allocated them, and `malloc_trim` cannot
    give back all of it. Setting the threshold turns that off. Not done
    when the environment sets ``MALLOC_MMAP_THRESHOLD_`` (glibc's own knob)
    or with another C library. Returns whether it was set."""
    libc = _glibc()
    if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(threshold)))


@functools.cache
def _glibc():
    """The C library if it is glibc (malloc_trim and mallopt), else None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        if not (hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt")):  # musl has no malloc_trim
            return None
    except OSError:
        return None
    return libc


class _Codes:
    """Distinct values of one column, each with a code (first seen, first code)."""

    def __init__(self):
        self.index: dict = {}

    def encode(self, arr) -> np.ndarray:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not len(arr):
            return np.zeros(0, np.int32)
        enc = pc.dictionary_encode(arr)
        index = self.index
        local = [index.setdefault(v, len(index)) for v in enc.dictionary.to_pylist()]
        if enc.indices.null_count:  # a null string: the code of None (a missing value)
            local.append(index.setdefault(None, len(index)))
        idx = enc.indices.fill_null(len(local) - 1 if enc.indices.null_count else 0).to_numpy(zero_copy_only=False)
        return np.asarray(local, np.int32)[idx]

    def sorted_categories(self) -> tuple[np.ndarray, list]:
        """(old code -> code in sorted order, sorted values); None sorts last."""
        values = list(self.index)
        order = sorted(
            range(len(values)), key=lambda i: (values[i] is None, values[i] if values[i] is not None else "")
        )
        remap = np.empty(len(values), np.int32)
        remap[order] = np.arange(len(values), dtype=np.int32)
        return remap, [values[i] for i in order]


class AppliedTexts:
    """The applied-parameters texts: per chunk its distinct texts (offsets
    and zstd-compressed bytes), addressed by one running code.

    >>> import pyarrow as pa
    >>> texts = AppliedTexts()
    >>> codes = texts.add(pa.array(['{}', '{"quality": 50}', '{}']))
    >>> codes.tolist()
    [0, 1, 0]
    >>> texts.take(codes[::-1]).to_pylist()
    ['{}', '{"quality": 50}', '{}']
    """

    def __init__(self):
        self.starts: list[int] = []  # first code of each chunk
        self.blocks: list = []  # (n, offsets int32, compressed data, data size)
        self.n = 0

    def add(self, arr) -> np.ndarray:
        """Codes of `arr`'s texts (-1: null), keeping its distinct texts."""
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        enc = pc.dictionary_encode(arr.cast(pa.string()))
        d = enc.dictionary
        offsets = np.frombuffer(d.buffers()[1], np.int32)[d.offset : d.offset + len(d) + 1]
        data = d.buffers()[2]
        start, stop = int(offsets[0]), int(offsets[-1])
        raw = data[start:stop] if data is not None else pa.py_buffer(b"")
        if stop == start:
            blob = b""
        else:
            blob = pa.compress(raw, codec=_CODEC, asbytes=True) if _CODEC else raw.to_pybytes()
        self.blocks.append((len(d), (offsets - start).copy(), blob, stop - start))
        self.starts.append(self.n)
        codes = enc.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        codes = np.where(codes >= 0, codes + self.n, -1)
        self.n += len(d)
        return codes

    def take(self, codes: np.ndarray) -> pa.Array:
        """The texts of `codes` (null for -1), in order. Each block is
        decompressed once and its texts are copied straight into the
        result's buffer (the result's bytes exist once, not as per-block
        parts, their concatenation and a reordered copy)."""
        codes = np.asarray(codes, np.int64)
        n = len(codes)
        valid = codes >= 0
        order = np.flatnonzero(valid)
        order = order[np.argsort(codes[order], kind="stable")]  # by code: one block after another
        sorted_codes = codes[order]
        bounds = np.searchsorted(sorted_codes, np.append(np.asarray(self.starts, np.int64), self.n))
        lengths = np.zeros(n, np.int64)
        for k in range(len(self.blocks)):
            lo, hi = bounds[k], bounds[k + 1]
            if hi > lo:
                local = sorted_codes[lo:hi] - self.starts[k]
                offsets = self.blocks[k][1]
                lengths[order[lo:hi]] = offsets[local + 1] - offsets[local]
        ends = np.cumsum(lengths)
        total = int(ends[-1]) if n else 0
        large = total >= 2**31
        offsets_out = np.zeros(n + 1, np.int64 if large else np.int32)
        offsets_out[1:] = ends
        del ends
        data = np.empty(total, np.uint8)
        for k in range(len(self.blocks)):
            lo, hi = bounds[k], bounds[k + 1]
            if hi == lo:
                continue
            rows = order[lo:hi]
            local = sorted_codes[lo:hi] - self.starts[k]
            offsets = self.blocks[k][1]
            size = lengths[rows]
            within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
            src = np.frombuffer(self._data(k), np.uint8)
            data[np.repeat(offsets_out[rows].astype(np.int64), size) + within] = src[
                np.repeat(offsets[local].astype(np.int64), size) + within
            ]
        validity = None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))
        kind = pa.LargeStringArray if large else pa.StringArray
        return kind.from_buffers(
            n, pa.py_buffer(offsets_out), pa.py_buffer(data), validity, null_count=int(n - valid.sum())
        )

    def _data(self, k: int):
        """Block k's text bytes, decompressed."""
        _, _, blob, size = self.blocks[k]
        if size == 0 or not _CODEC:
            return pa.py_buffer(blob)
        return pa.decompress(blob, decompressed_size=size, codec=_CODEC)


class CompactRows:
    """Store rows of a run, encoded chunk by chunk (see the module docstring)."""

    def __init__(self):
        self.codes = {c: _Codes() for c in ("image_id", "transform", "hasher_key", "seed")}
        self.meta: dict[str, dict] = {"family": {}, "severity": {}, "hasher": {}}
        self.parts: dict[str, list] = {
            c: [] for c in ("image_id", "transform", "hasher_key", "seed", "width", "height", "applied")
        }
        self.applied = AppliedTexts()
        self.hashes: list = []
        self.sources: list = []  # (first row, "store" or "new") per chunk
        self.errors = {"store": [], "new": []}
        self.n = 0

    def add(self, table: pa.Table, source: str) -> None:
        """Encode one chunk's rows (source "store" or "new")."""
        if not table.num_rows:
            return
        is_ok = pc.fill_null(pc.equal(table["stage"], ""), True)
        ok = table.filter(is_ok)
        if ok.num_rows < table.num_rows:
            self.errors[source].append(table.filter(pc.invert(is_ok)).to_pandas())
        if not ok.num_rows:
            return
        codes = {c: self.codes[c].encode(ok[c]) for c in self.codes}
        for key, names in (("transform", ("family", "severity")), ("hasher_key", ("hasher",))):
            new = [c for c in np.unique(codes[key]).tolist() if c not in self.meta[names[0]]]
            if new:
                first = {c: int(np.argmax(codes[key] == c)) for c in new}
                for name in names:
                    values = ok[name].take(pa.array(list(first.values()))).to_pylist()
                    self.meta[name].update(zip(first, values))
        for c, v in codes.items():
            self.parts[c].append(_small(v))
        for c in ("width", "height"):
            self.parts[c].append(_small(ok[c].fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)))
        self.parts["applied"].append(_small(self.applied.add(ok["applied"])))
        self.hashes.append(ok["hash"].combine_chunks())
        self.sources.append((self.n, source))
        self.n += ok.num_rows
        if len(self.sources) % 32 == 0:  # Arrow's allocator keeps freed chunk tables: give them back
            release_memory()

    def error_rows(self) -> pd.DataFrame:
        """The error rows: stored ones (duplicates dropped as `HashStore.load`
        does), then new ones; columns STORE_COLUMNS."""
        parts = []
        if self.errors["store"]:
            s = pd.concat(self.errors["store"], ignore_index=True)
            parts.append(s.drop_duplicates(KEY_COLUMNS + ["stage", "condition"], keep="first"))
        parts += self.errors["new"]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in STORE_COLUMNS})
        return pd.concat(parts, ignore_index=True)

    def done_keys(self) -> DoneKeys:
        """The keys of the hash rows encoded so far (for planning)."""
        return DoneKeys(self)

    def _column(self, c: str) -> np.ndarray:
        """Column `c` of every row encoded so far, as one array: the chunks'
        arrays are concatenated once and replaced by the result (no second
        copy on the next call)."""
        parts = self.parts[c]
        if len(parts) != 1:
            self.parts[c] = parts = [_concat(parts)]
        return parts[0]

    def _key(self, rows=None) -> np.ndarray:
        """(image_id, transform, hasher_key, seed) codes as one int64 per row
        (computed in place: one int64 array, one column at a time)."""
        key = None
        for c in ("image_id", "transform", "hasher_key", "seed"):
            col = self._column(c)
            col = col if rows is None else col[rows]
            if key is None:
                key = col.astype(np.int64)
            else:
                key *= max(1, len(self.codes[c].index))
                key += col
            del col
        return key if key is not None else np.zeros(0, np.int64)

    def _rows_of_run(self, records, spec_seed: dict, hasher_keys: set, variant_ids) -> np.ndarray:
        """Indices (int32 below 2**31 rows) of the encoded rows that belong
        to the run (`_assemble`'s rules), the first copy of each key only."""
        values = {c: list(self.codes[c].index) for c in self.codes}

        def codes_of(column, wanted) -> np.ndarray:
            return np.array([i for i, v in enumerate(values[column]) if v in wanted], np.int32)

        img = self._column("image_id")
        keep = np.isin(img, codes_of("image_id", {r.image_id for r in records}))
        tr = self._column("transform")
        if variant_ids is not None:
            image_level = codes_of("transform", {"", ORIGINAL.key})
            keep &= np.isin(tr, image_level) | np.isin(img, codes_of("image_id", set(variant_ids)))
        # the seed each transform must have (a transform of no spec of this run: none)
        seed_of = {v: i for i, v in enumerate(values["seed"])}
        want = _small(np.array([seed_of.get(spec_seed.get(v), -1) for v in values["transform"]], np.int64))
        if len(tr):
            keep &= want[tr] == self._column("seed")
        keep &= np.isin(self._column("hasher_key"), codes_of("hasher_key", hasher_keys))
        rows = np.flatnonzero(keep).astype(np.int64 if self.n >= 2**31 else np.int32)
        del keep
        # first copy of each key (store files in order, then new chunks)
        key = self._key(rows)
        key.sort()  # in place: are there duplicates at all? (not in a store written by one run)
        duplicates = bool(len(key)) and bool((key[1:] == key[:-1]).any())
        del key
        if duplicates:
            key = self._key(rows)
            order = np.argsort(key, kind="stable")
            key = key[order]
            first = np.ones(len(key), bool)
            np.not_equal(key[1:], key[:-1], out=first[1:])
            del key
            rows = rows[np.sort(order[first])]
        self.parts["seed"] = []  # not needed any more
        return rows

    def hash_table(self, records, spec_seed: dict, hasher_keys: set, variant_ids, labels: dict):
        """(table, rows reused from the store, rows computed now): the rows
        of this run, one per record x key, sorted (see the module
        docstring). Consumes the encoded rows.

        Memory: the sort goes one (hasher key, transform) block at a time
        (a few thousand rows each, no sort over the full length); the
        full-length arrays it adds to the encoded rows are the selected row
        indices, then the output order (4 bytes a row each below 2**31
        rows), and the output columns: the hashes first (the encoded ones
        freed once joined), then width, height and applied, then the codes
        of one encoded column at a time, each encoded column freed as soon
        as its output columns exist."""
        rows = self._rows_of_run(records, spec_seed, hasher_keys, variant_ids)
        release_memory()  # the selection's and the key check's arrays
        starts = np.array([s for s, _ in self.sources], np.int64)
        is_new = np.array([src == "new" for _, src in self.sources], bool)
        n_new = int(is_new[np.searchsorted(starts, rows, side="right") - 1].sum()) if len(rows) else 0
        reused, computed = len(rows) - n_new, n_new

        # the records of each image (files with the same bytes share an image_id), in record order
        index = self.codes["image_id"].index
        rec_img = np.array([index.get(r.image_id, -1) for r in records], np.int64)
        by_image = np.argsort(rec_img, kind="stable")
        counts = np.bincount(rec_img[rec_img >= 0], minlength=len(index))
        first_rec = np.searchsorted(rec_img[by_image], np.arange(len(index)))
        repeated = counts.max(initial=0) > 1

        # sorted categories: old code -> sorted code, and the per-record ones
        cats, remap = {}, {}
        for c in ("image_id", "transform", "hasher_key"):
            remap[c], cats[c] = self.codes[c].sorted_categories()
        rec_code = {}
        for c, texts in (
            ("image_name", [r.name for r in records]),
            ("group", [None if r.group is None else str(r.group) for r in records]),
        ):
            rec_code[c], cats[c] = _sorted_codes(texts)
        # family, severity (per transform) and hasher (the label, per hasher key), by old code
        tr_values, hk_values = list(self.codes["transform"].index), list(self.codes["hasher_key"].index)
        per_key = {}
        for c, per_value in (
            ("family", [self.meta["family"].get(i) for i in range(len(tr_values))]),
            ("severity", [self.meta["severity"].get(i) for i in range(len(tr_values))]),
            ("hasher", [labels.get(v, self.meta["hasher"].get(i)) for i, v in enumerate(hk_values)]),
        ):
            per_key[c], cats[c] = _sorted_codes(per_value)

        img_col, tr_col, hk_col = (self._column(c) for c in ("image_id", "transform", "hasher_key"))
        n_out = int(counts[img_col[rows]].sum()) if repeated and len(rows) else len(rows)
        take = np.empty(n_out, rows.dtype)  # output row -> encoded row
        out_rec = np.empty(n_out, np.int32 if len(records) < 2**31 else np.int64) if repeated else None
        # blocks in output order: (hasher label, hasher key) in sorted order, then transform;
        # each key's rows are split off first, and go once their block is done
        hk_rows = hk_col[rows]
        blocks = sorted(np.unique(hk_rows).tolist(), key=lambda k: (per_key["hasher"][k], remap["hasher_key"][k]))
        of_key = [rows[hk_rows == k] for k in blocks]
        del rows, hk_rows
        tr_order = np.argsort(remap["transform"]) if len(tr_values) else np.zeros(0, np.int64)
        pos = 0
        for _ in blocks:
            src_k = of_key.pop(0)
            tr_k = tr_col[src_k]
            present = np.zeros(len(tr_values), bool)
            present[tr_k] = True
            for t in tr_order[present[tr_order]].tolist():
                src = src_k[tr_k == t]
                im = img_col[src]
                if repeated:  # one row per record of the image, in record order
                    reps = counts[im]
                    src, im = np.repeat(src, reps), np.repeat(im, reps)
                    within = np.arange(len(src)) - np.repeat(np.cumsum(reps) - reps, reps)
                    rec = by_image[first_rec[im] + within]
                else:
                    rec = by_image[first_rec[im]]
                # (image_id, image_name); stable: equal keys keep the encoded rows' order
                o = np.lexsort((rec_code["image_name"][rec], remap["image_id"][im]))
                end = pos + len(o)
                take[pos:end] = src[o]
                if repeated:
                    out_rec[pos:end] = rec[o]
                pos = end
            del src_k, tr_k
        release_memory()  # the blocks' index arrays
        # the hashes first (the largest column), while the codes below do not exist yet
        frame = {"hash": pd.arrays.ArrowExtensionArray(pa.chunked_array([_take_hashes(self.hashes, take)]))}
        self.hashes = []
        release_memory()
        for c in ("width", "height", "applied"):  # one column at a time: joined, taken, freed
            column = _concat(self.parts[c])
            self.parts[c] = []
            frame[c] = _small(column[take])
            del column
        # per row only the record, the transform and the hasher key (codes in sorted order); the
        # other string columns are functions of these (`HashTable`); one encoded column at a time
        # (freed once its codes exist), a slice of rows at a time (small temporaries)
        del img_col, tr_col, hk_col
        record = out_rec
        if record is None:
            col = self._column("image_id")
            self.parts["image_id"] = []
            record = np.empty(n_out, np.int32 if len(records) < 2**31 else np.int64)
            for a in range(0, n_out, ROW_GROUP):
                b = min(n_out, a + ROW_GROUP)
                record[a:b] = by_image[first_rec[col[take[a:b]]]]
            del col
        frame["record"] = _small(record)
        del record
        for c in ("transform", "hasher_key"):
            col = self._column(c)
            self.parts[c] = []
            out = np.empty(n_out, _code_dtype(len(cats[c])))
            for a in range(0, n_out, ROW_GROUP):
                b = min(n_out, a + ROW_GROUP)
                out[a:b] = remap[c][col[take[a:b]]]
            frame[c] = out
            del col, out
        del take, out_rec
        self.parts["image_id"] = []
        release_memory()  # the encoded columns
        # the derived columns: code of each record, transform or hasher key (in sorted order)
        img_of_rec = np.where(rec_img >= 0, remap["image_id"][np.maximum(rec_img, 0)], 0) if len(index) else rec_img
        by_sorted = {}
        for c, per_old in per_key.items():
            source = "hasher_key" if c == "hasher" else "transform"
            m = np.zeros(len(per_old), np.int64)
            m[remap[source]] = per_old
            by_sorted[c] = (source, m)
        derived = {
            "image_id": ("record", img_of_rec),
            "image_name": ("record", rec_code["image_name"]),
            "group": ("record", rec_code["group"]),
            "family": by_sorted["family"],
            "severity": by_sorted["severity"],
            "hasher": by_sorted["hasher"],
        }
        core = pd.DataFrame(
            {c: frame[c] for c in ("record", "transform", "hasher_key", "hash", "width", "height", "applied")},
            copy=False,
        )
        return HashTable(core, cats, derived), reused, computed


def _one_length(h: pa.Array) -> int | None:
    """The length of every hash in `h` (Arrow binary or large binary), if
    they all have one length of at least a byte and none is null; else
    None (also for an empty array)."""
    n = len(h)
    if not n or h.null_count:
        return None
    big = pa.types.is_large_binary(h.type)
    offsets = np.frombuffer(h.buffers()[1], np.int64 if big else np.int32)[h.offset : h.offset + n + 1]
    w = int(offsets[1] - offsets[0])
    same = w > 0 and int(offsets[-1] - offsets[0]) == w * n and bool((np.diff(offsets) == w).all())
    return w if same else None


def _byte_matrix(h: pa.Array, width: int) -> np.ndarray:
    """Hashes of one length `width` as a uint8 matrix (rows x width), by
    Arrow's cast to fixed-size binary (as `harness.metrics.tables._packed`)."""
    fixed = h.cast(pa.binary(width))
    data = np.frombuffer(fixed.buffers()[1], np.uint8)
    return data[fixed.offset * width : (fixed.offset + len(fixed)) * width].reshape(-1, width)


def _fixed_width(chunks: list) -> int | None:
    """The length of every hash in the chunks, if they all have one length
    (and no nulls); else None."""
    widths = {_one_length(h) for h in chunks if len(h)}
    return widths.pop() if len(widths) == 1 and None not in widths else None


def _take_hashes(chunks: list, take: np.ndarray) -> pa.Array:
    """The hashes of the encoded rows `take` (indices into the chunks
    joined), in that order. Hashes of one length (every hasher of a run
    with fixed-length hashes, the usual case) become Arrow fixed-size
    binary: their bytes, no offsets. The chunks are copied into one block
    and dropped one at a time (`chunks` is emptied), so the hashes exist at
    most twice (the block and the result), not three times."""
    width = _fixed_width(chunks)
    if width is None:  # hashes of several lengths (crop_resistant, or hashers of different sizes)
        if sum(h.nbytes for h in chunks) >= 2**31 - 1:  # beyond binary's int32 offsets
            chunks[:] = [h.cast(pa.large_binary()) for h in chunks]
        joined = pa.concat_arrays(chunks) if chunks else pa.array([], pa.binary())
        chunks.clear()
        release_memory()
        return joined.take(pa.array(take))
    block = np.empty((sum(len(h) for h in chunks), width), np.uint8)
    pos = 0
    for i in range(len(chunks)):
        h, chunks[i] = chunks[i], None
        block[pos : pos + len(h)] = _byte_matrix(h, width)
        pos += len(h)
        del h
    chunks.clear()
    release_memory()
    out = block[take]
    del block
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(width), len(out), [None, pa.py_buffer(out)])


class HashTable:
    """The run's hash table: one row per record x key, sorted by (hasher,
    hasher_key, transform, image_id, image_name), made by
    `CompactRows.hash_table`.

    Held per row (14 bytes a row beyond the hash bytes at 50,000 images,
    quickstart settings): the record (an int code into the run's records,
    4 bytes; 2 under 32,768 records), the transform and the hasher key (int
    codes into their sorted distinct values, 1 byte each under 127
    values), the hash (Arrow fixed-size binary when every hash of the run
    has one length, else binary: the bytes plus a 4-byte offset), width
    and height (the smallest integer type), the applied code (into
    `AppliedTexts`). image_id, image_name and group are
    functions of the record, family and severity of the transform, hasher
    (the label) of the hasher key: `frame` makes them, as pandas
    Categoricals over sorted categories, only for the rows asked for (a
    hasher's rows for the metrics, a row group for hashes.parquet).
    """

    #: the table's columns, in the order of hashes.parquet (without hash_hex)
    COLUMNS = [*CATEGORICAL, "hash", "width", "height", "applied"]

    def __init__(self, core: pd.DataFrame, categories: dict, derived: dict):
        self.core = core
        self.categories = categories  # column -> its sorted distinct values
        self.derived = derived  # column -> (core column, its code -> this column's code)

    def __len__(self) -> int:
        return len(self.core)

    @property
    def columns(self) -> list[str]:
        return list(self.COLUMNS)

    def codes(self, column: str, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Codes of a string column for rows [start, stop) into
        ``categories[column]`` (their number: a missing value)."""
        if column in self.derived:
            source, mapping = self.derived[column]
            return mapping[self.core[source].to_numpy()[start:stop]]
        return self.core[column].to_numpy()[start:stop]

    def column(self, column: str, start: int = 0, stop: int | None = None):
        """Rows [start, stop) of one column: a Categorical for the string
        columns, else the stored array (Arrow binary or fixed-size binary
        for ``hash``)."""
        if column in CATEGORICAL:
            values = self.categories[column]
            return _categorical_of_codes(self.codes(column, start, stop).astype(_code_dtype(len(values))), values)
        return self.core[column].array[start:stop]

    def frame(self, columns=None, start: int = 0, stop: int | None = None) -> pd.DataFrame:
        """Rows [start, stop) as a DataFrame of `columns` (default: all)."""
        columns = self.COLUMNS if columns is None else columns
        return pd.DataFrame({c: self.column(c, start, stop) for c in columns}, copy=False)

    def hasher_rows(self, hasher_key: str) -> tuple[int, int]:
        """[start, stop) of one hasher key's rows (contiguous: the table is
        sorted by hasher label, then key); (0, 0) if it has none."""
        cats = list(self.categories["hasher_key"])
        if hasher_key not in cats:
            return 0, 0
        where = np.flatnonzero(self.core["hasher_key"].to_numpy() == cats.index(hasher_key))
        return (int(where[0]), int(where[-1]) + 1) if len(where) else (0, 0)


def _code_dtype(n_categories: int) -> np.dtype:
    """The integer type pandas keeps a Categorical's codes in for this many
    categories (`from_codes` copies codes of any other type)."""
    for t in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(t).max:
            return np.dtype(t)
    return np.dtype(np.int64)


def _sorted_codes(texts: list) -> tuple[np.ndarray, pa.Array]:
    """(code of each text in the sorted distinct texts, None last; the
    sorted distinct texts, None left out: its code is their number). Sorted
    by Arrow (UTF-8 byte order, the order of Python's str comparison), so no
    Python object is made per distinct text."""
    enc = pc.dictionary_encode(pa.array(texts, pa.string()))
    values = enc.dictionary
    order = pc.sort_indices(values).to_numpy()
    remap = np.empty(len(values) + 1, np.int64)  # the last entry: None
    remap[order] = np.arange(len(values))
    remap[-1] = len(values)
    codes = remap[enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)]
    return codes, values.take(pa.array(order))


def _categorical_of_codes(codes: np.ndarray, values) -> pd.Categorical:
    """codes into `values` (sorted strings, a list or an Arrow array; code
    len(values): missing), changed in place; codes of `_code_dtype` are not
    copied."""
    missing = codes == len(values)
    if missing.any():
        codes[missing] = -1
    del missing
    return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype="str"))


class DoneKeys:
    """The keys (image_id, transform, hasher_key, seed) of the hash rows
    encoded so far, as one sorted int64 array (planning looks each up)."""

    def __init__(self, rows: CompactRows):
        self.index = {c: dict(rows.codes[c].index) for c in ("image_id", "transform", "hasher_key", "seed")}
        self.keys = rows._key()
        self.keys.sort()  # in place; duplicates do no harm to the look-up

    def has(self, image_id, transform, hasher_key, seed) -> bool:
        key = 0
        for c, v in zip(self.index, (image_id, transform, hasher_key, int(seed))):
            code = self.index[c].get(v)
            if code is None:
                return False
            key = key * max(1, len(self.index[c])) + code
        k = int(np.searchsorted(self.keys, key))
        return k < len(self.keys) and int(self.keys[k]) == key


#: the two lower-case hex digits of each byte value
_HEX_DIGITS = np.array([list(f"{b:02x}".encode()) for b in range(256)], np.uint8)


def _hex(hashers: dict, labels: pd.Categorical, hashes) -> pa.Array:
    """hash_hex of each row: its hasher's `to_hex` of the packed bytes
    (`_hex_of`, one hasher at a time)."""
    if pa.types.is_fixed_size_binary(hashes.type):  # the hash table's fixed-width hashes
        hashes = hashes.cast(pa.binary())
    codes = labels.codes
    parts, where = [], []
    for code, label in enumerate(labels.categories):
        rows = np.flatnonzero(codes == code)
        if len(rows):
            parts.append(_hex_of(hashers[label], hashes.take(pa.array(rows))))
            where.append(rows)
    missing = np.flatnonzero(codes < 0)
    if len(missing):  # no hasher: no hex (null)
        parts.append(pa.nulls(len(missing), pa.string()))
        where.append(missing)
    if not parts:
        return pa.array([], pa.string())
    joined = pa.concat_arrays([p.cast(pa.large_string()) for p in parts]) if len(parts) > 1 else parts[0]
    where = np.concatenate(where)
    if not (where[1:] > where[:-1]).all():  # hashers not in row order: put each hex in its row
        joined = joined.take(pa.array(np.argsort(where, kind="stable")))
    return joined.cast(pa.string())


def _hex_of(hasher, hashes: pa.Array) -> pa.Array:
    """`hasher.to_hex` of each hash: hashes of one length that it prints as
    plain hex (`Hasher.hex_width`) all at once from their bytes, the rest
    one by one."""
    n = len(hashes)
    nbytes = _one_length(hashes)
    hex_width = getattr(hasher, "hex_width", None)
    width = hex_width(nbytes) if nbytes is not None and hex_width is not None else None
    if width is not None:
        data = _byte_matrix(hashes, nbytes)
        digits = np.ascontiguousarray(_HEX_DIGITS[data].reshape(n, 2 * nbytes)[:, 2 * nbytes - width :])
        out_offsets = np.arange(n + 1, dtype=np.int64) * width
        out = pa.LargeStringArray.from_buffers(n, pa.py_buffer(out_offsets), pa.py_buffer(digits))
        if out[0].as_py() == hasher.to_hex(data[0]):  # else hex_width does not describe to_hex: one by one
            return out
    return pa.array([hasher.to_hex(np.frombuffer(b, np.uint8)) for b in hashes.to_pylist()], pa.string())


def _plain_frame(table: HashTable, applied: AppliedTexts, hashers: dict, stop: int | None = None) -> pd.DataFrame:
    """Rows [0, stop) of the hash table as run.py's plain table (str
    columns, Python bytes, int64), for a few rows: the schema of
    hashes.parquet, or the whole file when there are no rows."""
    from .work import HASH_COLUMNS

    part = table.frame(stop=stop)
    out = pd.DataFrame(index=part.index)
    for c in CATEGORICAL:
        out[c] = part[c].astype(str)
    out["hash"] = [bytes(b) for b in part["hash"]]  # as run.py's plain table did (float64 when empty)
    hx = _hex(hashers, part["hasher"].array, pa.array(part["hash"].array)).to_pylist() if len(part) else []
    out["hash_hex"] = pd.Series(hx, dtype=str, index=part.index)
    for c in ("width", "height"):
        out[c] = part[c].astype("int64")
    texts = applied.take(part["applied"].to_numpy()).to_pylist() if len(part) else []
    out["applied"] = pd.Series(texts, dtype=str, index=part.index)
    return out[HASH_COLUMNS]


def write_hashes(
    table: HashTable, applied: AppliedTexts, path: str, hashers: dict, row_group: int = HASHES_ROW_GROUP
) -> None:
    """Write hashes.parquet from the hash table (`CompactRows.hash_table`),
    one row group of at most `row_group` rows at a time; `hashers`: label ->
    hasher (for hash_hex). The same bytes as ``plain.to_parquet(path,
    index=False, row_group_size=row_group)`` of the plain table. A row
    group is held as Arrow strings while it is written (an estimate: about
    400 bytes a row at quickstart settings), hence row groups of 131,072
    rows, not pyarrow's default 1,048,576."""
    if len(table) == 0:
        _plain_frame(table, applied, hashers).to_parquet(path, index=False)
        return
    schema = pa.Table.from_pandas(_plain_frame(table, applied, hashers, stop=1), preserve_index=False).schema
    # each string column is made in the file's type (large_string from pandas' str columns)
    dictionaries = {}
    for c in CATEGORICAL:
        values = table.categories[c]
        typ = schema.field(c).type
        dictionaries[c] = values.cast(typ) if isinstance(values, pa.Array) else pa.array(list(values), typ)
    hashes = pa.chunked_array(table.core["hash"].array._pa_array)
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, len(table), row_group):
            stop = min(len(table), start + row_group)
            arrays = {}
            for c, d in dictionaries.items():
                codes = table.codes(c, start, stop)
                arrays[c] = d.take(pa.array(codes, mask=codes >= len(d)))
            part = hashes.slice(start, stop - start).combine_chunks()
            arrays["hash"] = part
            arrays["hash_hex"] = _hex(hashers, table.column("hasher", start, stop), part)
            for c in ("width", "height"):
                arrays[c] = pa.array(table.core[c].to_numpy()[start:stop].astype(np.int64))
            arrays["applied"] = applied.take(table.core["applied"].to_numpy()[start:stop])
            batch = pa.Table.from_arrays([arrays.pop(f.name).cast(f.type) for f in schema], schema=schema)
            writer.write_table(batch, row_group_size=row_group)
            del batch, part
            release_memory()  # one row group's strings: give them back before the next
