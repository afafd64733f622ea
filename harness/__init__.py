"""phash-harness: measure how perceptual image hashes behave on benign,
public photographs.

Python entry points (see docs/design.md):

- ``hash_image(path_or_rgb_array, hasher="phash") -> str`` (hex) and
  ``distance(hex_a, hex_b, hasher=None)``
- ``get_hasher(name)``, ``list_hashers()``
- ``run_experiment(config_or_path) -> Results`` (computes and writes the
  tables), ``write_report(results)`` (draws report and figures),
  ``Results.load(folder)``
- ``harness.metrics`` and ``harness.risk``: pure functions
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import metrics, risk  # noqa: E402
from .hashers import get_hasher, list_hashers  # noqa: E402
from .hashers.hex_distance import distance  # noqa: E402
from .results import Results  # noqa: E402


def hash_image(image, hasher: str = "phash", **params) -> str:
    """Hash one image with a named hasher.

    A file is decoded as the hasher's reference tool decodes it (imagehash
    and PDQ: Pillow's ``convert`` of the opened file, alpha dropped; OpenCV:
    as ``cv2.imread``; see harness.imageio), so the hex string equals the
    reference library's (imagehash, pdqhash, OpenCV img_hash).

    Parameters
    ----------
    image : str, path, bytes, PIL.Image.Image or numpy.ndarray
        A file path, the bytes of a file, a Pillow image or an (h, w, 3)
        uint8 RGB array.
    hasher : str, default "phash"
        A name from `list_hashers`.
    **params
        Hasher parameters (e.g. ``hash_size=16``); ``decode="composite_white"``
        composites alpha onto white instead of dropping it, and
        ``fast_decode=True`` opts into reduced-size JPEG decoding for files
        (not bit-exact); both are different hasher identities.

    Returns
    -------
    str
        The hash as hex (``bits / 4`` digits for binary hashes).

    Examples
    --------
    >>> import numpy as np, harness
    >>> gradient = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    >>> rgb = np.dstack([gradient] * 3)
    >>> harness.hash_image(rgb, "dhash")  # every pixel brighter than its left neighbour
    'ffffffffffffffff'
    >>> len(harness.hash_image(rgb, "pdq"))  # 256 bits
    64
    """
    h = get_hasher(hasher, **params)
    return h.to_hex(h.hash_file(image))


def run_experiment(config_or_path=None, **kwargs) -> Results:
    """Run an experiment and write its tables; returns `Results`.

    Hashes every image of the dataset and every variant (transform x
    severity) with every hasher, counts all pairs exactly and writes the
    tables (metrics.csv, histograms.parquet, hashes.parquet, run.json, ...)
    into the config's output folder. Draws nothing: `write_report` writes
    the report and the figures.

    Parameters
    ----------
    config_or_path : str, path, dict, ExperimentConfig or None
        A YAML file, a dict of the same fields, or None for the built-in
        quickstart.
    **kwargs
        output (a folder overriding the config's), progress (bool),
        workers (processes), scheduler (None: a local process pool;
        "local" or "tcp://HOST:PORT": Dask; "inline": this process).

    Returns
    -------
    Results

    Examples
    --------
    >>> import tempfile, harness
    >>> config = {"dataset": {"source": "sample", "limit": 4}, "hashers": ["ahash"],
    ...           "transforms": [{"family": "resize", "severities": [0.5]}],
    ...           "output": tempfile.mkdtemp() + "/run"}
    >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
    >>> len(results.hashes), results.n_errors  # 4 originals + 4 variants
    (8, 0)
    """
    from .engine import run_experiment as _run

    return _run(config_or_path, **kwargs)


def write_report(results, processes: int = 1, svg: bool = False) -> str:
    """Write report.md, report.html and figures/ of a results folder.

    Parameters
    ----------
    results : Results or str
        What `run_experiment` returned, or a results folder.
    processes : int, default 1
        Processes that draw the figures (same bytes as one).
    svg : bool, default False
        Also write each figure as SVG in figures/.

    Returns
    -------
    str
        Path of report.md.

    Examples
    --------
    >>> import os, tempfile, harness
    >>> config = {"dataset": {"source": "sample", "limit": 4}, "hashers": ["ahash"],
    ...           "transforms": [{"family": "resize", "severities": [0.5]}],
    ...           "output": tempfile.mkdtemp() + "/run"}
    >>> results = harness.run_experiment(config, progress=False, scheduler="inline")
    >>> md = harness.write_report(results, svg=True)
    >>> sorted(n for n in os.listdir(results.path("figures")) if n.startswith("roc."))
    ['roc.png', 'roc.svg']
    """
    from .report import write_report as _write

    return _write(results, processes=processes, svg=svg)


__all__ = [
    "Results",
    "__version__",
    "distance",
    "get_hasher",
    "hash_image",
    "list_hashers",
    "metrics",
    "risk",
    "run_experiment",
    "write_report",
]
