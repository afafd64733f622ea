"""The run's hash table in compact form: small integer codes instead of
per-row strings, hashes as Arrow binary (the bytes plus a 4-byte offset).

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
- error rows (few) stay a small pandas table.

`CompactRows.hash_table` then applies the run's rules (those of
`_assemble` in run.py: images, variant sample, seeds, hashers; the first
copy of a key wins, stored files in order, then new chunks), joins the
records (image name, group) and sorts (hasher, hasher_key, transform,
image_id, image_name), giving a DataFrame with HASH_COLUMNS except
``hash_hex``: string columns are pandas Categoricals over sorted
categories (sorting by code = sorting by text), ``hash`` is Arrow binary,
``applied`` an int code into the `AppliedTexts`. `write_hashes` writes
hashes.parquet from it one row group at a time, byte for byte the file
``DataFrame.to_parquet`` writes from the plain table (``hash_hex``
recomputed with each hasher's ``to_hex``).

Bytes per hash row of the table: image_id, image_name, group 3 x 4 (int32
codes; int16 under 32,768 images), five small-key codes 5 x 1, hash + 4,
width, height 2 x 2 (under 32,768 pixels), applied 4 + its compressed text
shared by the hashers of a variant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..transforms import ORIGINAL
from .store import KEY_COLUMNS, STORE_COLUMNS

#: rows per row group of hashes.parquet (pyarrow's default for write_table)
ROW_GROUP = 1024 * 1024
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


def release_arrow_memory() -> None:
    """Return the memory Arrow's allocator keeps after tables are freed
    (mimalloc and jemalloc hold freed pages for reuse)."""
    try:
        pa.default_memory_pool().release_unused()
    except AttributeError:  # pragma: no cover - older pyarrow
        pass


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


def _categorical(codes: np.ndarray, values: list) -> pd.Categorical:
    """codes into `values` (sorted strings; a trailing None: missing)."""
    if values and values[-1] is None:
        values = values[:-1]
        codes = np.where(codes == len(values), -1, codes)
    return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype="str"))


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

    def _block(self, k: int) -> pa.Array:
        n, offsets, blob, size = self.blocks[k]
        if size == 0 or not _CODEC:
            data = pa.py_buffer(blob)
        else:
            data = pa.decompress(blob, decompressed_size=size, codec=_CODEC)
        return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), data)

    def take(self, codes: np.ndarray) -> pa.Array:
        """The texts of `codes` (null for -1), in order."""
        codes = np.asarray(codes, np.int64)
        block = np.searchsorted(np.asarray(self.starts, np.int64), codes, side="right") - 1
        parts, where = [], []
        for k in np.unique(block[codes >= 0]):
            sel = np.flatnonzero((block == k) & (codes >= 0))
            parts.append(self._block(int(k)).take(pa.array(codes[sel] - self.starts[k])))
            where.append(sel)
        nulls = np.flatnonzero(codes < 0)
        if len(nulls):
            parts.append(pa.nulls(len(nulls), pa.string()))
            where.append(nulls)
        if not parts:
            return pa.array([], pa.string())
        joined = pa.concat_arrays(parts)
        return joined.take(pa.array(np.argsort(np.concatenate(where), kind="stable")))


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
            release_arrow_memory()

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

    def _key(self, rows=None) -> np.ndarray:
        """(image_id, transform, hasher_key, seed) codes as one int64 per row
        (computed in place: one int64 array, one column at a time)."""
        key = None
        for c in ("image_id", "transform", "hasher_key", "seed"):
            col = _concat(self.parts[c])
            col = col if rows is None else col[rows]
            if key is None:
                key = col.astype(np.int64)
            else:
                key *= max(1, len(self.codes[c].index))
                key += col
            del col
        return key if key is not None else np.zeros(0, np.int64)

    def hash_table(self, records, spec_seed: dict, hasher_keys: set, variant_ids, labels: dict):
        """(table, rows reused from the store, rows computed now): the rows
        of this run, one per record x key, sorted (see the module
        docstring). Consumes the encoded rows."""
        values = {c: list(self.codes[c].index) for c in self.codes}

        def codes_of(column, wanted) -> np.ndarray:
            return np.array([i for i, v in enumerate(values[column]) if v in wanted], np.int32)

        img = _concat(self.parts["image_id"])
        tr = _concat(self.parts["transform"])
        keep = np.isin(img, codes_of("image_id", {r.image_id for r in records}))
        if variant_ids is not None:
            image_level = codes_of("transform", {"", ORIGINAL.key})
            keep &= np.isin(tr, image_level) | np.isin(img, codes_of("image_id", set(variant_ids)))
        # the seed each transform must have (a transform of no spec of this run: none)
        seed_of = {v: i for i, v in enumerate(values["seed"])}
        want = _small(np.array([seed_of.get(spec_seed.get(v), -1) for v in values["transform"]], np.int64))
        if len(tr):
            keep &= want[tr] == _concat(self.parts["seed"])
        keep &= np.isin(_concat(self.parts["hasher_key"]), codes_of("hasher_key", hasher_keys))
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
            del order, first
        starts = np.array([s for s, _ in self.sources], np.int64)
        is_new = np.array([src == "new" for _, src in self.sources], bool)
        n_new = int(is_new[np.searchsorted(starts, rows, side="right") - 1].sum()) if len(rows) else 0
        reused, computed = len(rows) - n_new, n_new

        # one row per record of the image (files with the same bytes share an image_id)
        n_img = len(values["image_id"])
        img_index = {v: i for i, v in enumerate(values["image_id"])}
        rec_img = np.array([img_index.get(r.image_id, -1) for r in records], np.int64)
        order = np.argsort(rec_img, kind="stable")
        counts = np.bincount(rec_img[rec_img >= 0], minlength=n_img)
        first_rec = np.searchsorted(rec_img[order], np.arange(n_img))
        if counts.max(initial=0) <= 1:  # one file per image: no row is repeated
            rec = order[first_rec[img[rows]]]
        else:
            reps = counts[img[rows]]
            rows = np.repeat(rows, reps)
            within = np.arange(len(rows)) - np.repeat(np.cumsum(reps) - reps, reps)
            rec = order[first_rec[img[rows]] + within]
            del reps, within
        rec = _small(rec)
        del order

        codes = {}
        for c in ("image_id", "transform", "hasher_key"):
            column = {"image_id": img, "transform": tr}.get(c)
            column = _concat(self.parts[c]) if column is None else column
            remap, vals = self.codes[c].sorted_categories()
            codes[c] = (_small(remap)[column[rows]] if len(remap) else np.zeros(len(rows), np.int8), vals)
            self.parts[c] = []
        del img, tr, column
        for c, texts in (
            ("image_name", [r.name for r in records]),
            ("group", [None if r.group is None else str(r.group) for r in records]),
        ):
            enc = _Codes()
            code = enc.encode(pa.array(texts, pa.string()))
            remap, vals = enc.sorted_categories()
            codes[c] = (_small(remap[code])[rec] if len(remap) else np.zeros(len(rows), np.int8), vals)
        del rec
        # family, severity (per transform) and hasher (the label, per hasher key)
        t_vals, k_vals = codes["transform"][1], codes["hasher_key"][1]
        derived = {
            "family": (
                codes["transform"][0],
                [self.meta["family"].get(self.codes["transform"].index[v]) for v in t_vals],
            ),
            "severity": (
                codes["transform"][0],
                [self.meta["severity"].get(self.codes["transform"].index[v]) for v in t_vals],
            ),
            "hasher": (
                codes["hasher_key"][0],
                [labels.get(v, self.meta["hasher"].get(self.codes["hasher_key"].index[v])) for v in k_vals],
            ),
        }
        for c, (by, per_value) in derived.items():
            enc = _Codes()
            code = enc.encode(pa.array(per_value, pa.string()))
            remap, vals = enc.sorted_categories()
            codes[c] = (_small(remap[code] if len(remap) else code)[by], vals)
        sort = np.lexsort([codes[c][0] for c in ("image_name", "image_id", "transform", "hasher_key", "hasher")])
        sort = sort.astype(rows.dtype)  # int32 below 2**31 rows
        frame = {}
        for c in CATEGORICAL:
            frame[c] = _categorical(_small(codes[c][0][sort]), codes[c][1])
            del codes[c]
        take = rows[sort]
        del rows, sort
        if sum(h.nbytes for h in self.hashes) >= 2**31 - 1:  # beyond binary's int32 offsets
            self.hashes = [h.cast(pa.large_binary()) for h in self.hashes]
        hashes = pa.concat_arrays(self.hashes) if self.hashes else pa.array([], pa.binary())
        self.hashes = []  # the chunks' arrays go before the sorted copy is made
        release_arrow_memory()
        frame["hash"] = pd.arrays.ArrowExtensionArray(pa.chunked_array([hashes.take(pa.array(take))]))
        del hashes
        release_arrow_memory()
        for c in ("width", "height", "applied"):
            frame[c] = _small(_concat(self.parts[c])[take])
            self.parts[c] = []
        return pd.DataFrame(frame), reused, computed


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


def _hex(hashers: dict, labels: pd.Categorical, hashes) -> pa.Array:
    """hash_hex of each row: its hasher's `to_hex` of the packed bytes."""
    out = [None] * len(hashes)
    codes = labels.codes
    for code, label in enumerate(labels.categories):
        rows = np.flatnonzero(codes == code)
        if not len(rows):
            continue
        h = hashers[label]
        for r, b in zip(rows.tolist(), hashes.take(pa.array(rows)).to_pylist()):
            out[r] = h.to_hex(np.frombuffer(b, np.uint8))
    return pa.array(out, pa.string())


def _plain_frame(table: pd.DataFrame, applied: AppliedTexts, hashers: dict) -> pd.DataFrame:
    """The compact table as run.py's plain table (str columns, Python
    bytes, int64), for a few rows: the schema of hashes.parquet, or the
    whole file when there are no rows."""
    from .work import HASH_COLUMNS

    out = pd.DataFrame(index=table.index)
    for c in CATEGORICAL:
        out[c] = table[c].astype(str)
    out["hash"] = [bytes(b) for b in table["hash"]]  # as run.py's plain table did (float64 when empty)
    hx = _hex(hashers, table["hasher"].array, pa.array(table["hash"].array)).to_pylist() if len(table) else []
    out["hash_hex"] = pd.Series(hx, dtype=str, index=table.index)
    for c in ("width", "height"):
        out[c] = table[c].astype("int64")
    texts = applied.take(table["applied"].to_numpy()).to_pylist() if len(table) else []
    out["applied"] = pd.Series(texts, dtype=str, index=table.index)
    return out[HASH_COLUMNS]


def write_hashes(
    table: pd.DataFrame, applied: AppliedTexts, path: str, hashers: dict, row_group: int = ROW_GROUP
) -> None:
    """Write hashes.parquet from the compact table (`CompactRows.hash_table`),
    one row group of at most `row_group` rows at a time; `hashers`: label ->
    hasher (for hash_hex). The same bytes as ``plain.to_parquet(path,
    index=False, row_group_size=row_group)`` of the plain table."""
    if len(table) == 0:
        _plain_frame(table, applied, hashers).to_parquet(path, index=False)
        return
    schema = pa.Table.from_pandas(_plain_frame(table.iloc[:1], applied, hashers), preserve_index=False).schema
    dictionaries = {c: pa.array(list(table[c].cat.categories), pa.string()) for c in CATEGORICAL}
    hashes = pa.chunked_array(table["hash"].array._pa_array)
    with pq.ParquetWriter(path, schema, compression="snappy") as writer:
        for start in range(0, len(table), row_group):
            stop = min(len(table), start + row_group)
            arrays = {}
            for c, d in dictionaries.items():
                codes = table[c].cat.codes.to_numpy()[start:stop]
                arrays[c] = d.take(pa.array(codes, mask=codes < 0))
            part = hashes.slice(start, stop - start).combine_chunks()
            arrays["hash"] = part
            arrays["hash_hex"] = _hex(hashers, table["hasher"].array[start:stop], part)
            for c in ("width", "height"):
                arrays[c] = pa.array(table[c].to_numpy()[start:stop].astype(np.int64))
            arrays["applied"] = applied.take(table["applied"].to_numpy()[start:stop])
            batch = pa.Table.from_arrays([arrays[f.name].cast(f.type) for f in schema], schema=schema)
            writer.write_table(batch, row_group_size=row_group)
            del arrays, batch, part
