"""Black-box attacks (harness.attacks): every claim re-checked independently.

Successes and failures are re-checked by hashing the saved PNGs with the
reference libraries directly (imagehash, pdqhash, cv2.img_hash), distortions
by numpy and scikit-image on the saved files, queries by a wrapping hasher.
"""

from __future__ import annotations

import json

import imagehash
import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageOps
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from harness.attacks import QueryOracle, evade, frame, run_attack
from harness.attacks import run as attack_run
from harness.hashers import get_hasher
from tests.helpers import ROOT, dataset_dir, run_cli, run_main

HASHERS = ["phash", "dhash", "pdq", "cv_radialvariance"]
# generous explicit thresholds so that a tiny budget gives both outcomes for each goal
THRESHOLDS = {"phash": 20, "dhash": 20, "pdq": 90, "cv_radialvariance": 30}
BUDGET, CAP, N_IMAGES = 48, 24, 3


def _config(images_dir, out, **over):
    cfg = {
        "dataset": {"source": "folder", "path": str(images_dir)},
        "images": N_IMAGES,
        "hashers": HASHERS,
        "goals": ["evasion", "framing"],
        "algorithms": ["cma", "random"],
        "budget": BUDGET,
        "linf_cap": CAP,
        "batch": 8,
        "thresholds": {"values": THRESHOLDS},
        "save_images": N_IMAGES,
        "seed": 7,
        "output": str(out),
    }
    cfg.update(over)
    if "hashers" in over and "thresholds" not in over:
        names = [h if isinstance(h, str) else h["name"] for h in over["hashers"]]
        cfg["thresholds"] = {"values": {n: THRESHOLDS[n] for n in names if n in THRESHOLDS}}
    return cfg


@pytest.fixture(scope="module")
def images_dir():
    return dataset_dir("caltech101_tiny") / "images"


@pytest.fixture(scope="module")
def study(images_dir, tmp_path_factory):
    """One small study run through the command line."""
    out = tmp_path_factory.mktemp("attack") / "out"
    cfg_path = out.parent / "attack.yaml"
    import yaml

    cfg_path.write_text(yaml.safe_dump(_config(images_dir, out)))
    proc = run_cli("attack", "--config", cfg_path, "--quiet")
    assert proc.returncode == 0, proc.stderr
    return out, pd.read_parquet(out / "attacks.parquet")


def _rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.uint8)


def _reference_distance(hasher: str, a: np.ndarray, b: np.ndarray, threshold: int):
    """(distance, success-as-match) computed by the reference library; for
    cv_radialvariance: distance 1 - PCC, a match when <= threshold * 0.005.
    Returns (d, matches, ambiguous) where ambiguous = within the float32
    rounding bound (`compare_error_bound`) of the edge."""
    if hasher in ("phash", "dhash"):
        fn = getattr(imagehash, hasher)
        d = fn(Image.fromarray(a)) - fn(Image.fromarray(b))
        return d, d <= threshold, False
    if hasher == "pdq":
        import pdqhash

        ha, hb = pdqhash.compute(a)[0], pdqhash.compute(b)[0]
        d = int(np.count_nonzero(ha != hb))
        return d, d <= threshold, False
    if hasher == "cv_radialvariance":
        import cv2

        h = cv2.img_hash.RadialVarianceHash_create()
        ha, hb = h.compute(a[:, :, ::-1].copy()), h.compute(b[:, :, ::-1].copy())
        d = 1.0 - h.compare(ha, hb)
        edge = threshold * 0.005
        # OpenCV's compare() and the harness's kernel may differ by up to the
        # float32 rounding bound on another SIMD path: ambiguous within it
        from harness.hashers.radial_pcc import compare_error_bound

        return d, d <= edge, abs(d - edge) <= float(compare_error_bound(ha, hb)[0, 0])
    raise AssertionError(hasher)


def test_study_has_both_outcomes(study):
    _, table = study
    assert len(table) == N_IMAGES * len(HASHERS) * 2 * 2
    for goal in ("evasion", "framing"):
        g = table[table["goal"] == goal]
        assert g["success"].any() and (~g["success"]).any(), f"{goal}: need successes and failures to check"


def test_outcomes_recheck_with_reference_libraries(study, images_dir):
    out, table = study
    checked = 0
    for row in table.itertuples():
        attacked = _rgb(out / row.attacked_png)
        if row.goal == "evasion":
            ref = _rgb(out / row.original_png)
        else:
            ref = _rgb(images_dir / row.target_image)
        d, matches, ambiguous = _reference_distance(row.hasher, attacked, ref, row.threshold)
        if ambiguous:
            continue
        success = (not matches) if row.goal == "evasion" else matches
        assert success == row.success, (row.image, row.hasher, row.goal, row.algorithm, d)
        if row.hasher != "cv_radialvariance":
            assert d == row.distance
        checked += 1
    assert checked >= len(table) - 2


def test_saved_original_is_the_decoded_photo(study, images_dir):
    out, table = study
    for row in table.drop_duplicates("image").itertuples():
        assert np.array_equal(_rgb(out / row.original_png), _rgb(images_dir / row.image))


def test_survival_recheck_with_reference_libraries(study, images_dir):
    """Survival after JPEG q75 (OpenCV encode/decode, 4:2:0) and a 0.9 resize
    (INTER_AREA), recomputed here with cv2 directly and the reference hashes."""
    import cv2

    out, table = study
    assert table.loc[~table["success"], ["survive_jpeg_75", "survive_resize_0.9"]].isna().all().all()
    done = 0
    for row in table[table["success"]].itertuples():
        attacked = _rgb(out / row.attacked_png)
        ref = _rgb(out / row.original_png) if row.goal == "evasion" else _rgb(images_dir / row.target_image)
        encoded, buf = cv2.imencode(".jpg", cv2.cvtColor(attacked, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 75])
        assert encoded
        jpeg = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = attacked.shape[:2]
        small = cv2.resize(attacked, (round(w * 0.9), round(h * 0.9)), interpolation=cv2.INTER_AREA)
        for img, col in ((jpeg, "survive_jpeg_75"), (small, "survive_resize_0.9")):
            d, matches, ambiguous = _reference_distance(row.hasher, img, ref, row.threshold)
            if not ambiguous:
                assert bool(table.loc[row.Index, col]) == ((not matches) if row.goal == "evasion" else matches), (
                    row.image,
                    row.hasher,
                    row.goal,
                    col,
                    d,
                )
                done += 1
    assert done > 0


def test_distortions_match_independent_computation(study):
    out, table = study
    for row in table.itertuples():
        a = _rgb(out / row.original_png)
        b = _rgb(out / row.attacked_png)
        diff = b.astype(np.float64) - a.astype(np.float64)
        assert row.rmse == pytest.approx(np.sqrt(np.mean(diff**2)), rel=1e-12, abs=1e-12)
        assert row.linf == int(np.abs(diff).max())
        if row.linf == 0:
            assert np.isinf(row.psnr)
        else:
            assert row.psnr == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), rel=1e-9)
        assert row.ssim == pytest.approx(structural_similarity(a, b, data_range=255, channel_axis=2), rel=1e-9)


def test_cap_pixels_size_and_mode(study):
    out, table = study
    assert (table["linf"] <= CAP).all() and (table["linf_cap"] == CAP).all()
    assert (table["queries"] <= BUDGET).all()
    for row in table.itertuples():
        with Image.open(out / row.attacked_png) as im, Image.open(out / row.original_png) as orig:
            assert im.mode == "RGB" and im.size == orig.size
            arr = np.asarray(im)
            assert arr.dtype == np.uint8 and arr.shape == (orig.size[1], orig.size[0], 3)


def test_summary_rates_follow_the_table(study):
    out, table = study
    summary = pd.read_csv(out / "attack_summary.csv", dtype={"psnr_min": str})
    for row in summary.itertuples():
        g = table[(table["hasher"] == row.hasher) & (table["goal"] == row.goal) & (table["algorithm"] == row.algorithm)]
        ok = g["success"] if row.psnr_min == "any" else g["success"] & (g["psnr"] >= float(row.psnr_min))
        assert row.successes == int(ok.sum()) and row.images == len(g)
        assert row.ci_lo <= row.success_rate <= row.ci_hi


class CountingHasher:
    """Wraps a hasher; counts every image it is asked to hash."""

    def __init__(self, inner):
        self.inner, self.calls = inner, 0
        self.distance, self.bits, self.name = inner.distance, inner.bits, inner.name
        for attr in ("pair_distances", "quantise"):
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))

    def hash(self, rgb):
        self.calls += 1
        return self.inner.hash(rgb)

    def hash_many(self, images):
        images = list(images)
        self.calls += len(images)
        return self.inner.hash_many(images)

    def hash_batch(self, images):
        self.calls += len(images)
        return self.inner.hash_batch(images)


class CountingHasherNoBatch(CountingHasher):
    """The same without ``hash_batch`` (the oracle falls back to ``hash_many``)."""

    def __getattribute__(self, attr):
        if attr == "hash_batch":
            raise AttributeError(attr)
        return super().__getattribute__(attr)


@pytest.mark.parametrize("wrapper", [CountingHasher, CountingHasherNoBatch])
@pytest.mark.parametrize("name", ["dhash", "cv_radialvariance"])
@pytest.mark.parametrize("algorithm", ["cma", "random"])
def test_query_counter_equals_hasher_calls(images_dir, name, algorithm, wrapper):
    files = sorted(images_dir.glob("*.jpg"))
    x, y = _rgb(files[0]), _rgb(files[1])
    inner = get_hasher(name)
    target = inner.hash(y)
    for goal, t in (("evasion", 4), ("framing", 20)):
        counting = wrapper(inner)
        if goal == "evasion":
            r = evade(x, counting, t, algorithm=algorithm, budget=37, linf_cap=16, batch=5, seed=1)
        else:
            r = frame(x, target, counting, t, algorithm=algorithm, budget=37, linf_cap=16, batch=5, seed=1)
        assert r.queries == counting.calls <= 37


def test_oracle_refuses_beyond_budget():
    from harness.attacks import QueryBudgetExceeded

    oracle = QueryOracle(get_hasher("ahash"), budget=2)
    im = np.zeros((16, 16, 3), np.uint8)
    oracle.hash_many([im, im])
    with pytest.raises(QueryBudgetExceeded):
        oracle.hash_many([im])


def test_known_answer_ahash_block():
    """aHash of a two-level image: the bits are 'brighter than the mean', so
    lifting the dark half by more than the gap flips bits; an 8-level cap on a
    gap of 6 must succeed at threshold 0 and the flip is checked with imagehash."""
    x = np.full((64, 64, 3), 120, np.uint8)
    x[:, 32:] = 126
    for algorithm in ("cma", "random"):
        r = evade(x, get_hasher("ahash"), 0, algorithm=algorithm, budget=300, linf_cap=8, seed=3)
        assert r.success
        assert imagehash.average_hash(Image.fromarray(r.image)) - imagehash.average_hash(Image.fromarray(x)) > 0
        assert np.abs(r.image.astype(int) - x).max() <= 8


@pytest.mark.parametrize("name", ["ahash", "phash", "pdq", "cv_radialvariance"])
def test_zero_budget_never_succeeds(images_dir, name):
    x = _rgb(sorted(images_dir.glob("*.jpg"))[2])
    h = get_hasher(name)
    for algorithm in ("cma", "random"):
        r = evade(x, h, 0, algorithm=algorithm, budget=0, linf_cap=32, seed=0)
        assert not r.success and r.queries == 0 and np.array_equal(r.image, x)
        r = evade(x, h, 0, algorithm=algorithm, budget=100, linf_cap=0, seed=0)
        assert not r.success and r.queries == 1 and np.array_equal(r.image, x)


def test_same_seed_same_results_other_seed_other_path(images_dir):
    x = _rgb(sorted(images_dir.glob("*.jpg"))[3])
    h = get_hasher("phash")
    for algorithm in ("cma", "random"):
        runs = [evade(x, h, 6, algorithm=algorithm, budget=80, linf_cap=20, seed=s) for s in (5, 5, 6)]
        assert np.array_equal(runs[0].image, runs[1].image) and runs[0].levels == runs[1].levels
        assert runs[0].queries == runs[1].queries and runs[0].distance == runs[1].distance
        assert not np.array_equal(runs[0].image, runs[2].image)


def test_study_reproducible(study, images_dir, tmp_path):
    _, table = study
    again = run_attack(_config(images_dir, tmp_path / "again", workers=2))
    pd.testing.assert_frame_equal(table.drop(columns="cpu_seconds"), again.drop(columns="cpu_seconds"))
    other = run_attack(_config(images_dir, tmp_path / "other", seed=8, hashers=["phash"]))
    mine = table[table["hasher"] == "phash"].reset_index(drop=True)
    assert not mine.drop(columns=["cpu_seconds", "seed"]).equals(other.drop(columns=["cpu_seconds", "seed"]))


def test_resume_does_not_redo_finished_cells(images_dir, tmp_path, monkeypatch):
    cfg = _config(images_dir, tmp_path / "out", hashers=["dhash"], images=2, budget=20)
    with pytest.raises(KeyboardInterrupt):
        run_attack(cfg, stop_after=3)
    cells = sorted((tmp_path / "out" / "cells").glob("*.parquet"))
    assert len(cells) == 3
    stamps = {p: p.stat().st_mtime_ns for p in cells}
    calls = []
    real = attack_run.attack
    monkeypatch.setattr(attack_run, "attack", lambda *a, **k: calls.append(1) or real(*a, **k))
    table = run_attack(cfg)
    assert len(calls) == 2 * 2 * 2 - 3 and len(table) == 8
    assert all(p.stat().st_mtime_ns == s for p, s in stamps.items())
    fresh = run_attack({**cfg, "output": str(tmp_path / "fresh")})
    pd.testing.assert_frame_equal(table.drop(columns="cpu_seconds"), fresh.drop(columns="cpu_seconds"))


@pytest.mark.parametrize(
    "change, field",
    [
        ({"goals": ["evade"]}, "goals[0]"),
        ({"algorithms": ["nes"]}, "algorithms[0]"),
        ({"budget": -1}, "budget"),
        ({"budget": 10**7}, "budget"),
        ({"linf_cap": 256}, "linf_cap"),
        ({"hashers": ["nohash"]}, "hashers[0].name"),
        ({"thresholds": {"benign": "/nonexistent/results"}}, "thresholds.benign"),
        (
            {
                "thresholds": {"benign": str(ROOT / "results" / "caltech101")},
                "hashers": [{"name": "dhash", "params": {"hash_size": 16}}],
            },
            "thresholds.benign",
        ),
        ({"thresholds": {"benign": str(ROOT / "results" / "caltech101"), "target_fpr": 0.5}}, "thresholds.target_fpr"),
        ({"thresholds": {"values": {"phash": 3}}}, "thresholds"),
        ({"colour": 1}, "colour"),
    ],
)
def test_bad_config_exit_2_nothing_written(images_dir, tmp_path, capsys, change, field):
    import yaml

    from harness.cli import main

    out = tmp_path / "out"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_config(images_dir, out, **change)))
    assert main(["attack", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and f"error: {field}" in lines[0], lines
    assert not out.exists()


def test_bad_config_exit_2_from_the_command_line(images_dir, tmp_path):
    import yaml

    out = tmp_path / "out"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(_config(images_dir, out, linf_cap=-1)))
    proc = run_main("attack", "--config", path)
    assert proc.returncode == 2 and "error: linf_cap" in proc.stderr, proc.stderr
    assert not out.exists()


def test_benign_thresholds_recorded(images_dir, tmp_path):
    cfg = _config(
        images_dir,
        tmp_path / "out",
        hashers=["phash", "pdq"],
        images=1,
        budget=4,
        goals=["evasion"],
        algorithms=["random"],
        thresholds={"benign": str(ROOT / "results" / "caltech101"), "target_fpr": 1e-4},
    )
    table = run_attack(cfg)
    bench = pd.read_csv(ROOT / "results" / "caltech101" / "thresholds.csv")
    for row in table.itertuples():
        ref = bench[
            (bench.hasher == row.hasher) & (bench.negatives == "orig-orig") & np.isclose(bench.target_fpr, 1e-4)
        ].iloc[0]
        assert row.threshold == ref.recommended_threshold and row.benign_fpr == ref.fpr
    run = json.loads((tmp_path / "out" / "attack_run.json").read_text())
    assert [i["name"] for i in run["images"]] == list(table["image"].unique())


@pytest.mark.parametrize("kind", ["dct", "grid"])
def test_compiled_apply_equals_numpy_perturbation(kind):
    from harness.attacks import Basis

    rng = np.random.default_rng(11)
    for h, w in ((45, 60), (7, 5), (1, 9)):
        b = Basis(kind, 8, h, w)
        x = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        for a in (0, 1, 7, 64, 255):
            z = rng.standard_normal(b.dim)
            expected = np.clip(x.astype(np.int16) + b.perturbation(z, a)[:, :, None], 0, 255).astype(np.uint8)
            got = b.apply(x, z, a)
            assert got.dtype == np.uint8 and np.array_equal(got, expected)
            assert np.abs(got.astype(int) - x).max() <= a
