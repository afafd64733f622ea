"""imagehash algorithms (average, perceptual, difference, wavelet hash).

Each hasher converts the RGB array to a Pillow image and calls imagehash
itself, so results equal the reference bit for bit. The packed bytes are the
flattened boolean hash (row-major) packed most-significant-bit first; the hex
string equals ``str(imagehash_result)``.
"""
from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from .base import Hasher, pack_bool_bits

IMAGEHASH_VERSION = getattr(imagehash, "__version__", "unknown")


class ImagehashHasher(Hasher):
    """Generic wrapper: `func(pil_image, hash_size=..., **kw) -> ImageHash`."""

    func_name: str = ""
    backend = f"imagehash {IMAGEHASH_VERSION}"

    def __init__(self, hash_size: int = 8, **params):
        if int(hash_size) < 2:
            raise ValueError("hash_size must be an integer >= 2")
        super().__init__(hash_size=int(hash_size), **params)
        self.bits = self._bits(int(hash_size))

    def _bits(self, hash_size: int) -> int:
        return hash_size * hash_size

    def _call(self, img: Image.Image):
        return getattr(imagehash, self.func_name)(img, **self.params)

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        result = self._call(Image.fromarray(rgb, mode="RGB"))
        return pack_bool_bits(result.hash)


class AverageHash(ImagehashHasher):
    name = "ahash"
    func_name = "average_hash"


class PerceptualHash(ImagehashHasher):
    name = "phash"
    func_name = "phash"

    def __init__(self, hash_size: int = 8, highfreq_factor: int = 4):
        super().__init__(hash_size=hash_size, highfreq_factor=int(highfreq_factor))


class DifferenceHash(ImagehashHasher):
    name = "dhash"
    func_name = "dhash"


class WaveletHash(ImagehashHasher):
    name = "whash"
    func_name = "whash"

    def __init__(self, hash_size: int = 8, mode: str = "haar"):
        if hash_size & (hash_size - 1):
            raise ValueError("hash_size must be a power of 2 for whash")
        super().__init__(hash_size=hash_size, mode=str(mode))
