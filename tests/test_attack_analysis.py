"""What is read off an attack folder: best distance per PSNR budget, the
threshold trade-off, figures, the transfer matrix and the second-hasher
veto. Each is re-checked independently: candidates by a wrapping hasher
and scikit-image's PSNR, benign FPR from histograms.parquet directly,
transfer by the reference libraries on the saved PNGs."""

from __future__ import annotations

import math

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps
from scipy.stats import beta
from skimage.metrics import peak_signal_noise_ratio

from harness.attacks import attack, run_attack
from harness.attacks.run import reach_column
from harness.attacks.tradeoff import tradeoff_table
from harness.attacks.transfer import transfer_table
from harness.hashers import get_hasher
from tests.helpers import ROOT, dataset_dir, run_cli

HASHERS = ["phash", "dhash", "pdq"]
THRESHOLDS = {"phash": 20, "dhash": 20, "pdq": 90}
BENIGN = ROOT / "results" / "caltech101"


@pytest.fixture(scope="module")
def images_dir():
    return dataset_dir("caltech101_tiny") / "images"


@pytest.fixture(scope="module")
def study(images_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("analysis") / "out"
    cfg = {
        "dataset": {"source": "folder", "path": str(images_dir)},
        "images": 3,
        "hashers": HASHERS,
        "goals": ["evasion", "framing"],
        "algorithms": ["cma", "random"],
        "budget": 48,
        "linf_cap": 24,
        "batch": 8,
        "thresholds": {"values": THRESHOLDS, "benign": str(BENIGN)},
        "save_images": 3,
        "seed": 3,
        "output": str(out),
    }
    table = run_attack(cfg)
    return out, table


def _rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8)


# ------------------------------------------------ best distance per PSNR budget
class Recording:
    """Wraps a hasher; keeps every image it hashes."""

    def __init__(self, inner):
        self.inner, self.seen = inner, []
        self.distance, self.bits, self.name = inner.distance, inner.bits, inner.name

    def hash_batch(self, images):
        self.seen += [im.copy() for im in images]
        return self.inner.hash_batch(images)


@pytest.mark.parametrize("goal", ["evasion", "framing"])
@pytest.mark.parametrize("algorithm", ["cma", "random", "greedy"])
def test_reach_is_the_best_distance_over_every_candidate(images_dir, goal, algorithm):
    files = sorted(images_dir.glob("*.jpg"))
    x, y = _rgb(files[0]), _rgb(files[5])
    inner = get_hasher("dhash")
    rec = Recording(inner)
    target = inner.hash(y) if goal == "framing" else None
    budgets = [45.0, 40.0, 35.0]
    r = attack(
        x, rec, target, 12, goal, algorithm=algorithm, budget=60, linf_cap=20, batch=6, seed=2, psnr_budgets=budgets
    )
    assert len(rec.seen) == r.queries
    ref = imagehash.dhash(Image.fromarray(y if goal == "framing" else x))
    expected = {b: None for b in budgets + [-math.inf]}
    for im in rec.seen:
        d = imagehash.dhash(Image.fromarray(im)) - ref
        psnr = math.inf if np.array_equal(im, x) else peak_signal_noise_ratio(x, im, data_range=255)
        for b in expected:
            if psnr >= b and (expected[b] is None or (d > expected[b] if goal == "evasion" else d < expected[b])):
                expected[b] = d
    assert r.reach == expected
    values = [r.reach[b] for b in budgets + [-math.inf]]  # looser budget: at least as good
    assert values == (sorted(values) if goal == "evasion" else sorted(values, reverse=True))


def test_reach_columns_agree_with_the_summary_at_the_threshold(study):
    out, table = study
    for b in ("40", "35", "any"):
        col = reach_column(b)
        reached = np.where(
            table["goal"] == "evasion", table[col] > table["threshold"], table[col] <= table["threshold"]
        )
        claimed = table["success"] if b == "any" else table["success"] & (table["psnr"] >= float(b))
        assert (reached.astype(bool) == claimed.to_numpy()).all(), b
    ev = table[table["goal"] == "evasion"]
    assert (ev["best_distance_any"] >= ev["distance"]).all()
    fr = table[table["goal"] == "framing"]
    assert (fr["best_distance_any"] <= fr["distance"]).all()


def test_tradeoff_table_recomputed_from_attacks_and_histograms(study):
    out, table = study
    trade = pd.read_csv(out / "attack_tradeoff.csv", dtype={"psnr_min": str})
    hist = pd.read_parquet(BENIGN / "histograms.parquet")
    default = pd.read_csv(BENIGN / "fpr.csv")
    checked = covered = 0
    for hasher in HASHERS:
        h = hist[(hist["hasher"] == hasher) & (hist["kind"] == "orig-orig")]
        counts = h.groupby("distance")["count"].sum()
        total = int(counts.sum())
        for goal in ("evasion", "framing"):
            g = table[(table["hasher"] == hasher) & (table["goal"] == goal)]
            for t in (0, 5, THRESHOLDS[hasher], 40):
                row = trade[
                    (trade.hasher == hasher) & (trade.goal == goal) & (trade.psnr_min == "40") & (trade.threshold == t)
                ].iloc[0]
                assert row.benign_fpr == pytest.approx(int(counts[counts.index <= t].sum()) / total, rel=1e-5)
                # the upper bound: the benign run's default interval where fpr.csv has it, else Clopper-Pearson
                dep = default[(default.hasher == hasher) & (default.threshold == t)]
                if len(dep):
                    assert row.benign_fpr_interval == "dependent pairs"
                    assert row.benign_fpr_hi == pytest.approx(float(dep.fpr_hi.iat[0]), rel=1e-5)
                else:
                    assert row.benign_fpr_interval.startswith("Clopper-Pearson")
                    k = int(counts[counts.index <= t].sum())
                    assert row.benign_fpr_hi == pytest.approx(beta.ppf(0.975, k + 1, total - k), rel=1e-5)
                covered += len(dep) > 0
                per_image = {}
                for r in g.itertuples():
                    d = r.best_distance_psnr_40
                    hit = (d > t) if goal == "evasion" else (d <= t)
                    per_image[r.image_id] = per_image.get(r.image_id, False) or bool(hit)
                assert row.successes == sum(per_image.values()) and row.images == len(per_image)
                assert row.ci_lo <= row.success_rate <= row.ci_hi
                checked += 1
    assert checked == len(HASHERS) * 2 * 4
    assert 0 < covered < checked  # both kinds of bound were checked


def test_tradeoff_without_benign_histograms_has_no_fpr(study):
    _, table = study
    t = tradeoff_table(table, [40, 35])
    assert t["benign_fpr"].isna().all() and set(t["psnr_min"]) == {"40", "35", "any"}
    assert t["threshold"].max() == 256  # pdq: 0..bits


def test_figures_written_and_redrawn_by_report(study):
    out, _ = study
    names = ["success_vs_psnr.png", "threshold_tradeoff.png", "gallery.png"]
    for name in names:
        with Image.open(out / "figures" / name) as im:
            assert im.format == "PNG" and im.size[0] > 300
    before = (out / "attack_tradeoff.csv").read_bytes()
    transfer = (out / "attack_transfer.csv").read_bytes()
    for name in names:
        (out / "figures" / name).unlink()
    (out / "attack_tradeoff.csv").unlink()
    proc = run_cli("report", str(out))
    assert proc.returncode == 0, proc.stderr
    assert all((out / "figures" / n).is_file() for n in names)
    assert (out / "attack_tradeoff.csv").read_bytes() == before
    assert (out / "attack_transfer.csv").read_bytes() == transfer


def test_benign_folder_found_from_another_working_folder(tmp_path, monkeypatch):
    from harness.attacks.figures import find_benign

    (tmp_path / "results" / "bench1").mkdir(parents=True)
    (tmp_path / "results" / "bench1" / "histograms.parquet").write_bytes(b"")
    attack = tmp_path / "results" / "attacks"
    attack.mkdir()
    monkeypatch.chdir(attack)
    assert find_benign("results/bench1", str(attack)) == str(tmp_path / "results" / "bench1")
    assert find_benign("results/missing", str(attack)) is None and find_benign(None, str(attack)) is None
    monkeypatch.chdir(tmp_path)
    assert find_benign("results/bench1", str(attack)) == "results/bench1"


def test_amplified_difference():
    from harness.attacks.figures import amplified_difference

    x = np.full((4, 4, 3), 100, np.uint8)
    y = x.copy()
    y[0, 0] = 110
    y[1, 1] = 95
    d = amplified_difference(x, y)
    assert d[0, 0, 0] == 128 + 80 and d[1, 1, 0] == 128 - 40 and d[2, 2, 0] == 128


# ------------------------------------------------------------------ transfer
def _reference_distance(hasher: str, a: np.ndarray, b: np.ndarray) -> int:
    if hasher in ("phash", "dhash"):
        fn = getattr(imagehash, hasher)
        return fn(Image.fromarray(a)) - fn(Image.fromarray(b))
    import pdqhash

    return int(np.count_nonzero(pdqhash.compute(a)[0] != pdqhash.compute(b)[0]))


def test_transfer_rechecked_with_reference_libraries(study, images_dir):
    out, table = study
    checked = 0
    for row in table.itertuples():
        cols = {h: getattr(row, f"transfer_{h}") for h in HASHERS if h != row.hasher}
        if not row.success:
            assert all(v is pd.NA for v in cols.values())
            continue
        attacked = _rgb(out / row.attacked_png)
        ref = _rgb(out / row.original_png) if row.goal == "evasion" else _rgb(images_dir / row.target_image)
        for other, value in cols.items():
            d = _reference_distance(other, attacked, ref)
            expected = d > THRESHOLDS[other] if row.goal == "evasion" else d <= THRESHOLDS[other]
            assert bool(value) == expected, (row.image, row.hasher, other, row.goal, d)
            checked += 1
    assert checked > 0
    assert f"transfer_{table['hasher'].iloc[0]}" in table.columns


def test_transfer_csv_counts_follow_the_table(study):
    out, table = study
    csv = pd.read_csv(out / "attack_transfer.csv")
    assert list(csv.columns) == [
        "from",
        "to",
        "goal",
        "algorithm",
        "successes",
        "transferred",
        "share",
        "ci_lo",
        "ci_hi",
    ]
    expected = 0
    for (src, goal, alg), g in table[table["success"]].groupby(["hasher", "goal", "algorithm"]):
        for dst in HASHERS:
            if dst == src:
                continue
            row = csv[(csv["from"] == src) & (csv["to"] == dst) & (csv.goal == goal) & (csv.algorithm == alg)]
            assert len(row) == 1
            row = row.iloc[0]
            assert row.successes == len(g) and row.transferred == int(g[f"transfer_{dst}"].astype(bool).sum())
            assert row.ci_lo <= row.share <= row.ci_hi
            expected += 1
    assert len(csv) == expected > 0


def test_transfer_table_known_answer():
    t = pd.DataFrame(
        {
            "hasher": ["a", "a", "a", "b"],
            "goal": ["framing"] * 4,
            "algorithm": ["cma"] * 4,
            "success": [True, True, True, True],
            "transfer_a": pd.array([None, None, None, True], dtype="boolean"),
            "transfer_b": pd.array([False, False, True, None], dtype="boolean"),
        }
    )
    out = transfer_table(t).set_index(["from", "to"])
    assert out.loc[("a", "b"), "successes"] == 3 and out.loc[("a", "b"), "transferred"] == 1
    assert out.loc[("b", "a"), "share"] == 1.0
    from scipy.stats import beta

    assert out.loc[("a", "b"), "ci_hi"] == pytest.approx(beta.ppf(0.975, 2, 2))


# ----------------------------------------------------------- docstring examples
@pytest.mark.parametrize(
    "module, name",
    [
        ("harness.attacks.transfer", None),
        ("harness.attacks.tradeoff", None),
        ("harness.attacks.search", None),
        ("harness.attacks.oracle", None),
        ("harness.attacks.survival", None),
        ("harness.attacks.distortion", None),
        ("harness.report.attack", "rate"),
        ("harness.risk", "framing_cost"),
        ("benchmarks.attacks", "queries_per_cpu_second"),
    ],
)
def test_docstring_examples_pass(module, name):
    import doctest
    import importlib

    mod = importlib.import_module(module)
    obj = getattr(mod, name) if name else mod
    tests = doctest.DocTestFinder(recurse=False).find(obj, f"{module}.{name or ''}", globs=dict(vars(mod)))
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert sum(t.examples.__len__() for t in tests) > 0
    assert all(runner.run(t).failed == 0 for t in tests)
