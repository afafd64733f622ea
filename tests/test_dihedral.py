"""Dihedral matching (``dihedral: true``, issue 21) through real runs:
the histograms equal brute force over the 8 explicitly transformed photos
hashed one by one with imagehash (pHash) and over pdqhash's own dihedral
hashes (PDQ); the plain hasher's tables do not change when the dihedral
one joins the run; a dihedral option on a non-Hamming hasher is refused.
The PDQ known answer through a run is in tests/test_pdq_reference.py."""

from __future__ import annotations

from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
import pdqhash
import pytest
from PIL import Image

from harness.engine.run import run_experiment
from harness.hashers import get_hasher
from harness.imageio import load_rgb
from tests.helpers import dataset_dir, run_main

N_IMAGES = 20
#: the 8 versions as Pillow transposes, in the documented order (row 0: as it is)
PIL_OPS = [
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
]
#: the run's transforms and the same variants made with Pillow
VARIANTS = {'flip("horizontal")': Image.Transpose.FLIP_LEFT_RIGHT, "rotate(90)": Image.Transpose.ROTATE_90}
TABLES = ["metrics.csv", "thresholds.csv", "fpr.csv", "roc.csv", "per_photo_rate.csv", "histograms.parquet"]


def _config(hashers):
    folder = dataset_dir("caltech101_tiny") / "images"
    return {
        "dataset": {"source": "folder", "path": str(folder), "limit": N_IMAGES},
        "hashers": hashers,
        "transforms": [{"family": "flip", "severities": ["horizontal"]}, {"family": "rotate", "severities": [90]}],
        "metrics": {"bootstrap_replicates": 50},
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dihedral")
    both = run_experiment(
        _config(["phash", {"name": "phash", "dihedral": True}, {"name": "pdq", "dihedral": True}]),
        output=str(tmp / "both"),
        progress=False,
        scheduler="inline",
    )
    plain = run_experiment(_config(["phash"]), output=str(tmp / "plain"), progress=False, scheduler="inline")
    return tmp, both, plain


def _hist(folder, hasher, kind, transform, n) -> np.ndarray:
    h = pd.read_parquet(folder / "histograms.parquet")
    h = h[(h["hasher"] == hasher) & (h["kind"] == kind) & (h["transform"] == transform)]
    out = np.zeros(n + 1, np.int64)
    out[h["distance"].to_numpy()] = h["count"].to_numpy()
    return out


def _phash_versions(img: Image.Image) -> list:
    return [imagehash.phash(img if op is None else img.transpose(op)) for op in PIL_OPS]


def _pdq_versions(img: Image.Image) -> np.ndarray:
    vectors, _ = pdqhash.compute_dihedral(np.ascontiguousarray(np.asarray(img)))
    return np.stack([np.asarray(v, dtype=bool) for v in vectors])


def _brute(photos, versions_of, distance):
    """Brute-force histograms of the dihedral minimum: {(kind, transform): counts}."""
    orig = [versions_of(p) for p in photos]
    d = lambda q, r: min(distance(v, r[0]) for v in q)  # noqa: E731 - query versions vs reference row 0
    out = {
        ("orig-orig", "original()"): [
            min(d(orig[i], orig[j]), d(orig[j], orig[i])) for i in range(len(orig)) for j in range(i + 1, len(orig))
        ]
    }
    for key, op in VARIANTS.items():
        var = [versions_of(p.transpose(op)) for p in photos]
        out[("positive", key)] = [d(var[i], orig[i]) for i in range(len(var))]
        out[("variant-orig", key)] = [d(var[i], orig[j]) for i in range(len(var)) for j in range(len(orig)) if i != j]
    return orig, out


def _photos(folder):
    images = pd.read_csv(folder / "images.csv").sort_values("image_id")
    return images, [Image.fromarray(load_rgb(p)) for p in images["path"]]


@pytest.mark.parametrize(
    "label, bits, versions_of, distance, as_bytes",
    [
        (
            "phash[dihedral]",
            64,
            _phash_versions,
            lambda a, b: a - b,
            lambda v: np.packbits(np.concatenate([h.hash.ravel() for h in v])),
        ),
        ("pdq[dihedral]", 256, _pdq_versions, lambda a, b: int((a != b).sum()), lambda v: np.packbits(v.ravel())),
    ],
)
def test_run_equals_brute_force(runs, label, bits, versions_of, distance, as_bytes):
    """Every histogram of the dihedral hasher (positives, orig-orig,
    variant-orig) equals the dihedral minimum computed by hand; the stored
    hash of each original is its 8 versions' hashes in the documented order."""
    _, both, _ = runs
    folder = Path(both.folder)
    images, photos = _photos(folder)
    assert len(photos) == N_IMAGES
    orig, want = _brute(photos, versions_of, distance)
    for (kind, transform), ds in want.items():
        got = _hist(folder, label, kind, transform, bits)
        assert (got == np.bincount(ds, minlength=bits + 1)).all(), (label, kind, transform)
    hashes = pd.read_parquet(folder / "hashes.parquet")
    stored = hashes[(hashes["hasher"] == label) & (hashes["transform"] == "original()")].set_index("image_id")["hash"]
    for image_id, v in zip(images["image_id"], orig):
        assert stored[image_id] == as_bytes(v).tobytes()


def test_pdq_versions_are_pdqhashs(runs):
    photo = _photos(Path(runs[1].folder))[1][0]
    rgb = np.asarray(photo)
    h = get_hasher("pdq", dihedral=True)
    assert (h.versions(rgb) == get_hasher("pdq").hash_dihedral(rgb)).all()
    assert (h.hash(rgb)[:32] == get_hasher("pdq").hash(rgb)).all()


def test_dihedral_finds_flips_and_quarter_turns(runs):
    """A sanity bound that can fail: through the dihedral minimum a mirrored
    or quarter-turned photo is within a few bits of its original, for most
    photos, where the plain pHash is not."""
    folder = Path(runs[1].folder)
    for key in VARIANTS:
        dih = _hist(folder, "phash[dihedral]", "positive", key, 64)
        plain = _hist(folder, "phash", "positive", key, 64)
        assert dih[:9].sum() > N_IMAGES // 2 > plain[:9].sum(), (key, dih, plain)


def test_plain_tables_unchanged_by_the_dihedral_hasher(runs):
    _, both, plain = runs
    fb = Path(both.folder)
    fp = Path(plain.folder)
    for name in TABLES:
        read = pd.read_parquet if name.endswith(".parquet") else pd.read_csv
        a = read(fb / name)
        a = a[a["hasher"] == "phash"].reset_index(drop=True)
        b = read(fp / name)
        assert len(b) and a.equals(b), name
    labels = set(pd.read_csv(fb / "thresholds.csv")["hasher"])
    assert labels == {"phash", "phash[dihedral]", "pdq[dihedral]"}


@pytest.mark.parametrize(
    "entry, hasher",
    [
        ("{name: cv_radialvariance, dihedral: true}", "cv_radialvariance"),
        ("{name: crop_resistant, dihedral: true}", "crop_resistant"),
        ("{name: cv_colormoment, dihedral: true}", "cv_colormoment"),
    ],
)
def test_dihedral_refused_on_non_hamming_hashers(tmp_path, entry, hasher):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"dataset: {{source: sample}}\nhashers: [phash, {entry}]\ntransforms: []\n")
    out = tmp_path / "out"
    r = run_main("run", "--config", cfg, "--output", out)
    assert r.returncode == 2, r
    msg = r.stderr.strip()
    assert "\n" not in msg and "hashers[1].dihedral" in msg and hasher in msg, msg
    assert "allowed:" in msg and "phash" in msg.split("allowed:")[1] and hasher not in msg.split("allowed:")[1], msg
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]


def test_dihedral_must_be_a_boolean(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("dataset: {source: sample}\nhashers: [{name: phash, dihedral: maybe}]\ntransforms: []\n")
    r = run_main("run", "--config", cfg, "--output", tmp_path / "out")
    assert r.returncode == 2 and "hashers[0].dihedral" in r.stderr, r
    assert not (tmp_path / "out").exists()


def test_risk_reads_the_dihedral_distance_from_the_label():
    """`phash-harness risk --hasher phash[dihedral,hash_size=16]` measures
    the dihedral distance (not Hamming over the 8 stored versions)."""
    from harness.metrics.dihedral import dihedral_matrix
    from harness.risk_cli import hasher_pair_distances

    usable, fn = hasher_pair_distances("phash[dihedral,hash_size=16]")
    rng = np.random.default_rng(0)
    q, d = (rng.integers(0, 256, (n, 8 * 32), dtype=np.uint8) for n in (5, 7))
    assert usable and (fn(q, d) == dihedral_matrix(q.reshape(5, 8, 32), d[:, :32])).all()
    assert hasher_pair_distances("phash") == (True, None)


def test_metric_is_dihedral_pair_histogram_across_sets_and_the_smaller_direction_within():
    """The metrics stage's histograms of a dihedral hasher: across two sets
    exactly `dihedral_pair_histogram` (query versions vs reference row 0);
    within one set the smaller of the two directions of each pair."""
    from harness.metrics.dihedral import dihedral_matrix, dihedral_pair_histogram
    from harness.metrics.distances import metric_for

    h = get_hasher("phash", dihedral=True)
    metric = metric_for(h)
    rng = np.random.default_rng(1)
    a, b = (rng.integers(0, 256, (n, h.nbytes), dtype=np.uint8) for n in (30, 23))
    a[4, 8 * 5 : 8 * 6] = b[2, :8]  # version 5 of a query equals a reference
    ga, gb = rng.integers(0, 9, 30), rng.integers(0, 9, 23)
    want = dihedral_pair_histogram(a.reshape(30, 8, 8), b[:, :8], ga, gb, bits=64)
    assert (metric.hist(a, b, ga, gb) == want).all() and want[0] >= (ga[4] != gb[2])
    m = dihedral_matrix(a.reshape(30, 8, 8), a[:, :8])
    sym = np.minimum(m, m.T)[np.triu_indices(30, 1)][(ga[:, None] != ga[None, :])[np.triu_indices(30, 1)]]
    assert (metric.hist(a, None, ga) == np.bincount(sym, minlength=65)).all()
