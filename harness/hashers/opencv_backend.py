"""OpenCV img_hash (opencv-contrib): cv_ahash, cv_phash, cv_blockmean0,
cv_blockmean1, cv_marrhildreth, cv_radialvariance, cv_colormoment.

Decoding follows ``cv2.imread(path)`` (IMREAD_COLOR): alpha dropped, 16-bit
samples by their top 8 bits, EXIF orientation applied (``reference_decode =
"opencv"``, see harness.imageio; Pillow decodes, and for PNG and
baseline JPEG files its pixels equal ``cv2.imread``'s, which tests check).
Pixels are given to OpenCV as BGR (an exact channel swap of the RGB array),
as ``cv2.imread`` returns them; the stored bytes are exactly ``compute()``'s output row, so
``to_hex`` is ``compute(img).tobytes().hex()`` (for ColorMomentHash: the 42
float64 moments, little-endian bytes).

Binary hashes (Hamming, equal to OpenCV's ``compare``, NORM_HAMMING):
AverageHash 64, PHash 64, BlockMeanHash mode 0: 256, mode 1: 961 bits (121
bytes, 7 zero padding bits), MarrHildrethHash 576 bits.

Non-binary hashes (see harness.hashers.base for the contract):

- ``cv_radialvariance`` (40 bytes, the DCT of the radial variance
  projection). OpenCV's ``compare`` is the peak cross-correlation PCC (1 =
  identical, higher = more similar). Distance ``"1-pcc"``: d = 1 - PCC in
  [0, 2]. Grid: width 0.005, ``bin_edges[t] = t * 0.005``, t = 0..400.
  ``pair_distances`` is a compiled all-pairs kernel that reproduces
  compare()'s float32 arithmetic as OpenCV's AVX2 path does it, on every
  CPU (harness.hashers.radial_pcc: bit for bit on AVX2 dispatch, within a
  stated float32 rounding bound of compare() on other dispatch paths).
- ``cv_colormoment`` (42 float64 Hu moments of the HSV and YCrCb channels).
  OpenCV's ``compare`` is 10000 x the L2 norm of the difference (lower =
  more similar). Distance ``"l2"``: d = compare = 10000 * ||a - b||_2
  (on caltech101_tiny, different photos: median 42, max ~670). Grid: width
  0.5 up to 1000, ``bin_edges[t] = t * 0.5`` for t = 0..2000 and a last bin
  to infinity.
"""

from __future__ import annotations

import cv2
import numpy as np

from .base import Hasher, upper_edge_quantise


def _opencv_version() -> str:
    """cv2's version plus the installed contrib wheel's (e.g. 5.0.0 (contrib 5.0.0.93))."""
    from importlib import metadata

    try:
        return f"{cv2.__version__} (contrib {metadata.version('opencv-contrib-python-headless')})"
    except metadata.PackageNotFoundError:
        return cv2.__version__


def _img_hash():
    if not hasattr(cv2, "img_hash"):
        raise ImportError(
            "cv2.img_hash is missing: opencv-contrib-python-headless must be installed "
            "(and win over opencv-python-headless)"
        )
    return cv2.img_hash


class OpenCVHasher(Hasher):
    backend = f"opencv {_opencv_version()}"
    reference_decode = "opencv"
    #: compute() output length in bytes (or elements for float output)
    length: int = 0

    def _create(self):
        raise NotImplementedError

    def __init__(self, _params: dict | None = None):
        # subclasses pass their validated parameters; unknown keywords are a TypeError
        super().__init__(**(_params or {}))
        self._algo = self._create()

    def reference(self, bgr: np.ndarray) -> np.ndarray:
        """OpenCV's compute() on BGR pixels: its (1, length) output."""
        return self._algo.compute(bgr)

    def hash(self, rgb: np.ndarray) -> np.ndarray:
        # cvtColor RGB2BGR is an exact channel swap, ~20x faster than rgb[:, :, ::-1].copy()
        out = self.reference(cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2BGR))
        return np.frombuffer(np.ascontiguousarray(out).tobytes(), dtype=np.uint8).copy()

    def compare(self, a: np.ndarray, b: np.ndarray) -> float:
        """OpenCV's own compare() on two packed hashes."""
        return float(self._algo.compare(self._unpack(a), self._unpack(b)))

    def _unpack(self, packed: np.ndarray) -> np.ndarray:
        return np.asarray(packed, dtype=np.uint8).reshape(1, -1)


class CvAverageHash(OpenCVHasher):
    name, bits = "cv_ahash", 64

    def _create(self):
        return _img_hash().AverageHash_create()


class CvPHash(OpenCVHasher):
    name, bits = "cv_phash", 64

    def _create(self):
        return _img_hash().PHash_create()


class CvBlockMean0(OpenCVHasher):
    name, bits = "cv_blockmean0", 256
    mode = 0

    def _create(self):
        return _img_hash().BlockMeanHash_create(self.mode)


class CvBlockMean1(CvBlockMean0):
    name, bits = "cv_blockmean1", 961
    mode = 1


class CvMarrHildreth(OpenCVHasher):
    name, bits = "cv_marrhildreth", 576

    def __init__(self, alpha: float = 2.0, scale: float = 1.0):
        if not float(alpha) > 0 or not float(scale) > 0:
            raise ValueError("alpha and scale must be > 0")
        super().__init__({"alpha": float(alpha), "scale": float(scale)})

    def _create(self):
        return _img_hash().MarrHildrethHash_create(self.params["alpha"], self.params["scale"])


class _Binned:
    """Histogram grid with upper edges `bin_edges` (see base module)."""

    bin_edges: np.ndarray

    @property
    def n_bins(self) -> int:
        return len(self.bin_edges)

    def quantise(self, d) -> np.ndarray:
        return upper_edge_quantise(d, self.bin_edges)


class CvRadialVariance(_Binned, OpenCVHasher):
    name, bits = "cv_radialvariance", 320
    distance = "1-pcc"
    bin_edges = np.arange(401, dtype=np.float64) * 0.005

    def __init__(self, sigma: float = 1.0, num_of_angle_line: int = 180):
        if not float(sigma) > 0:
            raise ValueError("sigma must be > 0")
        if int(num_of_angle_line) != num_of_angle_line or num_of_angle_line < 1:
            raise ValueError("num_of_angle_line must be an integer >= 1")
        super().__init__({"sigma": float(sigma), "num_of_angle_line": int(num_of_angle_line)})

    def _create(self):
        return _img_hash().RadialVarianceHash_create(self.params["sigma"], self.params["num_of_angle_line"])

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """d = 1 - PCC for every pair (float64 (len(a), len(b))), where PCC
        is OpenCV's compare() (peak cross-correlation over the 40 cyclic
        shifts), computed by the compiled kernel
        `harness.hashers.radial_pcc.peak_cross_correlation`, which repeats
        OpenCV's float32 arithmetic step by step as OpenCV's AVX2/FMA code
        path does it. This kernel defines the harness's distance: the same
        bits on every CPU. OpenCV's own compare() equals it bit for bit where
        OpenCV dispatches to AVX2 and is within
        `harness.hashers.radial_pcc.compare_error_bound` (a float32 rounding
        bound, about 4.8e-6) on other dispatch paths such as AVX-512 (tests
        check every ordered pair of caltech101_tiny, kodak24 and the sample
        photos, and of their jpeg, crop and rotate variants, against that
        bound). Note that compare(a, b) and
        compare(b, a) differ in the last bits (float32 sums in another
        order; up to ~1.3e-7 measured), so the distance is not symmetric;
        the metrics stage takes the smaller of both directions for orig-orig
        pairs. `pair_distances_reference` is the one-compare()-per-pair loop."""
        from .radial_pcc import peak_cross_correlation

        return 1.0 - peak_cross_correlation(a, b)

    def pair_distances_reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """1 - OpenCV compare() for every pair, one compare() call per pair
        (about 200 000 pairs/s/core): the reference pair_distances is tested
        against."""
        a = np.asarray(a, dtype=np.uint8)
        b = np.asarray(b, dtype=np.uint8)
        out = np.empty((len(a), len(b)), dtype=np.float64)
        algo = self._algo
        for i in range(len(a)):
            ai = a[i].reshape(1, -1)
            for j in range(len(b)):
                out[i, j] = 1.0 - algo.compare(ai, b[j].reshape(1, -1))
        return out


class CvColorMoment(_Binned, OpenCVHasher):
    name, bits = "cv_colormoment", 42 * 64
    distance = "l2"
    bin_edges = np.append(np.arange(2001, dtype=np.float64) * 0.5, np.inf)

    def _create(self):
        return _img_hash().ColorMomentHash_create()

    def _unpack(self, packed: np.ndarray) -> np.ndarray:
        return np.frombuffer(np.asarray(packed, dtype=np.uint8).tobytes(), dtype=np.float64).reshape(1, -1)

    def moments(self, packed: np.ndarray) -> np.ndarray:
        """float64 (n, 42) moments from packed hashes (n, 336)."""
        p = np.ascontiguousarray(np.asarray(packed, dtype=np.uint8))
        return p.view(np.float64).reshape(len(p), 42)

    def pair_distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """10000 x L2 norm of moment differences (OpenCV's compare) for every pair."""
        ma, mb = self.moments(a), self.moments(b)
        diff = ma[:, None, :] - mb[None, :, :]
        return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff)) * 10000.0
