"""screen: exact and near-duplicate groups, groups.csv usable by a run,
hygiene counts; checked against brute force and against duplicates we make
ourselves from real photos (../shared/datasets/caltech101_tiny, kodak24)."""

from __future__ import annotations

import csv
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.config import load_config
from harness.datasets import folder_records, load_groups, load_records
from harness.engine.work import HASH_COLUMNS, hash_images
from harness.hashers import get_hasher
from harness.screen import exact_duplicate_counts, hygiene_counts, near_pairs, overlap_counts, screen_records
from tests.helpers import dataset_dir


def brute_pairs(a, b, thr, k, within):
    names = list(thr)
    out = set()
    for i in range(len(a[names[0]])):
        for j in range(i + 1 if within else 0, len(b[names[0]])):
            votes = sum(int(np.unpackbits(a[n][i] ^ b[n][j]).sum() <= thr[n]) for n in names)
            if votes >= k:
                out.add((i, j))
    return out


@pytest.mark.parametrize("within", [True, False])
def test_near_pairs_equals_brute_force_across_blocks(within):
    rng = np.random.default_rng(7)
    base = rng.integers(0, 256, (40, 8), dtype=np.uint8)
    # plant close copies so that there is something to find
    a = {"h1": base.copy(), "h2": rng.integers(0, 256, (40, 2), dtype=np.uint8)}
    a["h1"][5] = base[3] ^ np.array([1, 0, 0, 0, 0, 0, 0, 2], np.uint8)
    a["h2"][5] = a["h2"][3]
    b = (
        a
        if within
        else {"h1": np.concatenate([base[:7], base[3:4]]), "h2": np.concatenate([a["h2"][:7], a["h2"][3:4]])}
    )
    thr = {"h1": 20, "h2": 5}
    for k in (1, 2):
        ii, jj, d = near_pairs(a, thr, k, other=None if within else b, block=7)
        got = set(zip(ii.tolist(), jj.tolist()))
        assert got == brute_pairs(a, b, thr, k, within)
        assert len(got) > 0
        for (i, j), dist in zip(zip(ii, jj), d):
            assert dist[0] == np.unpackbits(a["h1"][i] ^ b["h1"][j]).sum()


def test_default_rule():
    from harness.screen import default_min_agree, default_threshold

    assert default_min_agree(["phash", "dhash", "pdq"]) == 2
    assert default_min_agree(["phash", "dhash", "whash"]) == 3
    assert (default_threshold(64, "phash"), default_threshold(256, "pdq"), default_threshold(128, "x")) == (2, 24, 4)


def test_exact_duplicate_counts():
    assert exact_duplicate_counts(["a", "b", "a", "c", "a", "b"]) == {
        "exact_duplicate_images": 5,
        "exact_duplicate_groups": 2,
        "exact_duplicate_extra_copies": 3,
    }


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """12 distinct real photos, plus: a byte-identical copy of #0, a JPEG
    re-encode (quality 90) of #1 and of that re-encode's source #2 resized
    to 90%: the known duplicates."""
    src = dataset_dir("kodak24") / "images"
    root = tmp_path_factory.mktemp("planted")
    names = sorted(os.listdir(src))[:12]
    for n in names:
        shutil.copy(src / n, root / n)
    shutil.copy(src / names[0], root / "copy_of_0.png")
    im1 = Image.open(src / names[1]).convert("RGB")
    im1.save(root / "reencoded_1.jpg", quality=90)
    im2 = Image.open(src / names[2]).convert("RGB")
    im2.resize((im2.width * 9 // 10, im2.height * 9 // 10), Image.LANCZOS).save(root / "resized_2.png")
    return root, names


def test_screen_finds_planted_duplicates_and_nothing_else(planted, tmp_path):
    root, names = planted
    records, _ = folder_records(str(root))
    result = screen_records(records, progress=False)
    groups = [sorted(result.records[i].name for i in g) for g in result.groups]
    assert sorted(groups) == sorted(
        [
            sorted([names[0], "copy_of_0.png"]),
            sorted([names[1], "reencoded_1.jpg"]),
            sorted([names[2], "resized_2.png"]),
        ]
    )
    c = result.counts
    assert (c["exact_duplicate_images"], c["exact_duplicate_groups"]) == (2, 1)
    assert c["near_duplicate_pairs"] == 2 and c["duplicate_groups"] == 3 and c["images"] == 15


def test_screen_command_writes_groups_a_run_can_use(planted, tmp_path):
    from harness.cli import main

    root, names = planted
    out = tmp_path / "screen"
    assert main(["screen", str(root), "--output", str(out), "--no-progress"]) == 0
    for f in ("groups.csv", "pairs.csv", "contact_sheet.png", "screen.json", "errors.csv"):
        assert (out / f).is_file()
    info = json.loads((out / "screen.json").read_text())
    assert info["counts"]["duplicate_groups"] == 3
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.format == "PNG" and sheet.height > 3 * 96
    groups = load_groups(str(out / "groups.csv"))
    assert len(groups) == 5  # 6 images in 3 groups; the exact copies share one sha256 key
    cfg = load_config(
        {"dataset": {"source": "folder", "path": str(root), "groups": str(out / "groups.csv")}, "hashers": ["phash"]}
    )
    recs, _ = load_records(cfg.dataset)
    by_name = {r.name: r.group for r in recs}
    assert by_name[names[1]] == by_name["reencoded_1.jpg"] != by_name[names[2]]
    assert by_name[names[0]] == by_name["copy_of_0.png"]
    assert len(set(by_name.values())) == 15 - 3
    pairs = list(csv.DictReader(open(out / "pairs.csv")))
    assert {"exact", "near"} <= {p["kind"] for p in pairs} <= {"exact", "near", "rejected"}
    # every pair of a group is confirmed by the pixel check, with the hashers that proposed it
    for p in pairs:
        assert (p["confirmed"] == "yes") == (p["kind"] != "rejected") == (float(p["similarity"]) >= 0.9)
        assert p["proposed_by"] and set(p["proposed_by"].split("+")) <= set(info["thresholds_bits"])
    confirmed = [p for p in pairs if p["confirmed"] == "yes"]
    assert len(confirmed) == 3 == info["counts"]["confirmed_pairs"]
    assert info["contact_sheets_confirmed"] == ["contact_sheet_001.png"]
    assert info["pixel_check"]["min_similarity"] == 0.9 and "SSIM" in info["rule"]


def test_screen_tiny_has_no_duplicates_and_workers_agree(tmp_path):
    """caltech101_tiny was selected to hold no near duplicates (min dHash distance 10)."""
    from harness.screen import hash_records

    tiny = dataset_dir("caltech101_tiny")
    records, _ = folder_records(str(tiny / "images"))
    result = screen_records(records, progress=False)
    assert result.counts["images"] == 96 and result.groups == []
    # a process pool gives the same hashes in the same order
    kept, packed, errors = hash_records(
        records, [get_hasher("phash"), get_hasher("dhash")], progress=False, workers=2, chunk=40
    )
    assert [r.name for r in kept] == [r.name for r in result.records] and errors == []
    for name in ("phash", "dhash"):
        assert (packed[name] == result.packed[name]).all()


def test_screen_argument_errors(tmp_path, capsys):
    from harness.cli import main

    for args, field in [
        (["screen", str(tmp_path / "nothing")], "NAME|DIR"),
        (["screen", str(tmp_path), "--hashers", "nohash"], "hasher"),
        (["screen", str(tmp_path), "--threshold", "phash=x"], "--threshold"),
        (["screen", str(tmp_path), "--threshold", "pdqq=3"], "--threshold"),
        (["screen", str(tmp_path), "--min-agree", "99"], "--min-agree"),
        (["screen", str(tmp_path), "--hashers", "all,nohash"], "hasher"),
        (["screen", str(tmp_path), "--hashers", "cv_radialvariance"], "--hashers"),
        (["screen", str(tmp_path), "--min-similarity", "1.5"], "--min-similarity"),
        (["screen", str(tmp_path), "--min-similarity", "-2"], "--min-similarity"),
        (["screen", str(tmp_path), "--min-similarity", "high"], "--min-similarity"),
    ]:
        assert main(args) == 2, args
        err = capsys.readouterr().err
        assert field in err and len(err.strip().splitlines()) == 1, err
    assert os.listdir(tmp_path) == []


def _hashes_df(records, hashers):
    res = hash_images(records, [], hashers, 0, 10**9)
    return pd.DataFrame(res.rows, columns=HASH_COLUMNS)


def test_hygiene_and_overlap_counts(planted):
    root, names = planted
    records, _ = folder_records(str(root))
    hashers = [get_hasher(n) for n in ("phash", "dhash", "whash")]
    df = _hashes_df(records, hashers)
    h = hygiene_counts(df, hashers, image_ids=[r.image_id for r in records])
    assert h["images"] == 15 and h["exact_duplicate_images"] == 2
    assert h["near_duplicate_pairs"] == 2 and h["near_duplicate_images"] == 4
    assert h["min_agree"] == 3 and h["hashers"] == ["phash", "dhash", "whash"]  # no pdq: all must agree
    assert h["thresholds"] == {"phash": 2, "dhash": 2, "whash": 2}
    # query = the three planted copies; reference = the 12 originals
    copies = {"copy_of_0.png", "reencoded_1.jpg", "resized_2.png"}
    q = df[df["image_name"].isin(copies)]
    r = df[~df["image_name"].isin(copies)]
    o = overlap_counts(q, r, hashers)
    assert o["query_images"] == 3 and o["reference_images"] == 12
    assert o["exact_overlap_images"] == 1  # copy_of_0 has the same sha256 as an original
    assert o["near_overlap_pairs"] == 3 and o["near_overlap_query_images"] == 3
    # one hasher only: min_agree drops to 1 and is reported
    assert hygiene_counts(df, hashers[:1])["min_agree"] == 1


# ----------------------------------------------------- the pixel check (independent of the hashers)
def same_layout(seed, w=480, h=360, cell=8, amp=50):
    """A synthetic object on white: one silhouette (ellipse + bar) filled
    with a blue-grey block texture drawn from `seed`. Two seeds give the
    same layout with different content."""
    from PIL import ImageDraw

    rng = np.random.default_rng(seed)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    draw.ellipse([80, 60, 400, 300], fill=255)
    draw.rectangle([200, 20, 280, 340], fill=255)
    inside = np.asarray(mask) > 0
    tex = rng.integers(-amp, amp + 1, (h // cell + 1, w // cell + 1)).repeat(cell, 0).repeat(cell, 1)[:h, :w]
    img = np.full((h, w, 3), 255, np.uint8)
    img[inside] = np.clip(np.array([90, 110, 140]) + tex[inside][:, None], 0, 255)
    return img


def scipy_ssim(x, y, data_range=255.0, win=7, k1=0.01, k2=0.03):
    """SSIM written out from its formula (Wang et al. 2004) with scipy's
    uniform filter: sample covariances over win x win windows, the mean over
    the windows that fit inside the image."""
    from scipy.ndimage import uniform_filter

    x, y = x.astype(np.float64), y.astype(np.float64)
    n = win * win
    cov = n / (n - 1)
    mx, my = uniform_filter(x, win), uniform_filter(y, win)
    vx = cov * (uniform_filter(x * x, win) - mx * mx)
    vy = cov * (uniform_filter(y * y, win) - my * my)
    vxy = cov * (uniform_filter(x * y, win) - mx * my)
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    pad = (win - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean())


def test_pixel_measures_equal_independent_computations(planted):
    from harness.imageio import load_rgb
    from harness.screen.pixels import correlation, grey_thumbnail, ssim

    root, names = planted
    rng = np.random.default_rng(3)
    pairs = [(root / names[1], root / "reencoded_1.jpg"), (root / names[2], root / "resized_2.png")]
    pairs += [(root / names[3], root / names[4])]
    for a, b in pairs:
        ta, tb = grey_thumbnail(load_rgb(str(a))), grey_thumbnail(load_rgb(str(b)))
        assert ta.shape == tb.shape == (64, 64)
        assert abs(correlation(ta, tb) - np.corrcoef(ta.ravel(), tb.ravel())[0, 1]) < 1e-9
        assert abs(ssim(ta, tb) - scipy_ssim(ta, tb)) < 1e-9
    # the thumbnail is Pillow's luma, resized with LANCZOS, whatever the aspect ratio
    rgb = rng.integers(0, 256, (50, 90, 3), dtype=np.uint8)
    want = np.asarray(Image.fromarray(rgb).convert("L").resize((64, 64), Image.LANCZOS), np.float64)
    assert np.array_equal(grey_thumbnail(rgb), want)
    flat = np.full((64, 64), 7.0)
    assert correlation(flat, want) == 0.0


def test_same_layout_different_content_is_proposed_but_rejected(planted, tmp_path):
    """Two synthetic objects with one silhouette on white: several hashers
    put them within their thresholds, the whole-image correlation is high
    (> 0.9), SSIM is not: a candidate, rejected, in no group, on the
    rejected sheet."""
    from harness.cli import main

    root, names = planted
    folder = tmp_path / "photos"
    shutil.copytree(root, folder)
    Image.fromarray(same_layout(1)).save(folder / "object_a.png")
    Image.fromarray(same_layout(2)).save(folder / "object_b.png")
    out = tmp_path / "screen"
    assert main(["screen", str(folder), "--output", str(out), "--no-progress"]) == 0
    pairs = list(csv.DictReader(open(out / "pairs.csv")))
    ab = [p for p in pairs if {p["image_a"], p["image_b"]} == {"object_a.png", "object_b.png"}]
    assert len(ab) == 1
    p = ab[0]
    assert p["kind"] == "rejected" and p["confirmed"] == "no" and p["group"] == ""
    assert len(p["proposed_by"].split("+")) >= 2
    assert float(p["correlation"]) > 0.9 > float(p["similarity"])
    # the written similarity is the SSIM / correlation recomputed here from the files
    from harness.imageio import load_rgb
    from harness.screen.pixels import grey_thumbnail

    ta, tb = (grey_thumbnail(load_rgb(str(folder / f))) for f in (p["image_a"], p["image_b"]))
    assert abs(float(p["similarity"]) - scipy_ssim(ta, tb)) < 2e-6
    assert abs(float(p["correlation"]) - np.corrcoef(ta.ravel(), tb.ravel())[0, 1]) < 2e-6
    groups = list(csv.DictReader(open(out / "groups.csv")))
    assert not {g["name"] for g in groups} & {"object_a.png", "object_b.png"}
    assert len(groups) == 6  # the planted duplicates only
    info = json.loads((out / "screen.json").read_text())
    assert info["counts"]["rejected_pairs"] >= 1 and info["contact_sheets_rejected"][0] == "rejected_sheet_001.png"
    assert (out / "rejected_sheet_001.png").is_file() and (out / "contact_sheet_001.png").is_file()
    # without the pixel check (cutoff -1) the pair would have been grouped
    out2 = tmp_path / "no-check"
    assert main(["screen", str(folder), "--output", str(out2), "--no-progress", "--min-similarity", "-1"]) == 0
    groups = list(csv.DictReader(open(out2 / "groups.csv")))
    assert {"object_a.png", "object_b.png"} <= {g["name"] for g in groups}


def test_all_hashers():
    from harness.hashers import list_hashers
    from harness.screen import NOT_IN_ALL, all_hasher_names, build_hashers

    names = all_hasher_names()
    assert {"phash", "dhash", "pdq", "whash", "cv_phash"} <= set(names)
    assert not set(names) & set(NOT_IN_ALL)
    for n in set(list_hashers()) - set(names) - set(NOT_IN_ALL):
        assert get_hasher(n).distance != "hamming", n
    hashers, thr = build_hashers(["all"])
    assert list(thr) == names
    assert thr["phash"] == 2 and thr["pdq"] == 24 and thr["cv_blockmean0"] == 8
    _, thr2 = build_hashers(["phash", "all"], {"pdq": 30})
    assert set(thr2) == set(names) and thr2["pdq"] == 30


def test_many_confirmed_pairs_are_paginated(tmp_path):
    """Every confirmed pair is drawn: 45 exact copies of pairs -> 2 pages."""
    from harness.screen import PAIRS_PER_SHEET, screen_records, write_screen

    src = dataset_dir("caltech101_tiny") / "images"
    files = sorted(p for p in src.rglob("*.jpg"))[: PAIRS_PER_SHEET + 5]
    folder = tmp_path / "photos"
    folder.mkdir()
    for k, f in enumerate(files):
        shutil.copy(f, folder / f"{k:03d}_a.jpg")
        shutil.copy(f, folder / f"{k:03d}_b.jpg")
    records, _ = folder_records(str(folder))
    result = screen_records(records, hashers=["phash"], progress=False)
    assert sum(p.confirmed for p in result.pairs) == len(files)
    out = tmp_path / "screen"
    (out).mkdir()
    (out / "contact_sheet_007.png").write_bytes(b"stale")
    write_screen(result, str(out))
    sheets = sorted(f for f in os.listdir(out) if f.startswith("contact_sheet_"))
    assert sheets == ["contact_sheet_001.png", "contact_sheet_002.png"]
