"""The hasher protocol.

A hasher turns 8-bit RGB pixels into a hash stored as packed bytes in the
reference implementation's bit order, so that `to_hex` equals the reference
library's hex string. Distances between two hashes of one hasher are Hamming
distances in bits (integers 0..bits) unless `distance` says otherwise.

Non-Hamming hashers (``distance`` is not ``"hamming"``) also provide the
contract the metrics stage builds its histograms from:

- ``pair_distances(a, b) -> float64 (len(a), len(b))``: the reference
  library's own comparison, turned into a distance (lower = more similar);
- ``n_bins``: number of histogram bins;
- ``bin_edges``: float64 array of length ``n_bins``; ``bin_edges[t]`` is the
  largest distance that falls in bin ``t`` (the last edge may be ``inf``);
- ``quantise(d) -> int64``: bin index, the smallest ``t`` with
  ``d <= bin_edges[t]``; non-decreasing in ``d``. "Threshold t" then means
  "distance <= bin_edges[t]".

Decode mode: a hasher decodes a file as its reference tool does
(``reference_decode``: ``"pillow"`` for imagehash and PDQ, Pillow's
``convert("RGB")`` of the opened file; ``"opencv"`` for OpenCV img_hash,
``cv2.imread``'s conversion; see harness.imageio). Two constructor
parameters accepted by every built-in hasher through ``get_hasher`` change
it: ``decode: composite_white`` (alpha composited onto white, the harness's
conversion before reference decoding) and ``fast_decode`` (reduced-size
JPEG decoding). Both are part of ``params`` when set, and so of the hasher
identity; ``decode_options`` tells the caller how to decode for this hasher.
"""

from __future__ import annotations

import json
import os
from abc import ABC, abstractmethod
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..imageio import DEFAULT_MAX_PIXELS, load_rgb


class Hasher(ABC):
    #: registry name, e.g. "phash"
    name: str = ""
    #: changes whenever the output for the same pixels could change
    version: str = "1"
    #: hash length in bits
    bits: int = 0
    #: "hamming" for binary hashes; anything else needs `pair_distances`
    distance: str = "hamming"
    #: human-readable backend, e.g. "imagehash 4.3.2"
    backend: str = ""
    #: False where reduced-size decoding changes hashes too much to be useful
    fast_decode_suitable: bool = True
    #: fast_decode never reduces an image below this many pixels per side
    min_decode_side: int = 1
    #: distances are multiples of this between hashes whose coefficients do
    #: not tie at the median (2: bits = coefficient > median, so such hashes
    #: have bits // 2 ones and even distances; phash, pdq, whash, whash_db4).
    #: A nominal value: reports use the granularity measured on the histogram
    #: (harness.metrics.granularity)
    distance_granularity: int = 1
    #: how the reference tool converts a decoded file to RGB
    #: (a `harness.imageio.CONVERSIONS` value)
    reference_decode: str = "pillow"
    #: values of the ``decode`` parameter: the reference's conversion, or alpha on white
    DECODE_CHOICES = ("reference", "composite_white")

    def __init__(self, **params: Any):
        self.params = dict(sorted(params.items()))

    @property
    def nbytes(self) -> int:
        return (self.bits + 7) // 8

    @property
    def fast_decode(self) -> int:
        """0 = exact decode; N > 0 = JPEG draft decoding keeping both sides >= N px."""
        return int(self.params.get("fast_decode", 0) or 0)

    @property
    def decode(self) -> str:
        """``"reference"`` (default: decode as the reference tool does) or
        ``"composite_white"`` (alpha composited onto white)."""
        return str(self.params.get("decode", "reference"))

    @property
    def conversion(self) -> str:
        """The `harness.imageio` ``convert`` mode this hasher decodes with."""
        return self.reference_decode if self.decode == "reference" else self.decode

    @property
    def decode_options(self) -> dict:
        """Keyword arguments for `harness.imageio.load_rgb` for this
        hasher (``convert`` left out when it is load_rgb's default, "pillow")."""
        opts = {} if self.conversion == "pillow" else {"convert": self.conversion}
        if self.fast_decode:
            opts["fast_decode"] = self.fast_decode
        return opts

    @property
    def label(self) -> str:
        """Display/grouping name: the registry name, plus the parameters that
        differ from the hasher's defaults, e.g. ``phash[fast_decode=1]`` or
        ``phash[hash_size=16]``. Two configurations of one hasher in a run
        need distinct labels (``name`` alone would merge them)."""
        defaults = getattr(self, "_default_params", None)
        if defaults is None:
            return self.name
        diff = {k: v for k, v in self.params.items() if defaults.get(k, object()) != v}
        if not diff:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in sorted(diff.items()))}]"

    @property
    def identity(self) -> dict:
        """Everything that determines the output; part of every cache key."""
        return {"name": self.name, "version": self.version, "params": self.params, "backend": self.backend}

    @property
    def key(self) -> str:
        """Stable string form of `identity` (used as a column value)."""
        return json.dumps(self.identity, sort_keys=True, separators=(",", ":"))

    @abstractmethod
    def hash(self, rgb: np.ndarray) -> np.ndarray:
        """Hash one (h, w, 3) uint8 RGB array; returns uint8 array (nbytes,)."""

    def hash_batch(self, images) -> list:
        """Hash several (h, w, 3) uint8 RGB arrays at once (the engine passes
        every variant of one image as an `ImageBatch`). Returns one entry per
        image, in order: the packed hash (uint8 (nbytes,)), or the exception
        hashing that image raised, so one bad variant costs one error row.
        Default: `hash` in a loop. Backends override it to share work between
        images (batched library calls) or, through `ImageBatch.shared`,
        between hashers; results must equal `hash` bit for bit."""
        return hash_each(self.hash, images)

    def hash_many(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Hash a batch; returns uint8 array (n, nbytes)."""
        rows = [self.hash(im) for im in images]
        if not rows:
            return np.zeros((0, self.nbytes), dtype=np.uint8)
        return np.stack(rows).astype(np.uint8, copy=False)

    def hash_file(self, source, max_pixels: int | None = None) -> np.ndarray:
        """Decode `source` the way this hasher wants (see `decode_options`) and hash it."""
        if not isinstance(source, (str, os.PathLike, bytes, bytearray)):
            # arrays and Pillow images: already decoded; only the mode conversion applies
            return self.hash(load_rgb(source, convert=self.conversion))
        if type(self).hash_pil is not Hasher.hash_pil:
            # the backend takes Pillow images: skip the numpy round trip
            return self.hash_pil(
                load_rgb(source, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, as_image=True, **self.decode_options)
            )
        # array path; the Pillow image is freed before hashing (keeping it alive
        # measurably slows backends that allocate large buffers, e.g. pdqhash)
        return self.hash(load_rgb(source, max_pixels=max_pixels or DEFAULT_MAX_PIXELS, **self.decode_options))

    def hash_pil(self, img) -> np.ndarray:
        """Hash an ``RGB`` Pillow image already converted by this hasher's
        decode (same result as ``hash(np.asarray(img))``; backends that take
        Pillow images override this to skip the array round trip)."""
        return self.hash(np.ascontiguousarray(np.asarray(img, dtype=np.uint8)))

    def to_hex(self, packed: np.ndarray) -> str:
        """Hex string of one packed hash (as the reference library prints it)."""
        return bytes(np.asarray(packed, dtype=np.uint8)).hex()

    def hex_width(self, nbytes: int) -> int | None:
        """How `to_hex` prints a hash of `nbytes` bytes, so that many can be
        printed at once (hashes.parquet's hash_hex): as the last `hex_width`
        digits of its plain lower-case hex; None when `to_hex` is another
        function (a subclass that overrides it)."""
        return 2 * nbytes if type(self).to_hex is Hasher.to_hex else None

    def describe(self) -> dict:
        return {
            "name": self.name,
            "bits": self.bits,
            "distance": self.distance,
            "backend": self.backend,
            "version": self.version,
            "params": json.dumps(self.params, sort_keys=True),
        }

    def __repr__(self) -> str:
        p = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({p})"


def hash_each(hash_one, images) -> list:
    """``hash_one(image)`` for each image, as packed uint8 arrays; an image on
    which it raises gets the exception in its place (reported per image by
    the caller, so one bad variant costs one error row)."""
    out = []
    for im in images:
        try:
            out.append(np.asarray(hash_one(im), dtype=np.uint8))
        except Exception as exc:  # noqa: BLE001 - returned, not swallowed
            out.append(exc)
    return out


class ImageBatch(list):
    """A list of RGB arrays hashed together, plus a cache of values derived
    from them that several hashers can share (e.g. the Pillow greyscale
    images every imagehash hasher starts from): ``shared(key, make)``
    returns ``make(self)``, computed once per batch."""

    def __init__(self, images=()):
        super().__init__(images)
        self._shared: dict = {}

    def shared(self, key, make):
        if key not in self._shared:
            self._shared[key] = make(self)
        return self._shared[key]


def pack_bool_bits(bits: np.ndarray) -> np.ndarray:
    """Pack a boolean array (any shape, flattened row-major) into bytes,
    most significant bit first (numpy.packbits' default, which is the order
    imagehash's hex strings use when the bit count is a multiple of 8)."""
    return np.packbits(np.asarray(bits, dtype=bool).ravel())


def pack_bits_right(bits: np.ndarray) -> np.ndarray:
    """Pack booleans most significant bit first, right-aligned: when the bit
    count n is not a multiple of 8 the first byte carries 8 - n % 8 zero
    padding bits at the top, so the packed bytes read as one big-endian
    integer equal the integer imagehash formats (``int(bitstring, 2)``)."""
    flat = np.asarray(bits, dtype=bool).ravel()
    pad = (-flat.size) % 8
    if pad:
        flat = np.concatenate([np.zeros(pad, dtype=bool), flat])
    return np.packbits(flat)


def upper_edge_quantise(d, edges: np.ndarray) -> np.ndarray:
    """Bin index of distances `d` for upper bin edges `edges`: the smallest
    t with d <= edges[t] (NaN and values above the last edge go to the last
    bin). Non-decreasing in d."""
    d = np.asarray(d, dtype=np.float64)
    idx = np.searchsorted(edges, d, side="left")
    idx = np.where(np.isnan(d), len(edges) - 1, idx)
    return np.minimum(idx, len(edges) - 1).astype(np.int64)
