"""The greedy (block sign search) attack: budget, cap, pixels, seeds, and
successes re-checked with the reference libraries (imagehash, pdqhash)."""

from __future__ import annotations

import imagehash
import numpy as np
import pytest
from PIL import Image

from harness.attacks import attack, evade, frame
from harness.hashers import get_hasher
from tests.helpers import dataset_dir
from tests.test_attacks import CountingHasher, CountingHasherNoBatch, _reference_distance, _rgb


@pytest.fixture(scope="module")
def photos():
    files = sorted((dataset_dir("caltech101_tiny") / "images").glob("*.jpg"))
    return [_rgb(f) for f in files[:6]]


@pytest.mark.parametrize("wrapper", [CountingHasher, CountingHasherNoBatch])
@pytest.mark.parametrize("budget, batch", [(37, 5), (64, 16), (2, 16)])
def test_query_counter_and_budget(photos, wrapper, budget, batch):
    inner = get_hasher("dhash")
    target = inner.hash(photos[1])
    for goal, t in (("evasion", 40), ("framing", 0)):  # unreachable: the whole budget is spent
        counting = wrapper(inner)
        ref = None if goal == "evasion" else target
        r = attack(photos[0], counting, ref, t, goal, algorithm="greedy", budget=budget, batch=batch, linf_cap=16)
        assert r.queries == counting.calls == budget
        assert not r.success


def test_cap_pixels_and_shape(photos):
    x = photos[2].copy()
    x[:10] = 255  # saturated rows: the clip to 0..255 must hold
    x[-10:] = 0
    h = get_hasher("dhash")
    for cap in (1, 5, 12):
        r = frame(x, h.hash(photos[3]), h, 20, algorithm="greedy", budget=150, linf_cap=cap, seed=2)
        assert r.image.dtype == np.uint8 and r.image.shape == x.shape
        assert np.abs(r.image.astype(int) - x).max() <= cap
        assert r.amplitude <= cap


def test_same_seed_same_result_other_seed_other_path(photos):
    h = get_hasher("phash")
    target = h.hash(photos[4])
    runs = [frame(photos[0], target, h, 12, algorithm="greedy", budget=120, seed=s) for s in (5, 5, 6)]
    assert np.array_equal(runs[0].image, runs[1].image) and runs[0].levels == runs[1].levels
    assert runs[0].distance == runs[1].distance and runs[0].queries == runs[1].queries
    assert not np.array_equal(runs[0].image, runs[2].image)


def test_known_answer_ahash_framing():
    """aHash bits are 'brighter than the mean'. x: the right half 6 grey levels
    brighter; the target: the top half brighter (32 bits away). Lifting the
    top half and lowering the bottom half by 8 (4 x 4 blocks of 16 x 16) gives
    exactly the target, so greedy must reach distance 0; checked with imagehash."""
    x = np.full((64, 64, 3), 120, np.uint8)
    x[:, 32:] = 126
    y = np.full((64, 64, 3), 100, np.uint8)
    y[:32] = 200
    h = get_hasher("ahash")
    target = h.hash(y)
    ref_target = imagehash.average_hash(Image.fromarray(y))
    assert ref_target - imagehash.average_hash(Image.fromarray(x)) == 32
    for seed in (0, 1, 2):
        r = frame(x, target, h, 0, algorithm="greedy", budget=400, linf_cap=8, seed=seed)
        assert r.success and r.distance == 0
        assert imagehash.average_hash(Image.fromarray(r.image)) - ref_target == 0
        assert np.abs(r.image.astype(int) - x).max() <= 8
    # evasion on the same image: a block flips bits
    r = evade(x, h, 0, algorithm="greedy", budget=100, linf_cap=8, seed=0)
    assert r.success
    assert imagehash.average_hash(Image.fromarray(r.image)) - imagehash.average_hash(Image.fromarray(x)) > 0


@pytest.mark.parametrize("name, threshold", [("dhash", 14), ("phash", 22), ("pdq", 108)])
def test_framing_successes_recheck_with_reference_libraries(photos, name, threshold):
    """Generous thresholds so that some attacks succeed within a small budget;
    every success and every failure is re-checked with the reference library."""
    h = get_hasher(name)
    wins = 0
    for i in range(3):
        x, y = photos[i], photos[i + 3]
        r = frame(x, h.hash(y), h, threshold, algorithm="greedy", budget=300, linf_cap=32, seed=i)
        d, matches, _ = _reference_distance(name, r.image, y, threshold)
        assert d == r.distance and matches == r.success
        assert np.abs(r.image.astype(int) - x).max() <= 32
        wins += r.success
    assert wins >= 1


def test_config_accepts_greedy_and_its_grid(tmp_path):
    from harness.attacks.config import load_attack_config
    from harness.errors import ConfigError

    base = {"hashers": ["dhash"], "thresholds": {"values": {"dhash": 8}}, "output": str(tmp_path / "o")}
    cfg = load_attack_config({**base, "algorithms": ["greedy", "cma"], "greedy_grid": 4})
    assert cfg.algorithms == ["greedy", "cma"] and cfg.greedy_grid == 4
    with pytest.raises(ConfigError) as exc:
        load_attack_config({**base, "algorithms": ["greedy", "nes"]})
    assert exc.value.field == "algorithms[1]" and "greedy" in exc.value.message
    with pytest.raises(ConfigError) as exc:
        load_attack_config({**base, "greedy_grid": 0})
    assert exc.value.field == "greedy_grid"


class _NeverBetter:
    """A stand-in for the search problem: records every candidate image; the
    first query (x itself) has loss 0 and every other one loss 1, so the
    greedy search never moves and sweeps every block of each grid."""

    def __init__(self, x):
        self.x = x
        self.images = []

    def evaluate(self, images, amplitude):
        losses = [0.0 if not self.images else 1.0] + [1.0] * (len(images) - 1)
        self.images += list(images)
        return np.zeros(len(images), bool), np.array(losses)


def _changed_block(x, im, g):
    """The (row, column) of the one g x g block where im differs from x, or None."""
    h, w = x.shape[:2]
    diff = np.any(im != x, axis=2)
    rows, cols = np.nonzero(diff)
    if not len(rows):
        return None
    br, bc = set((rows * g) // h), set((cols * g) // w)
    if len(br) != 1 or len(bc) != 1:
        return None
    r, c = br.pop(), bc.pop()
    block = np.zeros_like(diff)
    block[[(i * g) // h == r for i in range(h)]] = True
    block[:, [(j * g) // w != c for j in range(w)]] = False
    return (r, c) if np.array_equal(diff, block) else None


@pytest.mark.parametrize("batch", [5, 7, 16])
def test_grid_refinement_uses_each_moves_own_grid(batch):
    """A sweep over the g0 x g0 grid is 2 g0^2 single-block moves (0 -> +1, -1),
    all on that grid, before any move on the refined grid (a batch that
    straddles the end of a sweep must not apply old-grid block numbers to
    the refined grid); every block of each grid is tried with both signs."""
    from harness.attacks.search import GREEDY_GRID0, _level_greedy

    x = np.full((48, 64, 3), 128, np.uint8)
    g0 = GREEDY_GRID0
    problem = _NeverBetter(x)
    first, second = 2 * g0 * g0, 2 * (2 * g0) ** 2
    _level_greedy(problem, 2 * g0, 10, 1 + first + second, batch, seed=3, z0=None)
    cands = problem.images[1:]
    assert len(cands) == first + second
    for part, g in ((cands[:first], g0), (cands[first:], 2 * g0)):
        seen = [(_changed_block(x, im, g), int(np.sign((im.astype(int) - x).sum()))) for im in part]
        assert all(b is not None for b, _ in seen)
        assert sorted(seen) == sorted(((r, c), s) for r in range(g) for c in range(g) for s in (1, -1))


def test_greedy_grid_is_capped_by_the_image_size():
    """A 3 x 5 image cannot hold more than 3 block rows: the grid stays <= 3."""
    from harness.attacks.search import _level_greedy

    x = np.full((3, 5, 3), 100, np.uint8)
    problem = _NeverBetter(x)
    _level_greedy(problem, 64, 10, 200, 4, seed=0, z0=None)
    for im in problem.images[1:]:
        assert np.count_nonzero(np.any(im != x, axis=2)) >= 1
