"""The installed OpenCV must provide cv2.img_hash (contrib), and the two
OpenCV wheels that write the same `cv2` package must be the same release, so
whichever was installed last, the files are identical (see pyproject.toml)."""
from __future__ import annotations

import importlib
from importlib import metadata


def test_cv2_img_hash_importable():
    cv2 = importlib.import_module("cv2")
    img_hash = importlib.import_module("cv2.img_hash") if not hasattr(cv2, "img_hash") else cv2.img_hash
    assert hasattr(img_hash, "PHash_create")
    assert img_hash.PHash_create() is not None


def test_both_opencv_distributions_have_the_same_version():
    contrib = metadata.version("opencv-contrib-python-headless")
    try:
        plain = metadata.version("opencv-python-headless")
    except metadata.PackageNotFoundError:
        plain = contrib          # only contrib installed: nothing to conflict with
    assert plain == contrib, f"opencv-python-headless {plain} != opencv-contrib-python-headless {contrib}"
    import cv2
    assert contrib.startswith(cv2.__version__)
