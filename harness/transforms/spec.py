"""Transform specs and variant seeds.

A transform spec is a small serialisable value (family, severity, params);
its `key` is part of every cache key. A *variant* is (image, spec, seed) and
is deterministic: its random state comes from `variant_seed`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


@dataclass(frozen=True)
class TransformSpec:
    family: str
    severity: Any = None
    params: tuple = field(default_factory=tuple)  # sorted (key, value) pairs

    @classmethod
    def make(cls, family: str, severity: Any = None, params: dict | None = None) -> TransformSpec:
        items = tuple(sorted((str(k), _freeze(v)) for k, v in (params or {}).items()))
        return cls(family, _canonical(severity), items)

    @property
    def params_dict(self) -> dict:
        return {k: _thaw(v) for k, v in self.params}

    @cached_property
    def key(self) -> str:
        """Canonical string, e.g. ``jpeg(40)`` or ``crop(0.5,position="off-centre")``
        (computed once per spec: it is a cache key, asked for very often)."""
        parts = [] if self.severity is None else [json.dumps(self.severity)]
        parts += [f"{k}={json.dumps(_thaw(v), sort_keys=True)}" for k, v in self.params]
        return f"{self.family}({','.join(parts)})"

    @property
    def series(self) -> str:
        """The family plus its params, without the severity, e.g. ``crop`` or
        ``crop[position=off-centre]``: one line of a severity plot."""
        if not self.params:
            return self.family
        params = ",".join(f"{k}={json.dumps(_thaw(v), sort_keys=True).strip(chr(34))}" for k, v in self.params)
        return f"{self.family}[{params}]"

    def to_dict(self) -> dict:
        return {"family": self.family, "severity": self.severity, "params": self.params_dict}


def _freeze(v):
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    if isinstance(v, list):
        return tuple(_freeze(x) for x in v)
    return _canonical(v)


def _thaw(v):
    if isinstance(v, tuple):
        if all(isinstance(x, tuple) and len(x) == 2 and isinstance(x[0], str) for x in v) and v:
            return {k: _thaw(x) for k, x in v}
        return [_thaw(x) for x in v]
    return v


ORIGINAL = TransformSpec.make("original")


def variant_seed(image_id: str, spec: TransformSpec, experiment_seed: int) -> int:
    """32-bit seed derived from sha256(image sha256 | spec key | seed):
    independent of run order, process and machine."""
    text = f"{image_id}|{spec.key}|{int(experiment_seed)}".encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:4], "little")
