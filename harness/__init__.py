"""phash-harness: measure how perceptual image hashes behave on benign,
public photographs.

Python entry points (see DESIGN.md):

- ``hash_image(path_or_rgb_array, hasher="phash") -> str`` (hex)
- ``get_hasher(name)``, ``list_hashers()``
- ``run_experiment(config_or_path) -> Results``
- ``harness.metrics`` and ``harness.risk``: pure functions
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import metrics, risk  # noqa: E402
from .hashers import get_hasher, list_hashers  # noqa: E402


def hash_image(image, hasher: str = "phash", **params) -> str:
    """Hash an image file path, bytes, Pillow image or RGB array with the
    named hasher; returns the hex string (equal to the reference library's).
    A file is decoded as the hasher's reference tool decodes it (imagehash
    and PDQ: Pillow's ``convert`` of the opened file, alpha dropped; OpenCV:
    as ``cv2.imread``; see harness.datasets.decode); ``decode=
    "composite_white"`` composites alpha onto white instead, and
    ``fast_decode=True`` opts into reduced-size JPEG decoding for files (not
    bit-exact)."""
    h = get_hasher(hasher, **params)
    return h.to_hex(h.hash_file(image))


def run_experiment(config_or_path=None, **kwargs):
    """Run an experiment (config path, dict, or None for the quickstart)."""
    from .engine import run_experiment as _run

    return _run(config_or_path, **kwargs)


__all__ = ["__version__", "get_hasher", "hash_image", "list_hashers", "metrics", "risk", "run_experiment"]
