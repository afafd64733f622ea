"""The run's hash table in compact form: integer codes instead of per-row
strings, hashes as Arrow binary (bytes plus a 4-byte offset per row).

A store chunk (an Arrow table in STORE_COLUMNS) is encoded as soon as it is
read or arrives from a worker (`CompactRows.add`): every string column of
its hash rows becomes int32 codes into one growing list of distinct values
per column, so the driver holds each image id, transform key, hasher key
and applied-parameters text once, not once per row. Error rows (few) stay
a small pandas table.

`CompactRows.hash_table` then applies the run's rules (`rows_of_run`,
`_assemble` in run.py: images, variant sample, seeds, hashers; first
stored copy of a key wins), joins the records (image name, group) and
sorts, giving a DataFrame with HASH_COLUMNS except ``hash_hex``, whose
string columns are pandas Categoricals over sorted categories (sorting by
code = sorting by text) and whose ``hash`` column is Arrow binary.
`write_hashes` writes hashes.parquet from it in row groups, byte for byte
the file ``DataFrame.to_parquet`` wrote from the plain table (``hash_hex``
recomputed with each hasher's ``to_hex``).

Memory, per hash row: codes 4 x 8 bytes, width and height 2 x 4 bytes, the
hash bytes plus 4 (offset), plus each distinct string once.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..transforms import ORIGINAL
from .store import KEY_COLUMNS, STORE_COLUMNS

#: string columns of a store's hash rows held as codes
CODED = ["image_id", "transform", "hasher_key", "family", "severity", "hasher", "applied"]
#: rows per row group of hashes.parquet (pyarrow's default for write_table)
ROW_GROUP = 1024 * 1024


class _Codes:
    """Distinct strings of one column, each with an int32 code (first seen, first code)."""

    def __init__(self):
        self.index: dict = {}

    def encode(self, arr) -> np.ndarray:
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        if not len(arr):
            return np.zeros(0, np.int32)
        enc = pc.dictionary_encode(arr)
        index = self.index
        local = np.array([index.setdefault(v, len(index)) for v in enc.dictionary.to_pylist()], np.int32)
        idx = enc.indices.fill_null(len(local)).to_numpy(zero_copy_only=False)
        if enc.indices.null_count:  # a null string: code of None (written as null)
            local = np.append(local, index.setdefault(None, len(index))).astype(np.int32)
        return local[idx]

    def sorted_categories(self) -> tuple[np.ndarray, list]:
        """(old code -> code in sorted order, sorted values); None sorts last."""
        values = list(self.index)
        order = sorted(range(len(values)), key=lambda i: (values[i] is None, values[i] or ""))
        remap = np.empty(len(values), np.int32)
        remap[order] = np.arange(len(values), dtype=np.int32)
        return remap, [values[i] for i in order]


def _categorical(codes: np.ndarray, values: list) -> pd.Categorical:
    """codes into `values` (sorted strings; a trailing None: missing)."""
    if values and values[-1] is None:
        values = values[:-1]
        codes = np.where(codes == len(values), -1, codes)
    return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype="str"))


class CompactRows:
    """Store rows of a run, encoded chunk by chunk (see the module docstring)."""

    def __init__(self):
        self.codes = {c: _Codes() for c in CODED}
        self.parts: dict[str, list] = {c: [] for c in CODED + ["seed", "width", "height", "new"]}
        self.hashes: list = []
        self.errors = {"store": [], "new": []}
        self.n = 0

    def add(self, table: pa.Table, source: str) -> None:
        """Encode one chunk's rows (source "store" or "new")."""
        if not table.num_rows:
            return
        stage = table["stage"]
        is_ok = pc.fill_null(pc.equal(stage, ""), True)
        ok = table.filter(is_ok)
        if ok.num_rows < table.num_rows:
            self.errors[source].append(table.filter(pc.invert(is_ok)).to_pandas())
        if not ok.num_rows:
            return
        for c in CODED:
            self.parts[c].append(self.codes[c].encode(ok[c]))
        self.parts["seed"].append(ok["seed"].to_numpy().astype(np.int64))
        for c in ("width", "height"):
            self.parts[c].append(ok[c].fill_null(-1).to_numpy().astype(np.int32))
        self.parts["new"].append(np.full(ok.num_rows, source == "new"))
        self.hashes.append(ok["hash"].combine_chunks())
        self.n += ok.num_rows

    def done_keys(self) -> DoneKeys:
        """The keys of the hash rows encoded so far (for planning)."""
        return DoneKeys(self)

    def error_rows(self) -> pd.DataFrame:
        """The error rows: stored ones (duplicates dropped as `HashStore.load`
        does), then new ones; columns STORE_COLUMNS."""
        stored = self.errors["store"]
        parts = []
        if stored:
            s = pd.concat(stored, ignore_index=True)
            parts.append(s.drop_duplicates(KEY_COLUMNS + ["stage", "condition"], keep="first"))
        parts += self.errors["new"]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in STORE_COLUMNS})
        return pd.concat(parts, ignore_index=True)

    def _column(self, name: str) -> np.ndarray:
        parts = self.parts[name]
        out = np.concatenate(parts) if parts else np.zeros(0, np.int32)
        self.parts[name] = []  # the concatenation replaces the parts
        return out

    def hash_table(self, records, spec_seed: dict, hasher_keys: set, variant_ids, labels: dict):
        """(hash table, rows reused from the store, rows computed now): the
        rows of this run (the rules of `_assemble` in run.py), one per
        record x key, sorted by hasher, hasher_key, transform, image_id,
        image_name (see the module docstring). Consumes the parts."""
        col = {c: self._column(c) for c in CODED + ["seed", "width", "height", "new"]}
        hashes = pa.chunked_array(self.hashes, pa.binary()) if self.hashes else pa.chunked_array([], pa.binary())
        self.hashes = []
        values = {c: list(self.codes[c].index) for c in CODED}

        def codes_of(column, wanted) -> np.ndarray:
            return np.array([i for i, v in enumerate(values[column]) if v in wanted], np.int32)

        img = col["image_id"]
        ids = {r.image_id for r in records}
        keep = np.isin(img, codes_of("image_id", ids))
        tr = col["transform"]
        if variant_ids is not None:
            image_level = codes_of("transform", {"", ORIGINAL.key})
            keep &= np.isin(tr, image_level) | np.isin(img, codes_of("image_id", set(variant_ids)))
        # the seed each transform must have (-2: a transform of no spec of this run)
        want = np.array([spec_seed.get(v, -2) if v is not None else -2 for v in values["transform"]], np.int64)
        if len(tr):
            keep &= want[tr] == col["seed"]
        keep &= np.isin(col["hasher_key"], codes_of("hasher_key", hasher_keys))
        rows = np.flatnonzero(keep)
        # first copy of each key (store files in order, then new chunks)
        seeds, seed_code = np.unique(col["seed"][rows], return_inverse=True)
        key = img[rows].astype(np.int64)
        for c, n in (("transform", len(values["transform"])), ("hasher_key", len(values["hasher_key"]))):
            key = key * n + col[c][rows]
        key = key * max(1, len(seeds)) + seed_code.astype(np.int64)
        _, first = np.unique(key, return_index=True)
        del key, seed_code
        rows = rows[np.sort(first)]
        n_new = int(col["new"][rows].sum())
        reused, computed = len(rows) - n_new, n_new

        # one row per record of the image (files with the same bytes share an image_id)
        img_index = {v: i for i, v in enumerate(values["image_id"])}
        rec_img = np.array([img_index.get(r.image_id, -1) for r in records], np.int64)
        order = np.argsort(rec_img, kind="stable")
        counts = np.bincount(rec_img[rec_img >= 0], minlength=len(values["image_id"]))
        starts = np.searchsorted(rec_img[order], np.arange(len(values["image_id"])))
        reps = counts[img[rows]]
        expanded = np.repeat(rows, reps)
        within = np.arange(len(expanded)) - np.repeat(np.cumsum(reps) - reps, reps)
        rec = order[starts[img[expanded]] + within]
        del rows, reps, within

        names = _Codes()
        name_code = names.encode(pa.array([r.name for r in records], pa.string()))
        groups = _Codes()
        group_code = groups.encode(pa.array([None if r.group is None else str(r.group) for r in records], pa.string()))
        cats = {}
        for c in CODED:
            remap, vals = self.codes[c].sorted_categories()
            cats[c] = (remap[col[c][expanded]] if len(remap) else col[c][expanded], vals)
        for c, enc, code in (("image_name", names, name_code), ("group", groups, group_code)):
            remap, vals = enc.sorted_categories()
            cats[c] = (remap[code[rec]] if len(remap) else code[rec], vals)
        label_of = [labels.get(v, v) for v in cats["hasher_key"][1]]
        lab = _Codes()
        lab_code = lab.encode(pa.array(label_of, pa.string()))
        remap, vals = lab.sorted_categories()
        cats["hasher"] = ((remap[lab_code] if len(remap) else lab_code)[cats["hasher_key"][0]], vals)
        sort = np.lexsort([cats[c][0] for c in ("image_name", "image_id", "transform", "hasher_key", "hasher")])
        frame = {}
        for c in ("image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hasher_key"):
            frame[c] = _categorical(cats[c][0][sort], cats[c][1])
        take = expanded[sort]
        frame["hash"] = pd.arrays.ArrowExtensionArray(hashes.take(pa.array(take)))
        frame["width"] = col["width"][take]
        frame["height"] = col["height"][take]
        frame["applied"] = _categorical(cats["applied"][0][sort], cats["applied"][1])
        return pd.DataFrame(frame), reused, computed


def _hex(hashers: dict, labels: pd.Categorical, hashes: pa.Array) -> pa.Array:
    """hash_hex of each row: its hasher's `to_hex` of the packed bytes."""
    out = [None] * len(hashes)
    codes = labels.codes
    for code, label in enumerate(labels.categories):
        rows = np.flatnonzero(codes == code)
        if not len(rows):
            continue
        h = hashers[label]
        values = hashes.take(pa.array(rows)).to_pylist()
        for r, b in zip(rows.tolist(), values):
            out[r] = h.to_hex(np.frombuffer(b, np.uint8))
    return pa.array(out, pa.string())


def _plain_frame(table: pd.DataFrame, hashers: dict) -> pd.DataFrame:
    """The compact table as run.py's plain table (str columns, Python
    bytes, int64), for a few rows: the schema of hashes.parquet, or the
    whole file when there are no rows."""
    from .work import HASH_COLUMNS

    out = pd.DataFrame(index=table.index)
    for c in ("image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hasher_key"):
        out[c] = table[c].astype(str)
    out["hash"] = pd.Series([bytes(b) for b in table["hash"]], dtype=object, index=table.index)
    hx = _hex(hashers, table["hasher"].array, pa.array(table["hash"].array)).to_pylist() if len(table) else []
    out["hash_hex"] = pd.Series(hx, dtype=str, index=table.index)
    out["width"] = table["width"].astype("int64")
    out["height"] = table["height"].astype("int64")
    out["applied"] = table["applied"].astype(str)
    return out[HASH_COLUMNS]


def write_hashes(table: pd.DataFrame, path: str, hashers: dict, row_group: int = ROW_GROUP) -> None:
    """Write hashes.parquet from the compact table (`CompactRows.hash_table`),
    one row group of at most `row_group` rows at a time; `hashers`: label ->
    hasher (for hash_hex). The same bytes as ``plain.to_parquet(path,
    index=False, row_group_size=row_group)`` of the plain table."""
    if len(table) == 0:
        _plain_frame(table, hashers).to_parquet(path, index=False)
        return
    schema = pa.Table.from_pandas(_plain_frame(table.iloc[:1], hashers), preserve_index=False).schema
    dictionaries = {}
    for c in ("image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hasher_key", "applied"):
        dictionaries[c] = pa.array(list(table[c].cat.categories), pa.string())
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
            batch = pa.Table.from_arrays([arrays[f.name].cast(f.type) for f in schema], schema=schema)
            writer.write_table(batch, row_group_size=row_group)
            del arrays, batch, part


class DoneKeys:
    """The keys (image_id, transform, hasher_key, seed) of the hash rows
    encoded so far, as one sorted int64 array (planning looks each up)."""

    def __init__(self, rows: CompactRows):
        self.index = {c: dict(rows.codes[c].index) for c in ("image_id", "transform", "hasher_key")}
        self.dims = [len(self.index["transform"]), len(self.index["hasher_key"])]
        seed = np.concatenate(rows.parts["seed"]) if rows.parts["seed"] else np.zeros(0, np.int64)
        self.seeds = np.unique(seed)
        if not len(seed):
            self.keys = np.zeros(0, np.int64)
            return
        cols = [np.concatenate(rows.parts[c]).astype(np.int64) for c in ("image_id", "transform", "hasher_key")]
        key = (cols[0] * self.dims[0] + cols[1]) * self.dims[1] + cols[2]
        self.keys = np.unique(key * len(self.seeds) + np.searchsorted(self.seeds, seed))

    def has(self, image_id, transform, hasher_key, seed) -> bool:
        try:
            i, t, h = (self.index[c][v] for c, v in zip(self.index, (image_id, transform, hasher_key)))
        except KeyError:
            return False
        s = int(np.searchsorted(self.seeds, seed))
        if s >= len(self.seeds) or self.seeds[s] != seed:
            return False
        key = ((i * self.dims[0] + t) * self.dims[1] + h) * len(self.seeds) + s
        k = int(np.searchsorted(self.keys, key))
        return k < len(self.keys) and int(self.keys[k]) == key
