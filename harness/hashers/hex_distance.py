"""Distance between two hashes given as the hex strings `hash_image` returns."""

from __future__ import annotations

import numpy as np

from .base import Hasher


def _check_hex(name: str, text: str) -> int:
    if not isinstance(text, str) or not text:
        raise ValueError(f"{name} must be a non-empty hex string (got {text!r})")
    try:
        return int(text, 16)
    except ValueError:
        raise ValueError(
            f"{name} is not a hex string: {text[:40]!r}"
            + (" (a crop_resistant hash: give hasher='crop_resistant')" if "," in text else "")
        ) from None


def from_hex(hasher: Hasher, text: str) -> np.ndarray:
    """Packed bytes (uint8, ``hasher.nbytes``) of a hex string that
    ``hasher.to_hex`` wrote. Hex strings shorter than 2 x nbytes digits
    (imagehash drops the leading zero padding of bit counts that are not a
    multiple of 8) are padded on the left; crop_resistant hex is its
    comma-separated segments."""
    if hasher.name == "crop_resistant":
        segments = text.split(",")
        if not 1 <= len(segments) <= hasher.params["max_segments"]:
            raise ValueError(
                f"crop_resistant hash with {len(segments)} segments (allowed: 1..{hasher.params['max_segments']})"
            )
        out = np.zeros(hasher.nbytes, dtype=np.uint8)
        out[0] = len(segments)
        for i, seg in enumerate(segments):
            _check_hex("segment", seg)
            if len(seg) != 16:
                raise ValueError(f"crop_resistant segment {i} has {len(seg)} hex digits (expected 16)")
            out[1 + 8 * i : 9 + 8 * i] = np.frombuffer(bytes.fromhex(seg), dtype=np.uint8)
        return out
    _check_hex("hash", text)
    expected = len(hasher.to_hex(np.zeros(hasher.nbytes, dtype=np.uint8)))
    if len(text) != expected:
        raise ValueError(f"{hasher.name} hashes have {expected} hex digits (got {len(text)})")
    return np.frombuffer(bytes.fromhex(text.rjust(2 * hasher.nbytes, "0")), dtype=np.uint8).copy()


def distance(hex_a: str, hex_b: str, hasher=None):
    """Distance between two hashes that `harness.hash_image` returned.

    Without `hasher`: the Hamming distance, the number of differing bits
    ``popcount(int(hex_a, 16) XOR int(hex_b, 16))``; both strings must have
    the same number of hex digits. With `hasher` (a name or a Hasher), the
    hasher's own distance: Hamming in bits for binary hashes; for the
    hashers with another distance, the one the metrics stage uses
    (``cv_radialvariance``: 1 - OpenCV's peak cross-correlation;
    ``cv_colormoment``: 10000 x L2 norm of the moment difference, OpenCV's
    compare; ``crop_resistant``: imagehash's ``hash_a - hash_b``, unmatched
    segments plus the mean normalised distance of the matched ones, not
    symmetric).

    Parameters
    ----------
    hex_a, hex_b : str
        Hex strings of one hasher.
    hasher : str or Hasher, optional
        The hasher that made them; needed for non-Hamming hashers and
        checks the lengths.

    Returns
    -------
    int or float
        int bits for Hamming hashers; float for the others.

    Raises
    ------
    ValueError
        When a string is not hex or the two (or the hasher's) lengths differ.

    Examples
    --------
    >>> import harness
    >>> harness.distance("ff00", "0f01")
    5
    >>> harness.distance("8000000000000000", "0000000000000001", hasher="phash")
    2
    >>> harness.distance("ff", "ff00")
    Traceback (most recent call last):
    ...
    ValueError: hashes of different lengths: 2 and 4 hex digits (different hashers?)
    """
    if hasher is None:
        a, b = _check_hex("hex_a", hex_a), _check_hex("hex_b", hex_b)
        if len(hex_a) != len(hex_b):
            raise ValueError(
                f"hashes of different lengths: {len(hex_a)} and {len(hex_b)} hex digits (different hashers?)"
            )
        return (a ^ b).bit_count()
    if isinstance(hasher, str):
        from . import get_hasher

        hasher = get_hasher(hasher)
    pa, pb = from_hex(hasher, hex_a), from_hex(hasher, hex_b)
    if hasher.distance == "hamming":
        return int(np.unpackbits(np.bitwise_xor(pa, pb)).sum())
    return float(hasher.pair_distances(pa[None, :], pb[None, :])[0, 0])
