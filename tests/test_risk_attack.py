"""The risk link of the attacks: `harness.risk.framing_cost` against a hand
computation, and `phash-harness risk --attack FOLDER`."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import beta

from harness.cli import main
from harness.errors import ConfigError
from harness.risk import framing_cost


def test_framing_cost_by_hand():
    success = [True, False, True, False, False]
    queries = [120, 2000, 480, 2000, 2000]
    cpu = [0.5, 4.0, 1.5, 4.0, 4.0]
    c = framing_cost(success, queries, cpu, k=3)
    lo, hi = beta.ppf(0.025, 2, 4), beta.ppf(0.975, 3, 3)  # Clopper-Pearson, 2 of 5
    assert (c["attempts"], c["successes"], c["k"]) == (5, 2, 3)
    assert c["p"] == 0.4
    assert c["p_low"] == pytest.approx(lo, rel=1e-12) and c["p_high"] == pytest.approx(hi, rel=1e-12)
    assert c["attempts_per_crafted"] == pytest.approx(2.5)
    assert c["attempts_for_k"] == pytest.approx(7.5)
    assert c["attempts_for_k_low"] == pytest.approx(3 / hi) and c["attempts_for_k_high"] == pytest.approx(3 / lo)
    assert c["queries_median"] == 300 and c["queries_mean"] == 300
    assert c["queries_per_crafted"] == pytest.approx(6600 / 2)
    assert c["queries_for_k"] == pytest.approx(3 * 3300)
    assert c["queries_for_k_low"] == pytest.approx(3 / hi * 6600 / 5)
    assert c["cpu_seconds_median"] == 1.0 and c["cpu_seconds_per_crafted"] == pytest.approx(14.0 / 2)
    assert c["cpu_seconds_for_k"] == pytest.approx(21.0)


def test_framing_cost_without_a_success_still_bounds_the_attempts():
    c = framing_cost([False] * 10, [2000] * 10, [3.0] * 10, k=30)
    hi = 1 - 0.025 ** (1 / 10)  # Clopper-Pearson upper bound for 0 of 10
    assert c["p"] == 0 and c["p_high"] == pytest.approx(hi, rel=1e-9)
    assert math.isinf(c["attempts_for_k"]) and math.isinf(c["attempts_for_k_high"])
    assert c["attempts_for_k_low"] == pytest.approx(30 / hi, rel=1e-9)
    assert math.isinf(c["queries_per_crafted"]) and math.isnan(c["queries_median"])
    assert c["queries_for_k_low"] == pytest.approx(30 / hi * 2000, rel=1e-9)


def test_framing_cost_every_attempt_succeeds():
    c = framing_cost(np.ones(4, bool), [10, 20, 30, 40], [1, 1, 1, 1], k=2)
    assert c["attempts_for_k"] == 2 and c["attempts_for_k_low"] == 2
    assert c["p_low"] == pytest.approx(0.025**0.25)
    assert c["queries_median"] == 25 and c["queries_per_crafted"] == 25 and c["queries_for_k"] == 50


@pytest.mark.parametrize(
    "args, field",
    [
        (([True], [1, 2], [1.0]), "success"),
        (([True], [-1], [1.0]), "queries"),
        (([True], [1], [float("nan")]), "queries"),
    ],
)
def test_framing_cost_bad_arguments(args, field):
    with pytest.raises(ConfigError) as e:
        framing_cost(*args, k=3)
    assert e.value.field == field
    with pytest.raises(ConfigError) as e:
        framing_cost([True], [1], [1.0], k=0)
    assert e.value.field == "k"


def _folder(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for hasher, t in (("phash", 9), ("pdq", 73)):
        for alg in ("cma", "random"):
            for i in range(8):
                ok = bool(rng.random() < (0.5 if hasher == "phash" else 0.0))
                rows.append(
                    {
                        "image_id": f"i{i}",
                        "hasher": hasher,
                        "goal": "framing",
                        "algorithm": alg,
                        "threshold": t,
                        "success": ok,
                        "psnr": float(rng.uniform(30, 45)),
                        "queries": int(rng.integers(100, 2001)),
                        "cpu_seconds": float(rng.uniform(0.1, 3)),
                    }
                )
            rows.append(
                {
                    "image_id": "e",
                    "hasher": hasher,
                    "goal": "evasion",
                    "algorithm": alg,
                    "threshold": t,
                    "success": True,
                    "psnr": 50.0,
                    "queries": 5,
                    "cpu_seconds": 0.01,
                }
            )
    folder = tmp_path / "attack"
    folder.mkdir()
    table = pd.DataFrame(rows)
    table.to_parquet(folder / "attacks.parquet", index=False)
    return folder, table


def test_risk_attack_command_writes_the_cost_per_hasher_and_algorithm(tmp_path, capsys):
    folder, table = _folder(tmp_path)
    assert main(["risk", "--attack", str(folder), "--match-threshold", "5", "--psnr-min", "35"]) == 0
    text = capsys.readouterr().out
    assert "k=5" in text and "phash (9)" in text and "pdq (73)" in text
    out = pd.read_csv(folder / "framing_cost.csv")
    assert len(out) == 4
    for r in out.itertuples():
        g = table[(table.hasher == r.hasher) & (table.algorithm == r.algorithm) & (table.goal == "framing")]
        ok = g["success"] & (g["psnr"] >= 35)
        expected = framing_cost(ok, g["queries"], g["cpu_seconds"], 5)
        assert r.successes == expected["successes"] and r.attempts == 8
        assert r.p_high == pytest.approx(expected["p_high"], rel=1e-5)
        assert r.attempts_for_k_low == pytest.approx(expected["attempts_for_k_low"], rel=1e-5)


@pytest.mark.parametrize(
    "extra, field",
    [
        (["--hasher", "dhash"], "--hasher"),
        (["--algorithm", "nes"], "--algorithm"),
        (["--psnr-min", "0"], "--psnr-min"),
        (["--match-threshold", "0"], "--match-threshold"),
        (["--confidence", "1"], "--confidence"),
    ],
)
def test_risk_attack_bad_options_exit_2_nothing_written(tmp_path, capsys, extra, field):
    folder, _ = _folder(tmp_path)
    assert main(["risk", "--attack", str(folder), *extra]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"error: {field}" in lines[0], lines
    assert not (folder / "framing_cost.csv").exists()


def test_risk_attack_not_an_attack_folder(tmp_path, capsys):
    assert main(["risk", "--attack", str(tmp_path)]) == 2
    assert "error: --attack: not an attack folder" in capsys.readouterr().err
    pd.DataFrame({"hasher": ["phash"], "goal": ["evasion"]}).to_parquet(tmp_path / "attacks.parquet")
    assert main(["risk", "--attack", str(tmp_path)]) == 2
    assert "no framing attacks" in capsys.readouterr().err


def test_photos_per_year_still_required_without_attack(tmp_path, capsys):
    assert main(["risk", "--fpr", "1e-6", "--database-size", "10", "--output", str(tmp_path / "o")]) == 2
    assert "error: --photos-per-year" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_risk_attack_one_row_per_attacked_threshold(tmp_path, capsys):
    """An attack run at several thresholds per hasher: the cost is per threshold."""
    folder, table = _folder(tmp_path)
    second = table.copy()
    second["threshold"] = second["threshold"] + 6
    second["success"] = ~second["success"]
    both = pd.concat([table, second], ignore_index=True)
    both.to_parquet(folder / "attacks.parquet", index=False)
    assert main(["risk", "--attack", str(folder), "--match-threshold", "3"]) == 0
    capsys.readouterr()
    out = pd.read_csv(folder / "framing_cost.csv")
    assert len(out) == 8
    for r in out.itertuples():
        g = both[
            (both.hasher == r.hasher)
            & (both.algorithm == r.algorithm)
            & (both.threshold == r.threshold)
            & (both.goal == "framing")
        ]
        assert len(g) == r.attempts == 8 and r.successes == int(g["success"].sum())
