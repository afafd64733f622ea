"""The built-in sample: real photographs that scikit-image ships in its wheel.

No download is needed. Synthetic images (checkerboards, text, logos, binary
shapes) are left out. `skimage.data.cat` is the same photo as `chelsea` and is
not listed twice. The stereo pair motorcycle_left/motorcycle_right shows the
same scene from two viewpoints; they are declared one group so that the pair
never counts as a false positive.
"""

from __future__ import annotations

import os

from ..imageio import sha256_file
from .records import ImageRecord

#: (file name inside skimage/data, sample name, group or None)
SAMPLE_FILES: tuple[tuple[str, str, str | None], ...] = (
    ("astronaut.png", "astronaut", None),
    ("brick.png", "brick", None),
    ("camera.png", "camera", None),
    ("chelsea.png", "chelsea", None),
    ("clock_motion.png", "clock_motion", None),
    ("coffee.png", "coffee", None),
    ("coins.png", "coins", None),
    ("grass.png", "grass", None),
    ("gravel.png", "gravel", None),
    ("hubble_deep_field.jpg", "hubble_deep_field", None),
    ("ihc.png", "immunohistochemistry", None),
    ("moon.png", "moon", None),
    ("motorcycle_left.png", "motorcycle_left", "motorcycle-stereo-pair"),
    ("motorcycle_right.png", "motorcycle_right", "motorcycle-stereo-pair"),
    ("retina.jpg", "retina", None),
    ("rocket.jpg", "rocket", None),
)


def sample_dir() -> str:
    import skimage.data

    return os.path.dirname(skimage.data.__file__)


def sample_records() -> list[ImageRecord]:
    """Records of the built-in sample, sorted by name."""
    root = sample_dir()
    records = []
    for fname, name, group in SAMPLE_FILES:
        path = os.path.join(root, fname)
        if not os.path.isfile(path):
            continue  # a future scikit-image may drop a file; the manifest digest records what was used
        digest, size = sha256_file(path)
        records.append(ImageRecord(digest, name, path, group or digest, size))
    return sorted(records, key=lambda r: r.name)
