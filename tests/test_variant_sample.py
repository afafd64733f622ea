"""Engine option `variant_sample` (issue 11): variants for a seeded sample
of images, originals (and so exact orig-orig counts) for all of them."""

from __future__ import annotations

import json
import os

import pytest

from harness.config import load_config
from harness.datasets import sample_records
from harness.engine import run_experiment
from harness.engine.chunks import sample_key, variant_sample
from harness.errors import ConfigError


def _config(tmp_path, n, store=None):
    cfg = {
        "name": "vs",
        "dataset": {"source": "sample"},
        "hashers": ["ahash"],
        "transforms": [{"family": "jpeg", "severities": [50]}, {"family": "flip", "severities": ["horizontal"]}],
        "seed": 3,
        "variant_sample": n,
        "output": str(tmp_path / f"out{n}"),
        "metrics": {"bootstrap_replicates": 0, "retrieval": False, "diagnostics": False},
    }
    if store:
        cfg["engine"] = {"store": str(store)}
    return cfg


def test_sample_rule_is_seeded_nested_and_order_free():
    ids = [r.image_id for r in sample_records()]
    s4 = variant_sample(ids, 4, seed=3)
    assert s4 == set(sorted(ids, key=lambda i: sample_key(3, i))[:4])
    assert s4 == variant_sample(list(reversed(ids)), 4, seed=3)
    assert s4 < variant_sample(ids, 9, seed=3)  # nested: larger n extends
    assert variant_sample(ids, 4, seed=4) != s4  # the seed changes the sample
    assert variant_sample(ids, None, seed=3) is None
    assert variant_sample(ids, 100, seed=3) == set(ids)


def test_variants_only_for_sample_orig_orig_over_all(tmp_path):
    records = sample_records()
    n = len(records)
    groups = {}
    for r in records:
        groups.setdefault(r.group, []).append(r.image_id)
    same_group_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
    assert same_group_pairs == 1  # the stereo pair

    res = run_experiment(_config(tmp_path, 4), progress=False, workers=1, scheduler="inline")
    sample = variant_sample([r.image_id for r in records], 4, seed=3)
    h = res.hashes
    orig = h[h["transform"] == "original()"]
    var = h[h["transform"] != "original()"]
    assert orig["image_id"].nunique() == n
    assert set(var["image_id"]) == sample
    assert len(var) == 4 * 2

    hist = res.histograms
    oo = hist[hist["kind"] == "orig-orig"]["count"].sum()
    assert oo == n * (n - 1) // 2 - same_group_pairs
    group_of = {r.image_id: r.group for r in records}
    keys = sorted(set(var["transform"]))
    assert len(keys) == 2 and "jpeg(50)" in keys
    for key in keys:
        vo = hist[(hist["kind"] == "variant-orig") & (hist["transform"] == key)]["count"].sum()
        expected = sum(sum(1 for r in records if r.group != group_of[i]) for i in sample)
        assert vo == expected
        pos = hist[(hist["kind"] == "positive") & (hist["transform"] == key)]["count"].sum()
        assert pos == 4

    info = json.load(open(os.path.join(res.output, "run.json")))
    assert info["variant_sample"]["n"] == 4
    assert set(info["variant_sample"]["image_ids"]) == sample
    assert info["counts"]["per_hasher"]["ahash"]["variants_planned"] == 8


def test_larger_sample_reuses_store_and_smaller_ignores_extra(tmp_path):
    store = tmp_path / "store"
    big = run_experiment(_config(tmp_path, 6, store), progress=False, workers=1, scheduler="inline")
    assert big.run_info["engine"]["hashes_computed"] == 16 + 6 * 2
    small = run_experiment(_config(tmp_path, 3, store), progress=False, workers=1, scheduler="inline")
    assert small.run_info["engine"]["hashes_computed"] == 0  # all in the store
    assert small.hashes[small.hashes["transform"] != "original()"]["image_id"].nunique() == 3


def test_store_rows_of_other_hashers_specs_and_images_stay_on_disk(tmp_path):
    """A run loads only the store rows it can use (`rows_of_run`): a wider
    run's other hasher, other spec and unsampled variants are not read, and
    the narrow run's tables equal those of a run on a fresh store."""
    from harness.engine.run import rows_of_run
    from harness.engine.store import HashStore

    store = tmp_path / "store"
    wide = _config(tmp_path, 6, store) | {"hashers": ["ahash", "dhash"], "output": str(tmp_path / "wide")}
    wide["transforms"] = wide["transforms"] + [{"family": "rotate", "severities": [5]}]
    run_experiment(wide, progress=False, workers=1, scheduler="inline")
    narrow_cfg = load_config(_config(tmp_path, 3, store))
    hashers, specs = narrow_cfg.build_hashers(), narrow_cfg.transform_specs()
    ids = [r.image_id for r in sample_records()]
    sample = variant_sample(ids, 3, seed=3)
    everything = HashStore(str(store)).load(ids)
    loaded = HashStore(str(store)).load(ids, rows_of_run(specs, hashers, sample))
    keep = (
        everything["hasher_key"].isin(["", hashers[0].key])
        & everything["transform"].isin(["", "original()"] + [s.key for s in specs])
        & (everything["transform"].isin(["", "original()"]) | everything["image_id"].isin(sample))
    )
    assert 0 < len(loaded) == int(keep.sum()) < len(everything)
    assert sorted(map(tuple, loaded[["image_id", "transform", "hasher_key"]].to_numpy())) == sorted(
        map(tuple, everything.loc[keep, ["image_id", "transform", "hasher_key"]].to_numpy())
    )
    narrow = run_experiment(narrow_cfg, progress=False, workers=1, scheduler="inline")
    assert narrow.run_info["engine"]["hashes_computed"] == 0
    fresh = run_experiment(
        _config(tmp_path, 3) | {"output": str(tmp_path / "fresh")}, progress=False, workers=1, scheduler="inline"
    )
    assert fresh.run_info["engine"]["hashes_computed"] == len(narrow.hashes)
    for name in ("metrics.csv", "histograms.parquet", "hashes.parquet"):
        assert (
            open(os.path.join(narrow.output, name), "rb").read() == open(os.path.join(fresh.output, name), "rb").read()
        ), name


def test_variant_sample_must_be_positive():
    with pytest.raises(ConfigError) as exc:
        load_config({"hashers": ["ahash"], "variant_sample": 0})
    assert "variant_sample" in str(exc.value)
