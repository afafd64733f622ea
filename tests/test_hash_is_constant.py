"""Golden values: the hex of every registered hasher on the built-in sample
photos is frozen in tests/data/hash_constants.json (as imagehash's own
test_hash_is_constant.py freezes its hashes).

Every other hash test compares the harness live against the reference
library, so an upgrade that changes both sides passes them; this test fails
loudly instead. After a deliberate change (a new library version whose
hashes differ), regenerate the file and say why in the commit:

    python -m tests.test_hash_is_constant          # rewrites the JSON

Skipped: ``neuralhash`` only: it needs a model and a seed file the user
supplies (nothing to freeze without them).

Exact hex for every hasher whose output cannot depend on the order of
floating-point sums. Four OpenCV hashers compute in floating point, and
OpenCV picks its code path at run time (its own SIMD dispatch, and Intel IPP
with AVX-512, AVX2 or SSE4.2 kernels, or no IPP in other builds), so another
CPU may sum in another order. For them the frozen value holds within a
tolerance, each far below what any real change of the algorithm moves:

- ``cv_colormoment``: 42 float64 Hu moments, stored as raw bytes. Measured on
  the sample photos against the AVX-512 IPP values: 7.0e-5 (IPP AVX2),
  1.2e-5 (IPP SSE4.2) and 0.085 (IPP disabled) in OpenCV's own compare units
  (10000 x L2 norm of the moment difference). Tolerance 0.2 compare units
  (2.4 x the worst measured, under half of one 0.5-wide bin of the metrics
  grid); distinct photos are ~42 units apart (median, caltech101_tiny).
- ``cv_phash`` (float32 DCT, then each coefficient against their mean) and
  ``cv_marrhildreth`` (float32 filter, then block sums against their mean):
  a bit can flip only where a value lies within rounding error of its
  threshold. Tolerance 1 bit of 64 and 2 bits of 576 (measured: 0).
- ``cv_radialvariance``: 40 bytes, each a float feature rounded to an 8-bit
  integer; another summation order can move a value across a rounding
  boundary by one step. Tolerance: every byte within +-1 (measured: 0).
- ``neuralhash``: the sign of 96 float32 projections of the network's
  output, computed by ONNX Runtime, whose kernels dispatch on the CPU
  (AVX2, AVX-512). The smallest |projection| on the sample photos is 0.058
  against a largest of ~1,800, so a bit could flip on another CPU only
  there. Tolerance 1 bit of 96 (not imitable here: ONNX Runtime has no
  switch for its dispatch).

The originals of the sample are hashed; on edited variants OpenCV's IPP
code path (AVX-512 vs AVX2) was measured to move cv_marrhildreth by up to
23 of 576 bits (Kodak24 variants; docs/reference/hashers.md, "Same numbers
on every CPU").

`test_opencv_code_paths_agree` runs the OpenCV hashers again in
subprocesses that imitate other CPUs and builds (OPENCV_CPU_DISABLE and
OPENCV_IPP) and checks them against the same frozen values and tolerances.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import harness
from harness.datasets.sample import sample_records
from harness.imageio import sha256_file

DATA = Path(__file__).resolve().parent / "data" / "hash_constants.json"
#: hashers that cannot be frozen here (none: `[dev]` installs the `neuralhash` package, whose model
#: and seed the neuralhash hasher finds by itself)
NEEDS_USER_FILES: dict = {}
#: (kind, bound) per OpenCV hasher whose output depends on float summation order
TOLERANCE = {
    "cv_colormoment": ("compare", 0.2),
    "cv_phash": ("bits", 1),
    "cv_marrhildreth": ("bits", 2),
    "cv_radialvariance": ("bytes", 1),
    "neuralhash": ("bits", 1),
}
OPENCV = [
    "cv_ahash",
    "cv_blockmean0",
    "cv_blockmean1",
    "cv_colormoment",
    "cv_marrhildreth",
    "cv_phash",
    "cv_radialvariance",
]
#: environments imitating other CPUs or builds (this machine: AVX-512 with IPP)
OTHER_CODE_PATHS = {
    "AVX2 CPU": {"OPENCV_CPU_DISABLE": "AVX512-SKX", "OPENCV_IPP": "avx2"},
    "SSE4.2 CPU": {"OPENCV_CPU_DISABLE": "AVX512-SKX,AVX2,FMA3,AVX", "OPENCV_IPP": "sse42"},
    "build without IPP": {"OPENCV_IPP": "disabled"},
}


def compute(names) -> dict:
    """{hasher: {photo: hex}} on the built-in sample photos."""
    records = sample_records()
    out = {}
    for name in names:
        h = harness.get_hasher(name)
        out[name] = {r.name: h.to_hex(h.hash_file(r.path)) for r in records}
    return out


def mismatch(name: str, frozen: str, now: str) -> str | None:
    """Why `now` is not the frozen hex of hasher `name` (None: it is)."""
    if frozen == now:
        return None
    kind, bound = TOLERANCE.get(name, ("exact", 0))
    if kind == "exact":
        return f"{now} != frozen {frozen}"
    a, b = bytes.fromhex(frozen), bytes.fromhex(now)
    if len(a) != len(b):
        return f"length {len(b)} bytes != frozen {len(a)}"
    if kind == "compare":
        x, y = np.frombuffer(a, np.float64), np.frombuffer(b, np.float64)
        d = 10000.0 * float(np.sqrt(((x - y) ** 2).sum()))
        return None if d <= bound else f"compare distance {d:.3g} > {bound}"
    if kind == "bits":
        d = harness.distance(frozen, now)
        return None if d <= bound else f"{d} bits differ (> {bound})"
    step = int(np.abs(np.frombuffer(a, np.uint8).astype(int) - np.frombuffer(b, np.uint8).astype(int)).max())
    return None if step <= bound else f"a byte moved by {step} (> {bound})"


@pytest.fixture(scope="module")
def frozen() -> dict:
    data = json.loads(DATA.read_text())
    for r in sample_records():  # the frozen values are for these exact files
        assert r.name in data["photos"], f"sample photo {r.name} has no frozen values"
        assert sha256_file(r.path)[0] == data["photos"][r.name], (
            f"scikit-image's {r.name} changed (sha256): the frozen hashes are for the old file"
        )
    assert len(sample_records()) == len(data["photos"]), "a sample photo is missing"
    return data["hashes"]


def test_every_registered_hasher_is_frozen(frozen):
    missing = [n for n in harness.list_hashers() if n not in frozen and n not in NEEDS_USER_FILES]
    assert not missing, f"no frozen values for {missing}: run python -m tests.test_hash_is_constant"


@pytest.mark.parametrize("name", harness.list_hashers())
def test_hash_is_constant(name, frozen):
    if name in NEEDS_USER_FILES:
        pytest.skip(f"{name}: {NEEDS_USER_FILES[name]}")
    if name not in frozen:
        pytest.fail(f"{name} has no frozen values (see test_every_registered_hasher_is_frozen)")
    now = compute([name])[name]
    bad = {photo: mismatch(name, frozen[name][photo], hex_) for photo, hex_ in now.items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"{name} changed on {len(bad)} of {len(now)} sample photos: {bad}"


def test_tolerances_can_fail():
    """The tolerant comparisons reject a change just past their bound."""
    zero = "00" * 8
    assert mismatch("cv_phash", zero, "03" + "00" * 7) and not mismatch("cv_phash", zero, "01" + "00" * 7)
    assert mismatch("cv_radialvariance", zero, "02" + "00" * 7)
    assert not mismatch("cv_radialvariance", zero, "01" + "00" * 7)
    x = np.zeros(42)
    y = x.copy()
    y[0] = 0.3e-4  # 0.3 compare units
    assert mismatch("cv_colormoment", x.tobytes().hex(), y.tobytes().hex())
    assert mismatch("phash", zero, "01" + "00" * 7)  # exact hashers: one bit is a change


_CHILD = (
    "import json, sys; sys.path.insert(0, sys.argv[1]); from tests.test_hash_is_constant import compute; "
    "print(json.dumps(compute(sys.argv[2].split(','))))"
)


@pytest.mark.parametrize("label", sorted(OTHER_CODE_PATHS))
def test_opencv_code_paths_agree(label, frozen):
    """OpenCV hashers with another SIMD dispatch or IPP level (imitating
    another CPU or build) still match the frozen values."""
    root = str(Path(__file__).resolve().parents[1])
    env = dict(os.environ, **OTHER_CODE_PATHS[label])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, root, ",".join(OPENCV)], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    now = json.loads(proc.stdout.strip().splitlines()[-1])
    bad = {(n, p): mismatch(n, frozen[n][p], h) for n in OPENCV for p, h in now[n].items()}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"{label}: {bad}"


def main() -> None:  # pragma: no cover - regenerates the golden file
    names = [n for n in harness.list_hashers() if n not in NEEDS_USER_FILES]
    data = {
        "about": "hex of every hasher on the built-in sample photos; see tests/test_hash_is_constant.py",
        "photos": {r.name: sha256_file(r.path)[0] for r in sample_records()},
        "hashes": compute(names),
    }
    DATA.parent.mkdir(exist_ok=True)
    DATA.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(f"wrote {DATA}: {len(names)} hashers x {len(data['photos'])} photos")


if __name__ == "__main__":  # pragma: no cover
    main()
