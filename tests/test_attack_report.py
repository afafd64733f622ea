"""attack_report.md / attack_report.html of an attack folder (``phash-harness
report ATTACK_DIR``): every number re-derived from attack_summary.csv,
attacks.parquet, attack_transfer.csv and attack_tradeoff.csv."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from harness.attacks import run_attack
from harness.metrics.intervals import clopper_pearson
from tests.helpers import ROOT, dataset_dir

RATE = re.compile(r"^(\d+)/(\d+) \[(\d\.\d\d), (\d\.\d\d)\]$")


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("attack_report") / "out"
    cfg = {
        "dataset": {"source": "folder", "path": str(dataset_dir("caltech101_tiny") / "images")},
        "images": 3,
        "hashers": ["dhash", "phash"],
        "goals": ["evasion", "framing"],
        "algorithms": ["cma", "greedy"],
        "budget": 48,
        "linf_cap": 24,
        "batch": 8,
        "thresholds": {"benign": str(ROOT / "results" / "caltech101"), "target_fpr": [1e-4, 1e-2]},
        "psnr_budgets": [40, 35],
        "save_images": 2,
        "seed": 7,
        "output": str(out),
    }
    run_attack(cfg)
    from harness.cli import main

    assert main(["report", str(out)]) == 0
    return out


def _tables(md: str) -> dict:
    """{section title: (header, rows)} of the markdown tables (first table per section)."""
    out, section, lines = {}, None, md.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and section not in out:
            header = [c.strip() for c in line.strip("|").split(" | ")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("| "):
                rows.append([c.strip() for c in lines[i].strip().strip("|").split(" | ")])
                i += 1
            out[section] = (header, rows)
            continue
        i += 1
    return out


def _rate(cell):
    m = RATE.match(cell)
    assert m, cell
    return int(m[1]), int(m[2]), float(m[3]), float(m[4])


def test_success_table_equals_the_summary_and_the_attacks(folder):
    md = (folder / "attack_report.md").read_text()
    header, rows = _tables(md)["Success"]
    summary = pd.read_csv(folder / "attack_summary.csv", dtype={"psnr_min": str})
    table = pd.read_parquet(folder / "attacks.parquet")
    budgets = ["40", "35", "any"]
    assert len(rows) == len(summary) // len(budgets) == len(table.groupby(["hasher", "threshold", "goal", "algorithm"]))
    for row in rows:
        hasher, t = re.match(r"(\w+) \((\d+)\)", row[0]).groups()
        goal, alg = row[1], row[2]
        g = table[
            (table.hasher == hasher) & (table.threshold == int(t)) & (table.goal == goal) & (table.algorithm == alg)
        ]
        for j, b in enumerate(budgets):
            k, n, lo, hi = _rate(row[3 + j])
            s = summary[
                (summary.hasher == hasher)
                & (summary.threshold == int(t))
                & (summary.goal == goal)
                & (summary.algorithm == alg)
                & (summary.psnr_min == b)
            ].iloc[0]
            ok = g.success if b == "any" else g.success & (g.psnr >= float(b))
            assert (k, n) == (int(s.successes), int(s.images)) == (int(ok.sum()), len(g))
            want = clopper_pearson(k, n, 0.95)
            assert (lo, hi) == (round(float(want[0]), 2), round(float(want[1]), 2))
        assert float(row[6]) == pytest.approx(g.queries.median())
        qs = g.loc[g.success, "queries_to_success"].dropna()
        assert row[7] == "-" if qs.empty else float(row[7]) == pytest.approx(qs.median(), abs=0.005)
        kept = g.loc[g.success, "survive_jpeg_75"]
        assert row[8] == "-" if kept.empty else float(row[8]) == pytest.approx(kept.astype(bool).mean(), abs=0.005)


def test_settings_list_every_threshold_with_its_benign_fpr(folder):
    md = (folder / "attack_report.md").read_text()
    assert "budget: 48 queries per attack; L-infinity cap: 24 grey levels" in md
    assert "seed: 7" in md and "greedy: sign blocks up to 8 x 8" in md
    _, rows = _tables(md)["Settings"]
    bench = pd.read_csv(ROOT / "results" / "caltech101" / "thresholds.csv")
    for hasher in ("dhash", "phash"):
        mine = [r for r in rows if r[0] == hasher]
        assert len(mine) == 2
        for r, fpr in zip(mine, (1e-4, 1e-2)):
            ref = bench[
                (bench.hasher == hasher) & (bench.negatives == "orig-orig") & (abs(bench.target_fpr / fpr - 1) < 1e-6)
            ]
            assert int(r[1]) == int(ref.recommended_threshold.iloc[0])
            assert float(r[3]) == pytest.approx(float(ref.fpr.iloc[0]), rel=5e-3)


def test_transfer_and_tradeoff_tables_equal_their_csv(folder):
    md = (folder / "attack_report.md").read_text()
    tables = _tables(md)
    transfer = pd.read_csv(folder / "attack_transfer.csv")
    header, rows = tables["Transfer and second-hash veto"]
    assert len(rows) == len(transfer) > 0
    for row, r in zip(rows, transfer.itertuples()):
        assert row[:4] == [r._1, r.to, r.goal, r.algorithm] and int(row[4]) == r.threshold
        k, n, lo, hi = _rate(row[5])
        assert (k, n) == (r.transferred, r.successes)
        assert (lo, hi) == (round(r.ci_lo, 2), round(r.ci_hi, 2))
        assert row[6] == "-" if r.goal == "evasion" else float(row[6]) == pytest.approx(1 - r.share, abs=0.005)
    trade = pd.read_csv(folder / "attack_tradeoff.csv", dtype={"psnr_min": str})
    _, rows = tables["Threshold trade-off"]
    assert rows
    for row in rows:
        r = trade[
            (trade.hasher == row[0])
            & (trade.goal == row[1])
            & (trade.psnr_min == row[2])
            & (trade.threshold == int(row[3]))
        ].iloc[0]
        assert (row[4] == "yes") == bool(r.measured)
        k, n, _, _ = _rate(row[5])
        assert (k, n) == (r.successes, r.images)


def test_html_is_self_contained_with_each_figure_once(folder):
    text = (folder / "attack_report.html").read_text()
    figures = sorted(p.name for p in (folder / "figures").glob("*.png"))
    assert len(figures) >= 2
    assert text.count('<img src="data:') == len(figures)
    assert 'src="figures/' not in text and "http://" not in text and "https://" not in text
    md = (folder / "attack_report.md").read_text()
    for name in figures:
        assert md.count(f"(figures/{name})") == 1


def test_report_of_a_copy_without_images(folder, tmp_path):
    """A copied attack folder without images/ (the photos are not committed):
    the report is written, without the gallery."""
    import shutil

    from harness.cli import main

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("images", "gallery.png"))
    assert main(["report", str(copy)]) == 0
    assert not (copy / "figures" / "gallery.png").exists()
    md = (copy / "attack_report.md").read_text()
    assert "figures/threshold_tradeoff.png" in md and "figures/gallery.png" not in md
