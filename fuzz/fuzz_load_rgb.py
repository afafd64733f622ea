"""Coverage-guided fuzzing of the image loader with atheris (libFuzzer).

Property: for ANY bytes, ``harness.imageio.load_rgb`` returns an
(h, w, 3) uint8 array of at most `MAX_PIXELS` pixels or raises DecodeError;
any other exception, a crash or a hang is a finding.

    pip install atheris            # Linux, CPython 3.10-3.12
    python fuzz/make_seeds.py fuzz/corpus          # small real photos in every format
    python fuzz/fuzz_load_rgb.py fuzz/corpus -max_total_time=3600 -rss_limit_mb=4096 -timeout=20

libFuzzer flags go after the corpus folder (``-jobs=N -workers=N`` for
parallel runs, ``-runs=N`` for a fixed count). New interesting inputs are
added to the corpus folder; a failing input is written as ``crash-*`` /
``timeout-*`` in the current folder; replay it with
``python fuzz/fuzz_load_rgb.py crash-...``.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

#: the limit the target decodes with: small enough that no input can take the fuzzer's memory
MAX_PIXELS = 4_000_000


def TestOneInput(data: bytes) -> None:  # noqa: N802 (atheris' name)
    import numpy as np

    from harness.errors import DecodeError
    from harness.imageio import load_rgb

    try:
        out = load_rgb(bytes(data), max_pixels=MAX_PIXELS)
    except DecodeError as exc:
        assert exc.reason and "\n" not in exc.reason, repr(exc.reason)
        return
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8, type(out)
    assert out.ndim == 3 and out.shape[2] == 3 and out.flags["C_CONTIGUOUS"], out.shape
    assert 1 <= out.shape[0] * out.shape[1] <= MAX_PIXELS, out.shape


def main() -> None:
    import warnings

    import atheris

    warnings.simplefilter("ignore")  # Pillow warns about odd metadata; not findings
    with atheris.instrument_imports(include=["harness", "PIL"]):
        import PIL.Image

        import harness.imageio  # noqa: F401

        PIL.Image.init()  # import every format plugin now, so they are instrumented too
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
