"""PDQ (Meta, 256 bits) through the ``pdqhash`` package (Meta's C++ code).

``pdqhash.compute(rgb)`` returns 256 bits, most significant first (bit 255 =
top bit of Meta's word 15), and a quality score 0..100. Packed MSB first,
the hex equals Meta's ``Hash256::format()`` (words 15..0 as ``%04hx``), e.g.
the string ThreatExchange's tools print and publish.

Quality: Meta recommends discarding hashes of quality below 50 (flat or
featureless images give unreliable hashes). ``min_quality`` (default 0 =
keep all) makes ``hash`` raise `LowQualityError` for images under it; a run
records those images in errors.csv (stage "hash") and goes on. Config::

    hashers: [{name: pdq, params: {min_quality: 50}}]

``hash_with_quality(rgb) -> (packed, quality)`` gives the score.

Dihedral versions: ``hash_dihedral(rgb)`` gives the hashes of the 8
dihedral versions of the image (rotations by 0/90/180/270 degrees, the two
flips, the two transposes) as pdqhash computes them from one DCT (Meta's
reference tooling does the same), in DIHEDRAL_ORDER. They are within a few
bits of hashing the explicitly transformed pixels on large photos (0 to
8 bits on PDQ's own test photo), not bit-identical to it; on small photos
(about 300 x 200 pixels) four of the versions differ by a median of 20 to
24 bits (up to 56; `tools/pdq_dihedral_gap.py`). ``dihedral: true`` in a config
(`harness.hashers.dihedral`) uses them through ``hash_versions`` (filtered
on min_quality like ``hash``).

Reduced-size decoding (``fast_decode``) is flagged unsuitable for PDQ: it
moves PDQ hashes by 10-22 bits against a usual match threshold of 31.
"""

from __future__ import annotations

import numpy as np
import pdqhash

from .base import Hasher
from .dihedral import DIHEDRAL_ORDER as _DIHEDRAL_ORDER

PDQHASH_VERSION = getattr(pdqhash, "__version__", "unknown")


#: the versions of ``pdqhash.compute_dihedral`` in its order (the numpy
#: operations: `harness.hashers.dihedral.VERSIONS`)
DIHEDRAL_ORDER = _DIHEDRAL_ORDER


class LowQualityError(ValueError):
    """The image's PDQ quality is under the hasher's min_quality."""


class PDQHasher(Hasher):
    name = "pdq"
    bits = 256
    backend = f"pdqhash {PDQHASH_VERSION}"
    fast_decode_suitable = False
    #: 256 coefficients > their median: 128 ones, even distances
    distance_granularity = 2

    def __init__(self, min_quality: int = 0):
        if isinstance(min_quality, bool) or int(min_quality) != min_quality or not 0 <= min_quality <= 100:
            raise ValueError(f"min_quality must be an integer 0..100 (got {min_quality!r})")
        super().__init__(min_quality=int(min_quality))

    @staticmethod
    def reference(rgb: np.ndarray):
        """``pdqhash.compute`` on RGB uint8 pixels: (bool vector (256,), quality)."""
        return pdqhash.compute(np.ascontiguousarray(rgb, dtype=np.uint8))

    def hash_with_quality(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        """(packed hash uint8 (32,), PDQ quality 0..100); never filters."""
        vector, quality = self.reference(rgb)
        return np.packbits(np.asarray(vector, dtype=bool)), int(quality)

    def hash_dihedral_with_quality(self, rgb: np.ndarray) -> tuple[np.ndarray, int]:
        """(packed hashes uint8 (8, 32) of the 8 dihedral versions of the
        image in DIHEDRAL_ORDER, from ``pdqhash.compute_dihedral`` (row 0
        equals `hash`), PDQ quality 0..100); never filters."""
        vectors, quality = pdqhash.compute_dihedral(np.ascontiguousarray(rgb, dtype=np.uint8))
        return np.stack([np.packbits(np.asarray(v, dtype=bool)) for v in vectors]), int(quality)

    def hash_dihedral(self, rgb: np.ndarray) -> np.ndarray:
        """`hash_dihedral_with_quality`'s hashes; never filters on quality."""
        return self.hash_dihedral_with_quality(rgb)[0]

    def hash_versions(self, rgb: np.ndarray) -> np.ndarray:
        """The dihedral hashes for ``dihedral: true``
        (`harness.hashers.dihedral`): `hash_dihedral`, filtered on
        min_quality like `hash`."""
        versions, quality = self.hash_dihedral_with_quality(rgb)
        self._check_quality(quality)
        return versions

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        packed, quality = self.hash_with_quality(rgb)
        self._check_quality(quality)
        return packed

    def _check_quality(self, quality: int) -> None:
        if quality < self.params["min_quality"]:
            raise LowQualityError(f"PDQ quality {quality} is below min_quality {self.params['min_quality']}")
