"""The run's compact hash table (harness.engine.compact) gives the same
hashes.parquet, byte for byte, as the plain pandas table the engine built
before (store rows -> `_assemble` -> `_tables` -> DataFrame.to_parquet)."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from harness.config import load_config
from harness.datasets import load_records
from harness.engine import run_experiment
from harness.engine.compact import AppliedTexts, CompactRows, write_hashes
from harness.engine.run import _assemble, _tables, rows_of_run
from harness.engine.store import HashStore
from harness.transforms import ORIGINAL
from tests.helpers import dataset_dir


def _folder(tmp_path):
    """Six photos, one of them twice under another name (same image_id),
    and a file that does not decode (an error row)."""
    src = sorted((dataset_dir("caltech101_tiny") / "images").iterdir())[:6]
    folder = tmp_path / "images"
    folder.mkdir()
    for p in src:
        shutil.copy(p, folder / p.name)
    shutil.copy(src[0], folder / ("copy-" + src[0].name))
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    return folder


def _config(tmp_path, folder, **extra):
    return load_config(
        {
            "name": "compact",
            "dataset": {"source": "folder", "path": str(folder)},
            "hashers": ["dhash", {"name": "phash", "dihedral": True}, "crop_resistant", "pdq"],
            "transforms": [{"family": "jpeg", "severities": [50]}, {"family": "crop", "severities": [0.8]}],
            "output": str(tmp_path / "out"),
            "metrics": {"bootstrap_replicates": 0},
            **extra,
        }
    )


def _plain(cfg, store: str, variant_ids=None) -> pd.DataFrame:
    """The hash table as the engine built it before the compact table."""
    hashers, specs = cfg.build_hashers(), cfg.transform_specs()
    records, list_errors = load_records(cfg.dataset)
    rows = HashStore(store).load({r.image_id for r in records}, rows_of_run(specs, hashers, variant_ids))
    ok, err = _assemble(
        rows, records, specs, hashers, cfg.seed, cfg.max_pixels, cfg.engine.timeout_seconds, variant_ids
    )
    hashes, _ = _tables(ok, err, records, list_errors, {h.key: h.label for h in hashers})
    return hashes


def _compact(cfg, store: str, variant_ids=None):
    hashers, specs = cfg.build_hashers(), cfg.transform_specs()
    records, _ = load_records(cfg.dataset)
    rows = CompactRows()
    for table in HashStore(store).tables({r.image_id for r in records}, rows_of_run(specs, hashers, variant_ids)):
        rows.add(table, "store")
    spec_seed = {ORIGINAL.key: -1} | {s.key: int(cfg.seed) for s in specs}
    table, reused, computed = rows.hash_table(
        records, spec_seed, {h.key for h in hashers}, variant_ids, {h.key: h.label for h in hashers}
    )
    return table, rows.applied, reused, computed


def test_compact_table_round_trips_to_the_same_hashes_parquet(tmp_path):
    folder = _folder(tmp_path)
    cfg = _config(tmp_path, folder)
    res = run_experiment(cfg, progress=False, workers=1, scheduler="inline")
    store = str(tmp_path / "out" / "store")
    plain = _plain(cfg, store)
    assert len(plain) > 0 and plain["image_id"].duplicated().any()  # the copy: two names, one image_id
    assert len(res.errors) > 0  # broken.jpg
    # the run's file == the plain table's
    plain.to_parquet(tmp_path / "plain.parquet", index=False)
    assert (tmp_path / "plain.parquet").read_bytes() == (tmp_path / "out" / "hashes.parquet").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "out" / "hashes.parquet"), plain)
    # several row groups (one written at a time) == to_parquet with that row group size
    table, applied, reused, computed = _compact(cfg, store)
    assert (reused, computed) == (len(plain) - _copies(plain), 0)  # every row from the store
    hashers = {h.label: h for h in cfg.build_hashers()}
    for rg in (7, 64):
        plain.to_parquet(tmp_path / "plain-rg.parquet", index=False, row_group_size=rg)
        write_hashes(table, applied, str(tmp_path / "compact-rg.parquet"), hashers, row_group=rg)
        assert (tmp_path / "plain-rg.parquet").read_bytes() == (tmp_path / "compact-rg.parquet").read_bytes()
    # the table holds integer codes per row, no strings; image_id, image_name, group, family,
    # severity and hasher are made from the record, transform and hasher key codes when asked for
    assert list(table.core.columns) == ["record", "transform", "hasher_key", "hash", "width", "height", "applied"]
    for col in ("record", "transform", "hasher_key", "width", "height", "applied"):
        assert np.issubdtype(table.core[col].dtype, np.integer), col
    assert isinstance(table.core["hash"].dtype, pd.ArrowDtype)
    frame = table.frame()
    assert list(frame.columns) == table.columns and "hash_hex" not in table.columns
    for col in ("image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hasher_key"):
        assert isinstance(frame[col].dtype, pd.CategoricalDtype)
        assert frame[col].astype(str).tolist() == plain[col].tolist(), col
    # one hasher's rows: one slice, the same rows as the plain table's
    from harness.engine.run import _rows_of

    for key in plain["hasher_key"].unique():
        part = _rows_of(table, key, ["image_id", "image_name", "group", "transform", "hasher"])
        want = plain.loc[plain["hasher_key"] == key, part.columns].reset_index(drop=True)
        pd.testing.assert_frame_equal(part.astype(str), want.astype(str))


def test_hashes_of_one_length_are_held_without_offsets(tmp_path):
    """Every hash of the run 8 bytes: the table holds them as Arrow
    fixed-size binary (no 4-byte offsets); the file is the same. With
    crop_resistant (several lengths) they stay binary (the test above)."""
    folder = _folder(tmp_path)
    cfg = _config(tmp_path, folder, hashers=["dhash", "phash"])
    run_experiment(cfg, progress=False, workers=1, scheduler="inline")
    store = str(tmp_path / "out" / "store")
    plain = _plain(cfg, store)
    plain.to_parquet(tmp_path / "plain.parquet", index=False)
    assert (tmp_path / "plain.parquet").read_bytes() == (tmp_path / "out" / "hashes.parquet").read_bytes()
    table, applied, _, _ = _compact(cfg, store)
    assert table.core["hash"].dtype.pyarrow_dtype == pa.binary(8)
    assert [bytes(b) for b in table.frame()["hash"]] == plain["hash"].tolist()
    hashers = {h.label: h for h in cfg.build_hashers()}
    plain.to_parquet(tmp_path / "plain-rg.parquet", index=False, row_group_size=5)
    write_hashes(table, applied, str(tmp_path / "compact-rg.parquet"), hashers, row_group=5)
    assert (tmp_path / "plain-rg.parquet").read_bytes() == (tmp_path / "compact-rg.parquet").read_bytes()


@pytest.mark.parametrize("lengths", [[8, 8, 8], [8, 8, 32], [0, 0, 0]])
def test_take_hashes_equals_concatenating_and_taking(lengths):
    from harness.engine.compact import _take_hashes

    rng = np.random.default_rng(1)
    chunks, values = [], []
    for k, size in enumerate([5, 0, 7, 4]):
        length = lengths[k % len(lengths)]
        v = [rng.integers(0, 256, length, dtype=np.uint8).tobytes() for _ in range(size)]
        values += v
        chunks.append(pa.array(v, pa.binary()))
    chunks[2] = pa.array([b"x"] + values[5:12], pa.binary()).slice(1)  # an array with an offset
    take = rng.permutation(len(values))[:10].astype(np.int32)
    out = _take_hashes(chunks, take)
    assert chunks == []
    assert out.to_pylist() == [values[i] for i in take]
    assert pa.types.is_fixed_size_binary(out.type) == (len(set(map(len, values))) == 1 and len(values[0]) > 0)


def _copies(plain: pd.DataFrame) -> int:
    """Rows that exist only because a second file has the same bytes."""
    return int(plain.duplicated(["image_id", "transform", "hasher_key"]).sum())


def test_variant_sample_and_empty_table(tmp_path):
    folder = _folder(tmp_path)
    cfg = _config(tmp_path, folder, variant_sample=2)
    run_experiment(cfg, progress=False, workers=1, scheduler="inline")
    from harness.engine.chunks import variant_sample

    records, _ = load_records(cfg.dataset)
    ids = variant_sample([r.image_id for r in records], 2, cfg.seed)
    plain = _plain(cfg, str(tmp_path / "out" / "store"), ids)
    plain.to_parquet(tmp_path / "plain.parquet", index=False)
    assert (tmp_path / "plain.parquet").read_bytes() == (tmp_path / "out" / "hashes.parquet").read_bytes()
    # a run of undecodable files only: an empty hashes.parquet, as before
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.jpg").write_bytes(b"no")
    cfg = _config(tmp_path, bad, output=str(tmp_path / "bad-out"))
    run_experiment(cfg, progress=False, workers=1, scheduler="inline")
    plain = _plain(cfg, str(tmp_path / "bad-out" / "store"))
    assert len(plain) == 0
    plain.to_parquet(tmp_path / "plain-empty.parquet", index=False)
    assert (tmp_path / "plain-empty.parquet").read_bytes() == (tmp_path / "bad-out" / "hashes.parquet").read_bytes()


@pytest.mark.parametrize("texts", [["a", None, "bb", "a", ""], [""] * 3, ["{}"]])
def test_applied_texts_keep_every_value_and_null(texts):
    at = AppliedTexts()
    first = at.add(pa.array(texts, pa.string()))
    second = at.add(pa.array(list(reversed(texts)), pa.string()))
    codes = np.concatenate([second, first])
    assert at.take(codes).to_pylist() == list(reversed(texts)) + texts


def test_parquet_tables_written_in_row_groups_keep_their_bytes(tmp_path):
    from harness.engine.run import write_table
    from harness.metrics.tables import plain_strings

    ids = pd.CategoricalDtype([f"{i:064x}" for i in range(50)])
    rng = np.random.default_rng(0)
    n = 95
    close = pd.DataFrame(
        {
            "hasher": pd.Categorical(["phash"] * n),
            "bits": 64,
            "kind": pd.Categorical(rng.choice(["orig-orig", "variant-orig"], n)),
            "transform": pd.Categorical(rng.choice(["original()", "jpeg(50)"], n)),
            "image_a": pd.Categorical.from_codes(rng.integers(0, 50, n), dtype=ids),
            "image_b": pd.Categorical.from_codes(rng.integers(0, 50, n), dtype=ids),
            "distance": rng.integers(0, 20, n),
        }
    )
    write_table(close, str(tmp_path / "groups.parquet"), row_group=10)
    plain_strings(close).to_parquet(tmp_path / "plain.parquet", index=False, row_group_size=10)
    assert (tmp_path / "groups.parquet").read_bytes() == (tmp_path / "plain.parquet").read_bytes()


def test_hash_hex_of_many_hashes_at_once_is_each_hashers_to_hex():
    """hashes.parquet's hash_hex is made from the bytes at once for hashers
    whose to_hex is plain hex (Hasher.hex_width): the same text as to_hex,
    also where imagehash keeps fewer digits than the bytes give
    (colorhash: 42 bits in 6 bytes); crop_resistant's segments go one by one."""
    from harness.engine.compact import _hex, _hex_of
    from harness.hashers import get_hasher

    rng = np.random.default_rng(0)
    for name, params in [("ahash", {}), ("colorhash", {}), ("pdq", {}), ("phash", {"dihedral": True})]:
        h = get_hasher(name, **params)
        assert h.hex_width(h.nbytes) is not None
        packed = rng.integers(0, 256, (50, h.nbytes), dtype=np.uint8)
        hashes = pa.array([p.tobytes() for p in packed], pa.binary())
        assert _hex_of(h, hashes.slice(3)).to_pylist() == [h.to_hex(p) for p in packed[3:]]
    crop = get_hasher("crop_resistant")
    assert crop.hex_width(8) is None
    # rows of two hashers, interleaved: each row gets its own hasher's hex
    a, c = get_hasher("ahash"), get_hasher("colorhash")
    labels = pd.Categorical(["a", "c", "a", "c", "a"])
    packed = [rng.integers(0, 256, (a if x == "a" else c).nbytes, dtype=np.uint8) for x in labels]
    out = _hex({"a": a, "c": c}, labels, pa.array([p.tobytes() for p in packed], pa.binary()))
    assert out.type == pa.string()
    assert out.to_pylist() == [({"a": a, "c": c}[x]).to_hex(p) for x, p in zip(labels, packed)]


_HOLES = """
import sys
import numpy as np
from harness.engine.compact import map_large_blocks

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "map":
    assert map_large_blocks()
big = np.ones(16 << 20, np.uint8)
del big  # glibc's default: the mmap threshold rises to 16 MiB here
arrays = [np.ones(2 << 20, np.uint8) for _ in range(60)]
before = rss()
del arrays[::2]  # 30 holes of 2 MiB between live arrays: the heap cannot shrink
print(before - rss())
"""


def test_large_blocks_freed_go_back_to_the_system():
    """`map_large_blocks`: freed arrays of 1-32 MiB are given back at once;
    with glibc's default (the control) they stay in the heap."""
    import os
    import subprocess
    import sys

    from harness.engine.compact import _glibc

    if _glibc() is None:
        pytest.skip("not glibc: map_large_blocks does nothing here")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    freed = {}
    for mode in ("map", "default"):
        out = subprocess.run([sys.executable, "-c", _HOLES, mode], capture_output=True, text=True, env=env, check=True)
        freed[mode] = float(out.stdout.split()[-1])
    assert freed["map"] >= 50  # of the 60 MiB freed
    assert freed["default"] < 10


def test_store_rows_of_the_runs_images_equal_arrows_isin_filter():
    """`HashStore.tables`/`load` keep the rows of the run's images by looking
    each chunk's distinct ids up in a set: the same rows as Arrow's isin
    filter (nulls never kept), in the same order."""
    import pyarrow.compute as pc

    from harness.engine.store import _of_images

    rng = np.random.default_rng(3)
    pool = [f"{i:064x}" for i in range(12)] + [None]
    for _ in range(30):
        n = int(rng.integers(0, 40))
        values = [pool[k] for k in rng.integers(0, len(pool), n)]
        cut = int(rng.integers(0, n + 1))
        table = pa.table(
            {"image_id": pa.chunked_array([values[:cut], values[cut:]], pa.string()), "row": pa.array(range(n))}
        )
        ids = {pool[k] for k in rng.integers(0, 12, int(rng.integers(0, 13)))}
        want = table.filter(pc.field("image_id").isin(pa.array(sorted(ids), pa.string())))
        assert _of_images(table, ids).to_pydict() == want.to_pydict()
    assert _of_images(table, None) is table
