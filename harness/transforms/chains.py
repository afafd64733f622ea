"""Chains: named real-world pipelines, each a sequence of family specs.

The `chain` family's severity is the chain name. Step i of a chain runs
``apply_transform(step_i, pixels_{i-1}, chain_step_seed(seed, i, step_i))``
where ``seed`` is the chain variant's seed, so a chain is exactly the
composition of its parts (tests check byte-identical pixels).
"""

from __future__ import annotations

import hashlib
import json

from .base import Family, one_of, register_family
from .spec import TransformSpec

S = TransformSpec.make
CHAINS: dict[str, tuple[TransformSpec, ...]] = {
    # upload to a social network: long side limited to 1080, JPEG 75, a slight crop
    "social": (S("max-size", 1080), S("jpeg", 75), S("crop", 0.95)),
    # a messenger: long side 1600, JPEG 70, forwarded twice (re-encoded twice more)
    "messenger": (S("max-size", 1600), S("jpeg", 70), S("jpeg", 70), S("jpeg", 70)),
    # someone screenshots the post and reposts it as JPEG 80
    "screenshot-repost": (S("screenshot", 0.9), S("jpeg", 80)),
}


def chain_step_seed(seed: int, index: int, step: TransformSpec) -> int:
    """32-bit seed of step `index`: sha256("seed|index|step key"), first 4
    bytes little-endian."""
    text = f"{int(seed)}|{int(index)}|{step.key}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")


def _chain(name, params, rgb, seed):
    from .apply import apply_transform

    pixels, applied = rgb, []
    for i, step in enumerate(CHAINS[name]):
        pixels, step_applied = apply_transform(step, pixels, chain_step_seed(seed, i, step))
        applied.append({"step": step.key, "applied": json.loads(step_applied)})
    return pixels, applied


def _check(name):
    return one_of(*CHAINS)(name)


CHAIN = register_family(
    Family(
        "chain",
        "named pipeline: " + "; ".join(f"{n} = {' -> '.join(s.key for s in steps)}" for n, steps in CHAINS.items()),
        tuple(CHAINS),
        _check,
        apply=_chain,
        group="chain",
    )
)
