"""The Parquet hash store: finished work, keyed so that runs resume and share.

Layout::

    <store>/chunks/<digest>.parquet   one file per finished chunk
    <store>/tmp/                      files being written (ignored when read)

A chunk file is written to ``tmp/`` and then moved into ``chunks/`` with
``os.replace`` (atomic on one filesystem), so a run killed at any moment
leaves either the whole chunk or nothing. ``<digest>`` is the sha256 of the
chunk's sorted keys, so writing the same work twice gives the same file.

Every row is one result for the key (image sha256, transform spec key,
hasher identity key, seed), with ``seed = -1`` for ``original()`` (the
original does not depend on the experiment seed). A row is either a hash
(``stage`` empty) or an error:

- ``decode`` / ``timeout``: the whole image (transform and hasher_key empty);
- ``transform``: one variant, every hasher (hasher_key empty);
- ``hash``: one (variant, hasher).

``condition`` records what an error depends on besides the key
(``max_pixels=N`` for decode errors, ``timeout=N`` for timeouts); an error
row is reused only under the same condition, otherwise the work is redone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

STORE_COLUMNS = [
    "image_id",
    "transform",
    "hasher_key",
    "seed",
    "family",
    "severity",
    "hasher",
    "hash",
    "hash_hex",
    "width",
    "height",
    "applied",
    "stage",
    "reason",
    "condition",
]

STORE_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("transform", pa.string()),
        ("hasher_key", pa.string()),
        ("seed", pa.int64()),
        ("family", pa.string()),
        ("severity", pa.string()),
        ("hasher", pa.string()),
        ("hash", pa.binary()),
        ("hash_hex", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("applied", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("condition", pa.string()),
    ]
)

KEY_COLUMNS = ["image_id", "transform", "hasher_key", "seed"]


def chunk_digest(rows: list) -> str:
    """sha256 (hex, 32 characters) of the sorted keys of a chunk's rows."""
    keys = sorted(f"{r[0]}|{r[1]}|{r[2]}|{r[3]}|{r[12]}" for r in rows)
    return hashlib.sha256("\n".join(keys).encode()).hexdigest()[:32]


def rows_to_table(rows: list) -> pa.Table:
    """Store rows (lists in STORE_COLUMNS order) as an Arrow table: the
    driver keeps finished chunks in this compact form, not as Python rows."""
    return pa.Table.from_pylist([dict(zip(STORE_COLUMNS, r)) for r in rows], schema=STORE_SCHEMA)


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas()


def _of_images(table: pa.Table, ids: set | None) -> pa.Table:
    """The rows of `table` whose image_id is in `ids` (all rows for None;
    a null image_id is never in it). A chunk file holds a few distinct image
    ids: each is looked up once in the set, instead of an Arrow ``isin``
    filter over every id of the run, whose value set Arrow would build
    again for each file (a run reusing 3,169 chunk files of 202,815 images
    planned in 304 s that way, 8 s this way)."""
    if ids is None or not table.num_rows:
        return table
    enc = pc.dictionary_encode(table["image_id"].combine_chunks())
    wanted = np.array([v in ids for v in enc.dictionary.to_pylist()] + [False], bool)
    codes = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    keep = wanted[codes]
    return table if keep.all() else table.filter(pa.array(keep))


class HashStore:
    """A folder of Parquet chunk files (see the module docstring)."""

    def __init__(self, root: str):
        self.root = os.path.abspath(root)
        self.chunks_dir = os.path.join(self.root, "chunks")
        self.tmp_dir = os.path.join(self.root, "tmp")

    def files(self) -> list[str]:
        """Finished chunk files, sorted by name."""
        if not os.path.isdir(self.chunks_dir):
            return []
        return sorted(
            os.path.join(self.chunks_dir, f)
            for f in os.listdir(self.chunks_dir)
            if f.endswith(".parquet") and not f.startswith(".")
        )

    def clean_tmp(self) -> int:
        """Remove half-written files left in tmp/ by killed runs of this host
        (name ``<host>-<pid>-<random>.parquet`` whose pid is gone); returns
        how many were removed. Other hosts' files are left alone."""
        if not os.path.isdir(self.tmp_dir):
            return 0
        host, removed = socket.gethostname(), 0
        for name in os.listdir(self.tmp_dir):
            parts = name.rsplit("-", 2)
            if len(parts) != 3 or parts[0] != host or not parts[1].isdigit():
                continue
            try:
                os.kill(int(parts[1]), 0)
                continue  # still running
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            try:
                os.remove(os.path.join(self.tmp_dir, name))
                removed += 1
            except OSError:
                pass
        return removed

    def tables(self, image_ids=None, where: pc.Expression | None = None):
        """Each finished chunk file's rows as an Arrow table (files sorted by
        name; unreadable files skipped, their work is redone), filtered as in
        `load`, one at a time: a run encodes each into its compact hash table
        (`harness.engine.compact`) before reading the next."""
        ids = None if image_ids is None else set(image_ids)
        for path in self.files():
            try:
                table = _of_images(pq.read_table(path, schema=STORE_SCHEMA, filters=where), ids)
            except Exception:  # an unreadable file is ignored: its work is redone
                continue
            if table.num_rows:
                yield table

    def load(self, image_ids=None, where: pc.Expression | None = None) -> pd.DataFrame:
        """Every stored row (columns STORE_COLUMNS), optionally only for the
        given image sha256s and only the rows matching the Arrow expression
        `where` (applied while reading, so rows a run does not need, e.g.
        other hashers of a shared store, never become pandas objects);
        duplicate keys (the same work stored twice, e.g. by two experiments
        sharing the store) keep the first file's row."""
        parts = [table_to_frame(table) for table in self.tables(image_ids, where)]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in STORE_COLUMNS})
        out = pd.concat(parts, ignore_index=True)
        return out.drop_duplicates(KEY_COLUMNS + ["stage", "condition"], keep="first").reset_index(drop=True)

    def write_chunk(self, rows) -> str:
        """Write one finished chunk (rows, or a table from `rows_to_table`)
        atomically; returns the final path."""
        os.makedirs(self.chunks_dir, exist_ok=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        table = rows if isinstance(rows, pa.Table) else rows_to_table(rows)
        rows = table.select(["image_id", "transform", "hasher_key", "seed", "stage"]).to_pylist()
        rows = [[r["image_id"], r["transform"], r["hasher_key"], r["seed"]] + [None] * 8 + [r["stage"]] for r in rows]
        final = os.path.join(self.chunks_dir, chunk_digest(rows) + ".parquet")
        tmp = os.path.join(self.tmp_dir, f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex}.parquet")
        try:
            pq.write_table(table, tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, final)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return final
