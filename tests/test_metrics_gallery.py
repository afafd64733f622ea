"""Collision contact sheet and duplicate candidates (issue 5)."""

from __future__ import annotations

import pandas as pd
from PIL import Image

from harness.datasets import sample_records
from harness.metrics.tables import duplicate_groups
from harness.report.gallery import collision_sheet, select_pairs


def _images():
    recs = sample_records()[:4]
    return pd.DataFrame(
        [(r.image_id, r.name, r.path, r.group, r.bytes) for r in recs],
        columns=["image_id", "name", "path", "group", "bytes"],
    )


def test_collision_sheet_shows_collisions_first_and_k_closest(tmp_path):
    im = _images()
    ids = list(im["image_id"])
    close = pd.DataFrame(
        {
            "hasher": ["phash"] * 4 + ["dhash"],
            "kind": ["orig-orig"] * 3 + ["variant-orig", "orig-orig"],
            "image_a": [ids[0], ids[0], ids[1], ids[2], ids[2]],
            "image_b": [ids[1], ids[2], ids[3], ids[3], "f" * 64],  # the last one has no file
            "distance": [3, 0, 5, 0, 1],
        }
    )
    sel = select_pairs(close, k=2)
    assert list(sel["distance"]) == [1, 0, 3]  # dhash first (sorted by hasher), variant-orig dropped
    out = collision_sheet(close, im, str(tmp_path / "sheet.png"), k=2)
    img = Image.open(out)
    assert img.height > 3 * 160 and img.width > 2 * 160
    assert collision_sheet(close.iloc[:0], im, str(tmp_path / "none.png")) is None
    assert not (tmp_path / "none.png").exists()


def test_duplicate_candidates_need_distance_zero_under_every_hasher():
    close = pd.DataFrame(
        {
            "hasher": ["a", "b", "a", "a", "b"],
            "kind": "orig-orig",
            "image_a": ["x", "x", "y", "p", "p"],
            "image_b": ["y", "y", "z", "q", "q"],
            "distance": [0, 0, 0, 0, 2],
        }
    )
    groups = duplicate_groups(close, {"x": "x.jpg", "y": "y.jpg", "z": "z.jpg"}, ["a", "b"])
    assert list(groups["image"]) == ["x.jpg", "y.jpg"]
    assert groups["group"].nunique() == 1


def test_tail_figure_draws_measured_and_model(tmp_path):
    import numpy as np
    from scipy.stats import binom

    from harness.report.gallery import tail_figure

    t = np.arange(17)
    fp = np.r_[np.zeros(4), np.cumsum(np.arange(1, 14))]
    df = pd.DataFrame(
        {
            "hasher": "h",
            "bits": 16,
            "threshold": t,
            "fp_measured": fp,
            "n_neg": 1000,
            "fpr_measured": fp / 1000,
            "fpr_measured_upper": np.where(fp == 0, 0.0037, np.nan),
            "fpr_model": binom.cdf(t, 16, 0.5),
            "model": "extrapolation: Binomial(N=16, p=0.5)",
        }
    )
    out = tail_figure(df, str(tmp_path / "tail.png"))
    assert Image.open(out).size[0] > 300
    assert tail_figure(df.iloc[:0], str(tmp_path / "none.png")) is None


def test_metrics_config_errors_name_the_field():
    import pytest

    from harness.config import load_config
    from harness.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config({"hashers": ["phash"], "metrics": {"confidence": 1.5}})
    assert "metrics.confidence" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_config({"hashers": ["phash"], "metrics": {"bootstrap_replicas": 10}})
    assert "metrics" in str(err.value) and "bootstrap_replicates" in str(err.value)
