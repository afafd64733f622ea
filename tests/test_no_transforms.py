"""`run` with `transforms: []`: a pure false-positive study of the originals
(orig-orig negatives only; no positive pairs), through the CLI."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import yaml

from tests.helpers import run_cli, run_main


def _write(tmp_path, **extra):
    cfg = {
        "name": "fp-only",
        "dataset": {"source": "folder", "path": str(extra.pop("images"))},
        "hashers": ["phash", "dhash"],
        "transforms": [],
        "output": str(tmp_path / "out"),
    }
    cfg.update(extra)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _brute_force(hashes: pd.DataFrame, hasher: str) -> np.ndarray:
    """Histogram of Hamming distances over every pair of distinct originals
    in different groups, by unpacking bits (independent of harness.metrics)."""
    h = hashes[(hashes["hasher"] == hasher) & (hashes["transform"] == "original()")]
    h = h.sort_values("image_id").drop_duplicates("image_id")
    bits = np.unpackbits(np.stack([np.frombuffer(b, np.uint8) for b in h["hash"]]), axis=1).astype(np.int64)
    d = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    groups = h["group"].to_numpy()
    iu = np.triu_indices(len(h), k=1)
    keep = groups[iu[0]] != groups[iu[1]]
    return np.bincount(d[iu][keep], minlength=bits.shape[1] + 1)


def test_run_without_transforms_reports_false_positives_only(tmp_path, tiny_dir):
    cfg = _write(tmp_path, images=tiny_dir / "images")
    res = run_cli("run", "--config", cfg, "--workers", "1", "--no-progress")
    assert res.returncode == 0, res.stderr
    assert "no positive pairs" in res.stdout
    out = tmp_path / "out"
    metrics = pd.read_csv(out / "metrics.csv")
    hashes = pd.read_parquet(out / "hashes.parquet")
    assert set(hashes["transform"]) == {"original()"}
    assert sorted(metrics["hasher"]) == ["dhash", "phash"]
    assert set(metrics["negatives"]) == {"orig-orig"}
    assert set(metrics["transform"]) == {"original()"}
    target = float(metrics["target_fpr"].iat[0])
    for r in metrics.to_dict("records"):
        hist = _brute_force(hashes, r["hasher"])
        n = int(hist.sum())
        assert r["n_pos"] == 0 and r["n_neg"] == n == 96 * 95 // 2
        assert math.isnan(r["auc"]) and math.isnan(r["eer"]) and math.isnan(r["tpr_at_threshold"])
        assert math.isnan(r["tpr_at_fpr_1e-2"])
        cum = np.cumsum(hist)
        t = int(np.nonzero(cum <= target * n)[0][-1]) if (cum <= target * n).any() else -1
        assert r["threshold_at_target"] == t
        assert r["fp_at_threshold"] == (cum[t] if t >= 0 else 0)
        assert math.isclose(r["fpr_at_threshold"], cum[t] / n if t >= 0 else 0, rel_tol=1e-5)  # csv: 6 digits
    thr = pd.read_csv(out / "thresholds.csv")
    assert len(thr) and thr["tpr"].isna().all() and set(thr["transform"]) == {"original()"}
    # the recommended threshold of metrics.csv is the one of thresholds.csv at the same target
    for r in metrics.to_dict("records"):
        same = thr[(thr["hasher"] == r["hasher"]) & np.isclose(thr["target_fpr"], target)]
        assert same["recommended_threshold"].tolist() == [r["recommended_threshold"]]
    hist = pd.read_parquet(out / "histograms.parquet")
    assert set(hist["kind"]) == {"orig-orig"}
    report = (out / "report.md").read_text()
    assert "no positive pairs" in report
    assert "## Results per transform" not in report and "## ROC curves" not in report
    assert (out / "report.html").is_file()


def test_empty_transforms_without_orig_orig_is_a_config_error(tmp_path, tiny_dir):
    cfg = _write(tmp_path, images=tiny_dir / "images", metrics={"orig_orig": False})
    res = run_main("run", "--config", cfg, "--no-progress")
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "transforms:" in lines[0] and "orig_orig" in lines[0]
    assert not (tmp_path / "out").exists()
