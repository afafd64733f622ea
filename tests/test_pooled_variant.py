"""fpr_variant.csv (issue 23): the variant-orig FPR pooled over every
transform, with the default interval for dependent pairs, equals the same
formula over a brute-force list of every pair (hashes.parquet, numpy)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.metrics.intervals import dependent_pair_interval


@pytest.fixture
def pooled_run(tmp_path, tiny_dir):
    import harness

    tmp = tmp_path
    names = sorted(p.name for p in (tiny_dir / "images").iterdir())[:4]
    groups = tmp / "groups.csv"
    groups.write_text("image,group\n" + "".join(f"{n},g{i // 2}\n" for i, n in enumerate(names)))
    cfg = {
        "dataset": {"source": "folder", "path": str(tiny_dir / "images"), "limit": 24, "groups": str(groups)},
        "hashers": ["phash", "dhash"],
        "transforms": [{"family": "jpeg", "severities": [30]}, {"family": "crop", "severities": [0.7]}],
        "metrics": {"bootstrap_replicates": 0, "target_fpr": 0.05, "keep_fpr": 0.2},
        "output": str(tmp / "run"),
    }
    return harness.run_experiment(cfg, progress=False, scheduler="inline")


def test_pooled_variant_interval_equals_brute_force(pooled_run):
    folder = pooled_run.folder
    table = pd.read_csv(f"{folder}/fpr_variant.csv")
    hashes = pd.read_parquet(f"{folder}/hashes.parquet")
    assert set(table["hasher"]) == {"phash", "dhash"}
    for hasher, rows in table.groupby("hasher"):
        hh = hashes[hashes["hasher"] == hasher]
        orig = hh[hh["transform"] == "original()"].sort_values("image_id")
        var = hh[hh["transform"] != "original()"].sort_values(["transform", "image_id"])
        bits_o = np.unpackbits(np.stack([np.frombuffer(b, np.uint8) for b in orig["hash"]]), axis=1)
        bits_v = np.unpackbits(np.stack([np.frombuffer(b, np.uint8) for b in var["hash"]]), axis=1)
        d = (bits_v[:, None, :] != bits_o[None, :, :]).sum(axis=2)
        photo = {x: k for k, x in enumerate(orig["image_id"])}
        group = pd.factorize(orig["group"])[0]
        img_a = np.array([photo[x] for x in var["image_id"]])
        neg = group[img_a][:, None] != group[None, :]
        i, j = np.nonzero(neg)
        dist = d[i, j]
        top = int(rows["threshold"].max())
        assert len(rows) == top + 1 and top >= 1
        fp = np.array([(dist <= t).sum() for t in range(top + 1)])
        assert rows["fp"].tolist() == fp.tolist() and (rows["n_neg"] == neg.sum()).all()
        near = dist <= top
        lo, hi = dependent_pair_interval(img_a, np.arange(len(orig)), group, i[near], j[near], dist[near], top)
        np.testing.assert_allclose(rows["fpr_lo"], lo, rtol=1e-5, atol=1e-12)  # csv: 6 significant digits
        np.testing.assert_allclose(rows["fpr_hi"], hi, rtol=1e-5)
        assert (rows["fpr_hi"] >= rows["fpr_cp_hi"] * (1 - 1e-5)).all()
        # the risk model and the Results API use it for variant-orig pooled
        t = top
        chain = pooled_run.risk(hasher, t, kind="variant-orig", database_size=100, photos=10, match_threshold=1)
        first = chain.iloc[0]
        assert first["high"] == pytest.approx(rows["fpr_hi"].iat[t], rel=1e-5)


def test_variant_orig_pairs_are_kept_up_to_the_recommended_threshold():
    """Every variant-orig set keeps its pairs (so has its default interval)
    up to the orig-orig threshold recommended for target_fpr, even where its
    own FPR there is above keep_fpr and target_fpr: here each variant is a
    near copy (3 bits off) of ANOTHER photo, so FPR_vo(3) is 1 / (n - 1),
    far above the target, while the originals are random 64-bit hashes."""
    from harness.config import MetricsConfig
    from harness.metrics.tables import analyse, choose_keep_below
    from tests.test_metrics import _FakeHasher, _Spec

    rng = np.random.default_rng(7)
    n = 150
    hasher, spec = _FakeHasher("h64", 64), _Spec("jpeg", 50)
    base = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    flips = np.zeros((n, 64), np.uint8)
    for i in range(n):
        flips[i, rng.choice(64, 3, replace=False)] = 1
    variant = np.roll(base, -1, axis=0) ^ np.packbits(flips, axis=1)  # variant of i ~ original of i + 1
    rows = [
        (f"{i:064x}", f"img{i}", f"g{i}", key, fam, sev, "h64", arr[i].tobytes())
        for key, fam, sev, arr in (("original()", "original", "", base), (spec.key, "jpeg", "50", variant))
        for i in range(n)
    ]
    df = pd.DataFrame(
        rows, columns=["image_id", "image_name", "group", "transform", "family", "severity", "hasher", "hash"]
    )
    cfg = MetricsConfig(bootstrap_replicates=0, target_fpr=1e-3, fpr_points=[1e-3], keep_fpr=1e-6)
    tables = analyse(df, [hasher], [spec], cfg)
    rec = int(tables["thresholds.csv"]["recommended_threshold"].iat[0])
    hist = tables["histograms.parquet"]
    vo = hist[hist["kind"] == "variant-orig"]
    vo_hist = np.zeros(65, np.int64)
    vo_hist[vo["distance"].to_numpy()] = vo["count"].to_numpy()
    own = choose_keep_below(vo_hist, cfg.keep_fpr, cfg.target_fpr, cfg.max_close_pairs)
    assert 0 <= own < 3 < rec  # the set's own rule would stop below the recommendation
    metrics = tables["metrics.csv"]
    assert (metrics.loc[metrics["negatives"] == "variant-orig", "keep_below"] >= rec).all()
    roc = tables["roc.csv"]
    vo_roc = roc[(roc["negatives"] == "variant-orig") & (roc["threshold"] <= rec)]
    assert len(vo_roc) == rec + 1 and vo_roc["fpr_hi"].notna().all()
    close = tables["close_pairs.parquet"]
    vo_close = close[close["kind"] == "variant-orig"]
    assert len(vo_close) == int(vo_hist[: rec + 1].sum()) and vo_close["distance"].max() <= rec
