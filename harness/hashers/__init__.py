"""Hashers stage: the one place that turns pixels into a hash.

`get_hasher(name, **params)` builds a registered hasher; `list_hashers()`
names them. Third-party hashers register through the ``harness.hashers``
entry-point group (value: a Hasher subclass).
"""
from __future__ import annotations

from typing import Callable

from ..errors import ConfigError
from .base import Hasher, pack_bool_bits
from .imagehash_backend import AverageHash, DifferenceHash, PerceptualHash, WaveletHash

_REGISTRY: dict[str, Callable[..., Hasher]] = {}


def register(name: str, factory: Callable[..., Hasher]) -> None:
    """Register a hasher factory under `name` (later registrations win)."""
    _REGISTRY[name] = factory


for _cls in (AverageHash, PerceptualHash, DifferenceHash, WaveletHash):
    register(_cls.name, _cls)


def list_hashers() -> list[str]:
    """Names of every registered hasher, sorted."""
    return sorted(_REGISTRY)


def get_hasher(name: str, **params) -> Hasher:
    """Build the hasher registered as `name` with `params`.

    Raises ConfigError naming the available hashers for an unknown name, or
    the bad parameter for invalid parameters."""
    if name not in _REGISTRY:
        raise ConfigError("hasher", f"unknown hasher {name!r}; available: {', '.join(list_hashers())}")
    try:
        return _REGISTRY[name](**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"hasher {name}", f"invalid parameters {params}: {exc}") from None


__all__ = ["Hasher", "get_hasher", "list_hashers", "pack_bool_bits", "register"]
