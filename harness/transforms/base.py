"""The `Family` record, its registry, range checks and the one place that
runs a family on pixels.

A family is a name, ONE severity parameter with a documented meaning and
valid range, a default sweep (listed from mildest to strongest), optional
named params with allowed values, and either

- ``build(severity, params, (h, w))`` returning an albumentations transform
  (or a list of them) constructed with ``strict=True, p=1``; it runs inside
  ``A.Compose(save_applied_params=True, strict=True)`` seeded with the
  variant seed (the Compose is built once per (family, severity, params,
  `shape_key`) and thread, and reseeded per variant: `PipelineCache` says
  why that equals building it afresh); or
- ``apply(severity, params, rgb, seed)`` returning ``(pixels, applied)`` for
  the operations albumentations lacks (overlays, screenshot frame, chains).
"""

from __future__ import annotations

import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import albumentations as A
import numpy as np

from ..errors import ConfigError, TransformError

#: a params entry is either a tuple of allowed values (the first is the
#: default) or a callable value -> None | allowed-values text
ParamRule = Any


@dataclass(frozen=True)
class Family:
    name: str
    severity_meaning: str
    #: default sweep, mildest first (the report plots severity in this order)
    default_sweep: tuple
    #: check(severity) -> None if valid, else the allowed-values text
    check: Callable[[Any], str | None]
    #: build(severity, params, (h, w)) -> albumentations transform or list
    build: Callable[[Any, dict, tuple[int, int]], Any] | None = None
    #: name -> tuple of allowed values (first = default) or check callable
    params_allowed: dict = field(default_factory=dict)
    #: apply(severity, params, rgb, seed) -> (uint8 RGB pixels, applied dict)
    apply: Callable[[Any, dict, np.ndarray, int], tuple[np.ndarray, dict]] | None = None
    #: module group: geometry, photometric, encoding, overlay, screenshot, chain
    group: str = ""
    #: True only for encodings (the variant went through a lossy codec)
    encodes: bool = False
    #: shape_key(severity, params, (h, w)) -> the part of the image shape
    #: that `build` depends on (None: build ignores the shape); the default
    #: (this field None) is the whole (h, w). Keys the pipeline cache of `run`.
    shape_key: Callable[[Any, dict, tuple[int, int]], Any] | None = None

    def __post_init__(self):
        if (self.build is None) == (self.apply is None):
            raise ValueError(f"family {self.name}: give exactly one of build or apply")

    # ----------------------------------------------------------- validation
    def check_params(self, params: dict | None) -> str | None:
        """None if `params` are valid, else one line naming the bad param and
        the allowed values."""
        for key, value in (params or {}).items():
            if key not in self.params_allowed:
                allowed = ", ".join(self.params_allowed) or "none"
                return f"unknown param {key!r} for {self.name}; allowed params: {allowed}"
            rule = self.params_allowed[key]
            if callable(rule):
                problem = rule(value)
                if problem:
                    return f"{self.name} param {key}={value!r} invalid; allowed: {problem}"
            elif value not in rule or isinstance(value, bool) != isinstance(rule[0], bool):
                return f"{self.name} param {key}={value!r} invalid; allowed: {' | '.join(_show(v) for v in rule)}"
        return None

    def validate(self, severity: Any, where: str = "severity") -> None:
        problem = self.check(severity)
        if problem:
            raise ConfigError(where, f"{self.name} severity {severity!r} invalid; allowed: {problem}")

    def validate_params(self, params: dict | None, where: str = "params") -> None:
        problem = self.check_params(params)
        if problem:
            raise ConfigError(where, problem)

    def param(self, params: dict, key: str):
        """The value of `key` in params, or its default."""
        if key in params:
            return params[key]
        rule = self.params_allowed[key]
        return None if callable(rule) else rule[0]

    def canonical_params(self, params: dict | None) -> dict:
        """`params` without entries equal to their default, so that
        ``crop(0.5)`` and ``crop(0.5,position="centre")`` are one spec."""
        out = {}
        for key, value in (params or {}).items():
            rule = self.params_allowed.get(key)
            if isinstance(rule, tuple) and value == rule[0] and type(value) is type(rule[0]):
                continue
            out[key] = value
        return out

    # ------------------------------------------------------------- running
    def run(self, severity: Any, params: dict, rgb: np.ndarray, seed: int) -> tuple[np.ndarray, Any]:
        """Make the variant; returns (pixels, applied params as plain data).
        Raises TransformError when the variant cannot be made."""
        h, w = rgb.shape[:2]
        if self.apply is not None:
            return self.apply(severity, params, rgb, int(seed))
        pipeline = self._pipeline(severity, params, (h, w))
        pipeline.set_random_seed(int(seed))
        try:
            out = pipeline(image=rgb)
        finally:
            _release(pipeline)
        applied = [
            {"transform": name, **{k: v for k, v in p.items() if k != "shape"}}
            for name, p in out.get("applied_transforms", [])
        ]
        return out["image"], applied[0] if len(applied) == 1 else applied

    def _compose(self, severity, params: dict, shape: tuple[int, int]):
        """A new ``A.Compose`` of this family's build (not yet seeded)."""
        built = self.build(severity, params, shape)
        steps = list(built) if isinstance(built, (list, tuple)) else [built]
        return A.Compose(steps, seed=None, save_applied_params=True, strict=True)

    def _pipeline(self, severity, params: dict, shape: tuple[int, int]):
        """The ``A.Compose`` for (severity, params, shape), built once per
        thread and reused (see `PipelineCache`); the caller seeds it."""
        try:
            key = (
                self.name,
                json.dumps([severity, params], sort_keys=True),
                shape if self.shape_key is None else ("shape_key", self.shape_key(severity, params, shape)),
            )
            hash(key)
        except (TypeError, ValueError):  # a value that has no stable key: build afresh
            return self._compose(severity, params, shape)
        return PIPELINES.get(key, lambda: self._compose(severity, params, shape))


def _release(pipeline) -> None:
    """Drop what a cached pipeline keeps from its last call: each
    transform's ``params`` (GaussNoise keeps its whole noise map there), so
    the cache holds no image-sized arrays between variants. albumentations
    resets ``params`` at the start of every call, so this changes no result;
    the applied params returned by the call are copies made before."""
    for t in getattr(pipeline, "transforms", ()):
        _release(t)
        if isinstance(getattr(t, "params", None), dict):
            t.params = {}


class PipelineCache:
    """Per-thread LRU of built albumentations pipelines (at most `size`).

    Why reuse is exact (albumentations 2.0.8): everything random in a
    pipeline comes from the generators that ``Compose.set_random_seed(seed)``
    replaces, in the Compose and (recursively, through OneOf) in every
    transform: each gets a fresh ``numpy.random.default_rng(seed)`` and
    ``random.Random(seed)``, exactly the state ``A.Compose(..., seed=seed)``
    leaves after construction (the ``set_random_seed(None)`` each transform
    does in its own ``__init__`` is overwritten there too). A transform's
    ``params`` are reset at the start of each call, and only the transforms
    that ran in a call are recorded in its applied params. So seeding a
    cached pipeline and calling it gives the pixels and applied params of a
    pipeline built afresh with that seed; tests compare both on every
    family at every default severity, in two orders of application.
    Per thread, because reseeding and calling are not atomic (a Dask worker
    may run several tasks in threads of one process)."""

    def __init__(self, size: int = 512):
        self.size = size
        self._local = threading.local()

    def _entries(self) -> OrderedDict:
        entries = getattr(self._local, "entries", None)
        if entries is None:
            entries = self._local.entries = OrderedDict()
        return entries

    def get(self, key, make):
        entries = self._entries()
        pipeline = entries.get(key)
        if pipeline is None:
            pipeline = make()  # a build that raises caches nothing
            entries[key] = pipeline
            if len(entries) > self.size:
                entries.popitem(last=False)
        else:
            entries.move_to_end(key)
        return pipeline

    def clear(self) -> None:
        self._entries().clear()


#: the pipelines of `Family.run` in this process
PIPELINES = PipelineCache()


def no_shape(severity, params, shape) -> None:
    """`Family.shape_key` of a family whose build ignores the image shape."""
    return None


def _show(v) -> str:
    return "true" if v is True else "false" if v is False else str(v)


# ------------------------------------------------------------------ checks
def is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def int_range(lo: int, hi: int, odd: bool = False):
    """Check: an integer in lo..hi (odd only if `odd`)."""
    text = f"{'an odd' if odd else 'an'} integer in {lo}..{hi}"

    def check(x):
        ok = is_number(x) and float(x).is_integer() and lo <= x <= hi and (not odd or int(x) % 2 == 1)
        return None if ok else text

    return check


def num_range(
    lo: float,
    hi: float,
    lo_inclusive: bool = False,
    hi_inclusive: bool = True,
    what: str = "a number",
    exclude: tuple = (),
):
    """Check: a number in the interval, e.g. ``a fraction in (0, 1]``."""
    text = f"{what} in {'[' if lo_inclusive else '('}{lo}, {hi}{']' if hi_inclusive else ')'}"
    if exclude:
        text += " except " + ", ".join(str(e) for e in exclude)

    def check(x):
        if not is_number(x) or x in exclude:
            return text
        ok_lo = x >= lo if lo_inclusive else x > lo
        ok_hi = x <= hi if hi_inclusive else x < hi
        return None if ok_lo and ok_hi else text

    return check


def one_of(*values):
    """Check: one of the given names."""
    text = "one of " + ", ".join(str(v) for v in values)

    def check(x):
        return None if isinstance(x, str) and x in values else text

    return check


def alb(cls, **kwargs):
    """Construct an albumentations transform with ``p=1`` and ``strict=True``.

    A few 2.0.8 classes (e.g. MedianBlur) inherit their schema and do not
    take ``strict`` as an argument; for those the ``strict`` attribute is
    set after construction, which re-checks the arguments the same way."""
    try:
        return cls(**kwargs, p=1, strict=True)
    except TypeError as exc:
        if "strict" not in str(exc):
            raise
    t = cls(**kwargs, p=1)
    t.strict = True
    return t


def need_size(rgb_shape, min_side: int, what: str) -> None:
    h, w = rgb_shape[:2]
    if min(h, w) < min_side:
        raise TransformError(f"image {w}x{h} too small for {what} (needs at least {min_side} px a side)")


# ----------------------------------------------------------------- registry
FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    FAMILIES[family.name] = family
    return family


def list_families() -> list[str]:
    return sorted(FAMILIES)


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ConfigError("transform", f"unknown transform {name!r}; available: {', '.join(list_families())}")
    return FAMILIES[name]
