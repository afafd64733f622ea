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
