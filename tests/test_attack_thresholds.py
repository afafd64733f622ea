"""Attacking each hasher at several thresholds (thresholds.target_fpr or
values lists): one cell per threshold, summary / transfer / trade-off per
threshold, old single-threshold configs unchanged, bad values refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from harness.attacks import run as attack_run
from harness.attacks import run_attack
from harness.attacks.run import summarise
from harness.attacks.transfer import transfer_table
from tests.helpers import ROOT, dataset_dir

BENIGN = ROOT / "results" / "caltech101"
FPRS = [1e-4, 1e-3, 1e-2]


def _config(out, **over):
    cfg = {
        "dataset": {"source": "folder", "path": str(dataset_dir("caltech101_tiny") / "images")},
        "images": 2,
        "hashers": ["dhash", "phash"],
        "goals": ["evasion", "framing"],
        "algorithms": ["random"],
        "budget": 60,
        "linf_cap": 24,
        "batch": 8,
        "thresholds": {"benign": str(BENIGN), "target_fpr": FPRS},
        "psnr_budgets": [40],
        "save_images": 2,
        "seed": 3,
        "output": str(out),
    }
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    out = tmp_path_factory.mktemp("multi") / "out"
    return out, run_attack(_config(out))


def _benign_thresholds(hasher):
    bench = pd.read_csv(BENIGN / "thresholds.csv")
    ts = []
    for fpr in FPRS:
        r = bench[(bench.hasher == hasher) & (bench.negatives == "orig-orig") & np.isclose(bench.target_fpr, fpr)]
        t = int(r.iloc[0].recommended_threshold)
        if t not in ts:
            ts.append(t)
    return ts


def test_one_cell_per_threshold(multi):
    out, table = multi
    for hasher in ("dhash", "phash"):
        expected = _benign_thresholds(hasher)
        assert len(expected) >= 2, "the benign study should give distinct thresholds"
        got = table[table.hasher == hasher]
        assert sorted(got.threshold.unique()) == sorted(expected)
        assert len(got) == 2 * len(expected) * 2  # images x thresholds x goals
        for t, g in got.groupby("threshold"):
            ok = g.success
            d = g.distance.astype(float)
            assert (ok == np.where(g.goal == "evasion", d > t, d <= t)).all()
    run = json.loads((out / "attack_run.json").read_text())
    assert [e["target_fpr"] for e in run["threshold_lists"]["dhash"]] == FPRS
    assert sorted({e["threshold"] for e in run["threshold_lists"]["dhash"]}) == sorted(_benign_thresholds("dhash"))


def test_summary_per_threshold_follows_the_table(multi):
    out, table = multi
    summary = pd.read_csv(out / "attack_summary.csv", dtype={"psnr_min": str})
    assert len(summary) == len(table.groupby(["hasher", "goal", "algorithm", "threshold"])) * 2
    for r in summary.itertuples():
        g = table[(table.hasher == r.hasher) & (table.goal == r.goal) & (table.threshold == r.threshold)]
        ok = g.success if r.psnr_min == "any" else g.success & (g.psnr >= float(r.psnr_min))
        assert (r.successes, r.images) == (int(ok.sum()), len(g))


def test_transfer_uses_the_other_hashers_threshold_at_the_same_fpr(multi):
    from harness.attacks.oracle import hash_distance
    from harness.hashers import get_hasher
    from harness.imageio import load_rgb

    out, table = multi
    images = dataset_dir("caltech101_tiny") / "images"
    lists = json.loads((out / "attack_run.json").read_text())["threshold_lists"]
    saved = table[(table.attacked_png != "") & table.success]
    assert len(saved), "need a saved success"
    for r in saved.itertuples():
        other = "phash" if r.hasher == "dhash" else "dhash"
        fpr = next(f for f in FPRS if r.threshold_source.endswith(f"FPR<={f:g}"))
        t_b = next(e["threshold"] for e in lists[other] if np.isclose(e["target_fpr"], fpr))
        b = get_hasher(other)
        ref = load_rgb(out / r.original_png) if r.goal == "evasion" else load_rgb(images / r.target_image)
        d = hash_distance(b, b.hash(load_rgb(out / r.attacked_png)), b.hash(ref))
        assert bool(getattr(r, f"transfer_{other}")) == (d > t_b if r.goal == "evasion" else d <= t_b)
    tt = pd.read_csv(out / "attack_transfer.csv")
    assert "threshold" in tt.columns
    pd.testing.assert_frame_equal(tt, transfer_table(table), check_dtype=False)


def test_tradeoff_marks_the_measured_thresholds(multi):
    out, table = multi
    trade = pd.read_csv(out / "attack_tradeoff.csv", dtype={"psnr_min": str})
    for h in ("dhash", "phash"):
        m = trade[(trade.hasher == h) & trade.measured]
        assert sorted(m.threshold.unique()) == sorted(_benign_thresholds(h))
        # at a measured threshold the trade-off is at least the success of every cell there
        for t in _benign_thresholds(h):
            for goal in ("evasion", "framing"):
                cells = table[(table.hasher == h) & (table.threshold == t) & (table.goal == goal)]
                k = int(cells.groupby("image_id").success.any().sum())
                sel = (trade.hasher == h) & (trade.goal == goal) & (trade.threshold == t) & (trade.psnr_min == "any")
                assert int(trade[sel].successes.iloc[0]) >= k


def test_primary_threshold_rows_equal_a_single_threshold_run(multi, tmp_path):
    _, table = multi
    single = run_attack(_config(tmp_path / "single", thresholds={"benign": str(BENIGN), "target_fpr": FPRS[0]}))
    assert "measured" not in pd.read_csv(tmp_path / "single" / "attack_tradeoff.csv").columns
    assert "threshold" not in pd.read_csv(tmp_path / "single" / "attack_transfer.csv").columns
    keys = ["image_id", "hasher", "goal", "algorithm"]
    prim = table[table.threshold == table.hasher.map({h: _benign_thresholds(h)[0] for h in ("dhash", "phash")})]
    drop = ["cpu_seconds", "attacked_png"]
    a = prim.drop(columns=drop).sort_values(keys).reset_index(drop=True)
    b = single.drop(columns=drop).sort_values(keys).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(
        summarise(single, [40]).reset_index(drop=True),
        summarise(prim, [40]).reset_index(drop=True),
    )


def test_explicit_lists_and_resume(tmp_path, monkeypatch):
    cfg = _config(tmp_path / "out", hashers=["dhash"], images=1, thresholds={"values": {"dhash": [12, 6, 12]}})
    with pytest.raises(KeyboardInterrupt):
        run_attack(cfg, stop_after=2)
    calls = []
    real = attack_run.attack
    monkeypatch.setattr(attack_run, "attack", lambda *a, **k: calls.append(a[3]) or real(*a, **k))
    table = run_attack(cfg)
    assert len(calls) == 2 and list(table.threshold) == [12, 12, 6, 6]
    assert set(table.threshold_source) == {"explicit"}


@pytest.mark.parametrize(
    "thresholds, field",
    [
        ({"benign": str(BENIGN), "target_fpr": []}, "thresholds.target_fpr"),
        ({"benign": str(BENIGN), "target_fpr": [1e-4, 1e-4]}, "thresholds.target_fpr"),
        ({"benign": str(BENIGN), "target_fpr": [1e-4, 0.3]}, "thresholds.target_fpr"),
        ({"benign": str(BENIGN), "target_fpr": [1e-4, 2.0]}, "thresholds.target_fpr"),
        ({"values": {"dhash": [8, -1], "phash": 9}}, "thresholds.values"),
        ({"values": {"dhash": [], "phash": 9}}, "thresholds.values"),
    ],
)
def test_bad_threshold_lists_exit_2_nothing_written(tmp_path, capsys, thresholds, field):
    import yaml

    from harness.cli import main

    out = tmp_path / "out"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_config(out, thresholds=thresholds)))
    assert main(["attack", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"error: {field}" in lines[0], lines
    assert not out.exists()


def test_adding_a_threshold_and_an_algorithm_keeps_finished_cells(tmp_path, monkeypatch):
    base = _config(tmp_path / "out", hashers=["dhash", "phash"], images=1, goals=["evasion"])
    first = run_attack({**base, "thresholds": {"values": {"dhash": 8, "phash": 9}}})
    cells = {p: p.stat().st_mtime_ns for p in (tmp_path / "out" / "cells").glob("*.parquet")}
    assert len(cells) == 2
    calls = []
    real = attack_run.attack
    monkeypatch.setattr(attack_run, "attack", lambda *a, **k: calls.append((a[3], k["algorithm"])) or real(*a, **k))
    more = {"values": {"dhash": [8, 12], "phash": 9}}
    second = run_attack({**base, "thresholds": more, "algorithms": ["random", "greedy"]})
    # new: dhash t=12 (random, greedy), dhash t=8 greedy, phash t=9 greedy; phash t=9 random has
    # the same transfer threshold (dhash's primary, 8) and is kept
    assert sorted(calls) == [(8, "greedy"), (9, "greedy"), (12, "greedy"), (12, "random")]
    assert all(p.stat().st_mtime_ns == s for p, s in cells.items())
    keys = ["hasher", "threshold", "algorithm"]
    kept = second[second.algorithm == "random"].merge(first[keys], on=keys)
    pd.testing.assert_frame_equal(
        kept.drop(columns="cpu_seconds").reset_index(drop=True),
        first.drop(columns="cpu_seconds").reset_index(drop=True),
    )
