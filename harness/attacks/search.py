"""Minimal-perturbation black-box search (evasion and framing).

Goals, for a hasher with integer distance d (bits, or bin index for
non-Hamming hashers, see `harness.attacks.oracle`) and threshold t:

- **evasion**: from x find x' with d(h(x'), h(x)) > t;
- **framing**: from x and a target hash h(y) find x' with d(h(x'), h(y)) <= t.

Candidates are x plus a smooth luminance perturbation from a k x k basis
(`harness.attacks.basis`) scaled to an L-infinity amplitude a (grey levels).
The search signal is the raw distance (maximised for evasion, minimised for
framing). Algorithms (one "level" = one amplitude):

- ``cma``: separable CMA-ES (the ``cma`` package, ``CMA_diagonal``) over the
  basis coefficients, population = ``batch``, seeded with the attack's seed
  (``cma`` seeds numpy's global generator from it), warm-started from the
  last success;
- ``random``: independent N(0, I) coefficient vectors (baseline);
- ``greedy``: block sign search (in the spirit of SignHunter, Al-Dujaili &
  O'Reilly 2020, and the parsimonious attack, Moon et al. 2019): the
  perturbation is s * a on constant blocks of a g x g grid, s in {-1, 0, +1}
  per block, starting at s = 0 and g = 4. Each batch proposes ``batch``
  single-block moves (0 -> +1 and -1, +-1 -> its opposite) in a seeded
  random order; the best move is kept when it lowers the loss, and when
  several moves improve, all of them together are tried with one more query
  (kept if better still); when none improves, a random move that does not
  worsen it is taken (walking plateaus of the integer distance). After a
  sweep over every block the grid doubles (each block split in four, signs
  kept) up to ``greedy_grid``. It ignores ``basis`` and ``basis_size``; the
  sign grid of a success warm-starts the next, smaller, amplitude.

Minimal perturbation: query 1 hashes x itself (the reference hash for
evasion; framing may already match). Level 0 runs at a = linf_cap with the
whole remaining budget and stops at its first success; then a is bisected
over the integers (success -> lower half, failure -> upper half), each level
with an equal share of the remaining budget, until the interval is one grey
level wide or the budget is spent. The result is the successful candidate
with the smallest RMSE over all levels (else the candidate that came
closest to the goal), so ``queries`` never exceeds ``budget`` and
``linf <= linf_cap`` always.

Best distance per PSNR budget (``AttackResult.reach``): for each budget b
of `psnr_budgets` (dB) and for "any" (every candidate, within linf_cap), the
largest distance (evasion) or smallest distance (framing) among the queried
candidates whose PSNR = 10 log10(255^2 / mse) >= b; x itself (PSNR +inf)
counts, so it is defined once one query is made. An attack at another
threshold t' would have succeeded with PSNR >= b on this path when
reach[b] > t' (evasion) or reach[b] <= t' (framing): a lower bound, since a
search aimed at t' would take another path. At t' = t it is exactly the
summary's success at b.

Example (aHash of a flat image: lifting one 8x8 block flips its bit)::

    >>> import numpy as np
    >>> from harness.hashers import get_hasher
    >>> x = np.full((64, 64, 3), 120, np.uint8); x[:, 32:] = 130
    >>> r = evade(x, get_hasher("ahash"), threshold=0, budget=200, linf_cap=16, seed=0)
    >>> bool(r.success), r.queries <= 200
    (True, True)

Framing with ``greedy`` (aHash: the target has its top half brighter; lifting
the top half and lowering the bottom half by 8 reaches it exactly)::

    >>> y = np.full((64, 64, 3), 100, np.uint8); y[:32] = 200
    >>> h = get_hasher("ahash")
    >>> r = frame(x, h.hash(y), h, 0, algorithm="greedy", budget=400, linf_cap=8, seed=0)
    >>> bool(r.success), r.distance, int(np.abs(r.image.astype(int) - x).max()) <= 8
    (True, 0, True)
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .basis import Basis, _add_scaled
from .oracle import QueryOracle

GOALS = ("evasion", "framing")
ALGORITHMS = ("cma", "random", "greedy")
GREEDY_GRID0 = 4  # greedy's first block grid (g x g)


@dataclass
class AttackResult:
    """Outcome of one attack.

    success: the returned image meets the goal (d > t for evasion, d <= t for framing).
    image: the attacked (h, w, 3) uint8 image (x itself when nothing was queried).
    distance: integer distance of `image`'s hash to the reference (own or target) hash,
        None when no query was made; raw_distance: the same before binning.
    start_distance: distance of x itself (None when no query was made).
    amplitude: L-infinity amplitude level (grey levels) at which `image` was made.
    queries: hasher calls made (<= budget); queries_to_success: calls until the
        first success (None if none); levels: (amplitude, budget, queries used, success) per level.
    reach: {psnr budget (dB, float; -inf = any): best distance among the candidates with
        PSNR >= budget} (see module doc); empty when no query was made.
    """

    goal: str
    algorithm: str
    success: bool
    image: np.ndarray
    distance: int | None
    raw_distance: float | None
    start_distance: int | None
    threshold: int
    amplitude: int
    queries: int
    queries_to_success: int | None
    cpu_seconds: float
    levels: list = field(default_factory=list)
    reach: dict = field(default_factory=dict)


def derive_seed(*parts) -> int:
    """A 32-bit seed from any printable parts (sha256 of their repr joined by '|')."""
    text = "|".join(repr(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big")


class _Problem:
    """Bookkeeping shared by every level of one attack."""

    def __init__(self, x, oracle, ref, threshold, goal, psnr_budgets=()):
        self.x, self.oracle, self.ref, self.t, self.goal = x, oracle, ref, int(threshold), goal
        self.best_ok = None  # (rmse, image, d, raw, amplitude)
        self.best_any = None  # (loss, image, d, raw, amplitude)
        self.first_ok = None
        # best distance per PSNR budget, strictest budget first; -inf = any
        self.reach = {float(b): None for b in sorted(set(psnr_budgets), reverse=True)}
        self.reach[-math.inf] = None
        self.strictest = next(iter(self.reach))

    def _better(self, d, than):
        return than is None or (d > than if self.goal == "evasion" else d < than)

    def _track(self, d, im, xf):
        """Update the best distance per PSNR budget with one candidate at distance d."""
        if not self._better(d, self.reach[self.strictest]):
            return  # cannot improve any budget: skip the PSNR
        mse = float(np.mean((im.astype(np.float64) - xf) ** 2))
        psnr = math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)
        for b, best in self.reach.items():
            if psnr >= b and self._better(d, best):
                self.reach[b] = d

    def evaluate(self, images, amplitude):
        """Hash `images` (len(images) queries); returns (success flags, losses)."""
        return self.record(self.oracle.hash_many(images), images, amplitude)

    def record(self, hashes, images, amplitude):
        """Score already-made hashes of `images`; updates the bests."""
        d, raw = self.oracle.distances(hashes, self.ref)
        ok = d > self.t if self.goal == "evasion" else d <= self.t
        loss = -raw if self.goal == "evasion" else raw
        xf = self.x.astype(np.float64)
        for i, im in enumerate(images):
            self._track(int(d[i]), im, xf)
            if ok[i]:
                rmse = math.sqrt(float(np.mean((im.astype(np.float64) - xf) ** 2)))
                if self.first_ok is None:
                    self.first_ok = self.oracle.queries - len(images) + i + 1
                if self.best_ok is None or rmse < self.best_ok[0]:
                    self.best_ok = (rmse, im, int(d[i]), float(raw[i]), amplitude)
            if self.best_any is None or loss[i] < self.best_any[0]:
                self.best_any = (float(loss[i]), im, int(d[i]), float(raw[i]), amplitude)
        return ok, loss


def _level_random(problem, basis, amplitude, budget, batch, seed):
    rng = np.random.default_rng(seed)
    used, z_ok = 0, None
    while used < budget:
        n = min(batch, budget - used)
        zs = rng.standard_normal((n, basis.dim))
        ok, _ = problem.evaluate([basis.apply(problem.x, z, amplitude) for z in zs], amplitude)
        used += n
        if ok.any():
            z_ok = zs[int(np.argmax(ok))]
            break
    return z_ok, used


def _level_cma(problem, basis, amplitude, budget, batch, seed, z0):
    import cma

    if budget < 2:
        return _level_random(problem, basis, amplitude, budget, batch, seed)
    init = np.zeros(basis.dim) if z0 is None else np.asarray(z0, dtype=np.float64)
    # the field is scale-free: step relative to the warm start's size
    sigma = 1.0 if z0 is None else max(float(np.std(init)), 1e-3)
    es = cma.CMAEvolutionStrategy(
        init,
        sigma,
        {
            "seed": seed % (2**31 - 2) + 1,  # cma: 0 would mean "random"
            "popsize": max(2, batch),
            "CMA_diagonal": True,
            "verbose": -9,
            "maxfevals": budget,
        },
    )
    used, z_ok = 0, None
    while used < budget:
        zs = es.ask()
        n = min(len(zs), budget - used)
        ok, loss = problem.evaluate([basis.apply(problem.x, z, amplitude) for z in zs[:n]], amplitude)
        used += n
        if ok.any():
            z_ok = zs[int(np.argmax(ok))]
            break
        if n < len(zs):
            break
        es.tell(zs, [float(v) for v in loss])
    return z_ok, used


def _apply_field(x, f, amplitude):
    """clip(x + clip(rint(f), -a, a), 0, 255) on every channel (f in grey levels)."""
    out = np.empty_like(x)
    _add_scaled(x, np.ascontiguousarray(f), 1.0, int(amplitude), out)
    return out


def _level_greedy(problem, grid_max, amplitude, budget, batch, seed, z0):
    """Block sign search (see module doc); z0: the sign grid of the last success."""
    rng = np.random.default_rng(seed)
    x = problem.x
    h, w = x.shape[:2]
    grid_max = max(1, min(grid_max, h, w))  # a block is at least one pixel
    block_maps = {}  # grid size -> (block row of each pixel row, block column of each column)

    def image(signs):
        g = signs.shape[0]
        if g not in block_maps:
            block_maps[g] = ((np.arange(h) * g) // h, (np.arange(w) * g) // w)
        rows, cols = block_maps[g]
        return _apply_field(x, float(amplitude) * signs[rows][:, cols].astype(np.float64), amplitude)

    g0 = min(GREEDY_GRID0, grid_max)
    signs = np.zeros((g0, g0), np.int8) if z0 is None else np.array(z0, dtype=np.int8)
    ok, loss = problem.evaluate([image(signs)], amplitude)
    used = 1
    if ok[0]:
        return signs, used
    cur = float(loss[0])
    order, pos = rng.permutation(signs.size), 0
    carry = []  # moves proposed beyond the last batch, tried first in the next
    while used < budget:
        # (block, new sign): 0 -> +1 and -1; +-1 -> its opposite
        moves = [(i, nv) for i, nv in carry if signs.flat[i] != nv]
        while len(moves) < batch:
            if pos == len(order):  # a sweep is over: refine the grid
                if moves:  # but first evaluate this sweep's last moves, on their own grid
                    break
                if 2 * signs.shape[0] <= grid_max:
                    signs = np.repeat(np.repeat(signs, 2, axis=0), 2, axis=1)
                order, pos = rng.permutation(signs.size), 0
            i = int(order[pos])
            pos += 1
            v = int(signs.flat[i])
            moves += [(i, nv) for nv in ((1, -1) if v == 0 else (-v,))]
        moves, carry = moves[: min(batch, budget - used)], moves[batch:]
        cands = []
        for i, nv in moves:
            c = signs.copy()
            c.flat[i] = nv
            cands.append(c)
        ok, loss = problem.evaluate([image(c) for c in cands], amplitude)
        used += len(cands)
        if ok.any():
            return cands[int(np.argmax(ok))], used
        better = [int(j) for j in np.argsort(loss, kind="stable") if loss[j] < cur]
        if not better:
            ties = np.flatnonzero(loss <= cur)
            if len(ties):  # walk the plateau
                signs = cands[int(ties[rng.integers(len(ties))])]
            continue
        best, best_loss = cands[better[0]], float(loss[better[0]])
        comb, seen = signs.copy(), set()
        for j in better:  # every improving block at once
            i, nv = moves[j]
            if i not in seen:
                seen.add(i)
                comb.flat[i] = nv
        if len(seen) > 1 and used < budget:
            ok, loss = problem.evaluate([image(comb)], amplitude)
            used += 1
            if ok[0]:
                return comb, used
            if loss[0] < best_loss:
                best, best_loss = comb, float(loss[0])
        signs, cur = best, best_loss
    return None, used


def attack(
    x: np.ndarray,
    hasher,
    ref_hash: np.ndarray,
    threshold: int,
    goal: str,
    *,
    algorithm: str = "cma",
    budget: int = 2000,
    linf_cap: int = 32,
    seed: int = 0,
    basis: str = "dct",
    basis_size: int = 8,
    batch: int = 16,
    greedy_grid: int = 8,
    oracle: QueryOracle | None = None,
    psnr_budgets=(),
) -> AttackResult:
    """Minimal-perturbation attack on one image (see module doc). `ref_hash` is
    h(x) for evasion (computed with the first query when None) or the target
    hash for framing; `psnr_budgets` (dB): budgets of ``reach``; `greedy_grid`:
    finest block grid of ``greedy`` (``basis`` and ``basis_size`` are for cma and random)."""
    if goal not in GOALS:
        raise ValueError(f"goal must be one of {', '.join(GOALS)} (got {goal!r})")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"algorithm must be one of {', '.join(ALGORITHMS)} (got {algorithm!r})")
    if goal == "framing" and ref_hash is None:
        raise ValueError("framing needs the target hash (ref_hash)")
    x = np.ascontiguousarray(x, dtype=np.uint8)
    if x.ndim != 3 or x.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) uint8 RGB array (got shape {x.shape})")
    budget, linf_cap, batch = int(budget), int(linf_cap), max(1, int(batch))
    oracle = oracle or QueryOracle(hasher)
    start_q = oracle.queries
    cpu0 = time.process_time()
    levels = []

    def result(problem=None):
        best = problem and (problem.best_ok or problem.best_any)
        ok = bool(problem and problem.best_ok)
        return AttackResult(
            goal=goal,
            algorithm=algorithm,
            success=ok,
            image=best[1] if best else x,
            distance=best[2] if best else None,
            raw_distance=best[3] if best else None,
            start_distance=getattr(problem, "start", None),
            threshold=int(threshold),
            amplitude=best[4] if best else 0,
            queries=oracle.queries - start_q,
            queries_to_success=(problem.first_ok - start_q) if ok else None,
            cpu_seconds=time.process_time() - cpu0,
            levels=levels,
            reach=dict(problem.reach) if problem else {},
        )

    if budget < 1:
        return result()
    h0 = oracle.hash_many([x])[0]  # query 1: x itself
    if goal == "evasion" and ref_hash is None:
        ref_hash = h0
    problem = _Problem(x, oracle, ref_hash, threshold, goal, psnr_budgets)
    ok, _ = problem.record(h0[None], [x], 0)
    problem.start = problem.best_any[2]
    if ok[0] or linf_cap < 1 or budget - (oracle.queries - start_q) < 1:
        return result(problem)
    b = Basis(basis, basis_size, x.shape[0], x.shape[1])
    lo, hi, amp, z_ok, level = 0, linf_cap, linf_cap, None, 0
    while True:
        remaining = budget - (oracle.queries - start_q)
        if remaining < 1:
            break
        if level == 0:
            share = remaining
        else:
            share = max(1, remaining // max(1, math.ceil(math.log2(max(hi - lo, 2)))))
        seed_l = derive_seed(seed, "level", level)
        if algorithm == "cma":
            z, used = _level_cma(problem, b, amp, share, batch, seed_l, z_ok)
        elif algorithm == "greedy":
            z, used = _level_greedy(problem, int(greedy_grid), amp, share, batch, seed_l, z_ok)
        else:
            z, used = _level_random(problem, b, amp, share, batch, seed_l)
        levels.append((amp, share, used, z is not None))
        if z is not None:
            hi, z_ok = amp, z
        else:
            lo = amp
            if level == 0:
                break
        if hi - lo <= 1:
            break
        amp = (lo + hi) // 2
        level += 1
    return result(problem)


def evade(rgb: np.ndarray, hasher, threshold: int, **kwargs) -> AttackResult:
    """Evasion: find x' near `rgb` with d(h(x'), h(rgb)) > threshold (h(rgb) costs one query).
    Keyword arguments as `attack` (algorithm, budget, linf_cap, seed, basis, basis_size, batch)."""
    return attack(rgb, hasher, None, threshold, "evasion", **kwargs)


def frame(rgb: np.ndarray, target_hash: np.ndarray, hasher, threshold: int, **kwargs) -> AttackResult:
    """Framing: find x' near `rgb` with d(h(x'), target_hash) <= threshold.
    Keyword arguments as `attack`."""
    return attack(rgb, hasher, np.asarray(target_hash, dtype=np.uint8), threshold, "framing", **kwargs)
