"""`census`: exact pair statistics of given hex hashes, tiled and resumable.

Oracles: a brute-force numpy count over unpacked bits (independent of
harness.metrics), the untiled census (byte for byte), and `run` on the same
photos."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.engine.census import CensusSettings, hex_to_packed, run_census, tiles
from tests.helpers import run_cli, run_main

TABLES = ("histograms.parquet", "fpr.csv", "thresholds.csv", "per_photo.csv")


def _random_hex(rng, n, digits):
    return ["".join("0123456789abcdef"[v] for v in row) for row in rng.integers(0, 16, (n, digits))]


def _write(path, df):
    if str(path).endswith(".csv"):
        df.to_csv(path, index=False)
    else:
        df.to_parquet(path, index=False)
    return path


def _frame(rng, n, digits, n_groups, prefix="i"):
    return pd.DataFrame(
        {
            "id": [f"{prefix}{k}" for k in range(n)],
            "hash": _random_hex(rng, n, digits),
            "group": [f"g{v}" for v in rng.integers(0, n_groups, n)],
        }
    )


def _bits(hexes):
    """Hex -> (n, 4 * digits) 0/1 matrix, digit by digit (no packing)."""
    return np.array([[int(b) for c in h for b in format(int(c, 16), "04b")] for h in hexes], np.int64)


def _brute(a: pd.DataFrame, b: pd.DataFrame | None):
    """Histogram over negative pairs and each row of a's nearest other-group distance."""
    A = _bits(a["hash"])
    B = A if b is None else _bits(b["hash"])
    ga = a["group"].to_numpy()
    gb = ga if b is None else b["group"].to_numpy()
    d = (A[:, None, :] != B[None, :, :]).sum(axis=2)
    neg = ga[:, None] != gb[None, :]
    keep = neg & (np.triu(np.ones_like(neg), k=1).astype(bool) if b is None else True)
    hist = np.bincount(d[keep], minlength=A.shape[1] + 1)
    nearest = np.where(neg, d, 10**9).min(axis=1)
    return hist, nearest


def _tables(folder):
    return {name: (folder / name).read_bytes() for name in TABLES}


@pytest.mark.parametrize("digits", [3, 15, 17])
@pytest.mark.parametrize("with_queries", [False, True])
def test_census_equals_brute_force(tmp_path, digits, with_queries):
    rng = np.random.default_rng(digits)
    db = _frame(rng, 57, digits, 20)
    q = _frame(rng, 23, digits, 20, prefix="q") if with_queries else None
    _write(tmp_path / "db.parquet", db)
    queries = [str(_write(tmp_path / "q.csv", q))] if with_queries else None
    run_census(
        [str(tmp_path / "db.parquet")],
        str(tmp_path / "out"),
        queries=queries,
        workers=1,
        settings=CensusSettings(tile=10, bootstrap_replicates=50, keep_fpr=0.2, target_fpr=0.2),
    )
    hist, nearest = _brute(q if with_queries else db, db if with_queries else None)
    got = pd.read_parquet(tmp_path / "out" / "histograms.parquet")
    full = np.zeros(4 * digits + 1, np.int64)
    full[got["distance"]] = got["count"]
    np.testing.assert_array_equal(full, hist)
    assert set(got["kind"]) == {"variant-orig" if with_queries else "orig-orig"}
    assert (got["bits"] == 4 * digits).all()
    fpr = pd.read_csv(tmp_path / "out" / "fpr.csv")
    np.testing.assert_array_equal(fpr["fp"], np.cumsum(hist))
    assert (fpr["n_neg"] == hist.sum()).all()
    photo = pd.read_csv(tmp_path / "out" / "per_photo.csv")
    info = json.loads((tmp_path / "out" / "census.json").read_text())
    keep = info["hashers"][0]["keep_below"]
    assert keep >= 0
    measured = photo[photo["threshold"] <= keep]
    want = [(nearest <= t).sum() for t in measured["threshold"]]
    np.testing.assert_array_equal(measured["photos_matched"], want)
    assert photo.loc[photo["threshold"] > keep, "photo_rate"].isna().all()
    # the bootstrap interval exists where it is measured and brackets nothing absurd
    boot = fpr[fpr["threshold"] <= keep]
    assert boot["fpr_boot_hi"].notna().all() and (boot["fpr_upper"] >= boot["fpr_cp_hi"]).all()


def test_numba_tile_path_equals_brute_force(tmp_path):
    """Tiles of > 1e6 pairs go through the compiled kernel."""
    rng = np.random.default_rng(7)
    db = _frame(rng, 1500, 17, 400)
    _write(tmp_path / "db.csv", db)
    run_census(
        [str(tmp_path / "db.csv")],
        str(tmp_path / "out"),
        workers=1,
        settings=CensusSettings(tile=1100, bootstrap_replicates=0),
    )
    A = hex_to_packed(db["hash"])
    bits = np.unpackbits(A, axis=1).astype(np.int64)
    hist = np.zeros(69, np.int64)
    g = db["group"].to_numpy()
    for i in range(len(db) - 1):
        d = (bits[i] != bits[i + 1 :]).sum(axis=1)
        hist += np.bincount(d[g[i + 1 :] != g[i]], minlength=69)
    got = pd.read_parquet(tmp_path / "out" / "histograms.parquet")
    full = np.zeros(69, np.int64)
    full[got["distance"]] = got["count"]
    np.testing.assert_array_equal(full, hist)


@pytest.mark.parametrize("with_queries", [False, True])
def test_one_pass_census_equals_every_fallback(tmp_path, monkeypatch, with_queries):
    """The histogram pass collects the close pairs up to a threshold a
    sample predicts. Tables are byte-identical when that guess is right,
    when it is too low or missing (a second pass over every tile at
    keep_below), and when tasks run out of room (room 0: a second pass over
    those tiles only). Tiles of > 1e6 pairs, so the compiled kernels run."""
    from harness.engine import census as C
    from harness.metrics import hamming

    rng = np.random.default_rng(21)
    db = _frame(rng, 3000, 16, 900)
    near = rng.choice(3000, 400, replace=False)  # rows with close pairs, spread over the row blocks
    db.loc[near, "hash"] = db.loc[near, "hash"].str.slice(0, 12) + "0000"
    _write(tmp_path / "db.csv", db)
    queries = None
    if with_queries:
        q = _frame(rng, 1200, 16, 900, prefix="q")
        near = rng.choice(1200, 300, replace=False)
        q.loc[near, "hash"] = q.loc[near, "hash"].str.slice(0, 12) + "0000"
        queries = [str(_write(tmp_path / "q.csv", q))]
    settings = CensusSettings(tile=2000, bootstrap_replicates=0, max_close_pairs=20_000)
    guess = C.speculative_keep
    seen = {}

    def census(name, spec=None):
        if spec is not None:
            monkeypatch.setattr(C, "speculative_keep", spec)
        out = tmp_path / name
        info = run_census([str(tmp_path / "db.csv")], str(out), queries=queries, workers=1, settings=settings)
        monkeypatch.setattr(C, "speculative_keep", guess)
        seen[name] = info["hashers"][0]
        return _tables(out)

    calls = []
    real = hamming.histogram_and_close_pairs
    monkeypatch.setattr(C, "histogram_and_close_pairs", lambda *a, **k: calls.append(k["room"]) or real(*a, **k))
    one = census("one")
    n_tiles = len(tiles(3000 if not with_queries else 1200, None if not with_queries else 3000, 2000))
    keep = seen["one"]["keep_below"]
    assert keep > 0 and seen["one"]["close_pairs"] > 1000
    assert seen["one"]["tiles_total"] == n_tiles  # the guess covered keep_below: one pass
    assert len(calls) == n_tiles
    assert census("none", lambda *a: (-1, 0.0)) == one
    assert seen["none"]["tiles_total"] == 2 * n_tiles
    assert census("low", lambda *a: (keep - 1, 1000.0)) == one
    assert seen["low"]["tiles_total"] == 2 * n_tiles
    assert census("no_room", lambda *a: (keep + 2, 0.0)) == one
    assert seen["no_room"]["tiles_total"] > n_tiles  # tiles that ran out of room: collected again
    if not with_queries:
        assert seen["no_room"]["tiles_total"] < 2 * n_tiles  # the small diagonal tile (numpy path) did not


def test_tiles_cover_every_pair_once():
    for n, t in [(10, 3), (10, 5), (1, 4), (7, 100)]:
        seen = np.zeros((n, n), int)
        for i0, i1, j0, j1 in tiles(n, None, t):
            for i in range(i0, i1):
                for j in range(max(j0, i + 1), j1):
                    seen[i, j] += 1
        np.testing.assert_array_equal(seen, np.triu(np.ones((n, n), int), k=1))
        seen = np.zeros((n, 3), int)
        for i0, i1, j0, j1 in tiles(n, 3, t):
            seen[i0:i1, j0:j1] += 1
        assert (seen == 1).all()


@pytest.mark.parametrize("with_queries", [False, True])
def test_tiled_equals_untiled_byte_for_byte(tmp_path, with_queries):
    rng = np.random.default_rng(3)
    _write(tmp_path / "db.parquet", _frame(rng, 60, 16, 15))
    queries = [str(_write(tmp_path / "q.parquet", _frame(rng, 31, 16, 15, "q")))] if with_queries else None
    outs = []
    for tile in (7, 20, 60, 1000):  # 7 and 31/60 do not divide, 20 and 60 divide 60
        out = tmp_path / f"out{tile}"
        run_census(
            [str(tmp_path / "db.parquet")],
            str(out),
            queries=queries,
            workers=1,
            settings=CensusSettings(tile=tile, bootstrap_replicates=40, keep_fpr=0.1),
        )
        outs.append(_tables(out))
    assert all(o == outs[-1] for o in outs)


def test_process_pool_equals_inline(tmp_path):
    rng = np.random.default_rng(5)
    _write(tmp_path / "db.csv", _frame(rng, 80, 16, 30))
    a = run_cli(
        "census", tmp_path / "db.csv", "--output", tmp_path / "a", "--tile", "13", "--workers", "2", "--bootstrap", "30"
    )
    b = run_cli("census", tmp_path / "db.csv", "--output", tmp_path / "b", "--workers", "1", "--bootstrap", "30")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert json.loads((tmp_path / "a" / "census.json").read_text())["executor"]["workers"] == 2
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")


def test_dask_local_cluster_equals_inline(tmp_path):
    pytest.importorskip("distributed")  # the optional [dask] extra
    rng = np.random.default_rng(6)
    _write(tmp_path / "db.csv", _frame(rng, 70, 15, 25))
    a = run_cli(
        "census",
        tmp_path / "db.csv",
        "--output",
        tmp_path / "a",
        "--tile",
        "16",
        "--scheduler",
        "local",
        "--workers",
        "2",
        "--bootstrap",
        "30",
    )
    b = run_cli("census", tmp_path / "db.csv", "--output", tmp_path / "b", "--workers", "1", "--bootstrap", "30")
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    assert json.loads((tmp_path / "a" / "census.json").read_text())["executor"]["executor"] == "dask"
    assert _tables(tmp_path / "a") == _tables(tmp_path / "b")


def test_killed_census_resumes_without_recomputing_tiles(tmp_path):
    rng = np.random.default_rng(11)
    _write(tmp_path / "db.csv", _frame(rng, 50, 16, 20))
    args = (
        "census",
        tmp_path / "db.csv",
        "--output",
        tmp_path / "out",
        "--tile",
        "10",
        "--workers",
        "1",
        "--bootstrap",
        "20",
    )
    killed = run_cli(*args, env={"HARNESS_CENSUS_STOP_AFTER_TILES": "4"})
    assert killed.returncode == -9, killed.stderr
    assert not (tmp_path / "out" / "census.json").exists()
    done = sorted((tmp_path / "out" / "tiles").rglob("*.npy"))
    # each finished tile: its histogram and, from the same pass, its close pairs
    assert len([p for p in done if p.name.startswith("hist-")]) == 4
    assert len(done) == 8
    stamps = {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in done}
    half = done[0].parent / "hist-40-40.npy.tmp12345"  # as a kill during np.save would leave it
    half.write_bytes(b"\x93NUMPY half")
    resumed = run_cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    info = json.loads((tmp_path / "out" / "census.json").read_text())["hashers"][0]
    assert info["tiles_reused"] == 4
    assert info["tiles_total"] == 15  # 15 tiles of 10 x 10 over 50 hashes, one pass (close pairs with it)
    assert info["tiles_computed"] == info["tiles_total"] - 4
    assert all((p.stat().st_ino, p.stat().st_mtime_ns) == s for p, s in stamps.items())
    assert not half.exists()
    fresh = run_cli(
        "census",
        tmp_path / "db.csv",
        "--output",
        tmp_path / "fresh",
        "--tile",
        "10",
        "--workers",
        "1",
        "--bootstrap",
        "20",
    )
    assert fresh.returncode == 0
    assert _tables(tmp_path / "out") == _tables(tmp_path / "fresh")


def _bad_inputs(tmp_path):
    ok = pd.DataFrame({"id": ["a", "b", "c"], "hash": ["00ff", "0f0f", "ffff"], "group": ["1", "2", "3"]})
    cases = {}

    def case(name, df, row_or_col, suffix=".csv"):
        cases[name] = (_write(tmp_path / f"{name}{suffix}", df), row_or_col)

    case("badhex", ok.assign(hash=["00ff", "0g0f", "ffff"]), "row 2")
    case("mixed", ok.assign(hash=["00ff", "0f0", "ffff"]), "row 2")
    case("dup", ok.assign(id=["a", "b", "a"]), "row 3")
    case("unknown", ok.assign(colour=["r", "g", "b"]), "'colour'")
    case("missing_column", ok.drop(columns="hash"), "'hash'")
    case("badhex_parquet", ok.assign(hash=["00ff", "0f0f", "ffzf"]), "row 3", ".parquet")
    case("empty_hash", ok.assign(hash=["00ff", "", "ffff"]), "row 2", ".parquet")
    case("binary_hash", ok.assign(hash=[b"\x00\xff", b"\x0f\x0f", b"\xff\xff"]), "'hash'", ".parquet")
    case("no_rows", ok.iloc[:0], "no hash rows")
    cases["missing_file"] = (tmp_path / "nope.csv", "no such file")
    (tmp_path / "corrupt.parquet").write_bytes(b"PAR1 not really")
    cases["corrupt"] = (tmp_path / "corrupt.parquet", "not a readable Parquet file")
    return cases


def test_every_bad_input_exits_2_and_writes_nothing(tmp_path):
    for name, (path, where) in _bad_inputs(tmp_path).items():
        out = tmp_path / f"out-{name}"
        res = run_main("census", path, "--output", out, "--workers", "1")
        assert res.returncode == 2, (name, res.stderr)
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0] and where in lines[0], (name, res.stderr)
        assert not out.exists(), name


def test_bad_options_exit_2(tmp_path):
    path = _write(tmp_path / "db.csv", pd.DataFrame({"id": ["a", "b"], "hash": ["00", "ff"], "hasher": "phash"}))
    for extra, field in [
        (("--tile", "0"), "--tile"),
        (("--hasher", "pdq"), "--hasher"),
        (("--bootstrap", "-1"), "--bootstrap"),
        (("--queries", path), "--queries"),
    ]:
        if field == "--queries":
            q = _write(tmp_path / "q.csv", pd.DataFrame({"id": ["x"], "hash": ["000"], "hasher": "phash"}))
            extra = ("--queries", q)
        res = run_main("census", path, "--output", tmp_path / "o", "--workers", "1", *extra)
        assert res.returncode == 2 and field in res.stderr, (extra, res.stderr)
        assert not (tmp_path / "o").exists()


def test_several_hashers_in_one_file_are_counted_separately(tmp_path):
    rng = np.random.default_rng(2)
    a, b = _frame(rng, 30, 16, 10), _frame(rng, 25, 64, 10)
    both = pd.concat([a.assign(hasher="phash"), b.assign(hasher="pdq")], ignore_index=True)
    _write(tmp_path / "both.parquet", both)
    run_census(
        [str(tmp_path / "both.parquet")],
        str(tmp_path / "out"),
        workers=1,
        settings=CensusSettings(bootstrap_replicates=0),
    )
    got = pd.read_parquet(tmp_path / "out" / "histograms.parquet")
    for name, df in (("phash", a), ("pdq", b)):
        rows = got[got["hasher"] == name]
        assert rows["count"].sum() == _brute(df, None)[0].sum()
        assert (rows["bits"] == 4 * len(df["hash"].iat[0])).all()


def test_census_equals_run_on_the_same_photos(tmp_path, tiny_dir):
    cfg = {
        "name": "census-check",
        "dataset": {"source": "folder", "path": str(tiny_dir / "images")},
        "hashers": ["phash"],
        "transforms": [],
        "output": str(tmp_path / "run"),
    }
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    res = run_cli("run", "--config", tmp_path / "cfg.yaml", "--workers", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    hashes = pd.read_parquet(tmp_path / "run" / "hashes.parquet")
    orig = hashes[hashes["transform"] == "original()"]
    given = pd.DataFrame(
        {"id": orig["image_id"], "hash": orig["hash_hex"], "group": orig["group"].astype(str), "hasher": orig["hasher"]}
    )
    _write(tmp_path / "given.parquet", given)
    res = run_cli(
        "census", tmp_path / "given.parquet", "--output", tmp_path / "census", "--tile", "17", "--workers", "1"
    )
    assert res.returncode == 0, res.stderr
    key = ["hasher", "bits", "transform", "kind", "distance"]
    ran = pd.read_parquet(tmp_path / "run" / "histograms.parquet")
    ran = ran[ran["kind"] == "orig-orig"].sort_values(key).reset_index(drop=True)
    got = pd.read_parquet(tmp_path / "census" / "histograms.parquet").sort_values(key).reset_index(drop=True)
    assert got["count"].sum() == 96 * 95 // 2
    pd.testing.assert_frame_equal(got[key + ["count"]], ran[key + ["count"]], check_dtype=False)
    # the same default interval (pairs sharing a photo dependent) at every threshold both measured ...
    f_run = pd.read_csv(tmp_path / "run" / "fpr.csv")
    f_cen = pd.read_csv(tmp_path / "census" / "fpr.csv")
    both = f_run.merge(f_cen, on=["hasher", "threshold"], suffixes=("_run", "_census")).dropna(subset=["fpr_hi_census"])
    assert len(both) > 5
    np.testing.assert_allclose(both["fpr_hi_census"], both["fpr_hi_run"], rtol=1e-5)
    np.testing.assert_allclose(both["fpr_lo_census"], both["fpr_lo_run"], rtol=1e-5, atol=1e-12)
    # ... so the same recommendation from the same upper bound
    want = pd.read_csv(tmp_path / "run" / "thresholds.csv").sort_values("target_fpr").reset_index(drop=True)
    thr = pd.read_csv(tmp_path / "census" / "thresholds.csv").sort_values("target_fpr").reset_index(drop=True)
    for col in ("target_fpr", "recommended_threshold", "fp", "n_neg"):
        np.testing.assert_array_equal(thr[col], want[col], err_msg=col)
    np.testing.assert_allclose(thr["fpr_upper"], want["fpr_upper"], rtol=1e-5)


def test_hex_to_packed_layout():
    np.testing.assert_array_equal(hex_to_packed(["abc", "FFF"]), [[0x0A, 0xBC], [0x0F, 0xFF]])
    with pytest.raises(ValueError, match="row 1"):
        hex_to_packed(["ab", "xy"])


def test_risk_reads_a_census_folder(tmp_path):
    rng = np.random.default_rng(9)
    _write(tmp_path / "db.csv", _frame(rng, 200, 8, 60))
    assert (
        run_cli(
            "census", tmp_path / "db.csv", "--output", tmp_path / "c", "--workers", "1", "--bootstrap", "0"
        ).returncode
        == 0
    )
    res = run_cli(
        "risk",
        "--results",
        tmp_path / "c",
        "--hasher",
        "hashes",
        "--threshold",
        "8",
        "--photos-per-year",
        "100",
        "--database-size",
        "1000",
        "--output",
        tmp_path / "r",
    )
    assert res.returncode == 0, res.stderr
    fpr = pd.read_csv(tmp_path / "c" / "fpr.csv").set_index("threshold")
    risk = pd.read_csv(tmp_path / "r" / "risk.csv").set_index("layer")
    assert np.isclose(risk.loc["per comparison", "point"], fpr.loc[8, "fp"] / fpr.loc[8, "n_neg"], rtol=1e-5)


def test_csv_with_bom_and_quoted_header(tmp_path):
    path = tmp_path / "q.csv"
    path.write_bytes(b'\xef\xbb\xbf"id","hash","group"\n"a","00ff","1"\nb,0f0f,2\nc,ffff,3\n')
    run_census([str(path)], str(tmp_path / "out"), workers=1, settings=CensusSettings(bootstrap_replicates=0))
    got = pd.read_parquet(tmp_path / "out" / "histograms.parquet")
    assert got[["distance", "count"]].values.tolist() == [[8, 3]]  # 00ff, 0f0f, ffff: 8 bits apart pairwise


def test_fsspec_urls_and_gzipped_csv_give_the_local_files_tables(tmp_path):
    """Inputs by fsspec URL (memory://, file://) and as .csv.gz: the same
    tables, byte for byte, as the plain local Parquet file."""
    import gzip

    import fsspec

    rng = np.random.default_rng(11)
    df = _frame(rng, 40, 16, 12)
    local = _write(tmp_path / "h.parquet", df)
    settings = CensusSettings(bootstrap_replicates=0)
    run_census([str(local)], str(tmp_path / "local"), workers=1, settings=settings)
    with fsspec.open("memory://census-test/h.parquet", "wb") as fh:
        fh.write(local.read_bytes())
    with gzip.open(tmp_path / "h.csv.gz", "wt", newline="") as fh:
        df.to_csv(fh, index=False)
    with fsspec.open("memory://census-test/h.csv.gz", "wb") as fh:
        fh.write((tmp_path / "h.csv.gz").read_bytes())
    want = _tables(tmp_path / "local")
    for i, source in enumerate(
        [
            "memory://census-test/h.parquet",
            local.as_uri(),
            str(tmp_path / "h.csv.gz"),
            "memory://census-test/h.csv.gz",
        ]
    ):
        run_census([source], str(tmp_path / f"url{i}"), workers=1, settings=settings)
        assert _tables(tmp_path / f"url{i}") == want, source
    done = run_main("census", "memory://census-test/absent.parquet", "--output", tmp_path / "absent")
    assert done.returncode == 2 and "no such file" in done.stderr and not (tmp_path / "absent").exists()
    done = run_main("census", "nosuchprotocol://x/h.parquet", "--output", tmp_path / "proto")
    assert done.returncode == 2 and "cannot open this URL" in done.stderr and not (tmp_path / "proto").exists()
