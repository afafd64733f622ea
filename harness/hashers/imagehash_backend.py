"""imagehash algorithms: ahash, phash, phash_simple, dhash, dhash_vertical,
whash (haar), whash_db4, colorhash, crop_resistant.

The reference of each hasher (``reference``/``reference_hash``) converts the
RGB array to a Pillow ``RGB`` image and calls imagehash itself (imagehash
then does its own ``convert("L")``/``convert("HSV")`` and ANTIALIAS resize).

Packing: the flattened boolean hash (row-major, as imagehash flattens it) is
packed most-significant-bit first and right-aligned (`pack_bits_right`), so
the bytes read as a big-endian integer equal ``int(bitstring, 2)`` and
``to_hex`` equals ``str(imagehash_result)``, including bit counts that are
not a multiple of 4 or 8 (colorhash: 42 bits -> 11 hex digits, left-padded
with zeros exactly as imagehash pads).

Fast path (``hash``/``hash_batch`` of ahash, phash, dhash, haar whash and
crop_resistant):
the same operations as imagehash, in the same order, on the same inputs,
with the work the reference repeats done once:

- one ``Image.fromarray(rgb).convert("L")`` per image, shared by every
  imagehash hasher of a batch (imagehash converts the same Pillow ``RGB``
  image to ``L`` in each function; Pillow's conversion is deterministic);
- whash (haar): `haar_whash_low`, a numpy transcription of the
  floating-point operations pywt performs for the haar wavelet (each
  coefficient is the same IEEE expression; see its docstring), instead of
  pywt's per-level Python machinery; and, where numba is available, the
  same operations compiled (`harness.hashers.haar_kernel`, no fastmath, no
  fused multiply-add). Each is checked against pywt once per process
  (`haar_jit_agrees`, `haar_numpy_agrees`; the first that agrees is used,
  else pywt), and tests assert ``array_equal`` of the ``dwt_low`` arrays of
  both against imagehash's own pywt calls and equal hashes against
  imagehash on real photos and every quickstart variant;
- crop_resistant: imagehash's pure-Python region search
  (``_find_all_segments``, about 0.24 s of CPU per image) is replaced by a
  compiled labelling pass with the same result, quirks included
  (`harness.hashers.crop_segments`); Pillow's resize/blur/median filter,
  the boxes and every segment's dhash stay imagehash's (see
  `CropResistantHash._fast_hash`); tests/test_crop_resistant_fast.py.

Anything the fast path does not cover (other hashers, db4, an image on
which it raises) goes through the reference call, so a failure is reported
exactly as imagehash reports it.
"""

from __future__ import annotations

import imagehash
import numpy as np
from PIL import Image

from ..compiled import numba_enabled
from .base import Hasher, ImageBatch, hash_each, pack_bits_right, upper_edge_quantise

IMAGEHASH_VERSION = getattr(imagehash, "__version__", "unknown")


def _int(value, field: str, minimum: int) -> int:
    if isinstance(value, bool) or int(value) != value or int(value) < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum} (got {value!r})")
    return int(value)


def _pow2(value, field: str) -> int:
    v = _int(value, field, 2)
    if v & (v - 1):
        raise ValueError(f"{field} must be a power of 2 (got {value!r})")
    return v


class ImagehashHasher(Hasher):
    """Generic wrapper: ``imagehash.<func_name>(pil_image, **params) -> ImageHash``."""

    func_name: str = ""
    backend = f"imagehash {IMAGEHASH_VERSION}"

    def __init__(self, hash_size: int = 8, _extra: dict | None = None):
        hash_size = _int(hash_size, "hash_size", 2)
        super().__init__(hash_size=hash_size, **(_extra or {}))
        self.bits = self._bits(hash_size)

    def _bits(self, hash_size: int) -> int:
        return hash_size * hash_size

    def _ref_kwargs(self) -> dict:
        """Parameters passed to the imagehash function (decode and fast_decode are ours)."""
        return {k: v for k, v in self.params.items() if k not in ("decode", "fast_decode")}

    def reference(self, img: Image.Image):
        """Call imagehash directly on a Pillow image (the reference result)."""
        return getattr(imagehash, self.func_name)(img, **self._ref_kwargs())

    def _pack(self, result) -> np.ndarray:
        return self._pack_flat(result.hash, "reference returned")

    def reference_hash(self, rgb: np.ndarray) -> np.ndarray:
        """Packed hash from the reference call (``imagehash.<func>`` on
        ``Image.fromarray(rgb)``), bypassing any fast path."""
        return self._pack(self.reference(Image.fromarray(rgb)))

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        if self._fast_bits is None:
            return self.reference_hash(rgb)
        out = self.hash_batch([rgb])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def hash_pil(self, img: Image.Image) -> np.ndarray:
        return self._pack(self.reference(img))

    #: fast path: ``_fast_bits(greys) -> [bool array per image]`` (None: reference only)
    _fast_bits = None

    def hash_batch(self, images) -> list:
        """See `Hasher.hash_batch`. With a fast path: grey images shared through
        ``ImageBatch.shared("imagehash:L", ...)``, then `_fast_bits`; if the fast
        path raises on the batch, every image goes through the reference call
        (which raises, per image, what imagehash raises)."""
        if self._fast_bits is None or not len(images):
            return super().hash_batch(images)
        batch = images if isinstance(images, ImageBatch) else ImageBatch(images)
        try:
            greys = batch.shared("imagehash:L", _grey_images)
            bits = self._fast_bits(greys)
            return [self._pack_flat(b) for b in bits]
        except Exception:
            return hash_each(self.reference_hash, batch)

    def _pack_flat(self, bits: np.ndarray, source: str = "fast path gave") -> np.ndarray:
        """Flattened boolean hash (imagehash's row-major order) -> packed bytes;
        a size other than `bits` is an error naming where it came from."""
        flat = np.asarray(bits, dtype=bool).ravel()
        if flat.size != self.bits:
            raise ValueError(f"{self.name}: {source} {flat.size} bits, expected {self.bits}")
        return pack_bits_right(flat)

    def to_hex(self, packed: np.ndarray) -> str:
        digits = -(-self.bits // 4)
        return bytes(np.asarray(packed, dtype=np.uint8)).hex()[-digits:]

    def hex_width(self, nbytes: int) -> int | None:
        if type(self).to_hex is not ImagehashHasher.to_hex:  # e.g. crop_resistant's segments
            return None
        return min(2 * nbytes, -(-self.bits // 4))


def _grey_images(images) -> list:
    """``Image.fromarray(rgb).convert("L")`` of each RGB array: the first step
    of every imagehash function (which receives ``Image.fromarray(rgb)``)."""
    return [Image.fromarray(np.ascontiguousarray(im)).convert("L") for im in images]


def median(values: np.ndarray):
    """``np.median(values)`` (numpy 2.x) for the float arrays the fast path
    thresholds, without its generic machinery. numpy partitions, then takes
    the mean of the middle element (odd size) or of the two middle elements
    (even size): a sum that starts from +0.0, divided by the count. Here the
    same elements of a full sort go through the same float64 operations,
    ``((0.0 + s[h-1]) + s[h]) / 2`` or ``(0.0 + s[h]) / 1``, so the result
    is the same double, sign of zero included (tests compare the bits).
    Arrays with a NaN (never produced by the DCT or the haar transform of
    finite pixels), non-float and empty arrays go to ``np.median``."""
    flat = np.sort(values, axis=None)
    n = flat.size
    if n == 0 or flat.dtype != np.float64 or np.isnan(flat[-1]):  # NaN sorts last
        return np.median(values)
    h = n // 2
    if n % 2:
        return np.float64(0.0) + flat[h]
    return (np.float64(0.0) + flat[h - 1] + flat[h]) / 2


def _resized(grey: Image.Image, size: tuple) -> np.ndarray:
    """imagehash's ``.resize(size, ANTIALIAS)`` of the grey image, as an array."""
    return np.asarray(grey.resize(size, imagehash.ANTIALIAS))


class AverageHash(ImagehashHasher):
    """imagehash.average_hash: grey, resize to hash_size^2, bit = pixel > mean."""

    name = "ahash"
    func_name = "average_hash"

    def _fast_bits(self, greys) -> list:
        n = self.params["hash_size"]
        out = []
        for g in greys:
            pixels = _resized(g, (n, n))
            out.append(pixels > np.mean(pixels))
        return out


class PerceptualHash(ImagehashHasher):
    """imagehash.phash: DCT of a (hash_size*highfreq_factor)^2 grey image, top-left
    hash_size^2 coefficients > their median."""

    name = "phash"
    func_name = "phash"
    #: hash_size^2 bits > their median: hash_size^2 // 2 ones, even distances
    distance_granularity = 2

    def __init__(self, hash_size: int = 8, highfreq_factor: int = 4):
        super().__init__(hash_size, {"highfreq_factor": _int(highfreq_factor, "highfreq_factor", 1)})

    def _fast_bits(self, greys) -> list:
        import scipy.fftpack

        n = self.params["hash_size"]
        size = n * self.params["highfreq_factor"]
        out = []
        for g in greys:
            pixels = _resized(g, (size, size))
            dct = scipy.fftpack.dct(scipy.fftpack.dct(pixels, axis=0), axis=1)
            low = dct[:n, :n]
            out.append(low > median(low))
        return out


class PerceptualHashSimple(PerceptualHash):
    """imagehash.phash_simple: 1-D DCT variant, bits > mean of the low coefficients."""

    name = "phash_simple"
    func_name = "phash_simple"
    distance_granularity = 1  # bits > mean: any number of ones
    _fast_bits = None  # reference only


class DifferenceHash(ImagehashHasher):
    """imagehash.dhash: horizontal gradient signs on a (hash_size+1) x hash_size grey image."""

    name = "dhash"
    func_name = "dhash"

    def _fast_bits(self, greys) -> list:
        n = self.params["hash_size"]
        out = []
        for g in greys:
            pixels = _resized(g, (n + 1, n))
            out.append(pixels[:, 1:] > pixels[:, :-1])
        return out


class DifferenceHashVertical(ImagehashHasher):
    """imagehash.dhash_vertical: vertical gradient signs."""

    name = "dhash_vertical"
    func_name = "dhash_vertical"


# ------------------------------------------------------------ haar whash
#: pywt's haar filters: dec_lo = rec_lo = [C, C], dec_hi = [-C, C], rec_hi = [C, -C]
_HAAR_C = 0.7071067811865476


def _halves(x: np.ndarray, axis: int):
    """Even- and odd-indexed samples along axis -2 or -1 (views)."""
    if axis == -2:
        r = x.reshape(x.shape[:-2] + (x.shape[-2] // 2, 2, x.shape[-1]))
        return r[..., 0, :], r[..., 1, :]
    r = x.reshape(x.shape[:-1] + (x.shape[-1] // 2, 2))
    return r[..., 0], r[..., 1]


def _haar_dec(x: np.ndarray, axis: int):
    """One haar analysis step along `axis` as pywt computes it for even
    lengths (mode 'symmetric' needs no extension for a 2-tap filter):
    pywt's C loop gives ``a[o] = (0 + dec_lo[0]*x[2o+1]) + dec_lo[1]*x[2o]``
    and ``d[o] = (0 + dec_hi[0]*x[2o+1]) + dec_hi[1]*x[2o]``; adding 0 and
    the order of a two-term sum are exact in IEEE arithmetic, so
    ``a = C*x1 + C*x0`` and ``d = C*x0 - C*x1`` give the same doubles."""
    x0, x1 = _halves(x, axis)
    c0 = _HAAR_C * x0
    c1 = _HAAR_C * x1
    return c1 + c0, c0 - c1


def _haar_low(x: np.ndarray, axis: int) -> np.ndarray:
    x0, x1 = _halves(x, axis)
    return _HAAR_C * x1 + _HAAR_C * x0


def _haar_rec(a: np.ndarray, d: np.ndarray, axis: int) -> np.ndarray:
    """One haar synthesis step along `axis` as pywt's idwt computes it: the
    output starts at 0, gets ``rec_lo[k]*a[i]`` then ``rec_hi[k]*d[i]`` added,
    so ``out[2i] = C*a + C*d`` and ``out[2i+1] = C*a - C*d`` exactly."""
    ca = _HAAR_C * a
    cd = _HAAR_C * d
    out = np.stack((ca + cd, ca - cd), axis=axis)  # interleave even/odd
    if axis == -2:
        return out.reshape(out.shape[:-3] + (out.shape[-3] * 2, out.shape[-1]))
    return out.reshape(out.shape[:-2] + (out.shape[-2] * 2,))


def haar_whash_low(
    pixels: np.ndarray, ll_max_level: int, dwt_level: int, remove_max_haar_ll: bool = True
) -> np.ndarray:
    """imagehash.whash's ``dwt_low`` for a square power-of-2 float64 array,
    in numpy: ``pywt.wavedec2(pixels, 'haar', level=ll_max_level)`` (dwtn:
    axis -2 first, then -1; subbands aa, (da, ad, dd)), the LL coefficient
    zeroed, ``pywt.waverec2`` (idwtn: axis -1 first, then -2), then the LL
    of ``pywt.wavedec2(..., level=dwt_level)``. Every coefficient is the same
    IEEE expression pywt evaluates, so the result is equal (array_equal,
    asserted by tests), and much faster than pywt's per-level Python
    machinery on the small images imagehash uses."""
    a = pixels
    if remove_max_haar_ll:
        details = []
        for _ in range(ll_max_level):
            ra, rd = _haar_dec(a, -2)
            aa, ad = _haar_dec(ra, -1)
            da, dd = _haar_dec(rd, -1)
            details.append((da, ad, dd))
            a = aa
        a = a * 0  # imagehash: coeffs[0] *= 0
        for da, ad, dd in reversed(details):
            a = _haar_rec(_haar_rec(a, ad, -1), _haar_rec(da, dd, -1), -2)
    for _ in range(dwt_level):
        a = _haar_low(_haar_low(a, -2), -1)
    return a


def pywt_whash_low(
    pixels: np.ndarray, ll_max_level: int, dwt_level: int, remove_max_haar_ll: bool = True
) -> np.ndarray:
    """The same as `haar_whash_low` with pywt, exactly as imagehash.whash does it."""
    import pywt

    if remove_max_haar_ll:
        coeffs = list(pywt.wavedec2(pixels, "haar", level=ll_max_level))
        coeffs[0] *= 0
        pixels = pywt.waverec2(coeffs, "haar")
    return pywt.wavedec2(pixels, "haar", level=dwt_level)[0]


_HAAR_AGREES: dict = {}


def _agrees_with_pywt(whash_low) -> bool:
    """Whether `whash_low` equals `pywt_whash_low` (array_equal) on fixed
    pseudo-random images of every scale 2..256, with and without the LL
    removal, at dwt levels 0, scale_level // 2 and scale_level - 1."""
    rng = np.random.default_rng(20261128)
    ok = True
    for scale_level in range(1, 9):
        pixels = rng.integers(0, 256, (2**scale_level, 2**scale_level)) / 255.0
        for dwt_level in {0, scale_level // 2, scale_level - 1}:
            for remove in (True, False):
                ok &= bool(
                    np.array_equal(
                        whash_low(pixels, scale_level, dwt_level, remove),
                        pywt_whash_low(pixels, scale_level, dwt_level, remove),
                    )
                )
    return ok


def haar_numpy_agrees() -> bool:
    """Whether `haar_whash_low` equals pywt on this platform (checked once per
    process, see `_agrees_with_pywt`). A pywt built with fused multiply-add,
    say, would fail the check and the fast path would use pywt instead."""
    if "numpy" not in _HAAR_AGREES:
        _HAAR_AGREES["numpy"] = _agrees_with_pywt(haar_whash_low)
    return _HAAR_AGREES["numpy"]


def _haar_jit():
    """The compiled kernel `harness.hashers.haar_kernel.haar_whash_low_jit`,
    or None when numba is unavailable or HARNESS_NO_NUMBA=1."""
    if not numba_enabled():
        return None
    from .haar_kernel import haar_whash_low_jit

    return haar_whash_low_jit


def haar_jit_agrees() -> bool:
    """Whether the compiled haar kernel exists and equals pywt on this
    platform (checked once per process, as `haar_numpy_agrees`)."""
    if "jit" not in _HAAR_AGREES:
        jit = _haar_jit()
        _HAAR_AGREES["jit"] = jit is not None and _agrees_with_pywt(jit)
    return _HAAR_AGREES["jit"]


def whash_low_function():
    """The ``dwt_low`` implementation the fast path uses on this platform:
    the compiled kernel if it agrees with pywt, else the numpy transcription
    if it agrees, else pywt itself. All three give the same doubles where
    they are used (each is checked against pywt first)."""
    if haar_jit_agrees():
        return _haar_jit()
    if haar_numpy_agrees():
        return haar_whash_low
    return pywt_whash_low


class WaveletHash(ImagehashHasher):
    """imagehash.whash with mode='haar' (its default): bits = hash_size^2."""

    name = "whash"
    func_name = "whash"
    mode = "haar"
    #: bits > their median: bits // 2 ones and even distances, unless coefficients
    #: tie at the median, which happens on real photos (2 of 120 in caltech101_tiny
    #: and kodak24; tests/test_granularity.py): measure it on the histogram
    distance_granularity = 2

    def __init__(self, hash_size: int = 8, image_scale: int | None = None, remove_max_haar_ll: bool = True):
        hash_size = _pow2(hash_size, "hash_size")
        extra = {}
        if image_scale is not None:
            image_scale = _pow2(image_scale, "image_scale")
            if image_scale < hash_size:
                raise ValueError("image_scale must be >= hash_size")
            extra["image_scale"] = image_scale
        if not isinstance(remove_max_haar_ll, bool):
            raise ValueError("remove_max_haar_ll must be true or false")
        super().__init__(hash_size, {"mode": self.mode, "remove_max_haar_ll": remove_max_haar_ll, **extra})

    def _scale(self, size: tuple) -> int:
        """imagehash's image_scale for an image of `size` (w, h)."""
        scale = self.params.get("image_scale")
        if scale is None:
            scale = max(2 ** int(np.log2(min(size))), self.params["hash_size"])
        return scale

    def dwt_low_batch(self, greys) -> list:
        """imagehash.whash's ``dwt_low`` array for each grey image, computed by
        `whash_low_function()`: the compiled haar kernel or the numpy
        transcription (the same floating-point operations as pywt), or pywt
        itself if this platform's pywt disagrees with both."""
        hash_size = self.params["hash_size"]
        level = int(np.log2(hash_size))
        whash_low = whash_low_function()
        out = []
        for g in greys:
            scale = self._scale(g.size)
            ll_max_level = int(np.log2(scale))
            if level > ll_max_level:
                raise ValueError("hash_size in a wrong range")  # imagehash asserts; reference reports it
            pixels = _resized(g, (scale, scale)) / 255.0
            out.append(whash_low(pixels, ll_max_level, ll_max_level - level, self.params["remove_max_haar_ll"]))
        return out

    def _fast_bits(self, greys) -> list:
        return [low > median(low) for low in self.dwt_low_batch(greys)]


class WaveletHashDb4(WaveletHash):
    """imagehash.whash with mode='db4' (Daubechies 4).

    pywt pads db4 coefficients, so the hash is larger than hash_size^2 and
    depends on the number of DWT levels: with hash_size 8 it is 14 x 14 = 196
    bits for images whose shorter side is >= 64 px (image_scale >= 64), fewer
    for smaller images. `bits` is the size for image_scale (or 64 * hash_size
    when image_scale is left to the reference's default); an image yielding
    another size raises ValueError (an error row in a run), never a
    silently different-length hash."""

    name = "whash_db4"
    mode = "db4"
    _fast_bits = None  # reference only (not covered by the fast-path tests)

    # measured (bench hashers): reduced decoding changes the DWT depth of the
    # default image_scale and moves db4 hashes by up to ~90 of 196 bits
    fast_decode_suitable = False

    @property
    def min_decode_side(self) -> int:
        """fast_decode keeps the shorter side >= 8 * hash_size (64 px by default),
        where the db4 coefficient grid reaches its full size."""
        return 8 * self.params["hash_size"]

    def _bits(self, hash_size: int) -> int:
        import pywt

        scale = self.params.get("image_scale") or hash_size * 64
        n = scale
        for _ in range(int(np.log2(scale)) - int(np.log2(hash_size))):
            n = pywt.dwt_coeff_len(n, pywt.Wavelet("db4").dec_len, "symmetric")
        return n * n


class ColorHash(ImagehashHasher):
    """imagehash.colorhash: 14 HSV/intensity bin fractions, binbits bits each
    (42 bits by default). Hex: 11 digits, as imagehash prints it."""

    name = "colorhash"
    func_name = "colorhash"
    _fast_bits = None

    def __init__(self, binbits: int = 3):
        binbits = _int(binbits, "binbits", 1)
        Hasher.__init__(self, binbits=binbits)
        self.bits = 14 * binbits


class CropResistantHash(ImagehashHasher):
    """imagehash.crop_resistant_hash (multi-segment dHash, Steinebach et al. 2014).

    The reference returns a variable number of 64-bit segment hashes. To keep
    fixed-size storage the hasher calls the reference with
    ``limit_segments=max_segments`` (default 16: the 16 largest segments) and
    stores ``[n_segments (1 byte)] + n * 8 bytes (each segment's dhash,
    imagehash bit order) + zero padding`` -> ``1 + 8 * max_segments`` bytes.
    ``to_hex`` gives ``str(ImageMultiHash)``: comma-separated segment hexes.

    Distance (``distance = "multi-segment"``), exactly imagehash's
    ``ImageMultiHash.__sub__`` (``query - reference``), which is asymmetric:
    for each segment of the query find its smallest Hamming distance to any
    segment of the reference; a segment *matches* if that is <=
    ``bit_error_rate * 64`` (16 bits by default). With m matches (sum of their
    distances S) and n query segments::

        d = n                      if m == 0
        d = n - m + S / (64 m)     otherwise

    i.e. the number of unmatched query segments plus the mean normalised
    Hamming distance of the matched ones; 0 <= d <= n <= max_segments.
    ``pair_distances(a, b)[i, j] = a[i] - b[j]``.

    Hashing goes through `_fast_hash` (same bits as the reference, see the
    module docstring); an image on which it raises something unexpected
    goes through imagehash itself.

    Histogram grid: bins of width 1/64 (one bit of mean segment distance):
    ``bin_edges[t] = t / 64`` for t = 0..64*max_segments, ``quantise(d)`` =
    smallest t with d <= t/64 (so bin 0 is d == 0, bin 64 ends at "one
    unmatched segment"). "Threshold t" = d <= t/64.
    """

    name = "crop_resistant"
    func_name = "crop_resistant_hash"
    distance = "multi-segment"
    # measured (bench hashers): reduced decoding changes the segmentation of
    # every image (up to 3 unmatched segments)
    fast_decode_suitable = False
    SEGMENT_BITS = 64

    def __init__(
        self,
        max_segments: int = 16,
        segment_threshold: int = 128,
        min_segment_size: int = 500,
        segmentation_image_size: int = 300,
        bit_error_rate: float = 0.25,
    ):
        max_segments = _int(max_segments, "max_segments", 1)
        if max_segments > 255:
            raise ValueError("max_segments must be <= 255")
        if not 0 <= float(bit_error_rate) <= 1:
            raise ValueError("bit_error_rate must be in [0, 1]")
        Hasher.__init__(
            self,
            max_segments=max_segments,
            segment_threshold=_int(segment_threshold, "segment_threshold", 0),
            min_segment_size=_int(min_segment_size, "min_segment_size", 0),
            segmentation_image_size=_int(segmentation_image_size, "segmentation_image_size", 1),
            bit_error_rate=float(bit_error_rate),
        )
        self.bits = 8 * (1 + 8 * max_segments)
        self.n_bins = self.SEGMENT_BITS * max_segments + 1
        self.bin_edges = np.arange(self.n_bins, dtype=np.float64) / self.SEGMENT_BITS

    def _ref_kwargs(self) -> dict:
        p = self.params
        return {
            "limit_segments": p["max_segments"],
            "segment_threshold": p["segment_threshold"],
            "min_segment_size": p["min_segment_size"],
            "segmentation_image_size": p["segmentation_image_size"],
        }

    # ------------------------------------------------ fast path (same bits)
    def hash(self, rgb: np.ndarray) -> np.ndarray:
        out = self.hash_batch([rgb])[0]
        if isinstance(out, Exception):
            raise out
        return out

    def hash_pil(self, img: Image.Image) -> np.ndarray:
        try:
            out = self._fast_hash(img.convert("L"))
        except Exception:  # noqa: BLE001 - unexpected: imagehash reports it its own way
            return self._pack(self.reference(img))
        if isinstance(out, Exception):
            raise out
        return out

    def hash_batch(self, images) -> list:
        """See `Hasher.hash_batch`: `_fast_hash` per image (the grey images are
        shared with the other imagehash hashers of the batch); an image on
        which the fast path raises anything goes through the reference call,
        which returns its hash or raises what imagehash raises."""
        if not len(images):
            return []
        batch = images if isinstance(images, ImageBatch) else ImageBatch(images)
        try:
            greys = batch.shared("imagehash:L", _grey_images)
        except Exception:  # noqa: BLE001
            return hash_each(self.reference_hash, batch)
        out = []
        for rgb, grey in zip(batch, greys):
            try:
                out.append(self._fast_hash(grey))
            except Exception:  # noqa: BLE001 - unexpected: imagehash reports it its own way
                out.extend(hash_each(self.reference_hash, [rgb]))
        return out

    def segments(self, grey: Image.Image):
        """imagehash's segmentation image (``convert('L')`` already done: the
        ANTIALIAS resize, GaussianBlur, MedianFilter, float32) and its
        segments as `crop_segments.Regions` (None where imagehash's
        ``_find_all_segments`` raises IndexError)."""
        from PIL import ImageFilter

        from .crop_segments import find_segments

        p = self.params
        size = p["segmentation_image_size"]
        image = grey.resize((size, size), imagehash.ANTIALIAS)
        image = image.filter(ImageFilter.GaussianBlur()).filter(ImageFilter.MedianFilter())
        pixels = np.array(image).astype(np.float32)
        return pixels.shape, find_segments(pixels, p["segment_threshold"], p["min_segment_size"])

    def _fast_hash(self, grey: Image.Image):
        """Packed hash of ``imagehash.crop_resistant_hash(img, **_ref_kwargs())``
        for ``grey = img.convert("L")``, with the segmentation compiled
        (`harness.hashers.crop_segments`); returns imagehash's IndexError (not
        raised) where imagehash raises it. The rest is imagehash's own code
        path: segments sorted by pixel count (stable, largest first) and cut
        to max_segments, each bounding box scaled to the original size with
        the same arithmetic (numpy int64 row/col times ``float(orig) / size``),
        cropped and hashed by ``imagehash.dhash``. One difference, with equal
        bits: the box is cropped from the grey image, where imagehash crops
        the RGB image and dhash converts the crop to ``L``; Pillow's RGB->L
        conversion is per pixel, so both give the same grey pixels."""
        from .crop_segments import imagehash_index_error

        shape, regions = self.segments(grey)
        if regions is None:
            return imagehash_index_error(shape)
        size = self.params["segmentation_image_size"]
        if len(regions.size):
            order = np.argsort(-regions.size, kind="stable")[: self.params["max_segments"]]
            boxes = [(regions.min_row[i], regions.min_col[i], regions.max_row[i], regions.max_col[i]) for i in order]
        else:  # imagehash: one segment {(0, 0), (size - 1, size - 1)}
            boxes = [(0, 0, size - 1, size - 1)]
        orig_w, orig_h = grey.size
        scale_w = float(orig_w) / size
        scale_h = float(orig_h) / size
        hashes = []
        for min_row, min_col, max_row, max_col in boxes:
            box = (min_col * scale_w, min_row * scale_h, (max_col + 1) * scale_w, (max_row + 1) * scale_h)
            hashes.append(imagehash.dhash(grey.crop(box)))
        return self._pack(imagehash.ImageMultiHash(hashes))

    def _pack(self, result) -> np.ndarray:
        segs = result.segment_hashes
        out = np.zeros(self.nbytes, dtype=np.uint8)
        out[0] = len(segs)
        for i, s in enumerate(segs):
            out[1 + 8 * i : 9 + 8 * i] = pack_bits_right(s.hash)
        return out

    def unpack(self, packed: np.ndarray) -> list[np.ndarray]:
        """The segment hashes of one packed hash, each uint8 (8,)."""
        p = np.asarray(packed, dtype=np.uint8)
        return [p[1 + 8 * i : 9 + 8 * i] for i in range(int(p[0]))]

    def to_hex(self, packed: np.ndarray) -> str:
        return ",".join(bytes(s).hex() for s in self.unpack(packed))

    def quantise(self, d) -> np.ndarray:
        return upper_edge_quantise(d, self.bin_edges)

    @staticmethod
    def _segments(packed: np.ndarray):
        packed = np.asarray(packed, dtype=np.uint8)
        counts = packed[:, 0].astype(np.int64)
        if (counts < 1).any():
            raise ValueError("crop_resistant hash with zero segments")
        segs = np.concatenate([packed[i, 1 : 1 + 8 * c].reshape(c, 8) for i, c in enumerate(counts)])
        return segs, counts

    def pair_distances(self, a: np.ndarray, b: np.ndarray, block: int = 2048) -> np.ndarray:
        """imagehash ``a[i] - b[j]`` for every pair; float64 (len(a), len(b))."""
        seg_a, n_a = self._segments(a)
        seg_b, n_b = self._segments(b)
        start_a = np.concatenate([[0], np.cumsum(n_a)[:-1]])
        start_b = np.concatenate([[0], np.cumsum(n_b)[:-1]])
        cutoff = self.SEGMENT_BITS * self.params["bit_error_rate"]
        # lowest distance of every query segment to each reference image
        low = np.empty((len(seg_a), len(n_b)), dtype=np.int64)
        for s in range(0, len(seg_a), block):
            x = np.bitwise_xor(seg_a[s : s + block, None, :], seg_b[None, :, :])
            dist = np.bitwise_count(x).sum(axis=2, dtype=np.int64)
            low[s : s + block] = np.minimum.reduceat(dist, start_b, axis=1)
        matched = low <= cutoff
        m = np.add.reduceat(matched.astype(np.int64), start_a, axis=0)
        total = np.add.reduceat(np.where(matched, low, 0), start_a, axis=0)
        n = n_a[:, None].astype(np.float64)
        # same floating-point operations, in the same order, as ImageMultiHash.__sub__
        with np.errstate(divide="ignore", invalid="ignore"):
            tie_breaker = 0.0 - total.astype(np.float64) / (m * self.SEGMENT_BITS).astype(np.float64)
            d = n - (m.astype(np.float64) + tie_breaker)
        return np.where(m == 0, n, d)
